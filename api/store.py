"""The alert store: every version of every alert, the latest one, lifecycle, notes, agencies
and keys, and the webhook outbox entries written with each version (SQLAlchemy Core; SQLite
embedded, PostgreSQL distributed; the schema is the "api" Alembic branch).

Commit order, not clock order. Each stored version gets a sequence number `seq` assigned while
holding a lock that is released only by the commit (PostgreSQL: `pg_advisory_xact_lock`;
SQLite: the database write lock, `BEGIN IMMEDIATE`). So version `n + 1` cannot commit before
version `n`, and what any reader sees is always a prefix `1..k` of the sequence: a poller that
remembers the last `seq` it was given can never skip a version committed late, nor see one
twice. Writes are rare (alerts, not positions), so serialising them costs nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from anomaly.records import Alert, AlertType, Outcome, Status, Tlp
from api import tables as t
from api import visibility
from api.keys import hash_key, key_id_of, key_matches, new_key
from api.locks import FEED_LOCK
from api.sharing import Agency, AgencyConfig, Registry, Role, Shareable, visible_mask
from api.visibility import Masks, VisibilityIndex
from lookout.db import SQLITE_BEGIN_OPTION, SQLITE_BUSY_TIMEOUT_MS, make_engine

_TLP_BY_NAME: Final = {tlp.value: tlp for tlp in Tlp}

CHANGE_REVISION: Final = "revision"
CHANGE_ACKNOWLEDGED: Final = "acknowledged"
CHANGE_CLOSED: Final = "closed"
CHANGE_SHARED: Final = "shared"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class StoreError(Exception):
    """Base of the store's own errors."""


class NotFoundError(StoreError):
    pass


