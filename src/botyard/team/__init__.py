"""The team of an organization: members, roles and invitations."""
