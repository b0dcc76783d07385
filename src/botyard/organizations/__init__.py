"""Organizations: the tenant, its plan and its API rate limit."""
