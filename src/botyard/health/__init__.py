"""Liveness and dependency health for operators and load balancers."""
