"""The visibility index: for each agency, the stored alert versions it may see.

Without it a poll reads the feed after the cursor and lets `visible_mask` pick: an agency that
sees one version in twenty reads twenty for each one it gets, and a catch-up from the start
reads the whole feed. With it a poll is a range scan of `alert_visibility` on (agency, seq),
joined to the versions (`FeedReader` in api/store.py).

The rows are decided by `visible_mask`, the one sharing decision, with the agency's compiled
agreement; `Agency.fingerprint` names that agreement. Per agency, `alert_visibility_state`
records the fingerprint its rows were computed for and how far they are built:

- complete: every stored version has a row if and only if the agreement shows it to the
  agency. Each transaction that stores versions keeps it so (`write`, called under FEED_LOCK in
  the same transaction as the versions): it adds the agency's rows when it holds the same
  agreement; when it does not (the agreement changed and this process has not reloaded it yet,
  or the agency is unknown here) it marks the index incomplete from its first new version, and
  the versions before stay trusted.
- incomplete: the versions up to `built_through` have exactly their rows; later ones may have
  none, or rows of an older agreement. `build` advances it in bounded batches, each its own
  transaction under VISIBILITY_LOCK, and does the last stretch holding FEED_LOCK as well, so no
  version can be stored between the batch's last read and the index being marked complete.

A poll reads the state row in the same statement (one snapshot) as the index rows and uses
them only when the state is complete with the poller's own fingerprint; otherwise it scans the
feed as before. Every row read is still checked by `visible_mask`: the index can only narrow
the candidates, so a stale row can never leak an alert, and a poll during a rebuild neither
misses nor repeats one.

An agreement is claimed (`claim`) when this process loads it (start-up, the periodic reload of
agencies, the admin API): a new agency, or one whose fingerprint differs from its state row's,
gets a state row for its fingerprint with nothing built, and `build` (the API's background
thread) rebuilds it. A process claims only the agreement stored in the `agency` table, so one
that has not reloaded yet cannot take an index back to an older agreement. All processes must
load the same zone files: two that compile one agreement into different areas would rebuild it
back and forth (and already disagree about what the agency may see).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import sqlalchemy as sa
from sqlalchemy import Connection

from api import tables as t
from api.locks import FEED_LOCK, VISIBILITY_LOCK
from api.sharing import Agency, AgencyConfig, Registry, Shareable, visible_mask

if TYPE_CHECKING:
    from api.store import AlertStore

log = logging.getLogger(__name__)

BATCH_BUDGET: Final = 200_000
"""Sharing decisions per build batch (versions read x agencies being built): with 100
agencies, 2,000 versions and about 0.3 s on PostgreSQL here. Only a build's last batch holds
FEED_LOCK, so writers wait for at most about that once per build."""

MIN_BATCH_VERSIONS: Final = 200
"""Versions per batch however many agencies are being built."""

ANALYZE_AFTER_ROWS: Final = 10_000
"""A build that wrote this many rows refreshes the planner's statistics (PostgreSQL)."""


@dataclass(frozen=True, slots=True)
class IndexState:
    agency_id: str
    fingerprint: str
    built_through: int
    complete: bool


class Masks:
    """`visible_mask` of each agency over one set of new versions, computed once when first
    asked for (the index rows and the webhook outbox both need it)."""

    def __init__(self, items: Sequence[Shareable]) -> None:
        self.items = items
        self._masks: dict[str, list[bool]] = {}

    def of(self, agency: Agency) -> list[bool]:
        mask = self._masks.get(agency.id)
        if mask is None:
            mask = self._masks[agency.id] = visible_mask(agency, self.items)
        return mask


def _states(conn: Connection, agency_ids: Iterable[str] | None = None) -> dict[str, IndexState]:
    st = t.alert_visibility_state.c
    query = sa.select(st.agency_id, st.fingerprint, st.built_through, st.complete)
    if agency_ids is not None:
        query = query.where(st.agency_id.in_(list(agency_ids)))
    return {
        r.agency_id: IndexState(r.agency_id, r.fingerprint, int(r.built_through), bool(r.complete))
        for r in conn.execute(query)
    }


def _head(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(t.alert_feed.c.seq))).scalar() or 0)


def write(conn: Connection, registry: Registry, seqs: Sequence[int], masks: Masks, at: int) -> None:
    """The index rows of new versions `seqs` (ascending; `masks.items` in the same order), in
    the transaction that stores them, under FEED_LOCK."""
    if not seqs:
        return
    rows: list[tuple[str, int]] = []
    stale: list[str] = []
    st = t.alert_visibility_state.c
    query = sa.select(st.agency_id, st.fingerprint).where(st.complete == sa.true())
    for agency_id, fingerprint in conn.execute(query).all():
        agency = registry.get(agency_id)
        if agency is None or agency.fingerprint != fingerprint:
            stale.append(agency_id)
            continue
        rows.extend((agency_id, seq) for seq, ok in zip(seqs, masks.of(agency), strict=True) if ok)
    t.append_rows(conn, t.alert_visibility, rows)
    if stale:
        log.warning(
            "visibility index of %s built for an agreement this process does not hold: "
            "marked incomplete from version %d; polls scan until it is rebuilt",
            ", ".join(sorted(stale)),
            seqs[0],
        )
        conn.execute(
            t.alert_visibility_state.update()
            .where(st.agency_id.in_(stale), st.complete == sa.true())
            .values(complete=False, built_through=seqs[0] - 1, updated_at=at)
        )


