"""What a key can learn about itself: the ``/v1/me`` connection test and its rate limit."""
