"""/v1/rules: the detection rules analysts edit, versioned and attributed; and `/workbench`,
the page to edit them and backtest a change (the backtest itself: api/routes/backtest.py).

Saving a rule here makes a new version in the database, attributed to the caller, with its
comment. **It does not change what detection runs**: detection reads config/rules.yaml at start.
To deploy, an operator takes `GET /v1/rules/export` (the active rules, as that file), installs
it as config/rules.yaml and restarts the detection stage; alerts then name the new versions
(`rule: {id, version}`). Nothing hot-reloads detection from the database.

Concurrency is optimistic: `GET /v1/rules/{id}` answers with `ETag: "<version>"`; a `PUT`
must send it back as `If-Match` (428 without, 412 when someone saved a newer version first).
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from anomaly.records import AlertType, Severity, Tlp
from api.audit import AuditEvent
from api.auth import Caller
from api.context import ApiContext
from api.deps import Context, require
from api.problems import ProblemError
from api.routes.alerts import COMMON, _problem_responses
from api.routes.map import page
from api.rules_store import (
    PROTECTED_PARAMS,
    RuleConflictError,
    RuleHistory,
    RuleNotFoundError,
    RuleUnchangedError,
    RuleValidationError,
    RuleVersion,
)
from api.sharing import Role
from api.workbench import Workbench
from ingest.records import iso_ms

# -- the workbench of an app: opened with the app (rules seeded), closed with it ----------------
_open_lock = threading.Lock()


def workbench_of(app: FastAPI) -> Workbench:
    """The app's workbench, opened on first use (the lifespan opens it at start)."""
    bench: Workbench | None = getattr(app.state, "workbench", None)
    if bench is None:
        with _open_lock:
            bench = getattr(app.state, "workbench", None)
            if bench is None:
                context: ApiContext = app.state.context
                bench = Workbench.open(
                    context.settings, context.store.engine, context.settings.operator_agency
                )
                app.state.workbench = bench
    return bench


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await run_in_threadpool(workbench_of, app)
    try:
        yield
    finally:
        bench: Workbench | None = getattr(app.state, "workbench", None)
        if bench is not None:
            await run_in_threadpool(bench.close)


async def get_workbench(request: Request) -> Workbench:
    bench: Workbench | None = getattr(request.app.state, "workbench", None)
    if bench is None:
        bench = await run_in_threadpool(workbench_of, request.app)
    return bench


Bench = Annotated[Workbench, Depends(get_workbench)]
Analyst = Annotated[Caller, Depends(require(Role.ANALYST))]
RulesReader = Annotated[Caller, Depends(require(Role.ANALYST, Role.ADMIN))]

router = APIRouter(tags=["rules"], lifespan=lifespan)

RuleId = Annotated[AlertType, Path(description="The rule's id: the alert type it raises")]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000, description="A saved version")]
ERRORS: Final = {**_problem_responses(404), **COMMON}
YAML: Final = "application/yaml"
DEPLOY_NOTE: Final = (
    "Saved versions are not what detection runs: an operator deploys the active rules by "
    "installing GET /v1/rules/export as config/rules.yaml and restarting detection."
)


# -- schemas --------------------------------------------------------------------------------------
class RuleAuthorPublic(BaseModel):
    agency: str
    key_id: str | None


class RuleVersionPublic(BaseModel):
    id: str
    version: int
    enabled: bool
    tlp: Tlp
    severity: Severity | None
    description: str
    source: str
    params: dict[str, Any]
    origin: Literal["config", "api"] = Field(
        description="config: imported from config/rules.yaml; api: saved by an analyst"
    )
    author: RuleAuthorPublic
    comment: str
    created_at: str


class RuleHistoryItem(BaseModel):
    version: int
    origin: Literal["config", "api"]
    author: RuleAuthorPublic
    comment: str
    created_at: str


class DetectionRulePublic(BaseModel):
    id: str
    active_version: int
    deployed_version: int | None = Field(
        description="The version in config/rules.yaml (what detection runs); null if absent"
    )
    deployed: bool = Field(description="config/rules.yaml holds the active version as it is")
    active: RuleVersionPublic
    history: list[RuleHistoryItem] = Field(description="Every saved version, newest first")


class DetectionRulesPublic(BaseModel):
    rules: list[DetectionRulePublic]
    ruleset_version: int = Field(description="The version an export of the active rules has")
    undeployed: list[str] = Field(description="Rules whose active version is not deployed")
    protected_params: list[str] = Field(
        description="Parameters only an operator sets, in config/rules.yaml (model files)"
    )
    note: str


class RuleVersionsPublic(BaseModel):
    id: str
    active_version: int
    versions: list[RuleVersionPublic]


