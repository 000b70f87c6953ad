"""Detection rules in the database: every version of every rule, who made it and why, and the
version analysts currently stand behind (the *active* one). Seeded from config/rules.yaml.

    store = RulesStore(engine, rules_file, operator="lookout-ops")
    store.seed()                                   # import config/rules.yaml (idempotent)
    rule = store.rule("loitering")                 # head + active version + history
    new = store.update("loitering", {"params": {...}}, expected=1, author=..., comment="...")
    text = store.export_yaml()                     # the active rules as config/rules.yaml

Validation is anomaly.rules' own (`RuleEntry`: alert type, TLP, severity, and the detector's
parameter schema through `anomaly.registry`), with each problem located (`["params",
"min_duration_h"]`) so that a form can show it beside the field.

The database is the analysts' working copy; config/rules.yaml is what detection runs. A change
here reaches detection only when an operator exports the active rules into config/rules.yaml
and restarts the detection stage: nothing here hot-reloads detection. Seeding keeps the two
apart: a rule missing from the database is imported; a file entry with a higher version than any
in the database (an operator's edit) becomes a new, active version; otherwise the database wins
(it holds edits not deployed yet).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from anomaly.registry import detector_class
from anomaly.rules import RULES_FILE, RuleEntry, RulesError, RuleSet, dump_rules, load_rules
from api.store import now_ms
from lookout.db import write_engine

log = logging.getLogger(__name__)

__all__ = [
    "EDITABLE",
    "PROTECTED_PARAMS",
    "RuleConflictError",
    "RuleHistory",
    "RuleNotFoundError",
    "RuleUnchangedError",
    "RuleValidationError",
    "RuleVersion",
    "RulesStore",
    "default_rules_file",
    "validate_entry",
]

# -- tables (created by api/migrations/versions/0003_rules.py) ----------------------------------
metadata = sa.MetaData()

rule = sa.Table(
    "rule",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("active_version", sa.Integer(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

rule_version = sa.Table(
    "rule_version",
    metadata,
    sa.Column("rule_id", sa.String(32), sa.ForeignKey("rule.id"), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=True),
    sa.Column("params", sa.Text(), nullable=False),  # JSON object
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),  # config | api
    sa.Column("author_agency", sa.String(64), nullable=False),
    sa.Column("author_key", sa.String(32), nullable=True),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
)

EDITABLE: Final = ("enabled", "tlp", "severity", "description", "source", "params")
"""What an analyst may change through the API; `id` and `version` are the store's."""

PROTECTED_PARAMS: Final = frozenset({"model"})
"""Parameters only an operator sets, in config/rules.yaml: `model` (route_anomaly, migrant_risk)
names a model file the detector loads, and loading one unpickles it, so a path from an API
request (a saved rule, a backtest's proposal) would let its caller run code on the server."""

MAX_PARAMS_BYTES: Final = 64 * 1024
ORIGIN_CONFIG: Final = "config"
ORIGIN_API: Final = "api"


class RuleStoreError(Exception):
    """Base of the rules store's errors."""


class RuleNotFoundError(RuleStoreError):
    pass


class RuleConflictError(RuleStoreError):
    """The rule's active version is not the one the change was based on (If-Match)."""

    def __init__(self, rule_id: str, current: int) -> None:
        super().__init__(f"rule {rule_id} is at version {current}")
        self.current = current


class RuleUnchangedError(RuleStoreError):
    """The change leaves the rule as its active version is."""


