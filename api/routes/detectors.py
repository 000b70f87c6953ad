"""/v1/detectors: what each detection rule is doing, as the detection stages last reported it.

A detector with no model file, or a rule with no detector in this installation, raises no
alert and does not fail detection: without this page its silence would look like a quiet sea.
Each row is a rule in a consumer group (`detect`: per-vessel, `detect-cells`: cross-vessel):
its state (running, silent, disabled, unavailable), why, the model version, the event time the
stage had reached and when it reported. A row not reported for `STALE_AFTER_S` is `stale`: the
stage is down or cannot reach the database. `attention` lists the rules an officer should know
about: enabled but not running, or stale. Officers, analysts and admins.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from anomaly.health import NEEDS_ATTENTION, STALE_AFTER_S, HealthReport
from api.deps import Context, Staff
from api.routes.alerts import COMMON
from api.schemas import RulePublic
from api.store import now_ms
from ingest.records import iso_ms

router = APIRouter(tags=["detectors"])

NO_REPORT: Final = (
    "No detection stage has reported: detection is not running against this database, "
    "or it has not started yet."
)


class DetectorPublic(BaseModel):
    group: str
    rule: RulePublic
    state: Literal["running", "silent", "disabled", "unavailable"]
    reason: str
    model_version: str | None
    event_time: str | None  # the newest point the stage had seen
    reported_at: str
    stale: bool


class DetectorsPublic(BaseModel):
    detectors: list[DetectorPublic]
    attention: list[str]  # "<group>/<rule>": enabled but not running, or stale
    stale_after_s: float
    note: str | None = None


@router.get(
    "/v1/detectors",
    summary="What each detection rule is doing: running, silent and why, disabled",
    response_model=DetectorsPublic,
    responses=COMMON,
)
async def list_detectors(caller: Staff, context: Context) -> Any:
    reports = await run_in_threadpool(context.detectors.read)
    now = now_ms()
    rows = [_public(r, now) for r in reports]
    attention = [
        f"{row['group']}/{row['rule']['id']}"
        for row in rows
        if row["stale"] or row["state"] in NEEDS_ATTENTION
    ]
    return {
        "detectors": rows,
        "attention": attention,
        "stale_after_s": STALE_AFTER_S,
        "note": None if rows else NO_REPORT,
    }


def _public(report: HealthReport, now: int) -> dict[str, Any]:
    health = report.health
    return {
        "group": report.group,
        "rule": {"id": health.rule_id, "version": health.rule_version},
        "state": health.state,
        "reason": health.reason,
        "model_version": health.model_version,
        "event_time": None if report.event_ts is None else iso_ms(report.event_ts),
        "reported_at": iso_ms(report.reported_ms),
        "stale": report.is_stale(now),
    }
