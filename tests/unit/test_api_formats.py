"""CAP 1.2 output validates against the official XSD; GeoJSON output is RFC 7946."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from geojson_pydantic import Feature, FeatureCollection

from anomaly.records import AlertType, Outcome, Tlp
from api.formats import cap
from api.sharing import Role
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    BASE_MS,
    OPERATOR,
    MemoryVessels,
    api_config_dir,
    make_alert,
    make_api,
    make_point,
)

XSD = Path(__file__).resolve().parent.parent / "data" / "cap" / "CAP-v1.2.xsd"


@pytest.fixture(scope="module")
def cap_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def test_the_schema_is_strict_about_times(cap_schema: xmlschema.XMLSchema) -> None:
    alert = make_alert(1).to_dict() | {"status": "open", "outcome": None}
    good = ET.tostring(cap.alert_element(alert, "lookout@ops", "2024-06-01T00:00:00.000Z"))
    cap_schema.validate(good)
    bad = good.replace(b"+00:00</cap:sent>", b"Z</cap:sent>")
    assert bad != good
    assert not cap_schema.is_valid(bad)


def assert_rfc7946(obj: dict[str, Any]) -> None:
    """Structure, member names, position order (lon, lat) and ranges; no `crs`."""
    assert "crs" not in obj
    if obj["type"] == "FeatureCollection":
        FeatureCollection.model_validate(obj)
        for feature in obj["features"]:
            assert_rfc7946(feature)
        return
    assert obj["type"] == "Feature"
    Feature.model_validate(obj)
    assert isinstance(obj.get("properties"), dict | None)
    geometry = obj["geometry"]
    positions: list[list[float]]
    if geometry["type"] == "Point":
        positions = [geometry["coordinates"]]
    elif geometry["type"] == "LineString":
        positions = geometry["coordinates"]
        assert len(positions) >= 2
    else:
        raise AssertionError(f"unexpected geometry {geometry['type']}")
    for position in positions:
        assert len(position) in (2, 3)
        lon, lat = position[0], position[1]
        assert -180 <= lon <= 180 and -90 <= lat <= 90


def test_every_output_format_of_every_alert_kind(
    make_api: Any,  # noqa: F811
    cap_schema: xmlschema.XMLSchema,
) -> None:
    points = [
        make_point(300_000_000, BASE_MS + k * 60_000, 12.0 + k * 0.01, 97.0, 1 + k // 3)
        for k in range(7)
    ]
    server = make_api(vessels=MemoryVessels(points))
    alerts = [
        make_alert(n, type=t, tlp=tlp, lat=-8.5 + n * 0.01, lon=115.25)
        for n, (t, tlp) in enumerate(itertools.product(AlertType, Tlp))
    ]
    store = server.context.store
    store.put_alerts(alerts)
    store.put_alerts([alerts[0].revised(lat=-8.6)])
    store.change(alerts[1].id, "closed", OPERATOR, "test", outcome=Outcome.RESCUED)
    client = server.client(server.key(OPERATOR, [Role.PARTNER]))

    # CAP: a single alert, and an Atom feed of CAP alerts.
    for alert in alerts[:30]:
        response = client.get(f"/v1/alerts/{alert.id}", headers={"Accept": cap.MEDIA_TYPE})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(cap.MEDIA_TYPE)
        cap_schema.validate(response.content)
    feed = client.get("/v1/alerts", params={"limit": 1000}, headers={"Accept": cap.MEDIA_TYPE})
    assert feed.status_code == 200
    root = ET.fromstring(feed.content)
    entries = root.findall(f"{{{cap.ATOM_NS}}}entry")
    assert len(entries) == len(alerts) + 2
    for entry in entries:
        content = entry.find(f"{{{cap.ATOM_NS}}}content")
        assert content is not None
        (alert_element,) = list(content)
        cap_schema.validate(ET.tostring(alert_element))
        sent = alert_element.find(f"{{{cap.CAP_NS}}}sent")
        assert sent is not None and sent.text is not None and sent.text.endswith("+00:00")

    # GeoJSON: the list, one alert, a track and the picture.
    geo = {"Accept": "application/geo+json"}
    listing = client.get("/v1/alerts", params={"limit": 1000}, headers=geo)
    assert listing.headers["content-type"] == "application/geo+json"
    collection = listing.json()
    assert_rfc7946(collection)
    by_id = {f["id"]: f for f in collection["features"]}
    assert by_id[alerts[5].id]["geometry"]["coordinates"] == [115.25, alerts[5].lat]
    assert_rfc7946(client.get(f"/v1/alerts/{alerts[3].id}", headers=geo).json())
    track = client.get(
        "/v1/vessels/300000000/track",
        params={"start": "2024-05-31T00:00:00Z", "end": "2024-06-02T00:00:00Z"},
    )
    assert track.headers["content-type"] == "application/geo+json"
    assert_rfc7946(track.json())
    lines = [f for f in track.json()["features"] if f["geometry"]["type"] == "LineString"]
    assert [len(f["geometry"]["coordinates"]) for f in lines] == [3, 3]  # a lone fix: no line
    assert_rfc7946(client.get("/v1/picture", params={"bbox": "90,0,100,20"}).json())
    assert_rfc7946(client.get("/v1/vessels/300000000").json())
