"""The analysts' workbench: backtests of proposed rules against saved ones over recorded data.

    bench = Workbench.open(context)                  # rules store (seeded) + backtest service
    proposal = build_proposal(bench.rules, rules={"loitering": {"min_duration_h": 2.0}})
    job = bench.backtests.submit(BacktestSpec(caller.agency, caller.key_id, data, proposal, {}))
    bench.backtests.job(job["id"], caller.agency.id)  # status; gained and lost alerts when done

A backtest runs `lookout.batch.process` twice over one recorded file, once with the baseline
rules (the active ones by default, or config/rules.yaml as deployed) and once with the proposed
ones, and compares the two `alerts.jsonl`: alert ids derive from type, vessels and episode start,
so the same episode under both versions has the same id (*kept*); an episode whose start moved
pairs up by type, vessels and overlapping time (*changed*); the rest are *gained* (only in the
proposal) or *lost*. Precision comes from officers' outcomes of stored alerts with those ids,
among those the caller's agency may see: `false_alarm` counts against, `rescued` and
`interdicted` for; `no_action` is reported but counts neither way.

Bounded: one backtest at a time per API process, run by a worker thread that starts the
pipeline in a child process (`python -m api.workbench JOB_DIR`), so it neither holds the API's
interpreter lock nor outlives its timeout (the child is killed); a queue of a few jobs, refused
with 503 beyond. Jobs and their results live in the `backtest_job` table, readable from any API
process; a job whose process stopped (no heartbeat for a minute) reads as `interrupted`.

Only recorded files in the configured folders can be read: the bundled sample
(`ingest/data/sample.nmea.gz`) and whatever is under `backtest_data_dir`, named relative to it;
a name that leaves the folder (`..`, an absolute path, a symbolic link out, a URL) is refused.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

import ingest
from anomaly.health import not_running
from anomaly.records import Outcome, Status, Tlp
from anomaly.rules import RuleEntry, RuleSet, dump_rules
from api import tables as t
from api.rules_store import (
    RuleNotFoundError,
    RulesStore,
    RuleValidationError,
    default_rules_file,
    validate_entry,
)
from api.settings import ApiSettings
from api.sharing import Agency, Shareable, visible_mask
from api.store import now_ms
from ingest.records import iso_ms, parse_iso_ms
from lookout.db import write_engine

log = logging.getLogger(__name__)

__all__ = [
    "BUNDLED_DATA",
    "BacktestService",
    "BacktestSpec",
    "DataError",
    "DataFile",
    "DataFolders",
    "JobStatus",
    "Proposal",
    "QueueFullError",
    "Workbench",
    "WorkbenchSettings",
    "build_proposal",
    "compare",
]

BUNDLED_DATA_DIR: Final = Path(ingest.__file__).resolve().parent / "data"
BUNDLED_DATA: Final = ("sample.nmea.gz",)
"""Recorded files shipped with Lookout that any backtest may use (by these names)."""

RUNS: Final = ("baseline", "proposed")
HEARTBEAT_S: Final = 5.0
STALE_MS: Final = 60_000
"""A queued or running job whose process has not said it is alive for this long is dead."""
ERROR_TAIL: Final = 2000

_NAME: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*(/[A-Za-z0-9_][A-Za-z0-9_.+=-]*)*$")


class WorkbenchSettings(BaseModel):
    """Backtest limits and folders. Read from the API settings when they have the field
    (`backtest_data_dir`, ...), otherwise from `LOOKOUT_API_BACKTEST_*` variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backtest_data_dir: Path | None = None
    """Recorded files analysts may backtest on, besides the bundled sample."""
    backtest_timeout_s: Annotated[float, Field(gt=0)] = 900.0
    """Both runs of one backtest together; the pipeline is killed beyond it."""
    backtest_queue: Annotated[int, Field(ge=1, le=100)] = 4
    """Jobs that may wait behind the running one (per API process)."""
    backtest_work_dir: Path | None = None
    """Where runs write their outputs (removed when a job ends); default: the temp folder."""
    backtest_keep_jobs: Annotated[int, Field(ge=1)] = 200
    backtest_list_max: Annotated[int, Field(ge=1)] = 500
    """At most this many gained (and lost, and changed) alerts are listed in a result."""

    @classmethod
    def from_api(cls, api: ApiSettings, env: Mapping[str, str] | None = None) -> WorkbenchSettings:
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            if name in type(api).model_fields:
                values[name] = getattr(api, name)
            elif (variable := "LOOKOUT_API_" + name.upper()) in source:
                values[name] = source[variable]
        return cls(**values)


