"""Analytics: conversation and message figures per organization or bot, totals and series."""
