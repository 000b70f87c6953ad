"""`lookout evaluate`: score alerts against a scenario's truth.

    report = evaluate(load_alerts(path), *read_truth(truth_path))
    report.to_dict()          # JSON-ready
    print_report(report)      # a rich table

How an alert is judged (`EvalSettings` holds the knobs):

- it *matches* a truth episode when the type is the same, the vessels agree (an alert on any
  vessel of a one-vessel episode; for an episode of several vessels, at least two of them, or
  all when the alert names fewer) and the times overlap once each side is widened by
  `tolerance_s` (an open end runs to the end of time);
- it is a *hit* when it matches a mandatory episode; *ignored* when it matches only an optional
  one, or when a truth episode on the same vessel at that time lists its type under
  `details.also` (a spoofed position is also an impossible speed; a migrant boat also raises a
  route anomaly); a *false alarm* otherwise. A false alarm on a labelled hard negative (a
  trawler fishing, a ship at anchor, a coverage hole ...) is counted under that label too;
- a truth episode is *detected* when at least one alert matches it; its *delay* is the first
  matching alert's `detected_at` minus the episode's start.

Per type: precision = hits / (hits + false alarms), recall = detected / mandatory episodes, F1.
Macro-F1 is the mean F1 over `MACRO_TYPES` (the issue's list) that have episodes or alerts.
False alarms per 1,000 vessel-hours uses the truth file's `vessel_hours`. A migrant voyage is
*alerted before arrival* when some alert on its vessel (any type) was detected before
`details.arrival`.
"""

from __future__ import annotations

import gzip
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, cast

import orjson

from ingest.records import iso_ms, parse_iso_ms
from lookout.sim.truth import HARD_NEGATIVE, MIGRANT_VOYAGE, ScenarioInfo, TruthRecord

__all__ = [
    "MACRO_TYPES",
    "AlertView",
    "EvalReport",
    "EvalSettings",
    "evaluate",
    "load_alerts",
    "print_report",
]

MACRO_TYPES: Final = (
    "ais_gap",
    "encounter",
    "loitering",
    "drifting",
    "position_jump",
    "identity_anomaly",
)
FOREVER: Final = 2**62


@dataclass(frozen=True, slots=True)
class AlertView:
    """The part of an alert the evaluation needs (any `alerts.jsonl` line will do)."""

    id: str
    type: str
    mmsis: tuple[int, ...]
    start: int
    end: int | None
    detected_at: int
    revision: int = 1
    severity: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AlertView:
        mmsis = d.get("mmsis") or ([d["mmsi"]] if d.get("mmsi") is not None else [])
        start = _ms(d["start"])
        detected = d.get("detected_at")
        return cls(
            id=str(d.get("id") or f"{d['type']}:{','.join(map(str, mmsis))}:{start}"),
            type=str(d["type"]),
            mmsis=tuple(int(m) for m in mmsis),
            start=start,
            end=_ms(d["end"]) if d.get("end") is not None else None,
            detected_at=_ms(detected) if detected is not None else start,
            revision=int(d.get("revision") or 1),
            severity=d.get("severity"),
        )


