"""The API's contract, end to end on SQLite: keys, tokens, rate limits, cursors and caching
headers, lifecycle, the sink, the audit chain, health, metrics and problem details."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from anomaly.records import AlertType, Outcome, Tlp
from api.routes.alerts import PollFastPath
from api.settings import ApiSettings
from api.sharing import Role
from api.sink import AlertSink
from lookout.bus import topics
from lookout.bus.memory import MemoryBus
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    OPERATOR,
    PEPPER,
    api_config_dir,
    make_alert,
    make_api,
    poll_all,
)

PROBLEM = "application/problem+json"


def test_settings_refuse_placeholder_secrets_outside_development(tmp_path: Path) -> None:
    for pepper in ("changethis", "short"):
        with pytest.raises(ValueError, match="placeholder"):
            ApiSettings(api_key_pepper=pepper, environment="production")
    with pytest.warns(UserWarning):
        ApiSettings(api_key_pepper="changethis", environment="development")
    env = {
        "LOOKOUT_API_KEY_PEPPER": PEPPER,
        "LOOKOUT_ENV": "production",
        "LOOKOUT_API_DB_URL": "sqlite:///x.db",
    }
    settings = ApiSettings.from_env(env)
    assert settings.db_url == "sqlite:///x.db"
    assert PEPPER not in repr(settings)  # secrets stay hidden when printed
    with pytest.raises(ValueError, match="placeholder"):
        ApiSettings.from_env({"LOOKOUT_ENV": "production"})


def test_keys_shown_once_stored_hashed_rotated_and_revoked(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    admin = server.client(server.key(OPERATOR, [Role.ADMIN]))
    created = admin.post("/v1/admin/agencies/th-mecc/keys", json={"label": "ops room"})
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["key_id"]
    listed = admin.get("/v1/admin/agencies/th-mecc/keys").json()["data"]
    assert key_id in {k["key_id"] for k in listed}
    assert key not in orjson.dumps(listed).decode()
    with server.context.store.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT hash FROM api_key WHERE key_id = :k"), {"k": key_id}
        ).scalar_one()
    assert key not in stored and len(stored) == 64
    assert server.client(key).get("/v1/alerts").status_code == 200
    # More roles than the agency has: refused.
    too_much = admin.post("/v1/admin/agencies/th-mecc/keys", json={"roles": ["admin"]})
    assert too_much.status_code == 422

    # Rotation with a grace period: both work, then only the new one.
    rotated = admin.post(f"/v1/admin/keys/{key_id}/rotate", json={"grace_s": 1})
    assert rotated.status_code == 201
    new_key = rotated.json()["key"]
    assert server.client(new_key).get("/v1/alerts").status_code == 200
    assert server.client(key).get("/v1/alerts").status_code == 200
    time.sleep(1.1)
    assert server.client(key).get("/v1/alerts").status_code == 401
    assert server.client(new_key).get("/v1/alerts").status_code == 200

    # Revocation takes effect at once.
    revoked = admin.delete(f"/v1/admin/keys/{rotated.json()['key_id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    response = server.client(new_key).get("/v1/alerts")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert admin.delete(f"/v1/admin/keys/{rotated.json()['key_id']}").status_code == 409


def test_x_api_key_header_and_oauth2_client_credentials(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    key = server.key("th-mecc")
    key_id = key.split("_")[1]
    with server.client() as client:
        assert client.get("/v1/alerts", headers={"X-API-Key": key}).status_code == 200
        form = {"grant_type": "client_credentials", "client_id": key_id, "client_secret": key}
        issued = client.post("/v1/token", data=form)
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        assert issued.json()["expires_in"] == 300
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/alerts", headers=bearer).status_code == 200
        wrong = client.post("/v1/token", data={**form, "client_secret": key[:-1] + "x"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert client.post("/v1/token", data={**form, "grant_type": "password"}).status_code == 400
        assert client.post("/v1/token", json=form).status_code == 415
        server.context.store.revoke_key(key_id)
        assert client.get("/v1/alerts", headers=bearer).status_code == 401
        tampered = {"Authorization": f"Bearer {token[:-2]}xx"}
        assert client.get("/v1/alerts", headers=tampered).status_code == 401


def test_rate_limit_per_key(make_api: Any) -> None:  # noqa: F811
    server = make_api(rate_limit_per_s=1.0, rate_limit_burst=3)
    limited = server.client(server.key("th-mecc"))
    other = server.client(server.key("th-mecc"))
    statuses = [limited.get("/v1/alerts").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = limited.get("/v1/alerts")
    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM
    assert int(response.headers["retry-after"]) >= 1
    assert other.get("/v1/alerts").status_code == 200  # per key, not per agency


def test_cursor_etag_and_link(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    store = server.context.store
    store.put_alerts([make_alert(n, lat=12.0, lon=97.0) for n in range(5)])
    client = server.client(server.key("th-mecc"))
    first = client.get("/v1/alerts", params={"limit": 2})
    assert first.status_code == 200 and first.json()["count"] == 2
    assert first.headers["link"].endswith('>; rel="next"')
    next_url = first.headers["link"][1 : first.headers["link"].index(">")]
    assert f"after={first.json()['next']}" in next_url and "limit=2" in next_url
    again = client.get(
        "/v1/alerts", params={"limit": 2}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    rest = client.get(next_url).json()
    assert rest["count"] == 2
    assert {a["id"] for a in rest["data"]}.isdisjoint({a["id"] for a in first.json()["data"]})
    _, cursor = poll_all(client, limit=10)
    empty = client.get("/v1/alerts", params={"after": cursor})
    assert empty.json() == {"data": [], "count": 0, "next": cursor}
    same = client.get(
        "/v1/alerts", params={"after": cursor}, headers={"If-None-Match": empty.headers["etag"]}
    )
    assert same.status_code == 304
    store.put_alerts([make_alert(99, lat=12.0, lon=97.0)])
    changed = client.get(
        "/v1/alerts", params={"after": cursor}, headers={"If-None-Match": empty.headers["etag"]}
    )
    assert changed.status_code == 200 and changed.json()["count"] == 1
    bad = client.get("/v1/alerts", params={"after": "not-a-cursor"})
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
    one = client.get(f"/v1/alerts/{make_alert(1).id}")
    assert one.status_code == 200
    assert (
        client.get(
            f"/v1/alerts/{make_alert(1).id}", headers={"If-None-Match": one.headers["etag"]}
        ).status_code
        == 304
    )


def test_plain_polls_are_answered_by_the_fast_path_as_by_the_route(
    make_api: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`PollFastPath` answers plain polls without FastAPI's routing: with exactly what
    `list_alerts` answers (status, headers, body, audit); anything else goes to the route."""
    server = make_api()
    store = server.context.store
    types = [AlertType.MIGRANT_RISK, AlertType.LOITERING, AlertType.ENCOUNTER]
    store.put_alerts([make_alert(n, lat=12.0, lon=97.0, type=types[n % 3]) for n in range(7)])
    key = server.key("th-mecc")
    client = server.client(key)
    by_header = server.client()
    first = client.get("/v1/alerts", params={"limit": 2})  # verifies the key: now cached
    after = first.json()["next"]
    plain: list[tuple[httpx.Client, dict[str, str], dict[str, str]]] = [
        (client, {}, {}),
        (client, {"limit": "3"}, {}),
        (client, {"after": after}, {}),
        (client, {"after": after, "limit": "1000"}, {"Accept": "application/geo+json"}),
        (client, {"limit": "2"}, {"Accept": "application/cap+xml"}),
        (client, {"limit": "2"}, {"If-None-Match": first.headers["etag"]}),
        (by_header, {"limit": "4", "after": ""}, {"X-API-Key": key}),
        (by_header, {"after": after}, {"Authorization": f"bearer  {key}", "X-API-Key": "x"}),
    ]
    taken: list[bool] = []
    fast_poll = PollFastPath._poll

    def spy(self: PollFastPath, scope: Any) -> Any:
        poll = fast_poll(self, scope)
        taken.append(poll is not None)
        return poll

    def reads() -> int:
        server.context.audit_writer.flush()
        with store.engine.connect() as conn:
            query = "SELECT COUNT(*) FROM audit_log WHERE action = 'read.list'"
            return int(conn.execute(sa.text(query)).scalar_one())

    def answers(fast: bool) -> tuple[list[Any], int]:
        monkeypatch.setattr(PollFastPath, "_poll", spy if fast else lambda _self, _scope: None)
        before = reads()
        out = []
        for http, params, headers in plain:
            r = http.get("/v1/alerts", params=params, headers=headers)
            kept = {k: v for k, v in r.headers.items() if k not in ("date", "server")}
            out.append((r.status_code, r.content, kept))
        return out, reads() - before

    fast, fast_reads = answers(fast=True)
    assert taken == [True] * len(plain)
    metrics = by_header.get("/metrics").text  # timed under the route's template
    assert 'route="/v1/alerts",status="304"} 1.0' in metrics and "unmatched" not in metrics
    routed, routed_reads = answers(fast=False)
    assert fast == routed
    assert fast_reads == routed_reads == len(plain) - 1  # the 304 reads nothing
    assert [status for status, _, _ in fast] == [200] * 5 + [304, 200, 200]

    # Not plain: the route answers (and its errors are its own).
    form = {"grant_type": "client_credentials", "client_id": key.split("_")[1]}
    issued = by_header.post("/v1/token", data={**form, "client_secret": key})
    assert issued.status_code == 200, issued.text
    monkeypatch.setattr(PollFastPath, "_poll", spy)
    taken.clear()
    others = [
        (server.client(issued.json()["access_token"]), {"limit": "2"}, 200),
        (client, {"type": "loitering"}, 200),
        (client, {"limit": "2", "foo": "1"}, 200),
        (client, {"limit": "2", "after": "not-a-cursor"}, 400),
        (client, {"limit": "0"}, 422),
        (client, {"limit": "1001"}, 422),
        (client, {"limit": "02"}, 200),
        (server.client("lk_000000000000_" + "x" * 43), {}, 401),
    ]
    for http, params, status in others:
        response = http.get("/v1/alerts", params=params)
        assert response.status_code == status, (params, response.text)
        if status != 200:
            assert response.headers["content-type"] == PROBLEM
    assert taken == [False] * len(others)
    assert client.get("/v1/alerts", params=[("limit", "2"), ("limit", "3")]).json()["count"] == 3


