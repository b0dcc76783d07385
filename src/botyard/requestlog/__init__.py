"""The request log: every /v1 call, written in batches off the request path."""
