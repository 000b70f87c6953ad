"""The watch officers' map: the page at `/`, its static files, and the two small reads it needs
besides alerts and vessels: who the caller is (`/v1/me`) and the named zones (`/v1/zones`).

The page is plain HTML, CSS and ES modules under `api/static/` with Leaflet, topojson-client and
Natural Earth land vendored beside them (no build step, no CDN, no tile server). It holds no
data of its own: it asks the API with the agency's key, so it shows exactly what that agency's
sharing agreement allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from shapely.geometry import mapping

from api.deps import Context, CurrentCaller
from api.formats import geojson
from api.routes.alerts import COMMON
from api.schemas import SessionPublic

router = APIRouter()

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
VENDOR_CACHE: Final = "public, max-age=604800, immutable"  # vendored paths carry the version
APP_CACHE: Final = "no-cache"  # revalidated (ETag) on every load: a new release shows at once

_files = StaticFiles(directory=STATIC_DIR, check_dir=False)


def page(name: str) -> FileResponse:
    """One of the HTML pages under static/, with the page security headers."""
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=PAGE_HEADERS)


@router.get("/", include_in_schema=False)
def map_page() -> FileResponse:
    return page("index.html")


@router.get("/static/{path:path}", include_in_schema=False)
async def static_file(path: str, request: Request) -> Response:
    response = await _files.get_response(path, request.scope)
    response.headers["Cache-Control"] = VENDOR_CACHE if path.startswith("vendor/") else APP_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get(
    "/v1/me",
    summary="The calling agency, its key's roles and its area of interest",
    tags=["session"],
    response_model=SessionPublic,
    responses=COMMON,
)
def me(caller: CurrentCaller) -> Any:
    """What the map needs to present itself to a signed-in agency: its name, what its key may
    do (officers acknowledge and close), and the outline of the areas it sees (null: anywhere)."""
    agency = caller.agency
    config = agency.config
    area = mapping(agency.geometry) if agency.geometry is not None else None
    return {
        "agency": config.id,
        "name": config.name,
        "country": config.country,
        "roles": sorted(r.value for r in caller.roles),
        "sar": config.sar,
        "alert_types": sorted(agency.alert_types),
        "max_tlp": config.max_tlp,
        "area": area,
    }


@dataclass(frozen=True, slots=True)
class _Zones:
    stamp: tuple[tuple[str, int], ...]
    features: list[dict[str, Any]]
    body: bytes


_zones_cache: dict[Path, _Zones] = {}


def _zones(config_dir: Path) -> _Zones:
    """Every named zone of `config_dir/zones/*.geojson` as GeoJSON features (id, name, kind);
    the files are read again only when one changes."""
    folder = config_dir / "zones"
    paths = sorted(folder.glob("*.geojson")) if folder.is_dir() else []
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in paths)
    cached = _zones_cache.get(folder)
    if cached is not None and cached.stamp == stamp:
        return cached
    features: list[dict[str, Any]] = []
    for path in paths:
        data = orjson.loads(path.read_bytes())
        members = data.get("features") if data.get("type") == "FeatureCollection" else [data]
        for feature in members or []:
            props = feature.get("properties") or {}
            zone_id = feature.get("id") or props.get("id")
            if zone_id is None and len(members) == 1:
                zone_id = path.stem
            if zone_id is None or feature.get("geometry") is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "id": str(zone_id),
                    "geometry": feature["geometry"],
                    "properties": {
                        "id": str(zone_id),
                        "name": props.get("name") or str(zone_id),
                        "kind": props.get("kind") or "zone",
                    },
                }
            )
    body = orjson.dumps({"type": "FeatureCollection", "features": features})
    zones = _Zones(stamp, features, body)
    _zones_cache[folder] = zones
    return zones


def zone_names(config_dir: Path) -> dict[str, tuple[str, str]]:
    """Zone id -> (name, kind)."""
    return {
        f["id"]: (f["properties"]["name"], f["properties"]["kind"])
        for f in _zones(config_dir).features
    }


@router.get(
    "/v1/zones",
    summary="The named zones (watch areas, departure areas, SAR regions, ...) as GeoJSON",
    tags=["session"],
    response_model=None,
    responses={200: {"content": {geojson.MEDIA_TYPE: {"schema": {"type": "object"}}}}, **COMMON},
)
def zones(caller: CurrentCaller, context: Context) -> Response:
    """The outlines alerts' `areas` refer to, with their `name` and `kind` (watch_area,
    departure_area, destination_coast, sar_region, territorial_sea, port, anchorage, ...)."""
    body = _zones(context.settings.config_dir).body
    return Response(
        body, media_type=geojson.MEDIA_TYPE, headers={"Cache-Control": "private, max-age=300"}
    )
