"""The per-agency visibility index (api/visibility.py), on SQLite and PostgreSQL.

Whatever state the index is in (complete, being rebuilt, left behind by a process that holds
an older agreement, or holding rows it should not), a poll returns exactly the versions the
agency's agreement shows it, each once, in commit order; and once built, the index holds
exactly those versions. "Exactly" is always `visible_mask` over every stored version,
computed from scratch.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from anomaly.records import Alert, AlertType, Outcome, Tlp
from api import tables as t
from api.context import ApiContext
from api.sharing import Agency, AgencyConfig, compile_agency, load_zones, visible_mask
from api.store import CHANGE_ACKNOWLEDGED, CHANGE_CLOSED, CHANGE_SHARED, AlertStore
from lookout.db import alembic_config, make_engine, migrate
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    OPERATOR,
    api_config_dir,
    api_settings,
    make_alert,
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
AGENCIES = ["lookout-ops", "bd-coast-guard", "th-mecc", "my-mmea", "id-basarnas", "au-abf"]
# Inside and outside the shipped agreements' areas (config/agencies.yaml, config/zones).
POSITIONS = [(12.0, 97.0), (6.0, 97.0), (3.0, 100.0), (-5.0, 100.0), (21.0, 90.0), (-12, 110)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    url: str = request.getfixturevalue("pg_database")()
    return url


@pytest.fixture
def open_context(db_url: str, api_config_dir: Path) -> Iterator[Callable[[], ApiContext]]:  # noqa: F811
    """Factory: an ApiContext on the test's database, as one API process holds it, without
    its background threads (the tests build indexes themselves); closed at the end."""
    made: list[ApiContext] = []

    def make() -> ApiContext:
        context = ApiContext.open(api_settings(db_url, api_config_dir))
        context.store.visibility.min_batch = 7  # many small batches
        context.store.visibility.batch_budget = 7
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def random_alerts(rng: random.Random, first: int, count: int) -> list[Alert]:
    alerts: list[Alert] = []
    for n in range(first, first + count):
        lat, lon = rng.choice(POSITIONS)
        recipients = tuple(rng.sample(AGENCIES[1:], 1)) if rng.random() < 0.1 else ()
        alert = make_alert(
            n,
            type=rng.choice(list(AlertType)),
            tlp=rng.choices(list(Tlp), weights=[3, 5, 3, 1, 1])[0],
            lat=lat + rng.uniform(-0.5, 0.5),
            lon=lon + rng.uniform(-0.5, 0.5),
            recipients=recipients,
        )
        alerts.append(alert)
        if rng.random() < 0.2:
            alerts.append(alert.revised(lat=alert.lat + 0.2))
    return alerts


def store_some(context: ApiContext, rng: random.Random, first: int, count: int) -> None:
    """New alerts (and revisions) in a few transactions, then lifecycle changes."""
    alerts = random_alerts(rng, first, count)
    for start in range(0, len(alerts), 17):
        context.store.put_alerts(alerts[start : start + 17])
    store = context.store
    for alert in rng.sample(alerts, max(1, len(alerts) // 10)):
        change = rng.choice([CHANGE_ACKNOWLEDGED, CHANGE_CLOSED, CHANGE_SHARED])
        if change == CHANGE_SHARED:
            store.change(alert.id, change, OPERATOR, "k", share_with=rng.sample(AGENCIES[1:], 1))
        elif change == CHANGE_CLOSED:
            store.change(alert.id, change, OPERATOR, "k", outcome=Outcome.RESCUED)
        else:
            store.change(alert.id, change, OPERATOR, "k")


def visible_seqs(store: AlertStore, agency: Agency, **filters: Any) -> list[int]:
    """From scratch: every stored version `agency` may see (and that passes the filters)."""
    items = store.feed_items(list(range(1, store.head() + 1)))
    ordered = [items[s] for s in sorted(items)]
    mask = visible_mask(agency, [i.shareable for i in ordered])
    out = []
    for item, ok in zip(ordered, mask, strict=True):
        sh = item.shareable
        if not ok:
            continue
        if "types" in filters and sh.type not in filters["types"]:
            continue
        if "bbox" in filters:
            west, south, east, north = filters["bbox"]
            if not (west <= sh.lon <= east and south <= sh.lat <= north):
                continue
        if "since_ms" in filters and item.committed_at < filters["since_ms"]:
            continue
        out.append(item.seq)
    return out


def indexed_seqs(store: AlertStore, agency_id: str) -> list[int]:
    v = t.alert_visibility.c
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(v.seq).where(v.agency_id == agency_id).order_by(v.seq))
        return [int(r.seq) for r in rows]


def polled_seqs(store: AlertStore, agency: Agency, limit: int, **filters: Any) -> list[int]:
    """Catch-up from the start, page by page, as a partner would."""
    seqs: list[int] = []
    after = 0
    while True:
        page = store.page(agency, after, limit, **filters)
        assert len(page.items) <= limit
        seqs.extend(i.seq for i in page.items)
        if not page.items and page.next_seq == after:
            return seqs
        after = page.next_seq


def agency(context: ApiContext, agency_id: str) -> Agency:
    found = context.registry.get(agency_id)
    assert found is not None, agency_id
    return found


def assert_polls_exact(context: ApiContext, agency_id: str, limits: tuple[int, ...]) -> None:
    entity = agency(context, agency_id)
    expected = visible_seqs(context.store, entity)
    for limit in limits:
        got = polled_seqs(context.store, entity, limit)
        assert got == expected, f"{agency_id}, {limit} a page: missed, leaked or repeated"


def change_agreement(context: ApiContext, agency_id: str, **changes: Any) -> AgencyConfig:
    """What the admin API does: store the new agreement, reload (which claims its index)."""
    config = agency(context, agency_id).config.model_copy(update=changes)
    config = AgencyConfig.model_validate(config.model_dump())
    context.store.upsert_agency(config, "admin")
    context.reload_agencies()
    return config


# -- the index holds exactly the visible set ------------------------------------------------


def test_index_equals_the_visible_set_after_inserts_and_changes(
    open_context: Callable[[], ApiContext],
) -> None:
    context = open_context()
    store_some(context, random.Random(1), 0, 300)
    store = context.store
    assert store.head() > 300
    for agency_id in AGENCIES:
        entity = agency(context, agency_id)
        assert store.visibility.usable(entity), agency_id
        expected = visible_seqs(store, entity)
        assert indexed_seqs(store, agency_id) == expected, agency_id
        assert 0 < len(expected) <= store.head()
    # Each partner sees a small part: the index is what makes its polls cheap.
    assert len(indexed_seqs(store, "au-abf")) < store.head() / 5


def test_catch_up_paging_returns_exactly_the_visible_set(
    open_context: Callable[[], ApiContext],
) -> None:
    context = open_context()
    store_some(context, random.Random(2), 0, 250)
    store = context.store
    since = store.feed_items([store.head() // 2])[store.head() // 2].committed_at
    for agency_id in AGENCIES:
        assert store.visibility.usable(agency(context, agency_id))
        assert_polls_exact(context, agency_id, (1, 3, 50, 1000))
        entity = agency(context, agency_id)
        for filters in (
            {"types": ["migrant_risk", "distress", "encounter"]},
            {"bbox": (95.0, 0.0, 101.0, 13.0)},
            {"since_ms": since},
            {"types": ["loitering"], "bbox": (89.0, -6.0, 101.0, 8.0)},
        ):
            expected = visible_seqs(store, entity, **filters)
            for limit in (2, 100):
                assert polled_seqs(store, entity, limit, **filters) == expected, (
                    agency_id,
                    filters,
                    limit,
                )


# -- rebuilds -------------------------------------------------------------------------------


def test_agreement_change_rebuilds_and_polls_stay_exact_during_the_rebuild(
    open_context: Callable[[], ApiContext],
) -> None:
    context = open_context()
    rng = random.Random(3)
    store_some(context, rng, 0, 200)
    store = context.store
    before = agency(context, "th-mecc")
    old_rows = indexed_seqs(store, "th-mecc")

    change_agreement(
        context,
        "th-mecc",
        areas=(
            {
                "type": "Polygon",
                "coordinates": [[[88, -8], [101, -8], [101, 14], [88, 14], [88, -8]]],
            },
        ),
        alert_types=(AlertType.MIGRANT_RISK, AlertType.DISTRESS, AlertType.LOITERING),
        max_tlp=Tlp.GREEN,
    )
    after = agency(context, "th-mecc")
    assert after.fingerprint != before.fingerprint
    assert visible_seqs(store, after) != old_rows  # the change matters
    state = store.visibility.states()["th-mecc"]
    assert (state.fingerprint, state.complete, state.built_through) == (after.fingerprint, False, 0)
    assert not store.visibility.usable(after)
    # The other agencies' indexes are untouched and in use.
    assert store.visibility.usable(agency(context, "my-mmea"))

    batches = 0
    first = 10_000
    while not context.build_visibility(max_batches=1):
        batches += 1
        state = store.visibility.states()["th-mecc"]
        assert not state.complete and not store.visibility.usable(after)
        # Built so far: exactly the new agreement's rows.
        expected = visible_seqs(store, after)
        done = [s for s in indexed_seqs(store, "th-mecc") if s <= state.built_through]
        assert done == [s for s in expected if s <= state.built_through]
        # Polls scan meanwhile: no leak (old rows), no miss (rows not built yet).
        assert_polls_exact(context, "th-mecc", (4, 100))
        if batches % 5 == 0:  # versions stored during the rebuild
            store_some(context, rng, first, 5)
            first += 100
    assert batches > 10
    assert store.visibility.usable(after)
    assert indexed_seqs(store, "th-mecc") == visible_seqs(store, after)
    assert_polls_exact(context, "th-mecc", (1, 100))
    for agency_id in AGENCIES:
        assert indexed_seqs(store, agency_id) == visible_seqs(store, agency(context, agency_id))


def test_a_new_agency_is_backfilled(
    open_context: Callable[[], ApiContext],
    api_config_dir: Path,  # noqa: F811
) -> None:
    context = open_context()
    store_some(context, random.Random(4), 0, 150)
    config = AgencyConfig.model_validate(
        {
            "id": "lk-navy",
            "name": "Sri Lanka Navy",
            "country": "LK",
            "areas": [
                {
                    "type": "Polygon",
                    "coordinates": [[[85, 2], [99, 2], [99, 14], [85, 14], [85, 2]]],
                }
            ],
            "alert_types": "all",
            "max_tlp": "AMBER",
            "sar": True,
        }
    )
    context.store.upsert_agency(config, "admin")
    context.reload_agencies()
    navy = agency(context, "lk-navy")
    assert not context.store.visibility.usable(navy)
    assert_polls_exact(context, "lk-navy", (5,))  # scans until built
    assert context.build_visibility()
    assert context.store.visibility.usable(navy)
    assert indexed_seqs(context.store, "lk-navy") == visible_seqs(context.store, navy)
    assert_polls_exact(context, "lk-navy", (5, 1000))


def test_a_writer_holding_an_older_agreement_cannot_leave_a_wrong_index(
    open_context: Callable[[], ApiContext],
) -> None:
    """Two API processes on one database; one changes an agreement, the other stores alerts
    before its next reload of the agencies."""
    first, second = open_context(), open_context()
    rng = random.Random(5)
    store_some(first, rng, 0, 120)
    change_agreement(first, "my-mmea", alert_types="all", max_tlp=Tlp.AMBER)
    assert first.build_visibility()
    new = agency(first, "my-mmea")
    assert first.store.visibility.usable(new)
    head = first.store.head()

    store_some(second, rng, 1000, 30)  # `second` still holds the old agreement

    state = first.store.visibility.states()["my-mmea"]
    assert not state.complete and state.built_through == head  # trusted up to its last write
    assert not first.store.visibility.usable(new)
    assert_polls_exact(first, "my-mmea", (3, 100))  # scans: no miss
    assert first.build_visibility()
    assert indexed_seqs(first.store, "my-mmea") == visible_seqs(first.store, new)
    assert_polls_exact(first, "my-mmea", (3, 100))

    # Once `second` reloads it holds the same agreement: its writes keep the index.
    second.reload_agencies()
    assert agency(second, "my-mmea").fingerprint == new.fingerprint
    store_some(second, rng, 2000, 30)
    assert first.store.visibility.usable(new)
    assert indexed_seqs(first.store, "my-mmea") == visible_seqs(first.store, new)


def test_a_stale_process_cannot_claim_an_index_back(
    open_context: Callable[[], ApiContext],
) -> None:
    first, second = open_context(), open_context()
    store_some(first, random.Random(6), 0, 40)
    change_agreement(first, "au-abf", max_tlp=Tlp.AMBER)
    claimed = second.store.visibility.claim(second.registry.all(), lambda: 0)
    assert claimed == []  # its agreement is no longer the stored one
    assert (
        second.store.visibility.states()["au-abf"].fingerprint
        == agency(first, "au-abf").fingerprint
    )


def test_rows_the_agreement_does_not_show_never_leak(
    open_context: Callable[[], ApiContext],
    api_config_dir: Path,  # noqa: F811
) -> None:
    context = open_context()
    store_some(context, random.Random(7), 0, 100)
    store = context.store
    mmea = agency(context, "my-mmea")
    hidden = sorted(set(range(1, store.head() + 1)) - set(visible_seqs(store, mmea)))
    assert hidden
    with store.engine.begin() as conn:  # a corrupted index: rows for versions it may not see
        conn.execute(
            t.alert_visibility.insert(), [{"agency_id": "my-mmea", "seq": s} for s in hidden]
        )
    assert store.visibility.usable(mmea)
    assert_polls_exact(context, "my-mmea", (1, 7, 100))

    # A reader holding another agreement than the index's does not use it.
    other_config = mmea.config.model_copy(update={"alert_types": "all", "max_tlp": Tlp.AMBER})
    other = compile_agency(other_config, load_zones(api_config_dir))
    assert other.fingerprint != mmea.fingerprint and not store.visibility.usable(other)
    assert polled_seqs(store, other, 9) == visible_seqs(store, other)


# -- the migration --------------------------------------------------------------------------

VISIBILITY_TABLES = {"alert_visibility", "alert_visibility_state"}


def test_migration_matches_the_tables_and_downgrades(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    visibility_metadata = sa.MetaData()
    for table in (t.alert_visibility, t.alert_visibility_state):
        table.to_metadata(visibility_metadata)
    script = ScriptDirectory.from_config(alembic_config(db_url))

    def applied(revision: str, heads: set[str]) -> bool:
        """`revision` is one of the heads or below one (later api revisions build on it)."""
        return any(
            revision in {r.revision for r in script.iterate_revisions(h, "base")} for h in heads
        )

    def state() -> tuple[set[str], set[str], list[Any]]:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            heads = set(MigrationContext.configure(conn).get_current_heads())
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_name": lambda name, kind, _parents: (
                        kind != "table" or name in VISIBILITY_TABLES
                    )
                },
            )
            diff = compare_metadata(context, visibility_metadata)
        return tables, heads, diff

    try:
        tables, heads, diff = state()
        assert tables >= VISIBILITY_TABLES and applied("api_0002", heads)
        assert diff == [], "api/tables.py and 0002_visibility.py disagree"

        command.downgrade(alembic_config(db_url), "api_0001")
        tables, heads, _ = state()
        assert not VISIBILITY_TABLES & tables and "api_0001" in heads
        assert not applied("api_0002", heads)

        migrate(db_url)
        tables, heads, diff = state()
        assert tables >= VISIBILITY_TABLES and applied("api_0002", heads) and diff == []
    finally:
        engine.dispose()


def test_an_upgraded_database_is_backfilled(
    db_url: str,
    api_config_dir: Path,  # noqa: F811
) -> None:
    """Alerts stored before the index existed: every agency scans until its index is built."""
    migrate(db_url)
    context = ApiContext.open(api_settings(db_url, api_config_dir))
    try:
        store_some(context, random.Random(8), 0, 80)
        with context.store.engine.begin() as conn:  # as it was before api_0002
            conn.execute(t.alert_visibility.delete())
            conn.execute(t.alert_visibility_state.delete())
        context.store.visibility.claim(context.registry.all(), lambda: 1)
        for agency_id in AGENCIES:
            assert not context.store.visibility.usable(agency(context, agency_id))
            assert_polls_exact(context, agency_id, (10,))
        assert context.build_visibility()
        for agency_id in AGENCIES:
            entity = agency(context, agency_id)
            assert context.store.visibility.usable(entity)
            assert indexed_seqs(context.store, agency_id) == visible_seqs(context.store, entity)
    finally:
        context.close()


def test_fingerprint_follows_what_decides_visibility(api_config_dir: Path) -> None:  # noqa: F811
    zones = load_zones(api_config_dir)
    config = AgencyConfig.model_validate(
        {"id": "th-mecc", "name": "x", "country": "TH", "areas": ["andaman-sea"]}
    )
    base = compile_agency(config, zones).fingerprint

    def fingerprint(**changes: Any) -> str:
        changed = AgencyConfig.model_validate({**config.model_dump(), **changes})
        return compile_agency(changed, zones).fingerprint

    # What visible_mask reads changes it...
    assert fingerprint(max_tlp="AMBER") != base
    assert fingerprint(alert_types=["drifting"]) != base
    assert fingerprint(sar=True) != base
    assert fingerprint(areas="any") != base
    moved = {**zones, "andaman-sea": zones["andaman-sea"].buffer(0.1)}
    assert compile_agency(config, moved).fingerprint != base  # a zone file edited
    # ...what it does not read leaves it alone.
    assert fingerprint(name="Another name", roles=["partner", "officer"]) == base
    assert fingerprint(webhook="https://example.invalid/hook", active=False) == base
    assert compile_agency(config, zones).fingerprint == base
    body = orjson.dumps(config.model_dump(mode="json"))
    assert compile_agency(AgencyConfig.model_validate_json(body), zones).fingerprint == base