# -- recorded data ------------------------------------------------------------------------------
class DataError(ValueError):
    """A data name that is not a recorded file of the configured folders."""


@dataclass(frozen=True, slots=True)
class DataFile:
    name: str
    path: Path
    size: int
    folder: str  # configured | bundled

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "folder": self.folder}


class DataFolders:
    def __init__(self, configured: Path | None, bundled: Path = BUNDLED_DATA_DIR) -> None:
        self.configured = configured
        self.bundled = bundled

    def list(self, limit: int = 500) -> list[DataFile]:
        files: list[DataFile] = []
        root = self.configured
        if root is not None and root.is_dir():
            base = root.resolve()
            for path in sorted(base.rglob("*")):
                if len(files) >= limit:
                    break
                name = path.relative_to(base).as_posix()
                if not _NAME.match(name) or not path.is_file():
                    continue
                try:
                    files.append(self.resolve(name))
                except DataError:
                    continue
        taken = {f.name for f in files}
        for name in BUNDLED_DATA:
            if name not in taken and (self.bundled / name).is_file():
                files.append(self.resolve(name))
        return files

    def resolve(self, name: str) -> DataFile:
        """The file `name` stands for, or DataError: names are relative to a data folder,
        never absolute, never with `..`, never leaving the folder through a link."""
        if len(name) > 255 or not _NAME.match(name):
            raise DataError(
                "a file name relative to the backtest data folder is expected "
                "(letters, digits, _ . + = -, folders separated by /; no .., no absolute path)"
            )
        if self.configured is not None:
            root = self.configured.resolve()
            try:
                real = (root / name).resolve(strict=True)
            except OSError:
                real = None
            if real is not None:
                if not real.is_relative_to(root):
                    raise DataError(f"{name} leaves the backtest data folder")
                if real.is_file():
                    return DataFile(name, real, real.stat().st_size, "configured")
        if name in BUNDLED_DATA:
            path = self.bundled / name
            if path.is_file():
                return DataFile(name, path, path.stat().st_size, "bundled")
        raise DataError(f"no recorded file {name!r} in the backtest data folders")


# -- what to compare ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Proposal:
    baseline_label: str  # active | deployed
    baseline: RuleSet
    proposed: RuleSet
    changes: list[dict[str, Any]]


def _error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _relocate(errors: list[dict[str, Any]], prefix: list[Any]) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        loc = list(error["loc"])
        if loc and loc[0] == "params":
            loc = loc[1:]
        out.append({**error, "loc": prefix + loc})
    return out


