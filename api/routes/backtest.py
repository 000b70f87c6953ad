"""/v1/backtest: what a rule change would have caught and missed on recorded data.

`POST /v1/backtest` queues a job (202, `Location: /v1/backtest/{id}`); `GET /v1/backtest/{id}`
gives its status and, once done, the alerts gained and lost (with their reasons), counts by type
for both versions and precision from officers' outcomes. How it runs and what it compares:
api/workbench.py. Analysts only; a job is visible to its agency's analysts.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.audit import AuditEvent
from api.deps import Context
from api.problems import ProblemError
from api.routes.alerts import COMMON, _problem_responses
from api.routes.rules import Analyst, Bench
from api.rules_store import RuleValidationError
from api.workbench import BacktestSpec, DataError, QueueFullError, build_proposal

router = APIRouter(prefix="/v1/backtest", tags=["backtest"])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The job's id")]
ERRORS: Final = {**_problem_responses(404), **COMMON}
RETRY_AFTER_S: Final = 30

RuleName = Annotated[str, Field(min_length=1, max_length=32)]
Params = dict[Annotated[str, Field(max_length=64)], Any]


# -- schemas --------------------------------------------------------------------------------------
class BacktestRequest(BaseModel):
    """Proposed rules against a baseline, over one recorded file.

    Proposed = the baseline with `versions` (saved versions) in place, then `rules` (parameter
    changes, e.g. an edit not saved yet) over their parameters."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        min_length=1,
        max_length=255,
        description="A recorded file, by its name in GET /v1/backtest/data",
        examples=["sample.nmea.gz"],
    )
    rules: dict[RuleName, Params] = Field(
        default_factory=dict,
        max_length=50,
        description="rule id -> {parameter: value}: changes over the baseline's parameters",
        examples=[{"loitering": {"min_duration_h": 2.0}}],
    )
    versions: dict[RuleName, Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        default_factory=dict,
        max_length=50,
        description="rule id -> a saved version to propose instead of the baseline's",
    )
    baseline: Literal["active", "deployed"] = Field(
        default="active",
        description="active: the saved rules analysts stand behind; deployed: config/rules.yaml",
    )
    baseline_versions: dict[RuleName, Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        default_factory=dict,
        max_length=50,
        description="rule id -> a saved version to use in the baseline instead",
    )


class PrecisionPublic(BaseModel):
    reviewed: int
    confirmed: int = Field(description="Closed as rescued or interdicted")
    false_alarms: int
    no_action: int
    unreviewed: int
    precision: float | None = Field(description="confirmed / (confirmed + false alarms)")


class BacktestSidePublic(BaseModel):
    label: str
    rules: dict[str, int] = Field(description="rule id -> version")
    alerts: int
    by_type: dict[str, int]
    precision: PrecisionPublic
    run: dict[str, Any]
    not_running: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Enabled rules whose detector could not work in this run (a model file "
        "missing ...), with why: they raised nothing",
    )


class BacktestAlertPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    severity: str | None
    score: float | None
    mmsi: int | None
    mmsis: list[int | None]
    vessel: str | None
    start: str | None
    end: str | None
    reasons: list[str]
    rule: dict[str, Any] | None
    outcome: str | None = Field(description="The officers' outcome of this alert, if closed")


class BacktestPairPublic(BaseModel):
    baseline: BacktestAlertPublic
    proposed: BacktestAlertPublic


class BacktestResultPublic(BaseModel):
    data: dict[str, Any]
    baseline: BacktestSidePublic
    proposed: BacktestSidePublic
    changes: list[dict[str, Any]]
    by_type: dict[str, dict[str, int]]
    kept: int
    gained_total: int
    lost_total: int
    changed_total: int
    gained: list[BacktestAlertPublic] = Field(description="Raised only by the proposed rules")
    lost: list[BacktestAlertPublic] = Field(description="Raised only by the baseline")
    changed: list[BacktestPairPublic] = Field(
        description="The same episode under both, with a different start (so a different id)"
    )


class BacktestJobPublic(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "timeout", "cancelled", "interrupted"]
    data: str
    baseline: str
    changes: list[dict[str, Any]] = Field(description="What the proposal changes, rule by rule")
    requested_by: dict[str, str]
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    queue_position: int | None = None
    result: BacktestResultPublic | None = None


