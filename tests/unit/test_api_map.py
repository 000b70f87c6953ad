"""The map's server side: the page and its static files (vendored, offline, with licences),
`/v1/me`, `/v1/zones`, and the trends endpoint filtered by sharing agreement."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from anomaly.records import AlertType, Tlp
from api.routes.map import STATIC_DIR
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    BASE_MS,
    OPERATOR,
    api_config_dir,
    make_alert,
    make_api,
)

WEEK_MS = 7 * 86_400_000
VENDORED = {
    "vendor/leaflet-1.9.4": ("leaflet.js", "leaflet.css", "LICENSE"),
    "vendor/topojson-client-3.1.0": ("topojson-client.min.js", "LICENSE"),
    "vendor/world-atlas-2.0.2": ("land-50m.json", "LICENSE"),
}


def test_the_page_and_everything_it_loads_is_served_from_here(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    client = server.client()
    for path in ("/", "/trends"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        references = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
        assert references
        for reference in references:
            assert client.get(reference).status_code == 200, reference
        assert "http://" not in page.text and "https://" not in page.text  # no CDN
    module = client.get("/static/js/main.js")
    assert "javascript" in module.headers["content-type"]
    assert module.headers["cache-control"] == "no-cache"
    vendor = client.get("/static/vendor/leaflet-1.9.4/leaflet.js")
    assert "immutable" in vendor.headers["cache-control"]
    again = client.get(
        "/static/vendor/leaflet-1.9.4/leaflet.js", headers={"If-None-Match": vendor.headers["etag"]}
    )
    assert again.status_code == 304
    for escape in (
        "/static/../routes/map.py",
        "/static/%2e%2e/routes/map.py",
        "/static/nothing.js",
    ):
        assert client.get(escape).status_code == 404, escape


def test_every_module_the_page_imports_exists() -> None:
    scripts = STATIC_DIR / "js"
    for module in scripts.glob("*.js"):
        for imported in re.findall(r"from '\./([\w.]+)'", module.read_text()):
            assert (scripts / imported).is_file(), f"{module.name} imports {imported}"
        assert "innerHTML" not in module.read_text(), f"{module.name}: build DOM nodes, not HTML"


def test_vendored_packages_keep_their_licences_and_stay_small() -> None:
    total = 0
    for folder, names in VENDORED.items():
        for name in names:
            path = STATIC_DIR / folder / name
            assert path.is_file(), path
            total += path.stat().st_size
        assert (
            "Permission" in (STATIC_DIR / folder / "LICENSE").read_text()
            or "BSD" in (STATIC_DIR / folder / "LICENSE").read_text()
        )
    assert total < 1_000_000


def test_me_tells_the_agency_its_roles_and_area(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    assert server.client().get("/v1/me").status_code == 401
    operator = server.client(server.key(OPERATOR)).get("/v1/me").json()
    assert operator["agency"] == OPERATOR and operator["area"] is None
    assert "officer" in operator["roles"]
    partner = server.client(server.key("bd-coast-guard")).get("/v1/me").json()
    assert partner["name"] == "Bangladesh Coast Guard"
    assert partner["roles"] == ["partner"]
    assert partner["area"]["type"] in ("Polygon", "MultiPolygon")
    assert "drifting" not in partner["alert_types"]


def test_zones_are_served_with_their_names_and_kinds(
    make_api: Any,  # noqa: F811
    api_config_dir: Path,  # noqa: F811
) -> None:
    server = make_api()
    assert server.client().get("/v1/zones").status_code == 401
    response = server.client(server.key("th-mecc")).get("/v1/zones")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    features = response.json()["features"]
    ids = {f["id"] for f in features}
    assert "andaman-sea" in ids
    for feature in features:
        assert set(feature["properties"]) == {"id", "name", "kind"}
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_trends_count_what_the_agency_may_see_by_week_type_and_zone(make_api: Any) -> None:  # noqa: F811
    server = make_api()
    lat, lon = 21.0, 90.0  # inside bd-coast-guard's box; not the Andaman Sea
    alerts = [
        make_alert(1, type=AlertType.MIGRANT_RISK, lat=lat, lon=lon),
        make_alert(2, type=AlertType.ENCOUNTER, lat=lat, lon=lon),
        make_alert(3, type=AlertType.DRIFTING, lat=lat, lon=lon),  # a type bd does not get
        make_alert(4, type=AlertType.MIGRANT_RISK, lat=12.0, lon=97.0),  # outside its area
        make_alert(5, type=AlertType.MIGRANT_RISK, tlp=Tlp.RED, lat=lat, lon=lon),  # RED
    ]
    last_week = make_alert(6, type=AlertType.LOITERING, lat=lat, lon=lon)
    alerts.append(replace(last_week, start=last_week.start - WEEK_MS))
    server.context.store.put_alerts(alerts)
    end = "2024-06-01"  # BASE_MS's day (a Saturday): its week starts on Monday 2024-05-27

    operator = server.client(server.key(OPERATOR)).get(
        "/v1/trends", params={"weeks": 2, "end": end}
    )
    assert operator.status_code == 200, operator.text
    body = operator.json()
    assert [w["week"] for w in body["weeks"]] == ["2024-W21", "2024-W22"]
    assert body["start"] == "2024-05-20" and body["end"] == "2024-06-03"
    assert body["total"] == 6 and body["by_week"] == [1, 5]
    assert {t["type"]: t["weeks"] for t in body["by_type"]}["migrant_risk"] == [0, 3]

    partner = server.client(server.key("bd-coast-guard"))
    body = partner.get("/v1/trends", params={"weeks": 2, "end": end}).json()
    assert body["total"] == 3
    assert {t["type"]: t["count"] for t in body["by_type"]} == {
        "migrant_risk": 1,
        "encounter": 1,
        "loitering": 1,
    }
    assert body["by_area"][0]["area"] is None  # the test alerts name no zone
    assert body["latest"] is not None

    narrowed = partner.get(
        "/v1/trends", params={"weeks": 2, "end": end, "type": "encounter"}
    ).json()
    assert narrowed["total"] == 1

    exported = partner.get(
        "/v1/trends", params={"weeks": 2, "end": end}, headers={"Accept": "text/csv"}
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sum(int(r["count"]) for r in rows) == 3
    assert {r["week"] for r in rows} == {"2024-W21", "2024-W22"}

    empty = partner.get("/v1/trends", params={"weeks": 1, "end": "2020-01-01"}).json()
    assert empty["total"] == 0 and empty["latest"] is not None  # the page can jump to it
    assert partner.get("/v1/trends", params={"weeks": 0}).status_code == 422
    assert partner.get("/v1/trends", params={"end": "0001-01-01"}).status_code == 422


def test_base_week_is_what_the_trends_test_assumes() -> None:
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(BASE_MS / 1000, UTC).date()
    assert day.isoformat() == "2024-06-01"