def _changes(
    baseline: RuleSet, proposed: RuleSet, saved: set[tuple[str, int]]
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for new in proposed:
        old = baseline.get(new.id)
        if old is None:
            saved_new = (new.id, new.version) in saved
            changes.append(
                {
                    "rule": new.id,
                    "from_version": None,
                    "to_version": new.version,
                    "saved": saved_new,
                    "fields": {},
                    "params": {},
                }
            )
            continue
        if old.model_dump() == new.model_dump():
            continue
        fields = {
            name: [getattr(old, name), getattr(new, name)]
            for name in ("enabled", "tlp", "severity")
            if getattr(old, name) != getattr(new, name)
        }
        params = {
            name: [old.params.get(name), new.params.get(name)]
            for name in sorted(set(old.params) | set(new.params))
            if old.params.get(name) != new.params.get(name)
        }
        changes.append(
            {
                "rule": new.id,
                "from_version": old.version,
                "to_version": new.version,
                "saved": (new.id, new.version) in saved,
                "fields": orjson.loads(orjson.dumps(fields, default=str)),
                "params": params,
            }
        )
    return changes


def build_proposal(
    store: RulesStore,
    *,
    rules: Mapping[str, Mapping[str, Any]] | None = None,
    versions: Mapping[str, int] | None = None,
    baseline: str = "active",
    baseline_versions: Mapping[str, int] | None = None,
) -> Proposal:
    """Baseline and proposed rulesets.

    The baseline is the active rules (or, `baseline="deployed"`, config/rules.yaml), with any
    `baseline_versions` (rule id -> saved version) in their place. The proposal is the active
    rules with `versions` in their place, then `rules` (rule id -> parameters) over their
    parameters: unsaved edits, numbered one above the rule's latest saved version. So: an edit
    against the saved rules (`rules`), a saved version against the active one (`versions`),
    the saved rules against what detection runs (`baseline="deployed"`).
    Raises RuleValidationError, each problem located in the request."""
    errors: list[dict[str, Any]] = []
    deployed = store.deployed()
    active = {e.id: e for e in store.active_entries()}
    if baseline != "deployed":
        base = dict(active)
    elif deployed is not None:
        base = {e.id: e for e in deployed}
    else:
        raise RuleValidationError([_error(["baseline"], "config/rules.yaml is missing or invalid")])
    histories = {h.rule_id: h for h in store.histories()}
    saved = {(h.rule_id, v.version) for h in histories.values() for v in h.versions}

    def saved_entry(where: str, rule_id: str, version: int) -> RuleEntry | None:
        try:
            return store.version(rule_id, version).entry()
        except RuleNotFoundError:
            errors.append(_error([where, rule_id], f"no saved version {version}", "not_found"))
            return None

    for rule_id, version in (baseline_versions or {}).items():
        if (entry := saved_entry("baseline_versions", rule_id, version)) is not None:
            base[rule_id] = entry
    proposed = {**base, **active}
    for rule_id, version in (versions or {}).items():
        if (entry := saved_entry("versions", rule_id, version)) is not None:
            proposed[rule_id] = entry
    for rule_id, params in (rules or {}).items():
        start = proposed.get(rule_id)
        if start is None:
            errors.append(_error(["rules", rule_id], "no such rule", "not_found"))
            continue
        if not isinstance(params, Mapping):
            errors.append(_error(["rules", rule_id], "parameters expected", "dict_type"))
            continue
        history = histories.get(rule_id)
        latest = history.versions[0].version if history is not None else start.version
        fields = {
            "enabled": start.enabled,
            "tlp": start.tlp,
            "severity": start.severity,
            "description": start.description,
            "source": start.source,
            "params": {**start.params, **params},
        }
        try:
            proposed[rule_id] = validate_entry(
                rule_id, fields, max(latest, start.version) + 1, base_params=start.params
            )
        except RuleValidationError as exc:
            errors.extend(_relocate(exc.errors, ["rules", rule_id]))
    if errors:
        raise RuleValidationError(errors)
    version = deployed.version if deployed is not None else 1
    base_set = RuleSet(version=version, rules=tuple(base.values()))
    proposed_set = RuleSet(version=version + 1, rules=tuple(proposed.values()))
    changes = _changes(base_set, proposed_set, saved)
    if not changes:
        message = "the proposed rules are the baseline's: nothing to compare"
        raise RuleValidationError([_error(["rules"], message)])
    return Proposal(baseline, base_set, proposed_set, changes)


# -- comparing two runs ---------------------------------------------------------------------------
def read_alerts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as stream:
        return [orjson.loads(line) for line in stream if line.strip()]


def _span(alert: Mapping[str, Any]) -> tuple[int, int]:
    start = parse_iso_ms(alert["start"])
    end = alert.get("end")
    return start, parse_iso_ms(end) if end else sys.maxsize


def _vessels(alert: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(sorted(alert.get("mmsis") or [alert.get("mmsi")]))


@dataclass
class Comparison:
    kept: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    gained: list[dict[str, Any]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)


def compare(baseline: Sequence[dict[str, Any]], proposed: Sequence[dict[str, Any]]) -> Comparison:
    """Kept (same id), changed (no common id; same type and vessels, overlapping episodes),
    gained (proposed only) and lost (baseline only)."""
    result = Comparison()
    by_id = {a["id"]: a for a in proposed}
    used: set[str] = set()
    left: list[dict[str, Any]] = []
    for alert in baseline:
        twin = by_id.get(alert["id"])
        if twin is not None:
            result.kept.append((alert, twin))
            used.add(twin["id"])
        else:
            left.append(alert)
    candidates: dict[tuple[str, tuple[int, ...]], list[dict[str, Any]]] = {}
    for alert in proposed:
        if alert["id"] not in used:
            candidates.setdefault((alert["type"], _vessels(alert)), []).append(alert)
    for alert in left:
        start, end = _span(alert)
        partner = None
        for other in candidates.get((alert["type"], _vessels(alert)), []):
            if other["id"] in used:
                continue
            o_start, o_end = _span(other)
            if o_start <= end and start <= o_end:
                partner = other
                break
        if partner is None:
            result.lost.append(alert)
        else:
            result.changed.append((alert, partner))
            used.add(partner["id"])
    result.gained = [a for a in proposed if a["id"] not in used]
    return result


def brief(alert: Mapping[str, Any], outcomes: Mapping[str, str]) -> dict[str, Any]:
    """What the workbench lists of an alert."""
    vessel = alert.get("vessel") or {}
    return {
        "id": alert["id"],
        "type": alert["type"],
        "severity": alert.get("severity"),
        "score": alert.get("score"),
        "mmsi": alert.get("mmsi"),
        "mmsis": list(alert.get("mmsis") or [alert.get("mmsi")]),
        "vessel": vessel.get("name"),
        "flag": vessel.get("flag"),
        "lat": alert.get("lat"),
        "lon": alert.get("lon"),
        "start": alert.get("start"),
        "end": alert.get("end"),
        "detected_at": alert.get("detected_at"),
        "reasons": list(alert.get("reasons") or []),
        "rule": alert.get("rule"),
        "areas": list(alert.get("areas") or []),
        "outcome": outcomes.get(alert["id"]),
    }


CONFIRMED: Final = frozenset({Outcome.RESCUED.value, Outcome.INTERDICTED.value})


def precision(ids: Sequence[str], outcomes: Mapping[str, str]) -> dict[str, Any]:
    counts = Counter(outcomes[i] for i in ids if i in outcomes)
    confirmed = sum(counts[o] for o in CONFIRMED)
    false_alarms = counts[Outcome.FALSE_ALARM.value]
    judged = confirmed + false_alarms
    return {
        "reviewed": sum(counts.values()),
        "confirmed": confirmed,
        "false_alarms": false_alarms,
        "no_action": counts[Outcome.NO_ACTION.value],
        "unreviewed": len(ids) - sum(counts.values()),
        "precision": round(confirmed / judged, 4) if judged else None,
    }


def officer_outcomes(engine: Engine, agency: Agency, ids: Sequence[str]) -> dict[str, str]:
    """Alert id -> outcome, for the closed alerts among `ids` that `agency` may see."""
    cur = t.alert_current.c
    out: dict[str, str] = {}
    unique = sorted(set(ids))
    with engine.connect() as conn:
        for at in range(0, len(unique), 500):
            rows = conn.execute(
                sa.select(
                    cur.alert_id,
                    cur.type,
                    cur.tlp,
                    cur.lat,
                    cur.lon,
                    cur.owner,
                    cur.recipients,
                    cur.outcome,
                )
                .where(cur.alert_id.in_(unique[at : at + 500]))
                .where(cur.status == Status.CLOSED.value, cur.outcome.is_not(None))
            ).all()
            items = [
                Shareable(
                    r.alert_id,
                    r.type,
                    Tlp(r.tlp),
                    r.lat,
                    r.lon,
                    r.owner,
                    frozenset(x for x in (r.recipients or "").split("|") if x),
                )
                for r in rows
            ]
            for row, ok in zip(rows, visible_mask(agency, items), strict=True):
                if ok:
                    out[row.alert_id] = row.outcome
    return out


def build_result(
    job_dir: Path,
    proposal: Proposal,
    data: DataFile,
    outcomes_of: Callable[[Sequence[str]], Mapping[str, str]],
    list_max: int,
) -> dict[str, Any]:
    """The comparison of a finished job's two runs (`outcomes_of(ids) -> {id: outcome}`)."""
    alerts = {run: read_alerts(job_dir / run / "alerts.jsonl") for run in RUNS}
    comparison = compare(alerts["baseline"], alerts["proposed"])
    ids = [a["id"] for run in RUNS for a in alerts[run]]
    outcomes: Mapping[str, str] = outcomes_of(ids)
    sides: dict[str, Any] = {}
    for run, rules, label in (
        ("baseline", proposal.baseline, proposal.baseline_label),
        ("proposed", proposal.proposed, "proposed"),
    ):
        summary_path = job_dir / run / "summary.json"
        summary = orjson.loads(summary_path.read_bytes()) if summary_path.exists() else {}
        sides[run] = {
            "label": label,
            "rules": {e.id: e.version for e in rules},
            "alerts": len(alerts[run]),
            "by_type": dict(sorted(Counter(a["type"] for a in alerts[run]).items())),
            "precision": precision([a["id"] for a in alerts[run]], outcomes),
            "run": {k: summary.get(k) for k in ("lines", "vessels", "points", "wall_seconds")},
            "not_running": not_running(summary.get("detectors", [])),
        }
    by_type: dict[str, dict[str, int]] = {}

    def bump(kind: str, name: str) -> None:
        entry = by_type.setdefault(
            kind, dict.fromkeys(("baseline", "proposed", "kept", "changed", "gained", "lost"), 0)
        )
        entry[name] += 1

    for run in RUNS:
        for alert in alerts[run]:
            bump(alert["type"], run)
    for name, pairs in (("kept", comparison.kept), ("changed", comparison.changed)):
        for alert, _ in pairs:
            bump(alert["type"], name)
    for name, items in (("gained", comparison.gained), ("lost", comparison.lost)):
        for alert in items:
            bump(alert["type"], name)
    return {
        "data": data.public(),
        "baseline": sides["baseline"],
        "proposed": sides["proposed"],
        "changes": proposal.changes,
        "by_type": dict(sorted(by_type.items())),
        "kept": len(comparison.kept),
        "gained_total": len(comparison.gained),
        "lost_total": len(comparison.lost),
        "changed_total": len(comparison.changed),
        "gained": [brief(a, outcomes) for a in comparison.gained[:list_max]],
        "lost": [brief(a, outcomes) for a in comparison.lost[:list_max]],
        "changed": [
            {"baseline": brief(a, outcomes), "proposed": brief(b, outcomes)}
            for a, b in comparison.changed[:list_max]
        ],
    }


# -- jobs -----------------------------------------------------------------------------------------
jobs_metadata = sa.MetaData()

backtest_job = sa.Table(
    "backtest_job",
    jobs_metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("data", sa.String(255), nullable=False),
    sa.Column("request", sa.Text(), nullable=False),  # JSON: the request and the changes
    sa.Column("result", sa.Text(), nullable=True),  # JSON, when done
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("runner", sa.String(64), nullable=False),  # the API process running it
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("started_at", sa.BigInteger(), nullable=True),
    sa.Column("finished_at", sa.BigInteger(), nullable=True),
    sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_backtest_job_agency", "agency_id", "created_at"),
    sa.Index("ix_backtest_job_status", "status"),
)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


LIVE: Final = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class QueueFullError(RuntimeError):
    """Too many backtests waiting in this process."""


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    agency: Agency
    key_id: str
    data: DataFile
    proposal: Proposal
    request: dict[str, Any]


_SECRET_VARIABLE: Final = re.compile(r"PEPPER|SECRET|PASSWORD|TOKEN|DB_URL|DATABASE__URL|PGPASS")


def child_environment() -> dict[str, str]:
    """The API's environment without its secrets: the pipeline needs no key, no database."""
    return {k: v for k, v in os.environ.items() if not _SECRET_VARIABLE.search(k.upper())}


def _ms_iso(value: int | None) -> str | None:
    return iso_ms(int(value)) if value is not None else None


def _job_public(row: Any, position: int | None = None) -> dict[str, Any]:
    request = orjson.loads(row.request)
    out: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "data": row.data,
        "baseline": request.get("baseline", "active"),
        "changes": request.get("changes", []),
        "requested_by": {"agency": row.agency_id, "key_id": row.key_id},
        "created_at": _ms_iso(row.created_at),
        "started_at": _ms_iso(row.started_at),
        "finished_at": _ms_iso(row.finished_at),
        "error": row.error,
        "result": orjson.loads(row.result) if row.result else None,
    }
    if position is not None:
        out["queue_position"] = position
    return out


class BacktestService:
    def __init__(
        self, engine: Engine, settings: WorkbenchSettings, config_dir: Path, runner: str
    ) -> None:
        self.engine = engine
        self._writer = write_engine(engine)
        self.settings = settings
        self.config_dir = config_dir
        self.runner = runner
        self.folders = DataFolders(settings.backtest_data_dir)
        self._queue: queue.Queue[tuple[str, BacktestSpec]] = queue.Queue(settings.backtest_queue)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()
        self._work_dir = settings.backtest_work_dir or Path(tempfile.gettempdir())

    # -- API ------------------------------------------------------------------------------
    def submit(self, spec: BacktestSpec) -> dict[str, Any]:
        """Queue a backtest; QueueFullError when `backtest_queue` jobs already wait."""
        self.start()
        job_id = secrets.token_hex(8)
        at = now_ms()
        request = {
            **spec.request,
            "baseline": spec.proposal.baseline_label,
            "changes": spec.proposal.changes,
        }
        with self._writer.begin() as conn:
            conn.execute(
                backtest_job.insert().values(
                    id=job_id,
                    status=JobStatus.QUEUED.value,
                    agency_id=spec.agency.id,
                    key_id=spec.key_id,
                    data=spec.data.name,
                    request=orjson.dumps(request, default=str).decode(),
                    runner=self.runner,
                    created_at=at,
                    heartbeat_at=at,
                )
            )
        try:
            self._queue.put_nowait((job_id, spec))
        except queue.Full:
            with self._writer.begin() as conn:
                conn.execute(backtest_job.delete().where(backtest_job.c.id == job_id))
            raise QueueFullError(
                f"{self.settings.backtest_queue} backtests are waiting already"
            ) from None
        self._prune()
        found = self.job(job_id, spec.agency.id)
        assert found is not None
        return found

    def job(self, job_id: str, agency_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(backtest_job).where(
                    backtest_job.c.id == job_id, backtest_job.c.agency_id == agency_id
                )
            ).first()
        if row is None:
            return None
        if row.status in LIVE and now_ms() - row.heartbeat_at > STALE_MS:
            self._finish(
                job_id,
                JobStatus.INTERRUPTED,
                error="the API process running it stopped",
                only_if=LIVE,
            )
            return self.job(job_id, agency_id)
        position = None
        if row.status == JobStatus.QUEUED.value:
            position = self._position(job_id)
        return _job_public(row, position)

    def jobs(self, agency_id: str, limit: int = 20) -> list[dict[str, Any]]:
        query = (
            sa.select(backtest_job)
            .where(backtest_job.c.agency_id == agency_id)
            .order_by(backtest_job.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            public = _job_public(row)
            public.pop("result")
            out.append(public)
        return out

    def cancel(self, job_id: str, agency_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job (the running pipeline is killed)."""
        if self.job(job_id, agency_id) is None:
            return None
        self._cancelled.add(job_id)  # the worker of this process kills it at once
        self._finish(job_id, JobStatus.CANCELLED, error="cancelled", only_if=LIVE)
        return self.job(job_id, agency_id)

    def _position(self, job_id: str) -> int | None:
        with self._queue.mutex:
            waiting = [j for j, _ in self._queue.queue]
        return waiting.index(job_id) + 1 if job_id in waiting else None

    # -- the worker -----------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="backtest-worker", daemon=True
                )
                self._thread.start()

    def close(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=timeout_s)
        while True:
            try:
                job_id, _ = self._queue.get_nowait()
            except queue.Empty:
                break
            self._finish(job_id, JobStatus.INTERRUPTED, error="the API stopped", only_if=LIVE)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id, spec = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._run(job_id, spec)
            except Exception as exc:
                log.exception("backtest %s failed", job_id)
                self._finish(job_id, JobStatus.FAILED, error=f"internal error: {exc}", only_if=LIVE)

    def _status(self, job_id: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(backtest_job.c.status).where(backtest_job.c.id == job_id)
            ).scalar()
        return None if value is None else str(value)

    def _heartbeat(self) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                backtest_job.update()
                .where(backtest_job.c.runner == self.runner, backtest_job.c.status.in_(LIVE))
                .values(heartbeat_at=now_ms())
            )

    def _finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        only_if: Sequence[str] = (JobStatus.RUNNING.value,),
    ) -> bool:
        values: dict[str, Any] = {"status": status.value, "finished_at": now_ms(), "error": error}
        if result is not None:
            values["result"] = orjson.dumps(result, default=str).decode()
        with self._writer.begin() as conn:
            done = conn.execute(
                backtest_job.update()
                .where(backtest_job.c.id == job_id, backtest_job.c.status.in_(list(only_if)))
                .values(**values)
            )
        return bool(done.rowcount)

    def _run(self, job_id: str, spec: BacktestSpec) -> None:
        with self._writer.begin() as conn:
            started = conn.execute(
                backtest_job.update()
                .where(backtest_job.c.id == job_id, backtest_job.c.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.RUNNING.value, started_at=now_ms(), heartbeat_at=now_ms())
            )
        if not started.rowcount:
            self._cancelled.discard(job_id)
            return  # cancelled while it waited
        self._work_dir.mkdir(parents=True, exist_ok=True)
        job_dir = Path(tempfile.mkdtemp(prefix=f"lookout-backtest-{job_id}-", dir=self._work_dir))
        try:
            status, error = self._pipeline(job_id, spec, job_dir)
            if status is JobStatus.DONE:
                result = build_result(
                    job_dir,
                    spec.proposal,
                    spec.data,
                    lambda ids: officer_outcomes(self.engine, spec.agency, ids),
                    self.settings.backtest_list_max,
                )
                self._finish(job_id, JobStatus.DONE, result=result)
            else:
                self._finish(job_id, status, error=error)
        finally:
            self._cancelled.discard(job_id)
            shutil.rmtree(job_dir, ignore_errors=True)

    def _pipeline(
        self, job_id: str, spec: BacktestSpec, job_dir: Path
    ) -> tuple[JobStatus, str | None]:
        """Both runs in a child process; (status, error)."""
        for run, rules in (
            ("baseline", spec.proposal.baseline),
            ("proposed", spec.proposal.proposed),
        ):
            (job_dir / f"{run}.yaml").write_text(dump_rules(rules), encoding="utf-8")
        job = {"paths": [str(spec.data.path)], "config_dir": str(self.config_dir)}
        (job_dir / "job.json").write_bytes(orjson.dumps(job))
        log_path = job_dir / "pipeline.log"
        deadline = time.monotonic() + self.settings.backtest_timeout_s
        with log_path.open("wb") as log_file:
            child = subprocess.Popen(
                [sys.executable, "-m", "api.workbench", str(job_dir)],
                cwd=job_dir,
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            beat = time.monotonic()
            try:
                while True:
                    try:
                        code = child.wait(timeout=0.2)
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    now = time.monotonic()
                    if now > deadline:
                        return JobStatus.TIMEOUT, (
                            f"the backtest took longer than {self.settings.backtest_timeout_s:g} s"
                        )
                    if self._stop.is_set():
                        return JobStatus.INTERRUPTED, "the API stopped"
                    if job_id in self._cancelled:
                        return JobStatus.CANCELLED, "cancelled"
                    if now - beat >= HEARTBEAT_S:
                        beat = now
                        self._heartbeat()
                        if self._status(job_id) != JobStatus.RUNNING.value:
                            return JobStatus.CANCELLED, "cancelled"
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        if code != 0:
            tail = log_path.read_bytes()[-ERROR_TAIL:].decode("utf-8", "replace")
            return JobStatus.FAILED, f"the pipeline exited with {code}: {tail}"
        return JobStatus.DONE, None

    def _prune(self) -> None:
        keep = (
            sa.select(backtest_job.c.id)
            .order_by(backtest_job.c.created_at.desc())
            .limit(self.settings.backtest_keep_jobs)
            .scalar_subquery()
        )
        with self._writer.begin() as conn:
            conn.execute(
                backtest_job.delete().where(
                    backtest_job.c.status.not_in(LIVE), backtest_job.c.id.not_in(keep)
                )
            )


# -- the workbench of an app ----------------------------------------------------------------------
@dataclass
class Workbench:
    rules: RulesStore
    backtests: BacktestService
    settings: WorkbenchSettings

    @classmethod
    def open(cls, api: ApiSettings, engine: Engine, operator: str) -> Workbench:
        settings = WorkbenchSettings.from_api(api)
        rules = RulesStore(engine, default_rules_file(api.config_dir), operator)
        rules.seed()
        runner = f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"[:64]
        return cls(rules, BacktestService(engine, settings, api.config_dir, runner), settings)

    def close(self) -> None:
        self.backtests.close()


# -- the child process: python -m api.workbench JOB_DIR -------------------------------------------
def run_job(job_dir: Path) -> int:
    """Both runs of a backtest (job.json, baseline.yaml, proposed.yaml in `job_dir`)."""
    from config import load_settings
    from ingest.pipeline import IngestSettings
    from lookout.batch import process

    job = orjson.loads((job_dir / "job.json").read_bytes())
    config_dir = Path(job["config_dir"])
    settings = load_settings(config_dir)
    cfg = settings.ingest
    ingest = IngestSettings(
        assembly_timeout_ms=int(cfg.assembly_timeout_s * 1000),
        dedup_window_ms=int(cfg.dedup_window_s * 1000),
        max_line_bytes=cfg.max_line_bytes,
        input_format=cfg.input_format,
    )
    for run in RUNS:
        summary = process(
            list(job["paths"]),
            job_dir / run,
            ingest,
            partitions=settings.embedded.partitions,
            config_dir=config_dir,
            rules_path=job_dir / f"{run}.yaml",
        )
        if summary.get("unreadable"):
            print(f"{run}: unreadable: {summary['unreadable']}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":  # pragma: no cover - the worker's child process
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(run_job(Path(sys.argv[1])))
