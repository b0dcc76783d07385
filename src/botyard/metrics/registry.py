"""What /metrics reports, kept per app in its own registry.

Per process: each ``botyard serve`` process (and each of its ``--workers``) counts what it
served itself, so a scraper scrapes every process and sums; see the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from botyard.core.outage import DatabaseOutage
from botyard.requestlog.writer import RequestLogWriter

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; an API request usually takes a few milliseconds, a database timeout 5 s."""

AUTH_FAILURE_STATUSES = frozenset({401, 403})


class _StateCollector(Collector):
    """Values that live elsewhere (the request log, the outage tracker), read at scrape time."""

    def __init__(self, request_log: RequestLogWriter, outage: DatabaseOutage) -> None:
        self.request_log = request_log
        self.outage = outage

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "botyard_request_log_backlog_rows",
            "Request-log rows waiting to be written",
            value=self.request_log.pending,
        )
        yield CounterMetricFamily(
            "botyard_request_log_rows_written",
            "Request-log rows written to the database",
            value=self.request_log.written,
        )
        yield CounterMetricFamily(
            "botyard_request_log_rows_dropped",
            "Request-log rows given up because the backlog was full during a database outage",
            value=self.request_log.dropped,
        )
        yield GaugeMetricFamily(
            "botyard_database_unavailable",
            "1 while the database is unreachable and requests are answered 503",
            value=1 if self.outage.active else 0,
        )
        yield CounterMetricFamily(
            "botyard_database_outages",
            "Database outages seen (each logged once when it starts and once when it ends)",
            value=self.outage.outages,
        )
        yield CounterMetricFamily(
            "botyard_database_unavailable_responses",
            "Requests answered 503 service_unavailable because the database did not answer",
            value=self.outage.total_refused,
        )


class Metrics:
    """The app's counters and histograms, and the one call the middleware makes per request."""

    def __init__(self, request_log: RequestLogWriter, outage: DatabaseOutage) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "botyard_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "botyard_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "botyard_auth_failures",
            "Requests refused 401 or 403, by error code (missing_api_key, api_key_revoked, ...)",
            ["code"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "botyard_rate_limit_refusals",
            "Requests refused 429, by error code",
            ["code"],
            registry=self.registry,
        )
        self.flush_seconds = Histogram(
            "botyard_request_log_flush_duration_seconds",
            "Time one request-log write (a batch, in one transaction) took",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(request_log, outage))
        request_log.on_flush = self.flush_seconds.observe
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float, code: Any) -> None:
        """Count one answered request. Label children are looked up once per combination:
        ``labels()`` costs several microseconds, the cached ``inc``/``observe`` well under one."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = self._children[key] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)
        if status in AUTH_FAILURE_STATUSES:
            self.auth_failures.labels(str(code or "unknown")).inc()
        elif status == 429:
            self.rate_limited.labels(str(code or "unknown")).inc()
