"""API keys: format, storage as hashes, lifecycle, and Bearer authentication."""
