"""Idempotency-Key support for POST: a retry returns the first response instead of acting twice."""