def _ms(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    return parse_iso_ms(str(value))


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def load_alerts(path: Path) -> list[AlertView]:
    """Alerts from a JSON-lines file; of several revisions of one id, the highest wins."""
    latest: dict[str, AlertView] = {}
    with _open(path) as stream:
        for line in stream:
            if not line.strip():
                continue
            d = orjson.loads(line)
            if d.get("kind", "alert") != "alert":
                continue
            alert = AlertView.from_dict(d)
            known = latest.get(alert.id)
            if known is None or alert.revision >= known.revision:
                latest[alert.id] = alert
    return sorted(latest.values(), key=lambda a: (a.start, a.type, a.id))


@dataclass(frozen=True, slots=True)
class EvalSettings:
    tolerance_s: float = 1800.0
    macro_types: tuple[str, ...] = MACRO_TYPES


@dataclass
class TypeScore:
    type: str
    episodes: int = 0  # mandatory truth episodes
    optional: int = 0
    detected: int = 0
    alerts: int = 0
    hits: int = 0
    ignored: int = 0
    false_alarms: int = 0
    delays_s: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        judged = self.hits + self.false_alarms
        return self.hits / judged if judged else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.episodes if self.episodes else None

    @property
    def f1(self) -> float | None:
        if not self.episodes and not self.false_alarms:
            return None  # nothing to find and nothing claimed: not scored
        p, r = self.precision or 0.0, self.recall or 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self, vessel_hours: float | None) -> dict[str, Any]:
        delays = sorted(self.delays_s)
        return {
            "episodes": self.episodes,
            "optional_episodes": self.optional,
            "detected": self.detected,
            "alerts": self.alerts,
            "hits": self.hits,
            "ignored": self.ignored,
            "false_alarms": self.false_alarms,
            "precision": _round(self.precision),
            "recall": _round(self.recall),
            "f1": _round(self.f1),
            "delay_s": {
                "median": round(statistics.median(delays), 1) if delays else None,
                "p90": round(delays[min(len(delays) - 1, int(0.9 * len(delays)))], 1)
                if delays
                else None,
                "max": round(delays[-1], 1) if delays else None,
            },
            "false_alarms_per_1000_vessel_hours": _round(
                self.false_alarms / vessel_hours * 1000 if vessel_hours else None
            ),
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Voyage:
    truth_id: str
    mmsi: int
    arrival: int | None
    first_alert: AlertView | None
    first_risk_alert: AlertView | None
    stage: str | None

    @property
    def alerted_before_arrival(self) -> bool:
        return self.first_alert is not None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_alert
        return {
            "truth": self.truth_id,
            "mmsi": self.mmsi,
            "stage": self.stage,
            "arrival": iso_ms(self.arrival) if self.arrival is not None else None,
            "alerted_before_arrival": self.alerted_before_arrival,
            "first_alert": first.id if first else None,
            "first_alert_type": first.type if first else None,
            "first_detected_at": iso_ms(first.detected_at) if first else None,
            "lead_h": round((self.arrival - first.detected_at) / 3_600_000, 2)
            if first and self.arrival is not None
            else None,
            "migrant_risk_before_arrival": self.first_risk_alert is not None,
        }


@dataclass
class EvalReport:
    types: dict[str, TypeScore]
    macro_types: tuple[str, ...]
    vessel_hours: float | None
    alerts: int
    truth: int
    false_alarm_ids: list[str]
    missed_ids: list[str]
    hard_negatives: dict[str, dict[str, Any]]
    voyages: list[Voyage]
    info: ScenarioInfo | None = None

    @property
    def macro_f1(self) -> float | None:
        scores = [self.types[t].f1 for t in self.macro_types if t in self.types]
        values = [s for s in scores if s is not None]
        return sum(values) / len(values) if values else None

    @property
    def false_alarms(self) -> int:
        return sum(score.false_alarms for score in self.types.values())

    @property
    def false_alarms_per_1000(self) -> float | None:
        if not self.vessel_hours:
            return None
        return self.false_alarms / self.vessel_hours * 1000

    def to_dict(self) -> dict[str, Any]:
        voyages_ok = all(v.alerted_before_arrival for v in self.voyages)
        return {
            "scenario": self.info.to_dict() if self.info else None,
            "alerts": self.alerts,
            "truth_episodes": self.truth,
            "vessel_hours": _round(self.vessel_hours, 2),
            "macro_types": list(self.macro_types),
            "macro_f1": _round(self.macro_f1),
            "false_alarms": self.false_alarms,
            "false_alarms_per_1000_vessel_hours": _round(self.false_alarms_per_1000),
            "types": {t: s.to_dict(self.vessel_hours) for t, s in sorted(self.types.items())},
            "hard_negatives": self.hard_negatives,
            "migrant_voyages": {
                "total": len(self.voyages),
                "alerted_before_arrival": sum(v.alerted_before_arrival for v in self.voyages),
                "all_alerted_before_arrival": voyages_ok,
                "voyages": [v.to_dict() for v in self.voyages],
            },
            "acceptance": {
                "macro_f1_at_least_0.9": (self.macro_f1 or 0.0) >= 0.9,
                "at_most_1_false_alarm_per_1000_vessel_hours": (
                    self.false_alarms_per_1000 is not None and self.false_alarms_per_1000 <= 1.0
                ),
                "every_migrant_voyage_alerted_before_arrival": voyages_ok,
            },
            "false_alarm_ids": self.false_alarm_ids,
            "missed": self.missed_ids,
        }


def _overlaps(a: AlertView, t: TruthRecord, tol_ms: int) -> bool:
    a_end = a.end if a.end is not None else FOREVER
    t_end = t.end if t.end is not None else FOREVER
    return a.start - tol_ms <= t_end and t.start <= a_end + tol_ms


def _same_vessels(a: AlertView, t: TruthRecord) -> bool:
    common = len(set(a.mmsis) & set(t.mmsis))
    return common >= min(len(t.mmsis), len(a.mmsis), 2) and common > 0


def matches(a: AlertView, t: TruthRecord, tol_ms: int) -> bool:
    return a.type == t.type and _same_vessels(a, t) and _overlaps(a, t, tol_ms)


def evaluate(
    alerts: Sequence[AlertView],
    info: ScenarioInfo | None,
    truth: Iterable[TruthRecord],
    settings: EvalSettings | None = None,
    vessel_hours: float | None = None,
) -> EvalReport:
    s = settings or EvalSettings()
    tol = int(s.tolerance_s * 1000)
    records = list(truth)
    episodes = [t for t in records if t.type not in (HARD_NEGATIVE, MIGRANT_VOYAGE)]
    negatives = [t for t in records if t.type == HARD_NEGATIVE]
    by_vessel: dict[int, list[TruthRecord]] = defaultdict(list)
    for t in records:
        if t.type == HARD_NEGATIVE:
            continue
        for mmsi in t.mmsis:
            by_vessel[mmsi].append(t)
    neg_by_vessel: dict[int, list[TruthRecord]] = defaultdict(list)
    for t in negatives:
        for mmsi in t.mmsis:
            neg_by_vessel[mmsi].append(t)

    types: dict[str, TypeScore] = {}

    def score(kind: str) -> TypeScore:
        if kind not in types:
            types[kind] = TypeScore(kind)
        return types[kind]

    for t in episodes:
        if t.optional:
            score(t.type).optional += 1
        else:
            score(t.type).episodes += 1
    for kind in s.macro_types:
        score(kind)

    first_match: dict[int, AlertView] = {}  # by id() of the truth record
    false_alarm_ids: list[str] = []
    neg_counts: dict[str, dict[str, Any]] = {}
    for t in negatives:
        entry = neg_counts.setdefault(
            t.label or "?", {"episodes": 0, "false_alarms": 0, "by_type": {}}
        )
        entry["episodes"] += 1

    for a in alerts:
        sc = score(a.type)
        sc.alerts += 1
        candidates = {id(t): t for m in a.mmsis for t in by_vessel.get(m, ())}.values()
        hit = [t for t in candidates if not t.optional and matches(a, t, tol)]
        if hit:
            sc.hits += 1
            for t in hit:
                known = first_match.get(id(t))
                if known is None or a.detected_at < known.detected_at:
                    first_match[id(t)] = a
            continue
        soft = [
            t
            for t in candidates
            if (t.optional and matches(a, t, tol))
            or (
                a.type in (t.details.get("also") or ())
                and _same_vessels(a, t)
                and _overlaps(a, t, tol)
            )
        ]
        if soft:
            sc.ignored += 1
            continue
        sc.false_alarms += 1
        false_alarm_ids.append(a.id)
        labels = {
            t.label or "?"
            for m in a.mmsis
            for t in neg_by_vessel.get(m, ())
            if a.type in t.not_types and _overlaps(a, t, tol)
        }
        for label in labels:
            entry = neg_counts[label]
            entry["false_alarms"] += 1
            entry["by_type"][a.type] = entry["by_type"].get(a.type, 0) + 1

    missed: list[str] = []
    for number, t in enumerate(episodes):
        if t.optional:
            continue
        found = first_match.get(id(t))
        if found is None:
            missed.append(t.id or f"#{number}")
            continue
        sc = score(t.type)
        sc.detected += 1
        sc.delays_s.append(max(0.0, (found.detected_at - t.start) / 1000))

    voyages: list[Voyage] = []
    alerts_by_vessel: dict[int, list[AlertView]] = defaultdict(list)
    for a in alerts:
        for m in a.mmsis:
            alerts_by_vessel[m].append(a)
    for t in records:
        if t.type != MIGRANT_VOYAGE:
            continue
        arrival = t.arrival if t.arrival is not None else t.end
        before = [
            a
            for a in alerts_by_vessel.get(t.mmsi, ())
            if arrival is None or a.detected_at < arrival
        ]
        before.sort(key=lambda a: a.detected_at)
        risk = [a for a in before if a.type == "migrant_risk"]
        voyages.append(
            Voyage(
                t.id,
                t.mmsi,
                arrival,
                before[0] if before else None,
                risk[0] if risk else None,
                t.details.get("stage"),
            )
        )

    hours = vessel_hours if vessel_hours is not None else (info.vessel_hours if info else None)
    return EvalReport(
        types=types,
        macro_types=tuple(s.macro_types),
        vessel_hours=hours,
        alerts=len(alerts),
        truth=len(episodes),
        false_alarm_ids=false_alarm_ids,
        missed_ids=missed,
        hard_negatives=dict(sorted(neg_counts.items())),
        voyages=voyages,
        info=info,
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _is_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


def print_report(report: EvalReport, console: Any = None) -> None:
    """The report as rich tables (per type, hard negatives, migrant voyages)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if _is_terminal() else 160)
    table = Table(title="Detection against truth")
    for column in (
        "type",
        "episodes",
        "detected",
        "alerts",
        "hits",
        "false alarms",
        "precision",
        "recall",
        "F1",
        "delay median",
        "FA/1000 vh",
    ):
        table.add_column(column, justify="left" if column == "type" else "right")
    for kind, sc in sorted(report.types.items()):
        if not sc.alerts and not sc.episodes and kind not in report.macro_types:
            continue
        delays = sorted(sc.delays_s)
        fa_rate = sc.false_alarms / report.vessel_hours * 1000 if report.vessel_hours else None
        table.add_row(
            kind + (" *" if kind in report.macro_types else ""),
            str(sc.episodes),
            str(sc.detected),
            str(sc.alerts),
            str(sc.hits),
            str(sc.false_alarms),
            _fmt(sc.precision),
            _fmt(sc.recall),
            _fmt(sc.f1),
            f"{statistics.median(delays) / 60:.0f} min" if delays else "-",
            _fmt(fa_rate),
        )
    console.print(table)
    console.print(
        f"macro-F1 (*): {_fmt(report.macro_f1, 3)}   false alarms: {report.false_alarms} "
        f"({_fmt(report.false_alarms_per_1000)} per 1,000 vessel-hours over "
        f"{_fmt(report.vessel_hours, 0)} vessel-hours)"
    )
    if report.hard_negatives:
        neg = Table(title="Hard negatives")
        for column in ("label", "episodes", "false alarms", "by type"):
            neg.add_column(column)
        for label, entry in report.hard_negatives.items():
            by_type = ", ".join(f"{k} {v}" for k, v in sorted(entry["by_type"].items()))
            neg.add_row(label, str(entry["episodes"]), str(entry["false_alarms"]), by_type)
        console.print(neg)
    if report.voyages:
        voy = Table(title="Migrant voyages: alerted before reaching the destination coast?")
        for column in ("truth", "mmsi", "stage", "arrival", "first alert", "lead", "risk"):
            voy.add_column(column)
        for v in report.voyages:
            d = v.to_dict()
            voy.add_row(
                v.truth_id,
                str(v.mmsi),
                str(v.stage or "-"),
                str(d["arrival"] or "-"),
                str(d["first_alert_type"] or "NONE"),
                f"{d['lead_h']} h" if d["lead_h"] is not None else "-",
                "yes" if v.first_risk_alert else "no",
            )
        console.print(voy)
