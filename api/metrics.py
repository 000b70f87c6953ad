"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anomaly.health import DISABLED, RUNNING, HealthReport

log = logging.getLogger(__name__)

BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
NOT_TIMED: Final = frozenset({"/v1/alerts/stream", "/metrics"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "lookout_api_request_duration_seconds",
            "Time to answer a request, by route template and status",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.shared = Counter(
            "lookout_api_alerts_shared",
            "Alert versions sent to an agency, by channel (poll, get, stream, webhook)",
            ["agency", "channel"],
            registry=self.registry,
        )
        self.webhook_backlog = Gauge(
            "lookout_api_webhook_backlog",
            "Webhook messages not yet delivered",
            registry=self.registry,
        )
        self.audit_backlog = Gauge(
            "lookout_api_audit_queue",
            "Audit entries waiting to be written",
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str], Any] = {}
        self._shared: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.latency.labels(*key)
        child.observe(seconds)

    def count_shared(self, agency: str, channel: str, n: int) -> None:
        key = (agency, channel)
        child = self._shared.get(key)
        if child is None:
            child = self._shared[key] = self.shared.labels(*key)
        child.inc(n)

    def track_backlog(self, webhook: Callable[[], float], audit: Callable[[], float]) -> None:
        self.webhook_backlog.set_function(webhook)
        self.audit_backlog.set_function(audit)

    def track_detectors(self, read: Callable[[], list[HealthReport]]) -> None:
        """Detector health at every scrape (`read`: the detection stages' last reports)."""
        self.registry.register(_DetectorCollector(read))


class _DetectorCollector(Collector):
    """`lookout_detector_running` (1: running and reporting; 0: silent, missing or stale; a
    disabled rule has no series) and `lookout_detector_report_age_seconds`, per group and rule:
    alert on `lookout_detector_running == 0`."""

    def __init__(self, read: Callable[[], list[HealthReport]]) -> None:
        self._read = read

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())  # without reading the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        running, age = self._families()
        try:
            reports = self._read()
        except Exception:  # the other metrics still matter when the database does not answer
            log.exception("detector health not read for /metrics")
            reports = []
        now_ms = time.time_ns() // 1_000_000
        for report in reports:
            health = report.health
            if health.state == DISABLED:
                continue
            seconds = max(now_ms - report.reported_ms, 0) / 1000
            up = health.state == RUNNING and not report.is_stale(now_ms)
            running.add_metric([report.group, health.rule_id, health.state], 1.0 if up else 0.0)
            age.add_metric([report.group, health.rule_id], seconds)
        yield running
        yield age

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        running = GaugeMetricFamily(
            "lookout_detector_running",
            "1 when the rule's detector runs and its stage reports; 0 when silent or stale",
            labels=["group", "rule", "state"],
        )
        age = GaugeMetricFamily(
            "lookout_detector_report_age_seconds",
            "Seconds since the detection stage last reported the rule",
            labels=["group", "rule"],
        )
        return running, age


class LatencyMiddleware:
    """Pure ASGI middleware: times every HTTP request by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if template not in NOT_TIMED:
                elapsed = time.perf_counter() - start
                self.metrics.observe(scope["method"], template, status, elapsed)
