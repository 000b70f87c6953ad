"""Webhooks: alerts pushed to agencies from the outbox, signed per Standard Webhooks.

Each alert version an agency may see is written to `webhook_outbox` in the same transaction
that stores the version (`AlertStore.put_alerts`), so nothing is lost between the store and the
push. `WebhookWorker` delivers due messages, retrying with exponential backoff and jitter until
the receiver answers 2xx; a restart (or another process) resumes from the table. A message
being attempted is leased, so two workers never send it at once.

Signing (https://www.standardwebhooks.com): headers `webhook-id` (the same on every retry:
receivers deduplicate with it), `webhook-timestamp` (Unix seconds) and `webhook-signature`
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64 part of the agency's
`whsec_` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import sqlalchemy as sa

from api import tables as t
from api.audit import AuditEvent, AuditWriter
from api.sharing import visible_mask
from api.store import AlertStore, now_ms
from ingest.records import iso_ms

log = logging.getLogger(__name__)

SECRET_PREFIX: Final = "whsec_"
TIMESTAMP_TOLERANCE_S: Final = 300


class WebhookSignatureError(ValueError):
    pass


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now_s: float | None = None,
    tolerance_s: int = TIMESTAMP_TOLERANCE_S,
) -> None:
    """Check a delivery as a receiver would; raises WebhookSignatureError."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise WebhookSignatureError("missing or malformed webhook headers") from exc
    now = time.time() if now_s is None else now_s
    if abs(now - timestamp) > tolerance_s:
        raise WebhookSignatureError("timestamp outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise WebhookSignatureError("no matching signature")


@dataclass(frozen=True, slots=True)
class Delivery:
    outbox_id: int
    msg_id: str
    agency_id: str
    feed_seq: int
    alert_id: str
    revision: int
    event_type: str
    attempts: int


def payload(event_type: str, committed_at: int, body: str) -> bytes:
    head = f'{{"type":"{event_type}","timestamp":"{iso_ms(committed_at)}","data":'
    return head.encode() + body.encode() + b"}"


class Outbox:
    def __init__(self, store: AlertStore) -> None:
        self.store = store

    def claim(self, limit: int, lease_s: float, at_ms: int | None = None) -> list[Delivery]:
        at = now_ms() if at_ms is None else at_ms
        box = t.webhook_outbox.c
        query = (
            sa.select(
                box.id,
                box.msg_id,
                box.agency_id,
                box.feed_seq,
                box.alert_id,
                box.revision,
                box.event_type,
                box.attempts,
            )
            .where(box.delivered_at.is_(None), box.next_attempt_at <= at)
            .order_by(box.next_attempt_at, box.id)
            .limit(limit)
        )
        if self.store.postgres:
            query = query.with_for_update(skip_locked=True)
        with self.store._writer.begin() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    t.webhook_outbox.update()
                    .where(box.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=at + int(lease_s * 1000))
                )
        return [Delivery(*r) for r in rows]

    def delivered(self, delivery: Delivery, status: int, at_ms: int | None = None) -> None:
        self._update(
            delivery,
            delivered_at=now_ms() if at_ms is None else at_ms,
            attempts=delivery.attempts + 1,
            last_status=status,
            last_error=None,
        )

    def failed(self, delivery: Delivery, status: int | None, error: str, retry_at: int) -> None:
        self._update(
            delivery,
            attempts=delivery.attempts + 1,
            next_attempt_at=retry_at,
            last_status=status,
            last_error=error[:500],
        )

    def withdrawn(self, delivery: Delivery, reason: str) -> None:
        """Not sent, and never will be (the agreement no longer allows it)."""
        self._update(delivery, delivered_at=now_ms(), last_status=0, last_error=reason)

    def release(self, delivery: Delivery) -> None:
        self._update(delivery, next_attempt_at=now_ms())

    def _update(self, delivery: Delivery, **values: Any) -> None:
        with self.store._writer.begin() as conn:
            conn.execute(
                t.webhook_outbox.update()
                .where(t.webhook_outbox.c.id == delivery.outbox_id)
                .values(**values)
            )

    def backlog(self) -> int:
        query = sa.select(sa.func.count()).where(t.webhook_outbox.c.delivered_at.is_(None))
        with self.store.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def rows(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            query = sa.select(t.webhook_outbox).order_by(t.webhook_outbox.c.id)
            return [dict(r._mapping) for r in conn.execute(query)]


class WebhookWorker:
    """Delivers due outbox messages in a background thread until stopped."""

    def __init__(
        self,
        store: AlertStore,
        audit: AuditWriter | None,
        *,
        poll_s: float = 0.5,
        timeout_s: float = 5.0,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 3600.0,
        lease_s: float = 60.0,
        batch: int = 50,
        on_delivered: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.outbox = Outbox(store)
        self.audit = audit
        self.poll_s = poll_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.lease_s = lease_s
        self.batch = batch
        self.on_delivered = on_delivered
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def backoff_ms(self, attempts: int) -> int:
        delay = min(self.backoff_base_s * 2 ** max(attempts - 1, 0), self.backoff_max_s)
        return int(delay * random.uniform(0.8, 1.2) * 1000)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception:
                log.exception("webhook delivery round failed; retrying")
                sent = 0
            if not sent:
                self._stop.wait(self.poll_s)

    def run_once(self) -> int:
        """Attempt every due message once; returns how many were attempted."""
        claimed = self.outbox.claim(self.batch, self.lease_s)
        if not claimed:
            return 0
        items = self.store.feed_items([d.feed_seq for d in claimed])
        for index, delivery in enumerate(claimed):
            if self._stop.is_set():
                for rest in claimed[index:]:
                    self.outbox.release(rest)
                break
            self._deliver(delivery, items.get(delivery.feed_seq))
        return len(claimed)

    def _deliver(self, delivery: Delivery, item: Any) -> None:
        agency = self.store.registry.get(delivery.agency_id)
        if agency is None or item is None:
            self.outbox.withdrawn(delivery, "agency or alert version gone")
            return
        url = agency.config.webhook
        if not agency.config.active or not url or not visible_mask(agency, [item.shareable])[0]:
            self.outbox.withdrawn(delivery, "the agreement no longer allows it")
            return
        if not agency.webhook_secret:
            retry = now_ms() + self.backoff_ms(delivery.attempts + 1)
            self.outbox.failed(delivery, None, "no signing secret set", retry)
            return
        body = payload(delivery.event_type, item.committed_at, item.body)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "lookout-webhooks/1",
            "webhook-id": delivery.msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(agency.webhook_secret, delivery.msg_id, timestamp, body),
        }
        status: int | None = None
        try:
            response = self._client.post(url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                self.outbox.delivered(delivery, status)
                if self.audit is not None:
                    self.audit.record(
                        AuditEvent(
                            agency.id,
                            "webhook",
                            "read.webhook",
                            ((delivery.alert_id, delivery.revision),),
                            {"msg_id": delivery.msg_id, "url": url},
                        )
                    )
                if self.on_delivered is not None:
                    self.on_delivered(agency.id)
                return
            error = f"HTTP {status}"
        retry = now_ms() + self.backoff_ms(delivery.attempts + 1)
        self.outbox.failed(delivery, status, error, retry)
