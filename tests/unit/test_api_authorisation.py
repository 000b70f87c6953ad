"""Authorisation: every role against every endpoint, and zero leaks between agencies by id,
by cursor, by bounding box, through the event stream and through webhooks.

The expected visible set is computed here, independently of api.sharing, from agencies.yaml
and the rules as the issue states them (plain shapely geometry, no prepared shapes, no SQL).
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from shapely.geometry import Point, shape

from anomaly.records import Alert, AlertType, Tlp
from api.sharing import Role
from api.sink import AlertSink
from api.webhooks import verify
from lookout.bus import topics
from lookout.bus.memory import MemoryBus
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    BASE_MS,
    OPERATOR,
    ApiServer,
    MemoryVessels,
    WebhookReceiver,
    api_config_dir,
    make_alert,
    make_api,
    make_point,
    poll_all,
    set_webhooks,
    webhook_receiver,
)
from tests.waiting import wait_for

TLP_ORDER = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]

# (lat, lon): inside one or several demo areas, on a border, and nowhere.
POSITIONS = {
    "bd": (21.0, 90.0),
    "bd_border": (19.0, 90.0),  # on the Bangladesh box's southern edge: touches it
    "andaman": (12.0, 97.0),  # th-mecc and my-mmea (the andaman-sea zone)
    "andaman_sar": (6.0, 97.0),  # andaman-sea and the BASARNAS box overlap
    "malacca": (3.0, 100.0),  # my-mmea's own box and BASARNAS
    "sumatra_south": (-5.0, 100.0),  # BASARNAS only
    "au_id": (-10.0, 100.0),  # Australian Border Force and BASARNAS
    "au": (-15.0, 120.0),  # Australian Border Force only
    "nowhere": (0.0, 60.0),
}


class Agreements:
    """The rules restated from the issue, over the raw YAML."""

    def __init__(self, config_dir: Path) -> None:
        data = yaml.safe_load((config_dir / "agencies.yaml").read_text())
        self.agencies = {a["id"]: a for a in data["agencies"]}
        zones = {}
        for path in (config_dir / "zones").glob("*.geojson"):
            for feature in orjson.loads(path.read_bytes())["features"]:
                zones[feature["id"]] = shape(feature["geometry"])
        self.areas: dict[str, list[Any] | None] = {}
        for agency_id, agency in self.agencies.items():
            if agency["areas"] == "any":
                self.areas[agency_id] = None
            else:
                self.areas[agency_id] = [
                    zones[a] if isinstance(a, str) else shape(a) for a in agency["areas"]
                ]

    def touches(self, agency_id: str, lat: float, lon: float) -> bool:
        areas = self.areas[agency_id]
        return areas is None or any(area.intersects(Point(lon, lat)) for area in areas)

    def entitled(self, agency_id: str, alert: Alert) -> bool:
        agency = self.agencies[agency_id]
        if agency_id == OPERATOR:
            return True
        if agency_id in alert.extra.get("recipients", []):
            return True
        inside = self.touches(agency_id, alert.lat, alert.lon)
        if alert.type is AlertType.DISTRESS and agency.get("sar") and inside:
            return True
        if alert.tlp.value in ("RED", "AMBER+STRICT"):
            return False
        types = agency["alert_types"]
        received = types == "all" or alert.type.value in types
        allowed = TLP_ORDER.index(alert.tlp.value) <= TLP_ORDER.index(agency["max_tlp"])
        return received and allowed and inside


def seed_alerts() -> list[Alert]:
    alerts: list[Alert] = []
    n = 0
    for type_, tlp, (lat, lon) in itertools.product(AlertType, Tlp, POSITIONS.values()):
        n += 1
        alerts.append(make_alert(n, type=type_, tlp=tlp, lat=lat, lon=lon))
    partners = ["bd-coast-guard", "th-mecc", "my-mmea", "id-basarnas", "au-abf"]
    for agency in partners:
        n += 1  # RED far from everyone, named recipient
        alerts.append(make_alert(n, tlp=Tlp.RED, lat=0.0, lon=60.0, recipients=(agency,)))
        n += 1  # AMBER+STRICT in Bangladesh's box, named recipient
        alerts.append(make_alert(n, tlp=Tlp.AMBER_STRICT, lat=21.0, lon=90.0, recipients=(agency,)))
    # Second revisions: some become RED, some move to another area.
    first = alerts[:: len(POSITIONS) * 2][:30]
    for i, alert in enumerate(first):
        if i % 2:
            alerts.append(alert.revised(tlp=Tlp.RED))
        else:
            lat, lon = list(POSITIONS.values())[i % len(POSITIONS)]
            alerts.append(alert.revised(lat=lat, lon=lon))
    return alerts


def latest(alerts: list[Alert]) -> dict[str, Alert]:
    out: dict[str, Alert] = {}
    for alert in alerts:
        if alert.id not in out or alert.revision > out[alert.id].revision:
            out[alert.id] = alert
    return out


def read_events(
    server: ApiServer,
    key: str,
    expected: int,
    headers: dict[str, str] | None = None,
    idle_s: float = 0.6,
) -> list[tuple[str, dict[str, Any]]]:
    """(event id, alert) pairs from the stream: until `expected` arrived, then `idle_s` more."""
    events: list[tuple[str, dict[str, Any]]] = []
    done = threading.Event()

    def run() -> None:
        with (
            server.client(key, timeout=httpx.Timeout(10.0)) as client,
            client.stream("GET", "/v1/alerts/stream", headers=headers or {}) as response,
        ):
            assert response.status_code == 200
            event_id: str | None = None
            until: float | None = None
            for line in response.iter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    assert event_id is not None
                    events.append((event_id, orjson.loads(line[6:])))
                if until is None and len(events) >= expected:
                    until = time.monotonic() + idle_s
                if until is not None and time.monotonic() > until:
                    break
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert done.is_set(), f"stream stalled after {len(events)} of {expected} events"
    return events


PARTNERS = ["bd-coast-guard", "th-mecc", "my-mmea", "id-basarnas", "au-abf"]
AGENCIES = [OPERATOR, *PARTNERS]


def test_no_leaks_by_id_cursor_bbox_stream_or_webhook(
    make_api: Any,  # noqa: F811
    api_config_dir: Path,  # noqa: F811
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    set_webhooks(api_config_dir, {a: f"{webhook_receiver.url}/{a}" for a in AGENCIES})
    rules = Agreements(api_config_dir)
    server = make_api()
    admin = server.client(server.key(OPERATOR, [Role.ADMIN]))
    secrets = {}
    for agency in AGENCIES:
        response = admin.post(f"/v1/admin/agencies/{agency}/webhook-secret")
        assert response.status_code == 201, response.text
        secrets[agency] = response.json()["secret"]

    # Everything arrives through the sink, then again (a replay) and out of order.
    alerts = seed_alerts()
    bus = MemoryBus()
    producer = bus.producer()
    for alert in alerts + alerts[::-1]:
        producer.send(topics.ALERTS, orjson.dumps(alert.to_dict()), alert.id.encode())
    sink = AlertSink.from_bus(server.context.store, bus)
    while batch := sink.consumer.poll(timeout_s=0.05):
        sink.process(batch)
    newest = latest(alerts)
    # A replayed or older revision is ignored: one version per (id, revision), in order.
    assert server.context.store.head() == len({(a.id, a.revision) for a in alerts})

    for agency in AGENCIES:
        expected_versions = {(a.id, a.revision) for a in alerts if rules.entitled(agency, a)}
        expected_latest = {i for i, a in newest.items() if rules.entitled(agency, a)}
        assert expected_versions, agency
        client = server.client(server.key(agency))

        # By cursor, in small pages: every entitled version exactly once, nothing else.
        items, _ = poll_all(client, limit=17)
        got = [(i["id"], i["revision"]) for i in items]
        assert len(got) == len(set(got)), f"{agency}: a version was repeated"
        assert set(got) == expected_versions, agency

        # By bounding box.
        bbox = (95.0, 0.0, 101.0, 13.0)
        items, _ = poll_all(client, limit=50, bbox=",".join(map(str, bbox)))
        in_box = {
            (a.id, a.revision)
            for a in alerts
            if rules.entitled(agency, a)
            and bbox[0] <= a.lon <= bbox[2]
            and bbox[1] <= a.lat <= bbox[3]
        }
        assert {(i["id"], i["revision"]) for i in items} == in_box, agency

        # By id: the latest version, 404 (not 403) when hidden.
        for alert_id in newest:
            response = client.get(f"/v1/alerts/{alert_id}")
            if alert_id in expected_latest:
                assert response.status_code == 200, (agency, alert_id)
                assert response.json()["id"] == alert_id
            else:
                assert response.status_code == 404, (agency, alert_id)
                assert response.headers["content-type"] == "application/problem+json"

        # Through the event stream, and resumed from the middle with Last-Event-ID.
        events = read_events(server, server.key(agency), len(expected_versions))
        streamed = [(e["id"], e["revision"]) for _, e in events]
        assert len(streamed) == len(set(streamed))
        assert set(streamed) == expected_versions, agency
        middle = len(events) // 2
        rest = read_events(
            server,
            server.key(agency),
            len(events) - middle - 1,
            headers={"Last-Event-ID": events[middle][0]},
        )
        assert [(e["id"], e["revision"]) for _, e in rest] == streamed[middle + 1 :]

    # Through webhooks: each agency's endpoint got exactly its versions, signed with its secret.
    outbox = server.context.outbox
    wait_for(lambda: outbox.backlog() == 0, timeout_s=60)
    for agency in AGENCIES:
        expected_versions = {(a.id, a.revision) for a in alerts if rules.entitled(agency, a)}
        deliveries = webhook_receiver.for_path(f"/{agency}")
        ids = [d.headers["webhook-id"] for d in deliveries]
        assert len(ids) == len(set(ids)), "a webhook was delivered twice"
        for delivery in deliveries:
            verify(secrets[agency], delivery.headers, delivery.body)
        bodies = [orjson.loads(d.body)["data"] for d in deliveries]
        assert {(b["id"], b["revision"]) for b in bodies} == expected_versions, agency

    # Every read was audited, and the chain holds.
    check = admin.get("/v1/admin/audit/verify").json()
    assert check["ok"] and check["entries"] > len(AGENCIES) * 3


def test_vessel_positions_only_inside_the_callers_areas(make_api: Any) -> None:  # noqa: F811
    points = []
    for index, (lat, lon) in enumerate(POSITIONS.values()):
        for k in range(3):
            points.append(
                make_point(200_000_000 + index, BASE_MS + k * 60_000, lat, lon + k * 0.01)
            )
    vessels = MemoryVessels(points)
    server = make_api(vessels=vessels)
    rules = Agreements(server.context.settings.config_dir)
    span = {"start": "2024-05-31T00:00:00Z", "end": "2024-06-02T00:00:00Z"}
    for agency in AGENCIES:
        client = server.client(server.key(agency))
        picture = client.get("/v1/picture").json()["features"]
        seen = {f["properties"]["mmsi"] for f in picture}
        for index, (lat, lon) in enumerate(POSITIONS.values()):
            mmsi = 200_000_000 + index
            inside = rules.touches(agency, lat, lon + 0.02)
            assert (mmsi in seen) == inside, (agency, mmsi)
            status = client.get(f"/v1/vessels/{mmsi}").status_code
            assert status == (200 if inside else 404), (agency, mmsi)
            track = client.get(f"/v1/vessels/{mmsi}/track", params=span)
            if rules.touches(agency, lat, lon):
                assert track.status_code == 200
                for feature in track.json()["features"]:
                    if feature["geometry"]["type"] == "Point":
                        lon_, lat_ = feature["geometry"]["coordinates"]
                        assert rules.touches(agency, lat_, lon_)
            elif not inside:
                assert track.status_code == 404


# -- every role against every endpoint ------------------------------------------------------

ANY = {Role.PARTNER, Role.OFFICER, Role.ANALYST, Role.ADMIN}
OFFICER = {Role.OFFICER}
STAFF = {Role.OFFICER, Role.ANALYST, Role.ADMIN}
ADMIN = {Role.ADMIN}


def endpoints(
    alert_id: str, key_id: str
) -> list[tuple[str, str, dict[str, Any] | None, set[Role]]]:
    agency = {
        "id": "xx-new",
        "name": "New agency",
        "country": "XX",
        "roles": ["partner"],
        "areas": "any",
        "alert_types": ["distress"],
        "max_tlp": "GREEN",
    }
    return [
        ("GET", "/v1/alerts", None, ANY),
        ("GET", "/v1/alerts/stream", None, ANY),
        ("GET", f"/v1/alerts/{alert_id}", None, ANY),
        ("POST", f"/v1/alerts/{alert_id}/ack", {}, OFFICER),
        ("POST", f"/v1/alerts/{alert_id}/notes", {"text": "seen"}, OFFICER),
        ("GET", f"/v1/alerts/{alert_id}/notes", None, STAFF),
        ("POST", f"/v1/alerts/{alert_id}/share", {"agencies": ["th-mecc"]}, OFFICER),
        ("POST", f"/v1/alerts/{alert_id}/close", {"outcome": "rescued"}, OFFICER),
        ("GET", f"/v1/alerts/{alert_id}/audit", None, STAFF),
        ("GET", "/v1/vessels/200000000", None, ANY),
        ("GET", "/v1/vessels/200000000/track", None, ANY),
        ("GET", "/v1/picture", None, ANY),
        ("GET", "/v1/admin/agencies", None, ADMIN),
        ("POST", "/v1/admin/agencies", agency, ADMIN),
        ("PUT", "/v1/admin/agencies/xx-new", agency, ADMIN),
        ("POST", "/v1/admin/agencies/th-mecc/webhook-secret", None, ADMIN),
        ("GET", "/v1/admin/agencies/th-mecc/keys", None, ADMIN),
        ("POST", "/v1/admin/agencies/th-mecc/keys", {"label": "x"}, ADMIN),
        ("POST", f"/v1/admin/keys/{key_id}/rotate", {}, ADMIN),
        ("DELETE", f"/v1/admin/keys/{key_id}", None, ADMIN),
        ("GET", "/v1/admin/audit/verify", None, ADMIN),
    ]


def call(client: httpx.Client, method: str, path: str, body: dict[str, Any] | None) -> int:
    if path.endswith("/stream"):
        with client.stream(method, path) as response:
            return response.status_code
    return client.request(method, path, json=body).status_code


@pytest.mark.parametrize("role", sorted(Role), ids=str)
def test_every_role_against_every_endpoint(make_api: Any, role: Role) -> None:  # noqa: F811
    server = make_api(vessels=MemoryVessels([make_point(200_000_000, BASE_MS, 12.0, 97.0)]))
    alert = make_alert(1, tlp=Tlp.GREEN, lat=12.0, lon=97.0)  # visible to th-mecc and my-mmea
    server.context.store.put_alerts([alert])
    callers = {OPERATOR: server.client(server.key(OPERATOR, [role]))}
    if role is Role.PARTNER:
        callers["th-mecc"] = server.client(server.key("th-mecc"))
    anonymous = server.client()
    forged = server.client("lk_0123456789ab_" + "A" * 43)
    for agency, client in callers.items():
        victim = server.key("th-mecc")  # a fresh key for rotate/revoke each time
        from api.keys import key_id_of

        for method, path, body, allowed in endpoints(alert.id, key_id_of(victim)):
            status = call(client, method, path, body)
            if role in allowed:
                assert status not in (401, 403), (agency, role, method, path, status)
                assert status < 500
            elif agency == OPERATOR or role is Role.PARTNER:
                assert status == 403, (agency, role, method, path, status)
            assert call(anonymous, method, path, body) == 401, (method, path)
            assert call(forged, method, path, body) == 401, (method, path)