class RuleValidationError(RuleStoreError):
    """The rule does not validate; `errors` are `{loc, msg, type}` as FastAPI reports them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        )
        self.errors = errors


@dataclass(frozen=True, slots=True)
class RuleVersion:
    rule_id: str
    version: int
    enabled: bool
    tlp: str
    severity: str | None
    params: dict[str, Any]
    description: str
    source: str
    origin: str
    author_agency: str
    author_key: str | None
    comment: str
    created_at: int

    def entry(self) -> RuleEntry:
        return RuleEntry.model_validate(
            {
                "id": self.rule_id,
                "version": self.version,
                "enabled": self.enabled,
                "tlp": self.tlp,
                "severity": self.severity,
                "description": self.description,
                "source": self.source,
                "params": self.params,
            }
        )

    def same_as(self, entry: RuleEntry) -> bool:
        """The same rule as `entry`, whatever the versions (compared as stored: a version
        that no longer validates, after a detector's parameters changed, still compares)."""
        return (
            self.enabled == entry.enabled
            and self.tlp == entry.tlp.value
            and self.severity == (entry.severity.value if entry.severity is not None else None)
            and self.description == entry.description
            and self.source == entry.source
            and self.params == entry.params
        )

    def fields(self) -> dict[str, Any]:
        """The editable fields, as a PUT body would give them."""
        return {
            "enabled": self.enabled,
            "tlp": self.tlp,
            "severity": self.severity,
            "description": self.description,
            "source": self.source,
            "params": dict(self.params),
        }


@dataclass(frozen=True, slots=True)
class RuleHistory:
    rule_id: str
    active: RuleVersion
    versions: tuple[RuleVersion, ...]  # newest first
    deployed_version: int | None  # the version in config/rules.yaml, if the rule is there
    deployed_same: bool  # the active version's content is what config/rules.yaml holds


def default_rules_file(config_dir: Path) -> Path:
    """config_dir/rules.yaml, or the bundled one when the folder has none."""
    path = config_dir / RULES_FILE
    if path.is_file():
        return path
    from config import default_config_dir

    return default_config_dir() / RULES_FILE


# -- validation ---------------------------------------------------------------------------------
def _finite(value: Any, loc: tuple[str | int, ...], errors: list[dict[str, Any]]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        errors.append({"loc": list(loc), "msg": "must be a finite number", "type": "finite_number"})
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _finite(item, (*loc, str(key)), errors)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _finite(item, (*loc, index), errors)


def _size(params: Mapping[str, Any]) -> int | None:
    """The JSON size of `params`; None when they are not JSON (a key that is not a string)."""
    try:
        return len(orjson.dumps(dict(params)))
    except TypeError:
        return None


def _param_errors(rule_id: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The detector's own parameter checks, each error located under `params`."""
    errors: list[dict[str, Any]] = []
    _finite(dict(params), ("params",), errors)
    if errors:
        return errors
    cls = detector_class(rule_id)
    if cls is None:
        return errors
    model = getattr(cls, "Params", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        try:
            model.model_validate(dict(params))
        except ValidationError as exc:
            for error in exc.errors():
                errors.append(
                    {
                        "loc": ["params", *error["loc"]],
                        "msg": error["msg"],
                        "type": error["type"],
                    }
                )
        return errors
    import importlib

    defaults = getattr(importlib.import_module(cls.__module__), "DEFAULTS", None)
    if isinstance(defaults, Mapping):
        for name in sorted(set(params) - set(defaults)):
            errors.append(
                {"loc": ["params", name], "msg": "unknown parameter", "type": "extra_forbidden"}
            )
    return errors


def validate_entry(
    rule_id: str,
    fields: Mapping[str, Any],
    version: int,
    *,
    base_params: Mapping[str, Any] | None = None,
) -> RuleEntry:
    """A `RuleEntry` from editable fields, or `RuleValidationError` with every problem found.

    `base_params`: the params the edit starts from; a protected parameter must keep its value."""
    params = fields.get("params") or {}
    errors: list[dict[str, Any]] = []
    if not isinstance(params, Mapping):
        errors.append({"loc": ["params"], "msg": "must be an object", "type": "dict_type"})
        params = {}
    elif (size := _size(params)) is None:
        errors.append({"loc": ["params"], "msg": "must be JSON", "type": "json_type"})
    elif size > MAX_PARAMS_BYTES:
        errors.append({"loc": ["params"], "msg": "too large", "type": "too_long"})
    if base_params is not None:
        for name in sorted(PROTECTED_PARAMS):
            if params.get(name) != base_params.get(name):
                errors.append(
                    {
                        "loc": ["params", name],
                        "msg": "set by an operator in config/rules.yaml, not through the API",
                        "type": "protected",
                    }
                )
    errors.extend(_param_errors(rule_id, params) if not errors else [])
    data = {**{k: v for k, v in fields.items() if k in EDITABLE}, "id": rule_id, "version": version}
    # With the params already found wrong, check the other fields without them.
    data["params"] = {} if errors else dict(params)
    try:
        entry = RuleEntry.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = list(error["loc"])
            if not loc and errors:
                continue  # the params check again, already reported field by field
            errors.append({"loc": loc or ["params"], "msg": error["msg"], "type": error["type"]})
        raise RuleValidationError(errors) from None
    if errors:
        raise RuleValidationError(errors)
    return entry


# -- the store ----------------------------------------------------------------------------------
def _version(row: Any) -> RuleVersion:
    return RuleVersion(
        rule_id=row.rule_id,
        version=int(row.version),
        enabled=bool(row.enabled),
        tlp=row.tlp,
        severity=row.severity,
        params=orjson.loads(row.params),
        description=row.description,
        source=row.source,
        origin=row.origin,
        author_agency=row.author_agency,
        author_key=row.author_key,
        comment=row.comment,
        created_at=int(row.created_at),
    )


def _row(
    entry: RuleEntry, origin: str, agency: str, key: str | None, comment: str
) -> dict[str, Any]:
    return {
        "rule_id": entry.id,
        "version": entry.version,
        "enabled": entry.enabled,
        "tlp": entry.tlp.value,
        "severity": entry.severity.value if entry.severity is not None else None,
        "params": orjson.dumps(entry.params).decode(),
        "description": entry.description,
        "source": entry.source,
        "origin": origin,
        "author_agency": agency,
        "author_key": key,
        "comment": comment,
        "created_at": now_ms(),
    }


class RulesStore:
    def __init__(self, engine: Engine, rules_file: Path, operator: str) -> None:
        self.engine = engine
        self._writer = write_engine(engine)
        self.rules_file = rules_file
        self.operator = operator
        self._deployed: tuple[int, RuleSet | None] | None = None

    # -- config/rules.yaml ----------------------------------------------------------------
    def deployed(self) -> RuleSet | None:
        """The rules in the configuration file (what detection runs), re-read when it changes;
        None when it is missing or does not validate."""
        try:
            stamp = self.rules_file.stat().st_mtime_ns
        except OSError:
            return None
        if self._deployed is None or self._deployed[0] != stamp:
            try:
                rules: RuleSet | None = load_rules(self.rules_file)
            except RulesError as exc:
                log.error("%s", exc)
                rules = None
            self._deployed = (stamp, rules)
        return self._deployed[1]

    def seed(self) -> list[str]:
        """Import config/rules.yaml (see the module docstring); returns what was imported."""
        rules = self.deployed()
        if rules is None:
            log.warning("rules: %s is missing or invalid; nothing seeded", self.rules_file)
            return []
        comment = f"imported from {self.rules_file.name}"
        imported: list[str] = []
        for entry in rules:
            try:
                with self._writer.begin() as conn:
                    head = conn.execute(sa.select(rule).where(rule.c.id == entry.id)).first()
                    if head is None:
                        conn.execute(
                            rule.insert().values(
                                id=entry.id, active_version=entry.version, updated_at=now_ms()
                            )
                        )
                    else:
                        latest = self._latest(conn, entry.id)
                        if entry.version <= latest:
                            self._check_same(conn, entry)
                            continue
                        conn.execute(
                            rule.update()
                            .where(rule.c.id == entry.id)
                            .values(active_version=entry.version, updated_at=now_ms())
                        )
                    conn.execute(
                        rule_version.insert().values(
                            **_row(entry, ORIGIN_CONFIG, self.operator, None, comment)
                        )
                    )
                imported.append(f"{entry.id} v{entry.version}")
            except IntegrityError:
                continue  # another process seeded it at the same moment
        if imported:
            log.info("rules: imported %s from %s", ", ".join(imported), self.rules_file)
        return imported

    def _check_same(self, conn: Connection, entry: RuleEntry) -> None:
        row = conn.execute(
            sa.select(rule_version).where(
                rule_version.c.rule_id == entry.id, rule_version.c.version == entry.version
            )
        ).first()
        if row is not None and not _version(row).same_as(entry):
            log.warning(
                "rules: %s version %d in %s differs from the database's version %d; "
                "keeping the database's (raise the version in the file to import it)",
                entry.id,
                entry.version,
                self.rules_file,
                entry.version,
            )

    @staticmethod
    def _latest(conn: Connection, rule_id: str) -> int:
        value = conn.execute(
            sa.select(sa.func.max(rule_version.c.version)).where(rule_version.c.rule_id == rule_id)
        ).scalar()
        return int(value or 0)

    # -- reading --------------------------------------------------------------------------
    def ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r.id for r in conn.execute(sa.select(rule.c.id))]

    def histories(self, rule_ids: Sequence[str] | None = None) -> list[RuleHistory]:
        """Every rule (or those named) with its active version and history, in the order of
        config/rules.yaml (rules it no longer holds last)."""
        query = sa.select(rule_version, rule.c.active_version).join(
            rule, rule.c.id == rule_version.c.rule_id
        )
        if rule_ids is not None:
            query = query.where(rule_version.c.rule_id.in_(list(rule_ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(rule_version.c.version.desc())).all()
        by_rule: dict[str, list[RuleVersion]] = {}
        active: dict[str, int] = {}
        for row in rows:
            by_rule.setdefault(row.rule_id, []).append(_version(row))
            active[row.rule_id] = int(row.active_version)
        deployed = self.deployed()
        order = {e.id: i for i, e in enumerate(deployed or ())}
        out: list[RuleHistory] = []
        for rule_id in sorted(by_rule, key=lambda r: (order.get(r, len(order)), r)):
            versions = tuple(by_rule[rule_id])
            current = next((v for v in versions if v.version == active[rule_id]), versions[0])
            file_entry = deployed.get(rule_id) if deployed is not None else None
            out.append(
                RuleHistory(
                    rule_id=rule_id,
                    active=current,
                    versions=versions,
                    deployed_version=file_entry.version if file_entry is not None else None,
                    deployed_same=file_entry is not None and current.same_as(file_entry),
                )
            )
        return out

    def history(self, rule_id: str) -> RuleHistory:
        found = self.histories([rule_id])
        if not found:
            raise RuleNotFoundError(rule_id)
        return found[0]

    def version(self, rule_id: str, version: int) -> RuleVersion:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(rule_version).where(
                    rule_version.c.rule_id == rule_id, rule_version.c.version == version
                )
            ).first()
        if row is None:
            raise RuleNotFoundError(f"{rule_id} v{version}")
        return _version(row)

    def active_entries(self) -> list[RuleEntry]:
        """The active versions as rules.yaml entries; RuleValidationError when one no longer
        validates (a detector's parameters changed since it was saved)."""
        entries: list[RuleEntry] = []
        errors: list[dict[str, Any]] = []
        for history in self.histories():
            try:
                entries.append(history.active.entry())
            except ValidationError as exc:
                for error in exc.errors():
                    errors.append(
                        {
                            "loc": [history.rule_id, *error["loc"]],
                            "msg": f"version {history.active.version}: {error['msg']}",
                            "type": error["type"],
                        }
                    )
        if errors:
            raise RuleValidationError(errors)
        return entries

    def active_ruleset(self) -> RuleSet:
        """The active rules as a ruleset; its `version` is one above the deployed file's when
        they differ from it (RuleSet.revise)."""
        entries = tuple(self.active_entries())
        deployed = self.deployed()
        if deployed is None:
            return RuleSet(version=1, rules=entries)
        try:
            return deployed.revise(RuleSet(version=deployed.version, rules=entries))
        except RulesError:
            return RuleSet(version=deployed.version + 1, rules=entries)

    def export_yaml(self) -> str:
        """The active rules as config/rules.yaml (what an operator deploys)."""
        return dump_rules(self.active_ruleset())

    # -- writing --------------------------------------------------------------------------
    def update(
        self,
        rule_id: str,
        changes: Mapping[str, Any],
        *,
        expected: int | None,
        agency: str,
        key: str | None,
        comment: str,
    ) -> RuleVersion:
        """Version n+1 of a rule: its active version with `changes` (editable fields; `params`
        replaces the parameters as a whole), validated, attributed, made active.

        `expected`: the active version the change was based on (If-Match); None for any.
        Raises RuleNotFoundError, RuleConflictError, RuleValidationError, RuleUnchangedError."""
        history = self.history(rule_id)
        base = history.active
        if expected is not None and base.version != expected:
            raise RuleConflictError(rule_id, base.version)
        latest = history.versions[0].version
        fields = {**base.fields(), **{k: v for k, v in changes.items() if k in EDITABLE}}
        entry = validate_entry(rule_id, fields, latest + 1, base_params=base.params)
        if base.same_as(entry):
            raise RuleUnchangedError(f"rule {rule_id}: the same as version {base.version}")
        try:
            with self._writer.begin() as conn:
                moved = conn.execute(
                    rule.update()
                    .where(rule.c.id == rule_id, rule.c.active_version == base.version)
                    .values(active_version=entry.version, updated_at=now_ms())
                )
                if moved.rowcount != 1:
                    raise RuleConflictError(rule_id, self._active(conn, rule_id))
                conn.execute(
                    rule_version.insert().values(**_row(entry, ORIGIN_API, agency, key, comment))
                )
        except IntegrityError:
            with self.engine.connect() as conn:
                raise RuleConflictError(rule_id, self._active(conn, rule_id)) from None
        return self.version(rule_id, entry.version)

    @staticmethod
    def _active(conn: Connection, rule_id: str) -> int:
        value = conn.execute(sa.select(rule.c.active_version).where(rule.c.id == rule_id)).scalar()
        return int(value or 0)
