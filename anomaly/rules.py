"""`config/rules.yaml`: the detection rules analysts edit, validated and versioned.

    rules = load_rules()                  # the bundled file, or load_rules(path or folder)
    detectors = build_detectors(rules)    # anomaly.registry
    text = dump_rules(rules)              # the same YAML back: what an analyst edits round-trips
    newer = rules.revise(edited)          # versions bumped where an entry changed

The file holds a ruleset `version` and one entry per alert type:
`{id, version, enabled, tlp, severity?, description, source, params}`. `id` is an alert type
(DESIGN.md); `params` are the detector's parameters, checked against the detector's own schema
(`anomaly.registry.check_params`: a misspelt name or a negative duration is refused with the
rule and the field named) but kept as written, so `dump_rules(load_rules(f)) == f`'s text for a
file in the canonical layout (the one `dump_rules` writes; the bundled file is). `description`
and `source` say what the rule means and where its defaults come from, in the file itself, so the
documentation survives an edit through the API (YAML comments would not).

Versioning: each entry has a `version`, the ruleset one too. An alert names the `{id, version}`
of the rule that raised it, so a backtest can compare versions. `RuleSet.revise(edited)` gives
the edited ruleset with the version of every changed entry (and the ruleset's) one higher than
before, and refuses an edit that lowers a version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from anomaly.detectors.base import RuleConfig
from anomaly.records import AlertType, Severity, Tlp

__all__ = [
    "RULES_FILE",
    "RuleEntry",
    "RuleSet",
    "RulesError",
    "dump_rules",
    "load_rules",
    "parse_rules",
]

RULES_FILE: Final = "rules.yaml"

HEADER: Final = """\
# Lookout detection rules: one entry per alert type (DESIGN.md, Alert).
#
# Analysts edit `enabled`, `tlp`, `severity` (optional: overrides the detector's own) and
# `params`. Units are in the parameter names: _h hours, _min minutes, _s seconds, _kn knots,
# _nm nautical miles, _km kilometres, _m metres, _deg degrees. Raise `version` when you change
# an entry (PUT /v1/rules does it for you); alerts carry the version of the rule that raised them.
# Keep notes in `description`: comments like these are not kept when the rules are saved.
"""


class RulesError(ValueError):
    """A rules file that cannot be read or does not validate."""


class RuleEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    version: Annotated[int, Field(ge=1)]
    enabled: bool = True
    tlp: Tlp = Tlp.AMBER
    severity: Severity | None = None
    description: str = ""
    source: str = ""
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in {t.value for t in AlertType}:
            raise ValueError(f"{value!r} is not an alert type ({', '.join(AlertType)})")
        return value

    @model_validator(mode="after")
    def _params_fit(self) -> RuleEntry:
        from anomaly.registry import check_params

        check_params(self.id, self.params)
        return self

    def config(self) -> RuleConfig:
        return RuleConfig(
            id=self.id,
            version=self.version,
            params=dict(self.params),
            enabled=self.enabled,
            tlp=self.tlp,
            severity=self.severity,
        )

    def to_yaml_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "version": self.version,
            "enabled": self.enabled,
            "tlp": self.tlp.value,
        }
        if self.severity is not None:
            out["severity"] = self.severity.value
        out["description"] = self.description
        out["source"] = self.source
        out["params"] = self.params
        return out

    def same_rule(self, other: RuleEntry) -> bool:
        """Equal apart from the version."""
        return self.model_dump(exclude={"version"}) == other.model_dump(exclude={"version"})


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Annotated[int, Field(ge=1)] = 1
    rules: tuple[RuleEntry, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: tuple[RuleEntry, ...]) -> tuple[RuleEntry, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule {rule.id!r} appears twice")
            seen.add(rule.id)
        return rules

    def __iter__(self) -> Iterator[RuleEntry]:  # type: ignore[override]
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> RuleEntry | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def configs(self) -> list[RuleConfig]:
        """Every entry as the `RuleConfig` detectors take (disabled ones too, marked so)."""
        return [rule.config() for rule in self.rules]

    def revise(self, edited: RuleSet) -> RuleSet:
        """`edited` with the version of every entry that changed one above this set's.

        An entry the edit left alone keeps its version; a new entry keeps the version given; an
        entry whose version went down is refused (it would make older alerts ambiguous)."""
        mine = {rule.id: rule for rule in self.rules}
        revised: list[RuleEntry] = []
        changed = len(edited.rules) != len(self.rules)
        for rule in edited.rules:
            old = mine.get(rule.id)
            if old is None:
                revised.append(rule)
                changed = True
                continue
            if rule.version < old.version:
                raise RulesError(
                    f"rule {rule.id}: version {rule.version} is older than {old.version}"
                )
            if rule.same_rule(old):
                revised.append(rule.model_copy(update={"version": max(rule.version, old.version)}))
            else:
                changed = True
                version = max(rule.version, old.version + 1)
                revised.append(rule.model_copy(update={"version": version}))
        version = max(edited.version, self.version + 1) if changed else self.version
        return RuleSet(version=version, rules=tuple(revised))

    def to_yaml_dict(self) -> dict[str, Any]:
        return {"version": self.version, "rules": [rule.to_yaml_dict() for rule in self.rules]}


def parse_rules(text: str, origin: str = "rules") -> RuleSet:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{origin}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{origin}: expected a mapping with `version` and `rules`")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise RulesError(f"{origin}: {problems}") from None


def load_rules(path: Path | str | None = None) -> RuleSet:
    """The rules of a file, of a config folder's `rules.yaml`, or the bundled ones."""
    if path is None:
        from config import default_config_dir

        path = default_config_dir()
    path = Path(path)
    if path.is_dir():
        path = path / RULES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: {exc.strerror or exc}") from None
    return parse_rules(text, str(path))


def dump_rules(rules: RuleSet) -> str:
    """The canonical YAML of a ruleset (what `load_rules` reads back unchanged)."""
    body = yaml.safe_dump(
        rules.to_yaml_dict(),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=96,
        indent=2,
    )
    return HEADER + body
