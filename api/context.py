"""Everything a running API holds: store, agencies, audit, webhooks, metrics, background
threads. Built synchronously by `ApiContext.open(settings)` (so tests can use an app without
running its lifespan); `start()` launches the background threads, `close()` stops them.

Whenever the agencies are (re)loaded, their visibility indexes are claimed for the agreements
just loaded (api/visibility.py); the `visibility-build` thread then builds whatever is pending,
a bounded batch at a time. Until an agency's index is complete its polls scan the feed."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from anomaly.sql_store import SqlHealthBoard
from api.audit import AuditLog, AuditWriter
from api.auth import Authenticator, RateLimiter
from api.metrics import Metrics
from api.settings import ApiSettings
from api.sharing import Agency, Registry, compile_agency, load_zones, read_agency_configs
from api.store import AlertStore, now_ms
from api.vessels import LatestPositions, NoVessels, VesselSource
from api.webhooks import Outbox, WebhookWorker
from lookout.db import make_engine, migrate

log = logging.getLogger(__name__)

READER_THREADS = int(os.environ.get("LOOKOUT_API_READER_THREADS", "2"))
"""Threads (each with its own database connection) serving polls."""


@dataclass
class ApiContext:
    settings: ApiSettings
    store: AlertStore
    registry: Registry
    audit: AuditLog
    audit_writer: AuditWriter
    auth: Authenticator
    metrics: Metrics
    vessels: VesselSource
    latest: LatestPositions
    outbox: Outbox
    detectors: SqlHealthBoard  # what the detection stages report of their rules
    webhooks: WebhookWorker | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    readers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(READER_THREADS, thread_name_prefix="api-read")
    )
    _refresher: threading.Thread | None = None
    _builder: threading.Thread | None = None
    _build_wanted: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def open(
        cls, settings: ApiSettings, vessels: VesselSource | None = None, *, migrate_db: bool = True
    ) -> ApiContext:
        engine = make_engine(settings.db_url)
        if migrate_db:
            migrate(engine)
        registry = Registry(settings.operator_agency)
        store = AlertStore(engine, registry)
        for config in read_agency_configs(settings.config_dir):
            store.upsert_agency(config, "config")
        audit = AuditLog(store)
        pepper = settings.api_key_pepper.get_secret_value().encode()
        metrics = Metrics()
        outbox = Outbox(store)
        audit_writer = AuditWriter(audit, settings.audit_flush_interval_s)
        source: VesselSource = vessels if vessels is not None else NoVessels()
        context = cls(
            settings=settings,
            store=store,
            registry=registry,
            audit=audit,
            audit_writer=audit_writer,
            auth=Authenticator(
                store,
                registry,
                pepper,
                settings.jwt_key,
                cache_ttl_s=settings.auth_cache_ttl_s,
                limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
                token_ttl_s=settings.token_ttl_s,
            ),
            metrics=metrics,
            vessels=source,
            latest=LatestPositions(source),
            outbox=outbox,
            detectors=SqlHealthBoard(engine),
        )
        context.reload_agencies()
        metrics.track_backlog(outbox.backlog, lambda: float(audit_writer._queue.qsize()))
        metrics.track_detectors(context.detectors.read)
        return context

    def reload_agencies(self) -> None:
        """Rebuild the registry from the database (agencies.yaml was merged into it at open)."""
        zones: dict[str, Any] | None = None
        compiled: list[Agency] = []
        for stored in self.store.agencies():
            previous = self.registry.get(stored.config.id)
            if (
                previous is not None
                and previous.config == stored.config
                and previous.webhook_secret == stored.webhook_secret
            ):
                compiled.append(previous)  # unchanged: keep it (and its cached statements)
                continue
            if zones is None:
                zones = load_zones(self.settings.config_dir)
            try:
                compiled.append(compile_agency(stored.config, zones, stored.webhook_secret))
            except ValueError:
                log.exception("agency %s cannot be compiled; left out", stored.config.id)
        self.registry.replace(compiled)
        if self.store.visibility.claim(compiled, now_ms):
            self._build_wanted.set()

    def build_visibility(self, max_batches: int | None = None) -> bool:
        """Build the pending visibility indexes of the agencies loaded here, in this thread;
        True when none is left pending."""
        return self.store.visibility.build(
            self.registry.all(), now_ms, max_batches=max_batches, stop=self.stopping.is_set
        )

    def start(self) -> None:
        self.audit_writer.start()
        if self.settings.webhooks_enabled and self.webhooks is None:
            s = self.settings
            self.webhooks = WebhookWorker(
                self.store,
                self.audit_writer,
                poll_s=s.webhook_poll_s,
                timeout_s=s.webhook_timeout_s,
                backoff_base_s=s.webhook_backoff_base_s,
                backoff_max_s=s.webhook_backoff_max_s,
                lease_s=s.webhook_lease_s,
                on_delivered=lambda agency: self.metrics.count_shared(agency, "webhook", 1),
            )
            self.webhooks.start()
        if self._refresher is None:
            self._refresher = threading.Thread(
                target=self._refresh_loop, name="agencies-refresh", daemon=True
            )
            self._refresher.start()
        if self._builder is None:
            self._build_wanted.set()  # an index left pending by a previous process
            self._builder = threading.Thread(
                target=self._build_loop, name="visibility-build", daemon=True
            )
            self._builder.start()

    def _refresh_loop(self) -> None:
        while not self.stopping.wait(self.settings.agencies_refresh_s):
            try:
                self.reload_agencies()
            except Exception:
                log.exception("reloading agencies failed; keeping the previous ones")

    def _build_loop(self) -> None:
        # Woken by a claim here; otherwise, every refresh period, it picks up an index that
        # a writer in another process marked incomplete.
        while not self.stopping.is_set():
            self._build_wanted.wait(self.settings.agencies_refresh_s)
            self._build_wanted.clear()
            try:
                self.build_visibility()
            except Exception:
                log.exception("building the visibility index failed; retrying later")

    def close(self) -> None:
        self.stopping.set()
        self._build_wanted.set()
        if self.webhooks is not None:
            self.webhooks.stop()
            self.webhooks = None
        if self._refresher is not None:
            self._refresher.join(timeout=5)
            self._refresher = None
        if self._builder is not None:
            self._builder.join(timeout=5)
            self._builder = None
        self.readers.shutdown(wait=True, cancel_futures=True)
        self.audit_writer.close()
        self.store.close()
