"""Bots, their reply settings and their knowledge base."""
