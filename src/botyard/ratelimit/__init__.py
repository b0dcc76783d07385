"""Rate limiting: fixed windows counted atomically in process or in Redis."""