def test_lifecycle_is_a_new_version_and_a_training_label(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    store = server.context.store
    alert = make_alert(1, lat=12.0, lon=97.0)
    store.put_alerts([alert])
    officer = server.client(server.key(OPERATOR, [Role.OFFICER]))
    partner = server.client(server.key("th-mecc"))
    _, cursor = poll_all(partner)
    acked = officer.post(f"/v1/alerts/{alert.id}/ack", json={"note": "tasking a patrol boat"})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    note = officer.post(f"/v1/alerts/{alert.id}/notes", json={"text": "boat on scene"})
    assert note.status_code == 201
    closed = officer.post(f"/v1/alerts/{alert.id}/close", json={"outcome": "rescued"})
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "rescued"
    assert officer.post(f"/v1/alerts/{alert.id}/ack").status_code == 409
    assert officer.post(f"/v1/alerts/{alert.id}/close", json={"outcome": "lost"}).status_code == 422
    notes = officer.get(f"/v1/alerts/{alert.id}/notes").json()
    assert [n["text"] for n in notes["data"]] == ["tasking a patrol boat", "boat on scene"]
    # Partners see the lifecycle as new versions, each once.
    items, _ = poll_all(partner, after=cursor)
    assert [(i["status"], i["outcome"]) for i in items] == [
        ("acknowledged", None),
        ("closed", "rescued"),
    ]
    # A later detector revision keeps the officers' decision.
    store.put_alerts([alert.revised(lat=12.1)])
    assert partner.get(f"/v1/alerts/{alert.id}").json()["status"] == "closed"
    (label,) = store.labels()
    assert (label["alert_id"], label["outcome"]) == (alert.id, Outcome.RESCUED.value)
    # The owner can see who read and changed it.
    audit = officer.get(f"/v1/alerts/{alert.id}/audit").json()["data"]
    actions = {(e["agency"], e["action"]) for e in audit}
    assert {
        ("th-mecc", "read.list"),
        ("th-mecc", "read.get"),
        (OPERATOR, "alert.acknowledged"),
        (OPERATOR, "alert.closed"),
    } <= actions
    assert partner.get(f"/v1/alerts/{alert.id}/audit").status_code == 403


def test_share_names_a_recipient_for_red(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    alert = make_alert(1, tlp=Tlp.RED, lat=0.0, lon=60.0)
    server.context.store.put_alerts([alert])
    partner = server.client(server.key("au-abf"))
    assert partner.get(f"/v1/alerts/{alert.id}").status_code == 404
    officer = server.client(server.key(OPERATOR, [Role.OFFICER]))
    shared = officer.post(f"/v1/alerts/{alert.id}/share", json={"agencies": ["au-abf"]})
    assert shared.status_code == 200
    assert partner.get(f"/v1/alerts/{alert.id}").status_code == 200
    assert server.client(server.key("th-mecc")).get(f"/v1/alerts/{alert.id}").status_code == 404
    unknown = officer.post(f"/v1/alerts/{alert.id}/share", json={"agencies": ["nobody"]})
    assert unknown.status_code == 422


def test_sink_is_idempotent_and_survives_bad_messages(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    bus = MemoryBus()
    sink = AlertSink.from_bus(server.context.store, bus)
    producer = bus.producer()
    first, second = make_alert(1), make_alert(1).revised(lat=12.5)
    for alert in (first, second, first, second):
        producer.send(topics.ALERTS, orjson.dumps(alert.to_dict()), alert.id.encode())
    producer.send(topics.ALERTS, b'{"not": "an alert"}', b"x")
    stored = []
    while batch := sink.consumer.poll(timeout_s=0.05):
        stored.extend(sink.process(batch))
    assert [(i.alert_id, i.revision) for i in stored] == [(first.id, 1), (first.id, 2)]
    assert sink.rejected == 1
    assert sum(bus.end_offsets(topics.ALERTS).values()) == 5
    for tp, end in bus.end_offsets(topics.ALERTS).items():
        assert sink.consumer.committed(tp) in (None, end) or end == 0


def test_audit_log_is_append_only_and_tamper_evident(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    server.context.store.put_alerts([make_alert(n, lat=12.0, lon=97.0) for n in range(3)])
    client = server.client(server.key("th-mecc"))
    for n in range(3):
        client.get(f"/v1/alerts/{make_alert(n).id}")
    poll_all(client)
    admin = server.client(server.key(OPERATOR, [Role.ADMIN]))
    check = admin.get("/v1/admin/audit/verify").json()
    assert check["ok"] and check["entries"] >= 4
    engine = server.context.store.engine
    with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET agency_id = 'someone' WHERE seq = 2"))
    with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
    with engine.begin() as conn:  # someone with the database's keys goes around the triggers
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.text("UPDATE audit_log SET agency_id = 'someone' WHERE seq = 2"))
    check = admin.get("/v1/admin/audit/verify").json()
    assert not check["ok"] and check["first_bad_seq"] == 2


def test_health_metrics_and_problem_details(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    server.context.store.put_alerts([make_alert(1, lat=12.0, lon=97.0)])
    client = server.client(server.key("th-mecc"))
    poll_all(client)
    with server.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/readyz").json() == {"status": "ready"}
        metrics = anonymous.get("/metrics").text
        assert (
            'lookout_api_request_duration_seconds_bucket{le="0.005",method="GET",'
            'route="/v1/alerts",status="200"}' in metrics
        )
        assert 'lookout_api_alerts_shared_total{agency="th-mecc",channel="poll"} 1.0' in metrics
        assert "lookout_api_webhook_backlog 0.0" in metrics
        for method, path, status in [
            ("GET", "/nowhere", 404),
            ("DELETE", "/v1/alerts", 405),
            ("GET", "/v1/alerts", 401),
        ]:
            response = anonymous.request(method, path)
            assert response.status_code == status
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["status"] == status
    invalid = client.get("/v1/alerts", params={"limit": 0, "bbox": "1,2"})
    assert invalid.status_code == 422 and invalid.headers["content-type"] == PROBLEM
    assert invalid.json()["errors"][0]["loc"] == ["query", "limit"]
    assert client.get("/v1/alerts", params={"bbox": "10,5,0,6"}).status_code == 422
