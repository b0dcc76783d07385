"""Prometheus metrics of the server, answered on /metrics to holders of the metrics token."""