class VisibilityIndex:
    """Claims and builds the index of the agencies a process holds (see the module doc)."""

    def __init__(
        self,
        store: AlertStore,
        *,
        batch_budget: int = BATCH_BUDGET,
        min_batch: int = MIN_BATCH_VERSIONS,
    ) -> None:
        self.store = store
        self.batch_budget = batch_budget
        self.min_batch = min_batch

    def states(self) -> dict[str, IndexState]:
        with self.store.engine.connect() as conn:
            return _states(conn)

    def usable(self, agency: Agency) -> bool:
        """Whether polls by `agency` read the index now (rather than scan the feed)."""
        state = self.states().get(agency.id)
        return (
            bool(agency.fingerprint)
            and state is not None
            and state.complete
            and state.fingerprint == agency.fingerprint
        )

    def claim(self, agencies: Sequence[Agency], now: Callable[[], int]) -> list[str]:
        """Take the index of each agency whose state row is missing or names another
        agreement: nothing built yet (complete at once when no version is stored). Returns the
        ids of the agencies claimed."""
        wanted = [a for a in agencies if a.fingerprint]
        states = self.states()
        changed = [
            a for a in wanted if a.id not in states or states[a.id].fingerprint != a.fingerprint
        ]
        if not changed:
            return []
        claimed: list[str] = []
        ids = [a.id for a in changed]
        with self.store.locked(FEED_LOCK, VISIBILITY_LOCK) as conn:
            stored = {
                row.id: row.config
                for row in conn.execute(
                    sa.select(t.agency.c.id, t.agency.c.config).where(t.agency.c.id.in_(ids))
                )
            }
            states = _states(conn, ids)
            head = _head(conn)
            at = now()
            for agency in changed:
                raw = stored.get(agency.id)
                if raw is None or AgencyConfig.model_validate_json(raw) != agency.config:
                    continue  # this process's view is older than the table's: not ours to claim
                state = states.get(agency.id)
                if state is not None and state.fingerprint == agency.fingerprint:
                    continue  # claimed meanwhile by another process
                values = {
                    "fingerprint": agency.fingerprint,
                    "built_through": 0,
                    "complete": head == 0,
                    "updated_at": at,
                }
                st = t.alert_visibility_state
                if state is None:
                    conn.execute(st.insert().values(agency_id=agency.id, **values))
                else:
                    conn.execute(st.update().where(st.c.agency_id == agency.id).values(**values))
                claimed.append(agency.id)
        if claimed:
            log.info("visibility index claimed for %s", ", ".join(claimed))
        return claimed

    def pending(self, agencies: Sequence[Agency]) -> list[Agency]:
        """The agencies whose index is claimed for their agreement and not complete."""
        states = self.states()
        return [
            a
            for a in agencies
            if a.fingerprint
            and (state := states.get(a.id)) is not None
            and not state.complete
            and state.fingerprint == a.fingerprint
        ]

    def build(
        self,
        agencies: Sequence[Agency],
        now: Callable[[], int],
        *,
        max_batches: int | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Build the pending indexes of `agencies`, a bounded batch per transaction, until none
        is left (True) or `max_batches` were done or `stop()` says so (False)."""
        done = 0
        written = 0
        while True:
            todo = self.pending(agencies)
            if not todo:
                if written >= ANALYZE_AFTER_ROWS and self.store.postgres:
                    # A backfill changes the table more than anything else: fresh statistics
                    # keep polls on ordered range scans even where autovacuum is off.
                    with self.store.engine.begin() as conn:
                        conn.execute(sa.text("ANALYZE alert_visibility"))
                return True
            if (max_batches is not None and done >= max_batches) or stop():
                return False
            written += self._batch(todo, now)
            done += 1

    def _batch(self, todo: Sequence[Agency], now: Callable[[], int]) -> int:
        """One batch; returns the number of index rows written."""
        versions = max(self.min_batch, self.batch_budget // len(todo))
        peek = self.states()
        start = min((peek[a.id].built_through for a in todo if a.id in peek), default=0)
        final = self.store.head() - start <= versions
        locks = (FEED_LOCK, VISIBILITY_LOCK) if final else (VISIBILITY_LOCK,)
        with self.store.locked(*locks) as conn:
            states = _states(conn, [a.id for a in todo])
            work = [
                (a, states[a.id].built_through)
                for a in todo
                if a.id in states
                and not states[a.id].complete
                and states[a.id].fingerprint == a.fingerprint
            ]
            if not work:
                return 0
            head = _head(conn)
            start = min(built for _, built in work)
            end = head if final else min(start + versions, head)
            seqs, shareables = self.store.shareables(conn, start, end)
            v = t.alert_visibility.c
            at = now()
            written = 0
            for agency, built in work:
                if built < end:
                    first = bisect.bisect_right(seqs, built)
                    mask = visible_mask(agency, shareables[first:])
                    conn.execute(
                        t.alert_visibility.delete().where(
                            v.agency_id == agency.id, v.seq > built, v.seq <= end
                        )
                    )
                    new_rows = [
                        (agency.id, seq) for seq, ok in zip(seqs[first:], mask, strict=True) if ok
                    ]
                    t.append_rows(conn, t.alert_visibility, new_rows)
                    written += len(new_rows)
                elif not final:
                    continue
                conn.execute(
                    t.alert_visibility_state.update()
                    .where(t.alert_visibility_state.c.agency_id == agency.id)
                    .values(built_through=max(built, end), complete=final, updated_at=at)
                )
            if final:
                log.info("visibility index complete for %s", ", ".join(a.id for a, _ in work))
        return written
