"""The API on PostgreSQL: cursor polling under concurrent writers, webhooks across a restart."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from shapely.geometry import mapping

from anomaly.records import AlertType, Tlp
from api.context import ApiContext
from api.sharing import Role, load_zones, visible_mask
from api.store import AlertStore
from api.webhooks import verify
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    OPERATOR,
    WebhookReceiver,
    api_config_dir,
    api_settings,
    make_alert,
    make_api,
    set_webhooks,
    webhook_receiver,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

WRITERS = 4
ALERTS_PER_WRITER = 60
POLLERS = ["lookout-ops", "th-mecc", "my-mmea", "id-basarnas"]
POSITIONS = [(12.0, 97.0), (6.0, 97.0), (3.0, 100.0), (-5.0, 100.0), (21.0, 90.0)]


def test_cursor_polling_with_concurrent_writers_never_skips_nor_repeats(
    make_api: Any,  # noqa: F811
    pg_database: Callable[[], str],
    api_config_dir: Path,  # noqa: F811
) -> None:
    url = pg_database()
    server = make_api(db_url=url)
    keys = {agency: server.key(agency) for agency in POLLERS}
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        # Its own engine and connections, as another process would have; each transaction
        # sometimes lingers before committing, so a naive auto-increment would let pollers
        # pass over it.
        context = ApiContext.open(api_settings(url, api_config_dir), migrate_db=False)
        store: AlertStore = context.store
        rng = random.Random(index)
        store.before_commit = lambda: time.sleep(rng.choice([0, 0, 0.001, 0.02]))
        try:
            n = 0
            while n < ALERTS_PER_WRITER:
                batch = []
                for _ in range(rng.randint(1, 3)):
                    lat, lon = rng.choice(POSITIONS)
                    number = index * 10_000 + n
                    alert = make_alert(
                        number,
                        type=rng.choice(list(AlertType)),
                        tlp=rng.choice([Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER]),
                        lat=lat,
                        lon=lon,
                    )
                    batch.append(alert)
                    if rng.random() < 0.3:
                        batch.append(alert.revised(lat=lat + 0.1))
                    n += 1
                store.put_alerts(batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            context.store.close()

    received: dict[str, list[tuple[str, int]]] = {agency: [] for agency in POLLERS}

    def poller(agency: str) -> None:
        rng = random.Random(agency)
        after: str | None = None
        try:
            with server.client(keys[agency]) as client:
                quiet_after_done = 0
                while quiet_after_done < 2:
                    finished = writers_done.is_set()
                    params: dict[str, Any] = {"limit": rng.randint(1, 25)}
                    if after:
                        params["after"] = after
                    page = client.get("/v1/alerts", params=params).json()
                    received[agency].extend((i["id"], i["revision"]) for i in page["data"])
                    after = page["next"]
                    if finished and not page["data"]:
                        quiet_after_done += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    pollers = [threading.Thread(target=poller, args=(a,)) for a in POLLERS]
    for thread in threads + pollers:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    writers_done.set()
    for thread in pollers:
        thread.join(timeout=120)
    assert not errors, errors

    store = server.context.store
    items = store.feed_items(list(range(1, store.head() + 1)))
    assert len(items) == store.head()  # no gap in the sequence
    assert store.head() >= WRITERS * ALERTS_PER_WRITER
    for agency in POLLERS:
        entity = server.context.registry.get(agency)
        assert entity is not None
        ordered = [items[s] for s in sorted(items)]
        mask = visible_mask(entity, [i.shareable for i in ordered])
        expected = [(i.alert_id, i.revision) for i, ok in zip(ordered, mask, strict=True) if ok]
        got = received[agency]
        assert len(got) == len(set(got)), f"{agency} received a version twice"
        assert got == expected, f"{agency}: missed or reordered versions"


def test_webhook_retried_until_acknowledged_across_a_restart(
    make_api: Any,  # noqa: F811
    pg_database: Callable[[], str],
    api_config_dir: Path,  # noqa: F811
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    set_webhooks(api_config_dir, {"th-mecc": f"{webhook_receiver.url}/th"})
    webhook_receiver.fail_first["/th"] = 3
    url = pg_database()
    slow = {"webhook_backoff_base_s": 0.3, "webhook_backoff_max_s": 0.6}
    first = make_api(db_url=url, **slow)
    admin = first.client(first.key(OPERATOR, [Role.ADMIN]))
    secret = admin.post("/v1/admin/agencies/th-mecc/webhook-secret").json()["secret"]
    alert = make_alert(1, lat=12.0, lon=97.0)
    first.context.store.put_alerts([alert])

    wait_for(lambda: len(webhook_receiver.attempts) >= 2)
    first.stop()  # the API goes down with the delivery still pending
    assert webhook_receiver.for_path("/th") == []
    attempts_before = len(webhook_receiver.attempts)
    assert attempts_before < 4

    second = make_api(db_url=url, **slow)  # a new process on the same database
    wait_for(lambda: len(webhook_receiver.for_path("/th")) == 1)
    time.sleep(1.0)  # and nothing more arrives
    (delivery,) = webhook_receiver.for_path("/th")
    assert len(webhook_receiver.attempts) == 4
    assert len({a.headers["webhook-id"] for a in webhook_receiver.attempts}) == 1
    verify(secret, delivery.headers, delivery.body)
    event = orjson.loads(delivery.body)
    assert event["type"] == "alert.revision"
    assert (event["data"]["id"], event["data"]["revision"]) == (alert.id, 1)
    (row,) = second.context.outbox.rows()
    assert row["delivered_at"] is not None and row["attempts"] == 4
    assert second.context.outbox.backlog() == 0


def test_polls_stay_exact_while_an_agreement_is_rebuilt_under_concurrent_writers(
    make_api: Any,  # noqa: F811
    pg_database: Callable[[], str],
    api_config_dir: Path,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """th-mecc's area changes from the zone `andaman-sea` to the same polygon written inline:
    a new agreement (its index is rebuilt, in small batches, by the API's background thread)
    that shows exactly the same alerts, so what each poller must receive stays well defined.
    The writers (other processes) hold the old agreement to the end: each of their writes
    after the rebuild marks the index incomplete again, polls fall back to scanning, and
    the background thread repairs it."""
    url = pg_database()
    server = make_api(db_url=url, agencies_refresh_s=0.2)
    visibility = server.context.store.visibility
    visibility.min_batch = visibility.batch_budget = 5
    pollers = ["th-mecc", "my-mmea", "lookout-ops"]
    keys = {agency: server.key(agency) for agency in pollers}
    halfway = threading.Barrier(WRITERS + 1)
    changed = threading.Event()
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        context = ApiContext.open(api_settings(url, api_config_dir), migrate_db=False)
        rng = random.Random(index)
        context.store.before_commit = lambda: time.sleep(rng.choice([0, 0, 0.001, 0.01]))
        try:
            for n in range(ALERTS_PER_WRITER):
                if n == ALERTS_PER_WRITER // 2:
                    halfway.wait(timeout=60)
                    assert changed.wait(timeout=60)
                lat, lon = rng.choice(POSITIONS)
                alert = make_alert(
                    index * 10_000 + n,
                    type=rng.choice(list(AlertType)),
                    tlp=rng.choice([Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER]),
                    lat=lat,
                    lon=lon,
                )
                batch = [alert, alert.revised(lat=lat + 0.1)]
                context.store.put_alerts(batch[: rng.randint(1, 2)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            context.close()

    received: dict[str, list[tuple[str, int]]] = {agency: [] for agency in pollers}

    def poller(agency: str) -> None:
        rng = random.Random(agency)
        after: str | None = None
        try:
            with server.client(keys[agency]) as client:
                quiet_after_done = 0
                while quiet_after_done < 2:
                    finished = writers_done.is_set()
                    params: dict[str, Any] = {"limit": rng.randint(1, 25)}
                    if after:
                        params["after"] = after
                    page = client.get("/v1/alerts", params=params).json()
                    received[agency].extend((i["id"], i["revision"]) for i in page["data"])
                    after = page["next"]
                    if finished and not page["data"]:
                        quiet_after_done += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    poll_threads = [threading.Thread(target=poller, args=(a,)) for a in pollers]
    for thread in threads + poll_threads:
        thread.start()
    halfway.wait(timeout=60)
    before = server.context.registry.get("th-mecc")
    assert before is not None and visibility.usable(before)
    zone = mapping(load_zones(api_config_dir)["andaman-sea"])
    inline = before.config.model_copy(update={"areas": (orjson.loads(orjson.dumps(zone)),)})
    server.context.store.upsert_agency(inline, "admin")
    server.context.reload_agencies()
    after_change = server.context.registry.get("th-mecc")
    assert after_change is not None and after_change.fingerprint != before.fingerprint
    assert not visibility.usable(after_change)  # being rebuilt, while the pollers poll
    wait_for(lambda: visibility.usable(after_change))
    changed.set()  # the writers go on, with the old agreement
    for thread in threads:
        thread.join(timeout=120)
    writers_done.set()
    for thread in poll_threads:
        thread.join(timeout=120)
    assert not errors, errors

    assert "marked incomplete" in caplog.text  # the stale writers were caught
    wait_for(lambda: visibility.usable(after_change))
    store = server.context.store
    items = store.feed_items(list(range(1, store.head() + 1)))
    ordered = [items[s] for s in sorted(items)]
    shareables = [i.shareable for i in ordered]
    assert visible_mask(after_change, shareables) == visible_mask(before, shareables)
    for agency in pollers:
        entity = server.context.registry.get(agency)
        assert entity is not None
        mask = visible_mask(entity, shareables)
        expected = [(i.alert_id, i.revision) for i, ok in zip(ordered, mask, strict=True) if ok]
        assert received[agency] == expected, f"{agency}: missed, repeated or reordered"
        with store.engine.connect() as conn:
            indexed = conn.execute(
                sa.text("SELECT seq FROM alert_visibility WHERE agency_id = :a ORDER BY seq"),
                {"a": agency},
            ).scalars()
            seqs = [i.seq for i, ok in zip(ordered, mask, strict=True) if ok]
            assert list(indexed) == seqs, f"{agency}: the index is not the visible set"
