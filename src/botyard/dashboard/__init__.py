"""The server-rendered dashboard: login, bots, conversations, analytics, Settings > API and Team."""