class ConflictError(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One stored version of an alert, as a poller sees it."""

    seq: int
    alert_id: str
    revision: int
    change: str
    shareable: Shareable
    committed_at: int
    body: str  # JSON of the alert as served


@dataclass(frozen=True, slots=True)
class Page:
    items: list[FeedItem]
    next_seq: int  # the cursor to resume from: everything up to it was considered


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    agency_id: str
    roles: frozenset[Role]
    label: str | None
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def usable(self, at_ms: int) -> bool:
        if self.revoked_at is not None and self.revoked_at <= at_ms:
            return False
        return self.expires_at is None or self.expires_at > at_ms


@dataclass(frozen=True, slots=True)
class StoredAgency:
    config: AgencyConfig
    source: str
    webhook_secret: str | None


def _recipients_text(recipients: Sequence[str] | frozenset[str]) -> str:
    return "|" + "|".join(sorted(recipients)) + "|" if recipients else ""


def _recipients_of(text: str) -> frozenset[str]:
    return frozenset(r for r in text.split("|") if r) if text else frozenset()


def _alert_recipients(alert: Alert) -> frozenset[str]:
    raw = alert.extra.get("recipients") if isinstance(alert.extra, dict) else None
    if isinstance(raw, list | tuple):
        return frozenset(str(r) for r in raw)
    return frozenset()


_FEED_COLUMNS: Final = (
    t.alert_feed.c.seq,
    t.alert_feed.c.alert_id,
    t.alert_feed.c.revision,
    t.alert_feed.c.change,
    t.alert_feed.c.type,
    t.alert_feed.c.tlp,
    t.alert_feed.c.lat,
    t.alert_feed.c.lon,
    t.alert_feed.c.owner,
    t.alert_feed.c.recipients,
    t.alert_feed.c.committed_at,
    t.alert_feed.c.body,
)


def _feed_item(row: Sequence[Any]) -> FeedItem:
    seq, alert_id, revision, change, type_, tlp, lat, lon, owner, recipients, at, body = row
    shareable = Shareable(
        alert_id, type_, _TLP_BY_NAME[tlp], lat, lon, owner, _recipients_of(recipients)
    )
    return FeedItem(seq, alert_id, revision, change, shareable, at, body)


class AlertStore:
    """Alerts, lifecycle, agencies and keys on one engine."""

    def __init__(self, engine: Engine, registry: Registry) -> None:
        self.engine = engine
        self.registry = registry
        self.postgres = engine.dialect.name == "postgresql"
        self._writer = (
            engine
            if self.postgres
            else engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        )
        self.reader = FeedReader(self)
        self.visibility = VisibilityIndex(self)
        self.before_commit: Callable[[], None] | None = None
        """Fault injection for tests: called inside the write transaction, before commit."""

    @classmethod
    def from_url(cls, url: str, registry: Registry) -> AlertStore:
        return cls(make_engine(url), registry)

    @property
    def operator(self) -> str:
        return self.registry.operator

    def close(self) -> None:
        self.reader.close()
        self.engine.dispose()

    @contextmanager
    def locked(self, *locks: int) -> Iterator[Connection]:
        """A write transaction holding `locks` (api/locks.py, in that order) until it commits
        (or rolls back)."""
        with self._writer.begin() as conn:
            if self.postgres:
                for lock in locks:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
            yield conn

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- writing alerts --------------------------------------------------------------------
    def put_alerts(self, alerts: Sequence[Alert]) -> list[FeedItem]:
        """Store new revisions; an alert whose revision is not newer than the stored one (a
        replay, or an older revision arriving late) is ignored. One transaction."""
        if not alerts:
            return []
        stored: list[FeedItem] = []
        with self.locked(FEED_LOCK) as conn:
            ids = sorted({a.id for a in alerts})
            current: dict[str, Any] = {}
            for chunk in range(0, len(ids), 500):
                query = sa.select(
                    t.alert_current.c.alert_id,
                    t.alert_current.c.revision,
                    t.alert_current.c.status,
                    t.alert_current.c.outcome,
                    t.alert_current.c.status_by_api,
                    t.alert_current.c.recipients,
                ).where(t.alert_current.c.alert_id.in_(ids[chunk : chunk + 500]))
                current.update({row.alert_id: row for row in conn.execute(query)})
            seq = self._head(conn)
            at = now_ms()
            feed_rows: list[dict[str, Any]] = []
            for alert in alerts:
                before = current.get(alert.id)
                if before is not None and alert.revision <= before.revision:
                    continue
                status, outcome, by_api = alert.status.value, alert.outcome, False
                shared: frozenset[str] = frozenset()
                if before is not None:
                    shared = _recipients_of(before.recipients) - _alert_recipients(alert)
                    if before.status_by_api:
                        status, by_api = before.status, True
                        outcome = Outcome(before.outcome) if before.outcome else None
                recipients = _alert_recipients(alert) | shared
                body_dict = alert.to_dict()
                body_dict["status"] = status
                body_dict["outcome"] = outcome.value if outcome else None
                body = orjson.dumps(body_dict).decode()
                seq += 1
                row = self._feed_row(seq, alert, CHANGE_REVISION, recipients, at, body)
                feed_rows.append(row)
                values = {
                    "revision": alert.revision,
                    "seq": seq,
                    "type": alert.type.value,
                    "tlp": alert.tlp.value,
                    "tlp_rank": alert.tlp.rank,
                    "lat": alert.lat,
                    "lon": alert.lon,
                    "mmsi": alert.mmsi,
                    "mmsis": "|" + "|".join(str(m) for m in alert.mmsis) + "|",
                    "owner": self.operator,
                    "recipients": row["recipients"],
                    "status": status,
                    "outcome": outcome.value if outcome else None,
                    "status_by_api": by_api,
                    "start_ms": alert.start,
                    "detected_at_ms": alert.detected_at,
                    "updated_at": at,
                    "raw": orjson.dumps(alert.to_dict()).decode(),
                    "body": body,
                }
                if before is None:
                    conn.execute(t.alert_current.insert().values(alert_id=alert.id, **values))
                else:
                    conn.execute(
                        t.alert_current.update()
                        .where(t.alert_current.c.alert_id == alert.id)
                        .values(**values)
                    )
                current[alert.id] = _Revision(alert.revision, status, outcome, by_api, recipients)
                stored.append(_feed_item([row[c.name] for c in _FEED_COLUMNS]))
            if feed_rows:
                conn.execute(t.alert_feed.insert(), feed_rows)
                self._shared(conn, stored, at)
            if self.before_commit is not None:
                self.before_commit()
        return stored

    def _feed_row(
        self,
        seq: int,
        alert: Alert,
        change: str,
        recipients: frozenset[str],
        at: int,
        body: str,
    ) -> dict[str, Any]:
        return {
            "seq": seq,
            "alert_id": alert.id,
            "revision": alert.revision,
            "change": change,
            "type": alert.type.value,
            "tlp": alert.tlp.value,
            "tlp_rank": alert.tlp.rank,
            "lat": alert.lat,
            "lon": alert.lon,
            "mmsi": alert.mmsi,
            "owner": self.operator,
            "recipients": _recipients_text(recipients),
            "committed_at": at,
            "body": body,
        }

    def _head(self, conn: Connection) -> int:
        head = conn.execute(sa.select(sa.func.max(t.alert_feed.c.seq))).scalar()
        return int(head or 0)

    def shareables(
        self, conn: Connection, after: int, through: int
    ) -> tuple[list[int], list[Shareable]]:
        """The stored versions `after < seq <= through`, ascending: their seqs and what the
        sharing decision needs of them."""
        f = t.alert_feed.c
        rows = conn.execute(
            sa.select(f.seq, f.alert_id, f.type, f.tlp, f.lat, f.lon, f.owner, f.recipients)
            .where(f.seq > after, f.seq <= through)
            .order_by(f.seq)
        ).all()
        shareables = [
            Shareable(
                r.alert_id,
                r.type,
                _TLP_BY_NAME[r.tlp],
                r.lat,
                r.lon,
                r.owner,
                _recipients_of(r.recipients),
            )
            for r in rows
        ]
        return [int(r.seq) for r in rows], shareables

    def _shared(self, conn: Connection, items: Sequence[FeedItem], at: int) -> None:
        """What new versions `items` (ascending) share, in their transaction: the visibility
        index rows and the webhook outbox messages, from one sharing decision per agency."""
        masks = Masks([i.shareable for i in items])
        visibility.write(conn, self.registry, [i.seq for i in items], masks, at)
        self._enqueue_webhooks(conn, items, at, masks)

    def _enqueue_webhooks(
        self, conn: Connection, items: Sequence[FeedItem], at: int, masks: Masks
    ) -> None:
        rows: list[dict[str, Any]] = []
        for agency in self.registry.all():
            if not agency.config.webhook or not agency.config.active:
                continue
            mask = masks.of(agency)
            for item, ok in zip(items, mask, strict=True):
                if ok:
                    rows.append(
                        {
                            "msg_id": f"msg_{agency.id}_{item.seq}",
                            "agency_id": agency.id,
                            "feed_seq": item.seq,
                            "alert_id": item.alert_id,
                            "revision": item.revision,
                            "event_type": f"alert.{item.change}",
                            "created_at": at,
                            "attempts": 0,
                            "next_attempt_at": at,
                        }
                    )
        if rows:
            conn.execute(t.webhook_outbox.insert(), rows)

    # -- lifecycle -------------------------------------------------------------------------
    def change(
        self,
        alert_id: str,
        change: str,
        agency_id: str,
        key_id: str,
        *,
        outcome: Outcome | None = None,
        share_with: Sequence[str] = (),
        detail: str | None = None,
    ) -> FeedItem:
        """Acknowledge, close (with an outcome) or share an alert: a new version in the feed,
        the same detector revision."""
        with self.locked(FEED_LOCK) as conn:
            cur = conn.execute(
                sa.select(t.alert_current).where(t.alert_current.c.alert_id == alert_id)
            ).first()
            if cur is None:
                raise NotFoundError(alert_id)
            status, new_outcome = cur.status, cur.outcome
            recipients = _recipients_of(cur.recipients)
            if change == CHANGE_ACKNOWLEDGED:
                if cur.status == Status.CLOSED:
                    raise ConflictError("the alert is closed")
                status = Status.ACKNOWLEDGED.value
            elif change == CHANGE_CLOSED:
                if outcome is None:
                    raise ValueError("closing needs an outcome")
                status, new_outcome = Status.CLOSED.value, outcome.value
            elif change == CHANGE_SHARED:
                recipients = recipients | frozenset(share_with)
            else:
                raise ValueError(f"unknown change {change!r}")
            body = orjson.loads(cur.body)
            body["status"] = status
            body["outcome"] = new_outcome
            body_text = orjson.dumps(body).decode()
            seq = self._head(conn) + 1
            at = now_ms()
            row = {
                "seq": seq,
                "alert_id": alert_id,
                "revision": cur.revision,
                "change": change,
                "type": cur.type,
                "tlp": cur.tlp,
                "tlp_rank": cur.tlp_rank,
                "lat": cur.lat,
                "lon": cur.lon,
                "mmsi": cur.mmsi,
                "owner": cur.owner,
                "recipients": _recipients_text(recipients),
                "committed_at": at,
                "body": body_text,
            }
            conn.execute(t.alert_feed.insert().values(**row))
            conn.execute(
                t.alert_current.update()
                .where(t.alert_current.c.alert_id == alert_id)
                .values(
                    seq=seq,
                    status=status,
                    outcome=new_outcome,
                    status_by_api=True,
                    recipients=row["recipients"],
                    updated_at=at,
                    body=body_text,
                )
            )
            conn.execute(
                t.alert_lifecycle.insert().values(
                    alert_id=alert_id,
                    revision=cur.revision,
                    action=change,
                    outcome=new_outcome if change == CHANGE_CLOSED else None,
                    detail=detail,
                    agency_id=agency_id,
                    key_id=key_id,
                    at=at,
                )
            )
            item = _feed_item([row[c.name] for c in _FEED_COLUMNS])
            self._shared(conn, [item], at)
        return item

    def add_note(self, alert_id: str, agency_id: str, key_id: str, text: str) -> dict[str, Any]:
        with self._writer.begin() as conn:
            revision = conn.execute(
                sa.select(t.alert_current.c.revision).where(t.alert_current.c.alert_id == alert_id)
            ).scalar()
            if revision is None:
                raise NotFoundError(alert_id)
            at = now_ms()
            note_id = conn.execute(
                t.alert_note.insert()
                .values(
                    alert_id=alert_id,
                    revision=revision,
                    agency_id=agency_id,
                    key_id=key_id,
                    at=at,
                    text=text,
                )
                .returning(t.alert_note.c.id)
            ).scalar_one()
        return {
            "id": note_id,
            "alert_id": alert_id,
            "revision": revision,
            "agency": agency_id,
            "at": at,
            "text": text,
        }

    def notes(self, alert_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(t.alert_note)
            .where(t.alert_note.c.alert_id == alert_id)
            .order_by(t.alert_note.c.id)
        )
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "alert_id": r.alert_id,
                    "revision": r.revision,
                    "agency": r.agency_id,
                    "at": r.at,
                    "text": r.text,
                }
                for r in conn.execute(query)
            ]

    def labels(self) -> list[dict[str, Any]]:
        """Closed alerts with their outcome: training labels for the risk model."""
        query = (
            sa.select(
                t.alert_current.c.alert_id,
                t.alert_current.c.revision,
                t.alert_current.c.outcome,
                t.alert_current.c.updated_at,
                t.alert_current.c.raw,
            )
            .where(t.alert_current.c.status == Status.CLOSED.value)
            .order_by(t.alert_current.c.alert_id)
        )
        with self.engine.connect() as conn:
            return [
                {
                    "alert_id": r.alert_id,
                    "revision": r.revision,
                    "outcome": r.outcome,
                    "closed_at": r.updated_at,
                    "alert": orjson.loads(r.raw),
                }
                for r in conn.execute(query)
            ]

    # -- reading ---------------------------------------------------------------------------
    def head(self) -> int:
        with self.engine.connect() as conn:
            return self._head(conn)

    def page(
        self,
        agency: Agency,
        after: int,
        limit: int,
        *,
        types: Sequence[str] = (),
        bbox: tuple[float, float, float, float] | None = None,
        since_ms: int | None = None,
        max_scans: int = 8,
    ) -> Page:
        """The next versions after `after` that `agency` may see, in commit order.

        One statement per scan reads the newest committed `seq` and the rows up to it in the
        same snapshot, so the returned cursor never passes a version this call did not
        consider. `visible_mask` decides; the SQL only narrows what is shipped to Python."""
        return self.reader.page(
            agency, after, limit, types=types, bbox=bbox, since_ms=since_ms, max_scans=max_scans
        )

    def current(self, alert_id: str) -> FeedItem | None:
        cur = t.alert_current.c
        query = sa.select(
            cur.seq,
            cur.alert_id,
            cur.revision,
            sa.literal(CHANGE_REVISION),
            cur.type,
            cur.tlp,
            cur.lat,
            cur.lon,
            cur.owner,
            cur.recipients,
            cur.updated_at,
            cur.body,
        ).where(cur.alert_id == alert_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _feed_item(row) if row is not None else None

    def feed_items(self, seqs: Sequence[int]) -> dict[int, FeedItem]:
        if not seqs:
            return {}
        query = sa.select(*_FEED_COLUMNS).where(t.alert_feed.c.seq.in_(list(seqs)))
        with self.engine.connect() as conn:
            return {r.seq: r for r in (_feed_item(row) for row in conn.execute(query))}

    def alerts_for_vessel(self, mmsi: int, limit: int = 50) -> list[FeedItem]:
        cur = t.alert_current.c
        query = (
            sa.select(
                cur.seq,
                cur.alert_id,
                cur.revision,
                sa.literal(CHANGE_REVISION),
                cur.type,
                cur.tlp,
                cur.lat,
                cur.lon,
                cur.owner,
                cur.recipients,
                cur.updated_at,
                cur.body,
            )
            .where(sa.or_(cur.mmsi == mmsi, cur.mmsis.like(f"%|{int(mmsi)}|%")))
            .order_by(cur.detected_at_ms.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_feed_item(r) for r in conn.execute(query)]

    # -- agencies and keys -----------------------------------------------------------------
    def upsert_agency(self, config: AgencyConfig, source: str) -> None:
        at = now_ms()
        data = config.model_dump_json()
        with self._writer.begin() as conn:
            exists = conn.execute(
                sa.select(t.agency.c.id).where(t.agency.c.id == config.id)
            ).first()
            if exists is None:
                conn.execute(
                    t.agency.insert().values(
                        id=config.id, config=data, source=source, created_at=at, updated_at=at
                    )
                )
            else:
                conn.execute(
                    t.agency.update()
                    .where(t.agency.c.id == config.id)
                    .values(config=data, source=source, updated_at=at)
                )

    def agencies(self) -> list[StoredAgency]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.agency).order_by(t.agency.c.id)).all()
        return [
            StoredAgency(AgencyConfig.model_validate_json(r.config), r.source, r.webhook_secret)
            for r in rows
        ]

    def set_webhook_secret(self, agency_id: str, secret: str | None) -> None:
        with self._writer.begin() as conn:
            done = conn.execute(
                t.agency.update()
                .where(t.agency.c.id == agency_id)
                .values(webhook_secret=secret, updated_at=now_ms())
            )
            if done.rowcount == 0:
                raise NotFoundError(agency_id)

    def create_key(
        self,
        agency_id: str,
        roles: Sequence[Role],
        pepper: bytes,
        *,
        label: str | None = None,
        expires_at: int | None = None,
        replaces: str | None = None,
    ) -> tuple[KeyInfo, str]:
        """A new key for an agency; returns its info and the key itself (shown once)."""
        key_id, key = new_key()
        at = now_ms()
        role_list = sorted({Role(r).value for r in roles})
        with self._writer.begin() as conn:
            exists = conn.execute(sa.select(t.agency.c.id).where(t.agency.c.id == agency_id))
            if exists.first() is None:
                raise NotFoundError(agency_id)
            conn.execute(
                t.api_key.insert().values(
                    key_id=key_id,
                    agency_id=agency_id,
                    hash=hash_key(key, pepper),
                    roles=orjson.dumps(role_list).decode(),
                    label=label,
                    created_at=at,
                    expires_at=expires_at,
                )
            )
            if replaces is not None:
                conn.execute(
                    t.api_key.update()
                    .where(t.api_key.c.key_id == replaces)
                    .values(replaced_by=key_id)
                )
        info = KeyInfo(
            key_id, agency_id, frozenset(Role(r) for r in role_list), label, at, expires_at, None
        )
        return info, key

    def key(self, key_id: str) -> KeyInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.api_key).where(t.api_key.c.key_id == key_id)).first()
        return _key_info(row) if row is not None else None

    def keys(self, agency_id: str) -> list[KeyInfo]:
        query = (
            sa.select(t.api_key)
            .where(t.api_key.c.agency_id == agency_id)
            .order_by(t.api_key.c.created_at)
        )
        with self.engine.connect() as conn:
            return [_key_info(r) for r in conn.execute(query)]

    def verify_key(self, key: str, pepper: bytes, at_ms: int | None = None) -> KeyInfo | None:
        """The key's info when it is one of ours, not revoked and not expired."""
        try:
            key_id = key_id_of(key)
        except ValueError:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.api_key).where(t.api_key.c.key_id == key_id)).first()
        if row is None or not key_matches(key, row.hash, pepper):
            return None
        at = now_ms() if at_ms is None else at_ms
        info = _key_info(row)
        return info if info.usable(at) else None

    def revoke_key(self, key_id: str, at_ms: int | None = None) -> KeyInfo:
        """Revoke now, or at `at_ms` (a rotation's grace period)."""
        at = now_ms() if at_ms is None else at_ms
        key = t.api_key.c
        with self._writer.begin() as conn:
            done = conn.execute(
                t.api_key.update()
                .where(key.key_id == key_id, sa.or_(key.revoked_at.is_(None), key.revoked_at > at))
                .values(revoked_at=at)
            )
            row = conn.execute(sa.select(t.api_key).where(key.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(key_id)
        if done.rowcount == 0:
            raise ConflictError("the key is already revoked")
        return _key_info(row)


@dataclass(frozen=True, slots=True)
class _Revision:
    revision: int
    status: str
    outcome: Outcome | None
    status_by_api: bool
    recipients_set: frozenset[str]

    @property
    def recipients(self) -> str:
        return _recipients_text(self.recipients_set)


def _key_info(row: Any) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id,
        agency_id=row.agency_id,
        roles=frozenset(Role(r) for r in orjson.loads(row.roles)),
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


_FEED_SELECT: Final = (
    "seq, alert_id, revision, change, type, tlp, lat, lon, owner, recipients, committed_at, body"
)


class FeedReader:
    """The polling hot path: one statement per scan, on a connection kept per thread.

    A poll reads the agency's visibility index (api/visibility.py): a range scan of
    `alert_visibility` on (agency, seq) after the cursor, joined to the versions, in the same
    statement as the feed's head and the index's state. When the state is not complete for the
    agency's agreement (a new agency, an agreement being rebuilt) the poll scans the feed
    instead, narrowed by a SQL prefilter. Either way `visible_mask` decides every row.

    Connections are plain DB-API ones in autocommit mode (psycopg 3 or sqlite3), outside the
    SQLAlchemy pool: no checkout ping, no BEGIN/ROLLBACK round trips, and psycopg prepares the
    repeated statement server-side. The SQL text is built once per filter shape (and, for the
    scan, per agreement).
    """

    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.postgres = store.postgres
        url = store.engine.url
        self._memory = not self.postgres and url.database in (None, "", ":memory:")
        self._dsn = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if self.postgres
            else (url.database or "")
        )
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._sql: dict[tuple[Any, ...], str] = {}

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self.postgres:
            import psycopg

            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=10,
                application_name="lookout-api-reader",
            )
        else:
            conn = sqlite3.connect(
                self._dsn,
                check_same_thread=False,
                isolation_level=None,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            )
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(Exception):  # a broken connection: nothing to do
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    def _filters(
        self, types: tuple[str, ...], bbox: bool, since: bool, ph: Callable[[str], str]
    ) -> list[str]:
        where: list[str] = []
        if types:
            where.append(f"f.type IN ({_literals(types)})")
        if bbox:
            where.append(f"f.lat BETWEEN {ph('south')} AND {ph('north')}")
            where.append(f"f.lon BETWEEN {ph('west')} AND {ph('east')}")
        if since:
            where.append(f"f.committed_at >= {ph('since')}")
        return where

    def _cache(self, key: tuple[Any, ...], statement: str) -> str:
        if len(self._sql) > 10_000:
            self._sql.clear()
        self._sql[key] = statement
        return statement

    def _index_statement(self, types: tuple[str, ...], bbox: bool, since: bool) -> str:
        """Head, whether the index is usable (NULL when not), then up to `scan` index rows
        after the cursor: their seq, and the version's columns when it passes the filters
        (NULL when not). One statement, so one snapshot."""
        key = ("index", types, bbox, since)
        cached = self._sql.get(key)
        if cached is not None:
            return cached
        ph: Callable[[str], str] = _pg_placeholder if self.postgres else _sqlite_placeholder
        join = " AND ".join(["f.seq = v.seq", *self._filters(types, bbox, since, ph)])
        columns = ", ".join(f"f.{c.strip()}" for c in _FEED_SELECT.split(","))
        statement = (
            "WITH h AS (SELECT COALESCE(MAX(seq), 0) AS head FROM alert_feed), "
            "s AS (SELECT 1 AS usable FROM alert_visibility_state "
            f"WHERE agency_id = {ph('agency')} AND fingerprint = {ph('fingerprint')} "
            "AND complete), "
            "v AS (SELECT x.seq FROM alert_visibility x "
            f"WHERE x.agency_id = {ph('agency')} AND x.seq > {ph('after')} "
            "AND EXISTS (SELECT 1 FROM s) "
            f"ORDER BY x.seq LIMIT {ph('scan')}) "
            f"SELECT h.head, (SELECT usable FROM s), v.seq, {columns} "
            f"FROM h LEFT JOIN v ON 1 = 1 LEFT JOIN alert_feed f ON {join} "
            "ORDER BY v.seq"
        )
        return self._cache(key, statement)

    def _statement(
        self,
        agency: Agency,
        types: tuple[str, ...],
        bbox: bool,
        since: bool,
    ) -> str:
        key = (id(agency), agency.id, types, bbox, since)
        cached = self._sql.get(key)
        if cached is not None:
            return cached
        ph: Callable[[str], str] = _pg_placeholder if self.postgres else _sqlite_placeholder
        where = [f"f.seq > {ph('after')}", "f.seq <= h.head"]
        where.extend(self._filters(types, bbox, since, ph))
        if agency.id != self.store.operator:  # the operator owns every alert
            where.append(_prefilter_sql(agency, ph))
        columns = ", ".join(f"f.{c.strip()}" for c in _FEED_SELECT.split(","))
        statement = (
            "WITH h AS (SELECT COALESCE(MAX(seq), 0) AS head FROM alert_feed), "
            f"p AS (SELECT {columns} FROM alert_feed f, h WHERE {' AND '.join(where)} "
            f"ORDER BY f.seq LIMIT {ph('scan')}) "
            "SELECT h.head, p.* FROM h LEFT JOIN p ON 1 = 1 ORDER BY p.seq"
        )
        return self._cache(key, statement)

    def page(
        self,
        agency: Agency,
        after: int,
        limit: int,
        *,
        types: Sequence[str] = (),
        bbox: tuple[float, float, float, float] | None = None,
        since_ms: int | None = None,
        max_scans: int = 8,
    ) -> Page:
        shape = (tuple(sorted(types)), bbox is not None, since_ms is not None)
        params: dict[str, Any] = {"agency": agency.id}
        if bbox is not None:
            params.update(zip(("west", "south", "east", "north"), bbox, strict=True))
        if since_ms is not None:
            params["since"] = since_ms
        if agency.fingerprint:
            page = self._index_page(agency, after, limit, shape, params, max_scans)
            if page is not None:
                return page
        return self._scan_page(agency, after, limit, shape, params, max_scans)

    def _index_page(
        self,
        agency: Agency,
        after: int,
        limit: int,
        shape: tuple[tuple[str, ...], bool, bool],
        params: dict[str, Any],
        max_scans: int,
    ) -> Page | None:
        """The page from the index; None when it is not usable for the agency's agreement."""
        statement = self._index_statement(*shape)
        filtered = bool(shape[0]) or shape[1] or shape[2]
        scan = max(limit * 2, 256) if filtered else limit
        params = {**params, "fingerprint": agency.fingerprint, "scan": scan}
        items: list[FeedItem] = []
        position = after
        for _ in range(max_scans):
            params["after"] = position
            rows = self._execute(statement, params)
            if rows[0][1] is None:
                # Not usable (any more): what was read before came from a complete index.
                return Page(items, position) if position > after else None
            head = int(rows[0][0])
            considered = [r for r in rows if r[2] is not None]
            found = [_feed_item(r[3:]) for r in considered if r[3] is not None]
            mask = visible_mask(agency, [i.shareable for i in found])
            for item, ok in zip(found, mask, strict=True):
                if ok:
                    items.append(item)
                    if len(items) == limit:
                        return Page(items, item.seq)
            if len(considered) < scan:
                return Page(items, max(head, after))
            position = int(considered[-1][2])
        return Page(items, position)

    def _scan_page(
        self,
        agency: Agency,
        after: int,
        limit: int,
        shape: tuple[tuple[str, ...], bool, bool],
        params: dict[str, Any],
        max_scans: int,
    ) -> Page:
        statement = self._statement(agency, *shape)
        scan = max(limit * 2, 256)
        params = {**params, "scan": scan, "recipient": f"%|{agency.id}|%"}
        if agency.bbox is not None:
            params.update(zip(("a_west", "a_south", "a_east", "a_north"), agency.bbox, strict=True))
        items: list[FeedItem] = []
        position = after
        head = after
        for _ in range(max_scans):
            params["after"] = position
            rows = self._execute(statement, params)
            head = int(rows[0][0])
            found = [_feed_item(r[1:]) for r in rows if r[1] is not None]
            mask = visible_mask(agency, [r.shareable for r in found])
            for item, ok in zip(found, mask, strict=True):
                if ok:
                    items.append(item)
                    if len(items) == limit:
                        return Page(items, item.seq)
            if len(found) < scan:
                return Page(items, max(head, after))
            position = found[-1].seq
        return Page(items, position)

    def _execute(self, statement: str, params: dict[str, Any]) -> list[Any]:
        if self._memory:
            with self.store.engine.connect() as conn:
                return list(conn.exec_driver_sql(statement, params).all())
        conn = self._connection()
        try:
            return list(conn.execute(statement, params).fetchall())
        except Exception:
            # A broken connection (server restart): drop it; the next call opens a new one.
            self._local.conn = None
            with contextlib.suppress(Exception):
                conn.close()
            raise


