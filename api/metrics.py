"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
