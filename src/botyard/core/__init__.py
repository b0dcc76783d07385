"""Shared plumbing: configuration, database, errors, ids, time and pagination. Imports no domain."""