class BacktestJobsPublic(BaseModel):
    jobs: list[BacktestJobPublic]


class DataFilePublic(BaseModel):
    name: str
    size: int
    folder: Literal["configured", "bundled"]


class DataFilesPublic(BaseModel):
    files: list[DataFilePublic]


# -- routes ---------------------------------------------------------------------------------------
@router.get(
    "/data",
    summary="The recorded files a backtest can run on",
    response_model=DataFilesPublic,
    responses=COMMON,
)
def data_files(caller: Analyst, bench: Bench) -> Any:
    """Files under the configured backtest data folder (`backtest_data_dir`), and the bundled
    sample. A backtest names one of these; nothing else on the server can be read."""
    return {"files": [f.public() for f in bench.backtests.folders.list()]}


@router.post(
    "",
    summary="Backtest proposed rules against the saved ones on recorded data",
    status_code=202,
    response_model=BacktestJobPublic,
    responses={**_problem_responses(503), **COMMON},
)
def start_backtest(body: BacktestRequest, caller: Analyst, bench: Bench, context: Context) -> Any:
    """Queues a job that runs the whole pipeline (`lookout.batch.process`) over the file twice,
    with the baseline and with the proposed rules, and compares the alerts. 202 with the job;
    poll `GET /v1/backtest/{id}`. 422 for a file outside the data folders or rules that do not
    validate (each problem located, e.g. `["rules", "loitering", "min_duration_h"]`); 503 when
    the queue is full. One backtest runs at a time per API process, within a time limit."""
    try:
        data = bench.backtests.folders.resolve(body.data)
    except DataError as exc:
        raise ProblemError(
            422,
            "validation",
            str(exc),
            title="The request is not valid",
            errors=[{"loc": ["body", "data"], "msg": str(exc), "type": "data"}],
        ) from None
    try:
        proposal = build_proposal(
            bench.rules,
            rules=body.rules,
            versions=body.versions,
            baseline=body.baseline,
            baseline_versions=body.baseline_versions,
        )
    except RuleValidationError as exc:
        raise ProblemError(
            422,
            "validation",
            str(exc),
            title="The rules are not valid",
            errors=[{**e, "loc": ["body", *e["loc"]]} for e in exc.errors],
        ) from None
    spec = BacktestSpec(caller.agency, caller.key_id, data, proposal, body.model_dump(mode="json"))
    try:
        job = bench.backtests.submit(spec)
    except QueueFullError as exc:
        raise ProblemError(
            503, "busy", str(exc), headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from None
    context.audit_writer.record(
        AuditEvent(
            caller.agency.id,
            caller.key_id,
            "backtest.started",
            (),
            {"job": job["id"], "data": data.name, "rules": [c["rule"] for c in proposal.changes]},
        )
    )
    return JSONResponse(
        BacktestJobPublic.model_validate(job).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/backtest/{job['id']}"},
    )


@router.get(
    "",
    summary="The caller's agency's recent backtests",
    response_model=BacktestJobsPublic,
    responses=COMMON,
)
def list_backtests(caller: Analyst, bench: Bench) -> Any:
    """The 20 newest, without their results."""
    return {"jobs": bench.backtests.jobs(caller.agency.id)}


@router.get(
    "/{job_id}",
    summary="A backtest's status; when done, the alerts gained and lost",
    response_model=BacktestJobPublic,
    responses=ERRORS,
)
def get_backtest(job_id: JobId, caller: Analyst, bench: Bench) -> Any:
    job = bench.backtests.job(job_id, caller.agency.id)
    if job is None:
        raise ProblemError(404, "not-found", f"no backtest {job_id}")
    return job


@router.delete(
    "/{job_id}",
    summary="Cancel a queued or running backtest",
    response_model=BacktestJobPublic,
    responses=ERRORS,
)
def cancel_backtest(job_id: JobId, caller: Analyst, bench: Bench) -> Any:
    job = bench.backtests.cancel(job_id, caller.agency.id)
    if job is None:
        raise ProblemError(404, "not-found", f"no backtest {job_id}")
    return job
