"""`lookout backtest`: two versions of the rules over the same recorded data, and what changed.

    report = backtest(paths, rules_a, rules_b, out_dir, ingest_settings, truth=..., outcomes=...)

Each version runs the batch pipeline (`lookout.batch.process(..., rules_path=...)`) into
`out_dir/a` and `out_dir/b`; their `alerts.jsonl` are compared:

- *kept*: the same alert id in both (ids derive from type, vessels and episode start, so the
  same episode under both versions has the same id);
- *changed*: no common id, but the same type and vessels with overlapping episodes (a
  threshold moved the start, say): listed with both ids;
- *gained*: only in B; *lost*: only in A.

With a truth file, each version is scored (`lookout.evaluate`) and every gained or lost alert is
marked hit, false alarm or ignored. With officers' outcomes (JSON lines of `{"id", "outcome"}`,
or alerts as the API exports them, `status` closed with an `outcome`), each version's precision
over the reviewed alerts is reported: `false_alarm` counts against, any other outcome for;
alerts nobody reviewed (most of the gained ones) are counted as unreviewed.

Version B can also be version A with overrides: `rules_overrides(rules_a, ["loitering.min_hours
=5", "encounter.enabled=false"])` writes the edited copy (each changed rule's version bumped).
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from anomaly.health import not_running
from ingest.pipeline import IngestSettings
from ingest.records import iso_ms
from lookout.evaluate import (
    AlertView,
    EvalReport,
    EvalSettings,
    evaluate,
    load_alerts,
    matches,
)
from lookout.sim.truth import TruthRecord, read_truth

__all__ = [
    "BacktestError",
    "BacktestReport",
    "Diff",
    "backtest",
    "diff_alerts",
    "load_outcomes",
    "print_backtest",
    "rules_overrides",
]

Runner = Callable[..., dict[str, Any]]


class BacktestError(RuntimeError):
    """The backtest cannot run (the pipeline does not take rules yet, a bad override)."""


@dataclass
class Diff:
    kept: list[tuple[AlertView, AlertView]] = field(default_factory=list)
    changed: list[tuple[AlertView, AlertView]] = field(default_factory=list)
    gained: list[AlertView] = field(default_factory=list)
    lost: list[AlertView] = field(default_factory=list)

    def by_type(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for name, items in (("kept", self.kept), ("changed", self.changed)):
            for a, _ in items:
                out.setdefault(a.type, Counter())[name] += 1
        for name, alerts in (("gained", self.gained), ("lost", self.lost)):
            for a in alerts:
                out.setdefault(a.type, Counter())[name] += 1
        keys = ("kept", "changed", "gained", "lost")
        return {t: {k: c.get(k, 0) for k in keys} for t, c in sorted(out.items())}


def diff_alerts(a: Sequence[AlertView], b: Sequence[AlertView], tolerance_s: float = 0.0) -> Diff:
    """Compare two versions' alerts: kept by id, changed by type/vessels/overlap, the rest."""
    diff = Diff()
    b_by_id = {x.id: x for x in b}
    a_left: list[AlertView] = []
    used: set[str] = set()
    for x in a:
        twin = b_by_id.get(x.id)
        if twin is not None:
            diff.kept.append((x, twin))
            used.add(twin.id)
        else:
            a_left.append(x)
    b_left = [y for y in b if y.id not in used]
    tol = int(tolerance_s * 1000)
    for x in a_left:
        pseudo = TruthRecord(x.id, x.type, x.mmsis, x.start, x.end)
        partner = next((y for y in b_left if y.id not in used and matches(y, pseudo, tol)), None)
        if partner is None:
            diff.lost.append(x)
        else:
            diff.changed.append((x, partner))
            used.add(partner.id)
    diff.gained = [y for y in b_left if y.id not in used]
    return diff


def load_outcomes(path: Path) -> dict[str, str]:
    """Alert id -> officer's outcome, from JSON lines (`{"id", "outcome"}` or exported alerts)."""
    out: dict[str, str] = {}
    with path.open("rb") as stream:
        for line in stream:
            if not line.strip():
                continue
            d = orjson.loads(line)
            outcome = d.get("outcome")
            if d.get("id") and outcome:
                out[str(d["id"])] = str(outcome)
    return out


@dataclass
class Precision:
    reviewed: int
    confirmed: int
    false_alarms: int
    unreviewed: int

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None

    def to_dict(self) -> dict[str, Any]:
        p = self.precision
        return {
            "reviewed": self.reviewed,
            "confirmed": self.confirmed,
            "false_alarms": self.false_alarms,
            "unreviewed": self.unreviewed,
            "precision": None if p is None else round(p, 4),
        }


def outcome_precision(alerts: Sequence[AlertView], outcomes: dict[str, str]) -> Precision:
    reviewed = [outcomes[a.id] for a in alerts if a.id in outcomes]
    false_alarms = sum(1 for o in reviewed if o == "false_alarm")
    return Precision(
        len(reviewed), len(reviewed) - false_alarms, false_alarms, len(alerts) - len(reviewed)
    )


