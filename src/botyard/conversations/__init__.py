"""Conversations between end users and bots, and how a bot picks its reply."""
