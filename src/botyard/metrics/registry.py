"""What /metrics reports, kept per app in its own registry.

Per process: each ``botyard serve`` process (and each of its ``--workers``) counts what it
served itself, so a scraper scrapes every process and sums; see the README.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from botyard.core.outage import DatabaseOutage
from botyard.requestlog.refusals import refused_request_counts
from botyard.requestlog.writer import RequestLogWriter
from botyard.webhooks.worker import DeliveryWorker

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; an API request usually takes a few milliseconds, a database timeout 5 s."""

AUTH_FAILURE_STATUSES = frozenset({401, 403})


class _StateCollector(Collector):
    """Values that live elsewhere (the request log, the outage tracker), read at scrape time."""

    def __init__(
        self, request_log: RequestLogWriter, outage: DatabaseOutage, webhooks: DeliveryWorker
    ) -> None:
        self.request_log = request_log
        self.outage = outage
        self.webhooks = webhooks

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
        deliveries = CounterMetricFamily(
            "botyard_webhook_delivery_attempts",
            "Webhook delivery attempts by outcome: delivered, retrying (will be retried), "
            "given_up (no retry left, or 410 Gone)",
            labels=["outcome"],
        )
        for outcome in ("delivered", "retrying", "given_up"):
            deliveries.add_metric([outcome], self.webhooks.attempts.get(outcome, 0))
        yield deliveries
        refused = CounterMetricFamily(
            "botyard_refused_unauthenticated_requests",
            "Refused requests without a valid key: logged (a request-log row) or aggregated "
            "(only counted, past BOTYARD_REFUSED_LOG_PER_ADDRESS rows per address a minute)",
            labels=["recorded"],
        )
        for recorded, count in sorted(refused_request_counts().items()):
            refused.add_metric([recorded], count)
        yield refused


class _RequestCounts(Collector):
    """Requests by (route template, method, status), with their latency histogram.

    Kept as plain lists and rendered at scrape time: prometheus-client's ``inc`` and
    ``observe`` take a lock and walk the buckets in Python (~6 µs a request together on the
    CI machine), where one ``bisect`` and three list updates cost well under one. Every
    update runs on the event loop's thread, as does the scrape, so none can interleave.
    """

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, int], list[float]] = {}
        """Per key: [count, sum of seconds, one count per bucket, then +Inf]."""
        self.auth_failures: dict[str, int] = {}
        self.rate_limited: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        labels = ["route", "method", "status"]
        requests = CounterMetricFamily(
            "botyard_http_requests",
            "HTTP requests answered, by route template, method and status",
            labels=labels,
        )
        latency = HistogramMetricFamily(
            "botyard_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status",
            labels=labels,
        )
        for (route, method, status), values in self.series.items():
            label_values = [route, method, str(status)]
            requests.add_metric(label_values, values[0])
            cumulative, buckets = 0.0, []
            for bound, count in zip(_BUCKET_LABELS, values[2:], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric(label_values, buckets, sum_value=values[1])
        yield requests
        yield latency
        for name, documentation, counts in (
            (
                "botyard_auth_failures",
                "Requests refused 401 or 403, by error code (missing_api_key, api_key_revoked, ...)",
                self.auth_failures,
            ),
            (
                "botyard_rate_limit_refusals",
                "Requests refused 429, by error code",
                self.rate_limited,
            ),
        ):
            family = CounterMetricFamily(name, documentation, labels=["code"])
            for code, count in counts.items():
                family.add_metric([code], count)
            yield family


_BUCKET_LABELS = [*(floatToGoString(bound) for bound in LATENCY_BUCKETS), "+Inf"]


class Metrics:
    """The app's metrics, and the one call the middleware makes per request."""

    def __init__(
        self, request_log: RequestLogWriter, outage: DatabaseOutage, webhooks: DeliveryWorker
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = _RequestCounts()
        self.registry.register(self._requests)
        self.flush_seconds = Histogram(
            "botyard_request_log_flush_duration_seconds",
            "Time one request-log write (a batch, in one transaction) took",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(request_log, outage, webhooks))
        request_log.on_flush = self.flush_seconds.observe

    def observe(self, route: str, method: str, status: int, seconds: float, code: Any) -> None:
        """Count one answered request (runs on every request: keep it cheap)."""
        series = self._requests.series
        key = (route, method, status)
        values = series.get(key)
        if values is None:
            values = series[key] = [0.0] * (len(LATENCY_BUCKETS) + 3)
        values[0] += 1
        values[1] += seconds
        values[2 + bisect_left(LATENCY_BUCKETS, seconds)] += 1
        if status >= 400:
            counts = (
                self._requests.auth_failures
                if status in AUTH_FAILURE_STATUSES
                else self._requests.rate_limited
                if status == 429
                else None
            )
            if counts is not None:
                name = str(code or "unknown")
                counts[name] = counts.get(name, 0) + 1