@dataclass
class BacktestReport:
    rules_a: str
    rules_b: str
    alerts_a: int
    alerts_b: int
    diff: Diff
    eval_a: EvalReport | None = None
    eval_b: EvalReport | None = None
    verdicts: dict[str, str] = field(default_factory=dict)  # alert id -> hit|false_alarm|ignored
    outcomes_a: Precision | None = None
    outcomes_b: Precision | None = None
    summaries: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def brief(a: AlertView) -> dict[str, Any]:
            item: dict[str, Any] = {
                "id": a.id,
                "type": a.type,
                "mmsis": list(a.mmsis),
                "start": iso_ms(a.start),
                "end": iso_ms(a.end) if a.end is not None else None,
                "detected_at": iso_ms(a.detected_at),
            }
            if a.id in self.verdicts:
                item["verdict"] = self.verdicts[a.id]
            return item

        return {
            "rules_a": self.rules_a,
            "rules_b": self.rules_b,
            "alerts_a": self.alerts_a,
            "alerts_b": self.alerts_b,
            "by_type": self.diff.by_type(),
            "gained": [brief(a) for a in self.diff.gained],
            "lost": [brief(a) for a in self.diff.lost],
            "changed": [{"a": brief(x), "b": brief(y)} for x, y in self.diff.changed],
            "kept": len(self.diff.kept),
            "truth": None
            if self.eval_a is None or self.eval_b is None
            else {"a": self.eval_a.to_dict(), "b": self.eval_b.to_dict()},
            "outcomes": None
            if self.outcomes_a is None or self.outcomes_b is None
            else {"a": self.outcomes_a.to_dict(), "b": self.outcomes_b.to_dict()},
            "runs": self.summaries,
        }


# -- rules overrides ----------------------------------------------------------------------
def _entries(document: Any) -> list[dict[str, Any]]:
    """The rule entries of a rules.yaml, whatever its shape: a list, `{rules: [...]}`, or
    a mapping of rule id to entry."""
    if isinstance(document, list):
        return [e for e in document if isinstance(e, dict)]
    if isinstance(document, dict):
        rules = document.get("rules")
        if isinstance(rules, list):
            return [e for e in rules if isinstance(e, dict)]
        if isinstance(rules, dict):
            document = rules
        out = []
        for key, value in document.items():
            if isinstance(value, dict):
                value.setdefault("id", key)
                out.append(value)
        return out
    raise BacktestError("rules file: expected a list of rules or a mapping")


def rules_overrides(rules_a: Path, overrides: Sequence[str], out: Path) -> Path:
    """Write rules A with `rule.param=value` overrides (a YAML value) to `out`; each changed
    rule's version goes up by one. `rule.enabled=false` and other top-level fields work too."""
    document = yaml.safe_load(rules_a.read_text(encoding="utf-8"))
    edited = copy.deepcopy(document)
    entries = {str(e.get("id")): e for e in _entries(edited)}
    touched: set[str] = set()
    for item in overrides:
        key, sep, raw = item.partition("=")
        rule_id, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise BacktestError(f"override {item!r}: expected rule.param=value")
        entry = entries.get(rule_id)
        if entry is None:
            raise BacktestError(f"override {item!r}: no rule {rule_id!r} in {rules_a}")
        value = yaml.safe_load(raw)
        if name in ("enabled", "tlp", "severity", "version"):
            entry[name] = value
        else:
            params = entry.setdefault("params", {})
            params[name] = value
        touched.add(rule_id)
    for rule_id in touched:
        entry = entries[rule_id]
        if not any(o.partition("=")[0].strip() == f"{rule_id}.version" for o in overrides):
            entry["version"] = int(entry.get("version") or 1) + 1
    out.write_text(yaml.safe_dump(edited, sort_keys=False), encoding="utf-8")
    return out


# -- the run ------------------------------------------------------------------------------
def _run(
    runner: Runner,
    paths: list[str],
    out: Path,
    ingest_settings: IngestSettings,
    rules: Path,
    **kwargs: Any,
) -> dict[str, Any]:
    try:
        accepts = "rules_path" in inspect.signature(runner).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        accepts = True
    if not accepts:
        raise BacktestError(
            "lookout.batch.process does not take rules_path yet: the backtest needs "
            "process(paths, out_dir, ingest_settings, ..., rules_path=Path) writing alerts.jsonl"
        )
    return runner(paths, out, ingest_settings, rules_path=rules, **kwargs)


