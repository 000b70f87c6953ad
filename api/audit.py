"""The audit log: who read or changed which alert, when and how; append-only and chained.

Each entry carries the SHA-256 of the previous entry's hash and its own content, so changing,
removing or reordering any entry breaks every hash after it (`AuditLog.verify`). Entries are
numbered and chained under a lock held until commit (as alert versions are), so several API
processes can append to one log.

Reads are many (every poll that returns alerts), so `AuditWriter` queues them and appends them
in batches from a background thread: one transaction per batch, not per request. An entry
names the alerts it covers; `audit_alert` indexes them so the owning agency can ask who read
one alert.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa

from api import tables as t
from api.locks import AUDIT_LOCK
from api.store import AlertStore, now_ms

log = logging.getLogger(__name__)

GENESIS: Final = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEvent:
    agency_id: str
    key_id: str
    action: str  # read.list | read.get | read.stream | read.webhook | alert.acknowledged | ...
    alerts: tuple[tuple[str, int], ...] = ()  # (alert id, revision)
    detail: dict[str, Any] | None = None
    at: int = 0  # epoch ms; 0 = when queued


@dataclass(frozen=True, slots=True)
class AuditCheck:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None


def entry_hash(
    seq: int,
    at: int,
    agency_id: str,
    key_id: str,
    action: str,
    alerts: str | None,
    detail: str | None,
    prev_hash: str,
) -> str:
    canonical = orjson.dumps([seq, at, agency_id, key_id, action, alerts, detail, prev_hash])
    return hashlib.sha256(canonical).hexdigest()


class AuditLog:
    def __init__(self, store: AlertStore) -> None:
        self.store = store

    def append(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        with self.store.locked(AUDIT_LOCK) as conn:
            last = conn.execute(
                sa.select(t.audit_log.c.seq, t.audit_log.c.hash)
                .order_by(t.audit_log.c.seq.desc())
                .limit(1)
            ).first()
            seq, prev = (int(last.seq), str(last.hash)) if last is not None else (0, GENESIS)
            entries: list[tuple[Any, ...]] = []
            index: list[tuple[str, int, int]] = []
            for event in events:
                seq += 1
                alerts = (
                    orjson.dumps([list(a) for a in event.alerts]).decode() if event.alerts else None
                )
                detail = orjson.dumps(event.detail).decode() if event.detail else None
                at = event.at or now_ms()
                digest = entry_hash(
                    seq, at, event.agency_id, event.key_id, event.action, alerts, detail, prev
                )
                row = (seq, at, event.agency_id, event.key_id, event.action, alerts, detail)
                entries.append((*row, prev, digest))
                index.extend(
                    (alert_id, seq, revision) for alert_id, revision in dict.fromkeys(event.alerts)
                )
                prev = digest
            t.append_rows(conn, t.audit_log, entries)
            if index:
                # A poll that returns 100 alerts appends 100 rows here: COPY keeps that cheap.
                t.append_rows(conn, t.audit_alert, index)

    def verify(self, batch: int = 10_000) -> AuditCheck:
        """Recompute the whole chain."""
        prev, expected_seq, count = GENESIS, 1, 0
        log_c = t.audit_log.c
        with self.store.engine.connect() as conn:
            position = 0
            while True:
                rows = conn.execute(
                    sa.select(t.audit_log)
                    .where(log_c.seq > position)
                    .order_by(log_c.seq)
                    .limit(batch)
                ).all()
                if not rows:
                    return AuditCheck(True, count)
                for r in rows:
                    if r.seq != expected_seq:
                        return AuditCheck(False, count, r.seq, "a gap in the sequence")
                    if r.prev_hash != prev:
                        return AuditCheck(False, count, r.seq, "does not chain to the previous")
                    digest = entry_hash(
                        r.seq,
                        r.at,
                        r.agency_id,
                        r.key_id,
                        r.action,
                        r.alerts,
                        r.detail,
                        r.prev_hash,
                    )
                    if digest != r.hash:
                        return AuditCheck(False, count, r.seq, "content does not match its hash")
                    prev, expected_seq, count = r.hash, expected_seq + 1, count + 1
                position = rows[-1].seq

    def for_alert(self, alert_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Who read or changed an alert: the entries naming it, oldest first."""
        query = (
            sa.select(
                t.audit_log.c.seq,
                t.audit_log.c.at,
                t.audit_log.c.agency_id,
                t.audit_log.c.key_id,
                t.audit_log.c.action,
                t.audit_alert.c.revision,
                t.audit_log.c.hash,
            )
            .join(t.audit_alert, t.audit_alert.c.seq == t.audit_log.c.seq)
            .where(t.audit_alert.c.alert_id == alert_id)
            .order_by(t.audit_log.c.seq, t.audit_alert.c.revision)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            return [
                {
                    "seq": r.seq,
                    "at": r.at,
                    "agency": r.agency_id,
                    "key_id": r.key_id,
                    "action": r.action,
                    "revision": r.revision,
                    "hash": r.hash,
                }
                for r in conn.execute(query)
            ]


class AuditWriter:
    """Queues audit events and appends them in batches from a background thread."""

    def __init__(self, audit: AuditLog, flush_interval_s: float = 0.2, max_batch: int = 2000):
        self.audit = audit
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[AuditEvent | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def record(self, event: AuditEvent) -> None:
        if not event.at:
            event = AuditEvent(
                event.agency_id, event.key_id, event.action, event.alerts, event.detail, now_ms()
            )
        self._queue.put(event)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def flush(self) -> None:
        """Append everything queued so far (from the caller's thread)."""
        self._drain([])

    def _drain(self, batch: list[AuditEvent]) -> bool:
        """Append `batch` and everything queued; True when the stop marker was met."""
        stop = False
        with self._lock:
            while True:
                try:
                    event = self._queue.get_nowait()
                except queue.Empty:
                    break
                if event is None:
                    stop = True
                else:
                    batch.append(event)
            self._write(batch)
        return stop

    def _write(self, batch: list[AuditEvent]) -> None:
        for start in range(0, len(batch), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            try:
                self.audit.append(chunk)
            except Exception:
                # The database is away: keep the events and try again at the next flush.
                self.failures += 1
                log.exception("audit append failed; %d events kept for retry", len(chunk))
                for event in batch[start:]:
                    self._queue.put(event)
                return

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.flush_interval_s)
            except queue.Empty:
                continue
            if first is None or self._drain([first]):
                self._drain([])
                return
            time.sleep(self.flush_interval_s)  # let the next batch gather

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()