def _pg_placeholder(name: str) -> str:
    return f"%({name})s"


def _sqlite_placeholder(name: str) -> str:
    return f":{name}"


def _literals(values: Sequence[str]) -> str:
    for value in values:
        if not value.replace("_", "").replace("+", "").isalnum():
            raise ValueError(f"unsafe literal {value!r}")
    return ", ".join(f"'{v}'" for v in values)


def _prefilter_sql(agency: Agency, ph: Callable[[str], str]) -> str:
    """A condition that keeps at least every row `visible_mask` would keep."""
    alternatives = [f"f.owner = {ph('agency')}", f"f.recipients LIKE {ph('recipient')}"]
    area = ""
    if agency.bbox is not None:
        area = (
            f" AND f.lat BETWEEN {ph('a_south')} AND {ph('a_north')}"
            f" AND f.lon BETWEEN {ph('a_west')} AND {ph('a_east')}"
        )
    types = sorted(agency.alert_types)
    if types:
        alternatives.append(
            f"(f.type IN ({_literals(types)}) AND f.tlp_rank <= {agency.max_tlp.rank}{area})"
        )
    if agency.sar:
        alternatives.append(f"(f.type = '{AlertType.DISTRESS.value}'{area})")
    return "(" + " OR ".join(alternatives) + ")"
