"""/v1/trends and /trends: alerts by type, zone and week, the briefing partners exchange at
their meetings. Counted over the latest version of each alert the caller may see (its sharing
agreement decides, as everywhere), by the week (ISO 8601, UTC) its episode started.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from anomaly.records import Outcome, Severity, Status, Tlp
from api import tables as t
from api.audit import AuditEvent
from api.deps import Context, CurrentCaller
from api.problems import ProblemError
from api.routes.alerts import COMMON, TypesQuery
from api.routes.map import page, zone_names
from api.schemas import TrendsPublic
from api.sharing import Agency, Shareable, visible_mask
from ingest.records import iso_ms

router = APIRouter()

CSV: Final = "text/csv"
LATEST_SCAN: Final = 2000
"""How many of the newest alerts are looked at to find the newest one the caller may see."""
NO_AREA: Final = "(no named zone)"


@dataclass(frozen=True, slots=True)
class _Row:
    shareable: Shareable
    start_ms: int
    status: str
    outcome: str | None
    body: str


def _shareable(row: Any) -> Shareable:
    recipients = frozenset(r for r in (row.recipients or "").split("|") if r)
    return Shareable(row.alert_id, row.type, Tlp(row.tlp), row.lat, row.lon, row.owner, recipients)


_COLUMNS: Final = (
    t.alert_current.c.alert_id,
    t.alert_current.c.type,
    t.alert_current.c.tlp,
    t.alert_current.c.lat,
    t.alert_current.c.lon,
    t.alert_current.c.owner,
    t.alert_current.c.recipients,
    t.alert_current.c.status,
    t.alert_current.c.outcome,
    t.alert_current.c.start_ms,
    t.alert_current.c.body,
)


def _visible_rows(
    engine: sa.Engine, agency: Agency, start_ms: int, end_ms: int, types: Sequence[str]
) -> list[_Row]:
    cur = t.alert_current.c
    query = sa.select(*_COLUMNS).where(cur.start_ms >= start_ms, cur.start_ms < end_ms)
    if types:
        query = query.where(cur.type.in_(list(types)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    shareables = [_shareable(r) for r in rows]
    mask = visible_mask(agency, shareables)
    return [
        _Row(s, r.start_ms, r.status, r.outcome, r.body)
        for r, s, ok in zip(rows, shareables, mask, strict=True)
        if ok
    ]


def _latest_visible(engine: sa.Engine, agency: Agency) -> int | None:
    cur = t.alert_current.c
    query = sa.select(*_COLUMNS).order_by(cur.start_ms.desc()).limit(LATEST_SCAN)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    mask = visible_mask(agency, [_shareable(r) for r in rows])
    return next((int(r.start_ms) for r, ok in zip(rows, mask, strict=True) if ok), None)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def build_trends(
    rows: Sequence[_Row],
    mondays: Sequence[date],
    zones: dict[str, tuple[str, str]],
    latest_ms: int | None,
) -> dict[str, Any]:
    labels = [_week_label(m) for m in mondays]
    index = {m: i for i, m in enumerate(mondays)}
    by_week = [0] * len(mondays)
    by_type: dict[str, list[int]] = {}
    by_area: dict[str | None, list[int]] = {}
    severities: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    cells: Counter[tuple[int, str, str | None]] = Counter()
    for row in rows:
        day = datetime.fromtimestamp(row.start_ms / 1000, UTC).date()
        week = index.get(_monday(day))
        if week is None:
            continue
        alert = orjson.loads(row.body)
        alert_type = row.shareable.type
        by_week[week] += 1
        by_type.setdefault(alert_type, [0] * len(mondays))[week] += 1
        severities[str(alert.get("severity") or Severity.INFO.value)] += 1
        statuses[row.status] += 1
        if row.status == Status.CLOSED.value and row.outcome:
            outcomes[row.outcome] += 1
        areas: list[str | None] = list(dict.fromkeys(alert.get("areas") or [])) or [None]
        for area in areas:
            by_area.setdefault(area, [0] * len(mondays))[week] += 1
            cells[(week, alert_type, area)] += 1

    def area_entry(area: str | None, weeks: list[int]) -> dict[str, Any]:
        name, kind = zones.get(area, (area, None)) if area is not None else (NO_AREA, None)
        return {"area": area, "name": name, "kind": kind, "count": sum(weeks), "weeks": weeks}

    end = mondays[-1] + timedelta(days=7)
    return {
        "start": mondays[0].isoformat(),
        "end": end.isoformat(),
        "weeks": [
            {"week": w, "start": m.isoformat()} for w, m in zip(labels, mondays, strict=True)
        ],
        "total": sum(by_week),
        "by_week": by_week,
        "by_type": sorted(
            ({"type": k, "count": sum(v), "weeks": v} for k, v in by_type.items()),
            key=lambda e: (-e["count"], e["type"]),
        ),
        "by_area": sorted(
            (area_entry(k, v) for k, v in by_area.items()),
            key=lambda e: (-e["count"], e["area"] is None, e["name"]),
        ),
        "by_severity": {s.value: severities[s.value] for s in Severity},
        "by_status": {s.value: statuses[s.value] for s in Status},
        "outcomes": {o.value: outcomes[o.value] for o in Outcome},
        "cells": [
            {"week": labels[w], "type": k, "area": a, "count": n}
            for (w, k, a), n in sorted(
                cells.items(), key=lambda c: (c[0][0], c[0][1], c[0][2] or "")
            )
        ],
        "latest": iso_ms(latest_ms) if latest_ms is not None else None,
    }


def to_csv(trends: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["week", "week_start", "type", "area", "area_name", "count"])
    starts = {w["week"]: w["start"] for w in trends["weeks"]}
    names = {a["area"]: a["name"] for a in trends["by_area"]}
    for cell in trends["cells"]:
        week, area = cell["week"], cell["area"]
        name = names.get(area, "")
        writer.writerow([week, starts[week], cell["type"], area or "", name, cell["count"]])
    return out.getvalue()


@router.get(
    "/v1/trends",
    summary="Alerts by week, type and zone (the partners' briefing)",
    tags=["trends"],
    response_model=TrendsPublic,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}, **COMMON},
)
async def trends(
    caller: CurrentCaller,
    context: Context,
    weeks: Annotated[int, Query(ge=1, le=104, description="How many weeks")] = 12,
    end: Annotated[
        date | None, Query(description="A day in the last week (UTC); default: today")
    ] = None,
    types: TypesQuery = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """The latest version of each alert the caller may see, counted by the ISO week its
    episode started (UTC), by type and by zone (an alert counts in each zone of its `areas`).
    `Accept: text/csv` gives the cells (week, type, zone, count) as CSV."""
    today = datetime.now(UTC).date()
    try:
        last = _monday(end or today)
        mondays = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
        end_ms = _ms(last + timedelta(days=7))
    except OverflowError:
        raise ProblemError(422, "validation", "end is out of range") from None
    type_values = [ty.value for ty in types or ()]
    engine = context.store.engine

    def work() -> dict[str, Any]:
        rows = _visible_rows(engine, caller.agency, _ms(mondays[0]), end_ms, type_values)
        latest = _latest_visible(engine, caller.agency)
        return build_trends(rows, mondays, zone_names(context.settings.config_dir), latest)

    result = await run_in_threadpool(work)
    context.audit_writer.record(
        AuditEvent(
            caller.agency.id,
            caller.key_id,
            "read.trends",
            (),
            {"start": result["start"], "end": result["end"], "alerts": result["total"]},
        )
    )
    if accept and CSV in accept:
        filename = f"lookout-trends-{result['start']}-{result['end']}.csv"
        return Response(
            to_csv(result),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return result


@router.get("/trends", include_in_schema=False)
def trends_page() -> FileResponse:
    return page("trends.html")