def backtest(
    paths: Sequence[str],
    rules_a: Path,
    rules_b: Path,
    out_dir: Path,
    *,
    ingest_settings: IngestSettings | None = None,
    runner: Runner | None = None,
    truth: Path | None = None,
    outcomes: Path | None = None,
    tolerance_s: float = 1800.0,
    **process_kwargs: Any,
) -> BacktestReport:
    """Run both versions over `paths` and compare; writes `out_dir/backtest.json`.

    `runner` is `lookout.batch.process` unless given: `runner(paths, out_dir, ingest_settings,
    rules_path=..., **process_kwargs)` must write `out_dir/alerts.jsonl`."""
    if runner is None:
        from lookout.batch import process as runner_

        runner = runner_
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, Any] = {}
    alerts: dict[str, list[AlertView]] = {}
    for name, rules in (("a", rules_a), ("b", rules_b)):
        run_dir = out_dir / name
        summary = _run(
            runner,
            list(paths),
            run_dir,
            ingest_settings or IngestSettings(),
            rules,
            **process_kwargs,
        )
        summaries[name] = {
            k: summary.get(k) for k in ("alerts", "wall_seconds", "vessels", "points")
        }
        summaries[name]["not_running"] = not_running(summary.get("detectors", []))
        path = run_dir / "alerts.jsonl"
        if not path.exists():
            raise BacktestError(f"{path}: the pipeline wrote no alerts file")
        alerts[name] = load_alerts(path)
    report = compare(
        alerts["a"],
        alerts["b"],
        str(rules_a),
        str(rules_b),
        truth=truth,
        outcomes=outcomes,
        tolerance_s=tolerance_s,
    )
    report.summaries = summaries
    (out_dir / "backtest.json").write_bytes(
        orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)
    )
    return report


def compare(
    a: Sequence[AlertView],
    b: Sequence[AlertView],
    name_a: str = "a",
    name_b: str = "b",
    *,
    truth: Path | None = None,
    outcomes: Path | None = None,
    tolerance_s: float = 1800.0,
) -> BacktestReport:
    """The comparison of two alert sets (no pipeline run): what `backtest` reports."""
    report = BacktestReport(name_a, name_b, len(a), len(b), diff_alerts(a, b))
    if truth is not None:
        info, records = read_truth(truth)
        settings = EvalSettings(tolerance_s=tolerance_s)
        report.eval_a = evaluate(a, info, records, settings)
        report.eval_b = evaluate(b, info, records, settings)
        false_a = set(report.eval_a.false_alarm_ids)
        false_b = set(report.eval_b.false_alarm_ids)
        hits_a = _hit_ids(a, records, tolerance_s)
        hits_b = _hit_ids(b, records, tolerance_s)
        for alert in report.diff.gained:
            report.verdicts[alert.id] = _verdict(alert.id, hits_b, false_b)
        for alert in report.diff.lost:
            report.verdicts[alert.id] = _verdict(alert.id, hits_a, false_a)
    if outcomes is not None:
        known = load_outcomes(outcomes)
        report.outcomes_a = outcome_precision(a, known)
        report.outcomes_b = outcome_precision(b, known)
    return report


def _hit_ids(
    alerts: Sequence[AlertView], records: list[TruthRecord], tolerance_s: float
) -> set[str]:
    tol = int(tolerance_s * 1000)
    mandatory = [t for t in records if not t.optional]
    return {a.id for a in alerts if any(matches(a, t, tol) for t in mandatory)}


def _verdict(alert_id: str, hits: set[str], false_alarms: set[str]) -> str:
    if alert_id in hits:
        return "hit"
    if alert_id in false_alarms:
        return "false_alarm"
    return "ignored"


def print_backtest(report: BacktestReport, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"Backtest: {report.rules_a} (A) vs {report.rules_b} (B)")
    for column in ("type", "kept", "changed", "gained", "lost"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for kind, counts in report.diff.by_type().items():
        table.add_row(kind, *(str(counts[k]) for k in ("kept", "changed", "gained", "lost")))
    console.print(table)
    console.print(f"alerts: A {report.alerts_a}, B {report.alerts_b}")
    if report.eval_a and report.eval_b:
        scores = Table(title="Against the truth")
        for column in (
            "version",
            "macro-F1",
            "false alarms",
            "FA/1000 vh",
            "gained hits",
            "gained false alarms",
            "lost hits",
            "lost false alarms",
        ):
            scores.add_column(column)
        verdicts = Counter(
            (where, report.verdicts.get(a.id))
            for where, items in (("gained", report.diff.gained), ("lost", report.diff.lost))
            for a in items
        )
        for name, ev in (("A", report.eval_a), ("B", report.eval_b)):
            scores.add_row(
                name,
                f"{ev.macro_f1:.3f}" if ev.macro_f1 is not None else "-",
                str(ev.false_alarms),
                f"{ev.false_alarms_per_1000:.2f}" if ev.false_alarms_per_1000 is not None else "-",
                str(verdicts[("gained", "hit")]) if name == "B" else "",
                str(verdicts[("gained", "false_alarm")]) if name == "B" else "",
                str(verdicts[("lost", "hit")]) if name == "A" else "",
                str(verdicts[("lost", "false_alarm")]) if name == "A" else "",
            )
        console.print(scores)
    if report.outcomes_a and report.outcomes_b:
        for name, p in (("A", report.outcomes_a), ("B", report.outcomes_b)):
            value = f"{p.precision:.3f}" if p.precision is not None else "-"
            console.print(
                f"{name}: officers reviewed {p.reviewed} alerts, {p.false_alarms} false alarms, "
                f"precision {value}; {p.unreviewed} unreviewed"
            )
