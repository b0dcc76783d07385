"""Users, their memberships in organizations, and their dashboard sessions."""