class RuleEditRequest(BaseModel):
    """The rule's new state. Fields left out keep the active version's values; `params`, when
    given, is the complete set of parameters (as in config/rules.yaml); `severity: null`
    restores the detector's own severities."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    tlp: Tlp | None = None
    severity: Severity | None = None
    description: str | None = Field(default=None, max_length=4000)
    source: str | None = Field(default=None, max_length=2000)
    params: dict[str, Any] | None = Field(default=None, max_length=200)
    comment: str = Field(min_length=1, max_length=2000, description="Why: kept with the version")


# -- helpers --------------------------------------------------------------------------------------
def _author(version: RuleVersion) -> dict[str, Any]:
    return {"agency": version.author_agency, "key_id": version.author_key}


def version_public(version: RuleVersion) -> dict[str, Any]:
    return {
        "id": version.rule_id,
        "version": version.version,
        "enabled": version.enabled,
        "tlp": version.tlp,
        "severity": version.severity,
        "description": version.description,
        "source": version.source,
        "params": version.params,
        "origin": version.origin,
        "author": _author(version),
        "comment": version.comment,
        "created_at": iso_ms(version.created_at),
    }


def rule_public(history: RuleHistory) -> dict[str, Any]:
    return {
        "id": history.rule_id,
        "active_version": history.active.version,
        "deployed_version": history.deployed_version,
        "deployed": history.deployed_same,
        "active": version_public(history.active),
        "history": [
            {
                "version": v.version,
                "origin": v.origin,
                "author": _author(v),
                "comment": v.comment,
                "created_at": iso_ms(v.created_at),
            }
            for v in history.versions
        ],
    }


def etag(version: int) -> str:
    return f'"{version}"'


_TAG: Final = re.compile(r'^(?:"(\d{1,9})"|(\d{1,9}))$')


def parse_if_match(value: str | None) -> set[int] | None:
    """The versions an If-Match names; None for `*`. 428 when absent, 412 when it names no
    version (weak tags never match: RFC 9110 compares If-Match strongly)."""
    if value is None or not value.strip():
        raise ProblemError(
            428,
            "precondition-required",
            'send If-Match with the rule\'s current version (its ETag, e.g. "3")',
        )
    versions: set[int] = set()
    for part in value.split(","):
        tag = part.strip()
        if tag == "*":
            return None
        match = _TAG.match(tag)
        if match:
            versions.add(int(match.group(1) or match.group(2)))
    if not versions:
        raise ProblemError(412, "precondition-failed", f"If-Match {value!r} names no version")
    return versions


def _not_found(rule_id: str) -> ProblemError:
    return ProblemError(404, "not-found", f"no rule {rule_id}")


def _audit(context: ApiContext, caller: Caller, action: str, **detail: Any) -> None:
    context.audit_writer.record(AuditEvent(caller.agency.id, caller.key_id, action, (), detail))


# -- routes ---------------------------------------------------------------------------------------
@router.get(
    "/v1/rules",
    summary="The detection rules: active versions and their history",
    response_model=DetectionRulesPublic,
    responses=COMMON,
)
def list_rules(caller: RulesReader, bench: Bench) -> Any:
    """Every rule with its active version (the one analysts stand behind), the version
    deployed in config/rules.yaml (the one detection runs) and every saved version.
    Analysts and admins."""
    histories = bench.rules.histories()
    try:
        ruleset_version = bench.rules.active_ruleset().version
    except RuleValidationError:  # a saved version a newer detector refuses: export says which
        deployed = bench.rules.deployed()
        ruleset_version = deployed.version + 1 if deployed is not None else 1
    return {
        "rules": [rule_public(h) for h in histories],
        "ruleset_version": ruleset_version,
        "undeployed": [h.rule_id for h in histories if not h.deployed_same],
        "protected_params": sorted(PROTECTED_PARAMS),
        "note": DEPLOY_NOTE,
    }


@router.get(
    "/v1/rules/export",
    summary="The active rules as config/rules.yaml, for an operator to deploy",
    response_class=Response,
    responses={
        200: {"content": {YAML: {"schema": {"type": "string"}}}},
        **_problem_responses(409),
        **COMMON,
    },
)
def export_rules(caller: RulesReader, bench: Bench, context: Context) -> Response:
    """The active version of every rule in the canonical layout of config/rules.yaml (each
    rule's `version` is its saved version, the ruleset's one above the deployed file's when they
    differ). Detection runs it once an operator installs it and restarts the detection stage."""
    try:
        text = bench.rules.export_yaml()
    except RuleValidationError as exc:
        raise ProblemError(
            409,
            "invalid-active-rules",
            f"an active version no longer validates against its detector: {exc}; "
            "save a corrected version first",
            errors=exc.errors,
        ) from None
    _audit(context, caller, "rules.exported")
    return Response(
        text,
        media_type=YAML,
        headers={"Content-Disposition": 'attachment; filename="rules.yaml"'},
    )


@router.get(
    "/v1/rules/{rule_id}",
    summary="One rule: its active version and history (ETag: the active version)",
    response_model=DetectionRulePublic,
    responses=ERRORS,
)
def get_rule(rule_id: RuleId, caller: RulesReader, bench: Bench, response: Response) -> Any:
    try:
        history = bench.rules.history(rule_id.value)
    except RuleNotFoundError:
        raise _not_found(rule_id.value) from None
    response.headers["ETag"] = etag(history.active.version)
    response.headers["Cache-Control"] = "private, no-cache"
    return rule_public(history)


@router.put(
    "/v1/rules/{rule_id}",
    summary="Save a new version of a rule (validated, attributed; not deployed)",
    response_model=DetectionRulePublic,
    responses={**_problem_responses(404, 409, 412, 428), **COMMON},
)
def put_rule(
    rule_id: RuleId,
    body: RuleEditRequest,
    caller: Analyst,
    bench: Bench,
    context: Context,
    response: Response,
    if_match: Annotated[
        str | None, Header(description='The version the edit is based on, e.g. "3"')
    ] = None,
) -> Any:
    """Version n+1 of the rule: the active version with the fields given, checked as
    config/rules.yaml is (alert type, TLP, severity, and the detector's parameter schema:
    unknown names and out-of-range values are refused with 422, each problem located, e.g.
    `["params", "min_duration_h"]`), attributed to the caller's agency and key, with the
    comment. It becomes the active version. Analysts only.

    `If-Match` must name the active version (412 otherwise, with the current one). Saving does
    not change detection: see `GET /v1/rules/export`."""
    wanted = parse_if_match(if_match)
    name = rule_id.value
    try:
        current = bench.rules.history(name).active.version
    except RuleNotFoundError:
        raise _not_found(name) from None
    if wanted is not None and current not in wanted:
        raise _conflict(name, current)
    changes = body.model_dump(exclude_unset=True, exclude={"comment"}, mode="json")
    changes = {k: v for k, v in changes.items() if v is not None or k == "severity"}
    try:
        saved = bench.rules.update(
            name,
            changes,
            expected=current,
            agency=caller.agency.id,
            key=caller.key_id,
            comment=body.comment,
        )
    except RuleNotFoundError:
        raise _not_found(name) from None
    except RuleConflictError as exc:
        raise _conflict(name, exc.current) from None
    except RuleValidationError as exc:
        raise ProblemError(
            422, "validation", str(exc), title="The rule is not valid", errors=exc.errors
        ) from None
    except RuleUnchangedError as exc:
        raise ProblemError(409, "unchanged", str(exc)) from None
    _audit(
        context,
        caller,
        "rule.changed",
        rule=name,
        version=saved.version,
        previous=current,
        comment=body.comment,
    )
    response.headers["ETag"] = etag(saved.version)
    return rule_public(bench.rules.history(name))


def _conflict(rule_id: str, current: int) -> ProblemError:
    return ProblemError(
        412,
        "precondition-failed",
        f"rule {rule_id} is at version {current} now: reload it and apply your change again",
        headers={"ETag": etag(current)},
        current_version=current,
    )


@router.get(
    "/v1/rules/{rule_id}/versions",
    summary="Every saved version of a rule, newest first",
    response_model=RuleVersionsPublic,
    responses=ERRORS,
)
def rule_versions(rule_id: RuleId, caller: RulesReader, bench: Bench) -> Any:
    try:
        history = bench.rules.history(rule_id.value)
    except RuleNotFoundError:
        raise _not_found(rule_id.value) from None
    return {
        "id": history.rule_id,
        "active_version": history.active.version,
        "versions": [version_public(v) for v in history.versions],
    }


@router.get(
    "/v1/rules/{rule_id}/versions/{version}",
    summary="One saved version of a rule",
    response_model=RuleVersionPublic,
    responses=ERRORS,
)
def rule_version(rule_id: RuleId, version: VersionNumber, caller: RulesReader, bench: Bench) -> Any:
    try:
        return version_public(bench.rules.version(rule_id.value, version))
    except RuleNotFoundError:
        raise ProblemError(404, "not-found", f"no version {version} of {rule_id.value}") from None


@router.get("/workbench", include_in_schema=False)
def workbench_page() -> FileResponse:
    return page("workbench.html")
