"""/v1/vessels and /v1/picture: positions from the tracks store, within the caller's areas.

Partner agencies see vessels only inside their areas of interest; the operator sees all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.auth import Caller
from api.context import ApiContext
from api.deps import Context, CurrentCaller
from api.formats import geojson
from api.problems import ProblemError
from api.routes.alerts import COMMON, BBoxQuery, _problem_responses, parse_bbox
from api.sharing import visible_mask
from tracks.records import TrackPoint

router = APIRouter(tags=["vessels"])

DAY_MS: Final = 86_400_000
MAX_TRACK_MS: Final = 31 * DAY_MS
Mmsi = Annotated[int, Path(ge=0, le=999_999_999, description="The vessel's MMSI")]
GEO: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {geojson.MEDIA_TYPE: {"schema": {"type": "object"}}}}
}


def _inside(caller: Caller, context: ApiContext, points: Sequence[TrackPoint]) -> list[TrackPoint]:
    located = [p for p in points if p.lat is not None and p.lon is not None]
    if caller.agency.id == context.registry.operator:
        return located
    mask = caller.agency.covers([p.lon for p in located], [p.lat for p in located])  # type: ignore[misc]
    return [p for p, ok in zip(located, mask.tolist(), strict=True) if ok]


def _geo(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type=geojson.MEDIA_TYPE)


def _ms(moment: datetime | None, default: int) -> int:
    if moment is None:
        return default
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return int(aware.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        raise ProblemError(422, "validation", "time out of range") from None


@router.get(
    "/v1/vessels/{mmsi}",
    summary="A vessel's latest position and the alerts about it the caller may see",
    response_model=None,
    responses={**GEO, **_problem_responses(404), **COMMON},
)
def vessel(caller: CurrentCaller, context: Context, mmsi: Mmsi) -> Response:
    point = context.latest.get(mmsi)
    if point is None or not _inside(caller, context, [point]):
        raise ProblemError(404, "not-found", "no such vessel in your areas")
    feature = geojson.point_feature(point)
    alerts = context.store.alerts_for_vessel(mmsi)
    mask = visible_mask(caller.agency, [a.shareable for a in alerts])
    feature["properties"]["alerts"] = [a.alert_id for a, ok in zip(alerts, mask, strict=True) if ok]
    return _geo(feature)


@router.get(
    "/v1/vessels/{mmsi}/track",
    summary="A vessel's track between two times (GeoJSON)",
    response_model=None,
    responses={**GEO, **_problem_responses(404), **COMMON},
)
def track(
    caller: CurrentCaller,
    context: Context,
    mmsi: Mmsi,
    start: Annotated[datetime | None, Query(description="Default: 24 h before end")] = None,
    end: Annotated[datetime | None, Query(description="Default: now")] = None,
) -> Response:
    end_ms = _ms(end, int(time.time() * 1000))
    start_ms = _ms(start, end_ms - DAY_MS)
    if start_ms > end_ms or end_ms - start_ms > MAX_TRACK_MS:
        raise ProblemError(422, "validation", "start must be before end, at most 31 days apart")
    points = _inside(caller, context, context.vessels.history(mmsi, start_ms, end_ms))
    if not points:
        raise ProblemError(404, "not-found", "no track for this vessel in your areas")
    return _geo(geojson.track_collection(mmsi, points))


@router.get(
    "/v1/picture",
    summary="Latest position of every vessel in a bounding box (within the caller's areas)",
    response_model=None,
    responses={**GEO, **COMMON},
)
def picture(caller: CurrentCaller, context: Context, bbox: BBoxQuery = None) -> Response:
    box = parse_bbox(bbox)
    points = _inside(caller, context, context.vessels.picture(box))
    return _geo(geojson.picture_collection(points))
