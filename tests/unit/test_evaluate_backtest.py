"""`lookout backtest`: the diff of two rule versions' alerts, rule overrides, and a run with a
stand-in pipeline (the real one is exercised end to end elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from ingest.pipeline import IngestSettings
from ingest.records import iso_ms
from lookout.backtest import (
    BacktestError,
    backtest,
    compare,
    diff_alerts,
    print_backtest,
    rules_overrides,
)
from lookout.evaluate import AlertView
from lookout.sim.truth import ScenarioInfo, TruthRecord, write_truth

T0 = 1_714_521_600_000
H = 3_600_000


def view(
    id_: str, type_: str, mmsis: tuple[int, ...], start: float, end: float | None
) -> AlertView:
    return AlertView(
        id_,
        type_,
        mmsis,
        T0 + int(start * H),
        None if end is None else T0 + int(end * H),
        T0 + int(start * H) + H,
    )


def as_line(a: AlertView, **extra: Any) -> bytes:
    return (
        orjson.dumps(
            {
                "kind": "alert",
                "id": a.id,
                "type": a.type,
                "mmsi": a.mmsis[0],
                "mmsis": list(a.mmsis),
                "start": iso_ms(a.start),
                "end": iso_ms(a.end) if a.end else None,
                "detected_at": iso_ms(a.detected_at),
                "revision": 1,
                **extra,
            }
        )
        + b"\n"
    )


A = [
    view("same", "ais_gap", (1,), 0, 3),
    view("loit-a", "loitering", (5,), 3, 6),
    view("gap-only-a", "ais_gap", (2,), 10, 12),
]
B = [
    view("same", "ais_gap", (1,), 0, 3),
    view("loit-b", "loitering", (5,), 3.5, 7),  # the same episode, starting later under B
    view("enc-b", "encounter", (3, 4), 2, 5),
]


def test_diff_kept_changed_gained_lost() -> None:
    diff = diff_alerts(A, B)
    assert [(a.id, b.id) for a, b in diff.kept] == [("same", "same")]
    assert [(a.id, b.id) for a, b in diff.changed] == [("loit-a", "loit-b")]
    assert [a.id for a in diff.gained] == ["enc-b"]
    assert [a.id for a in diff.lost] == ["gap-only-a"]
    assert diff.by_type() == {
        "ais_gap": {"kept": 1, "changed": 0, "gained": 0, "lost": 1},
        "encounter": {"kept": 0, "changed": 0, "gained": 1, "lost": 0},
        "loitering": {"kept": 0, "changed": 1, "gained": 0, "lost": 0},
    }


def test_compare_with_truth_and_outcomes(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    write_truth(
        truth,
        ScenarioInfo("t", 1, T0, T0 + 24 * H, 10, 100.0),
        [
            TruthRecord("T1", "encounter", (3, 4), T0 + 2 * H, T0 + 5 * H),
            TruthRecord("T2", "ais_gap", (1,), T0, T0 + 3 * H),
        ],
    )
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_bytes(
        orjson.dumps({"id": "same", "outcome": "interdicted"})
        + b"\n"
        + orjson.dumps({"id": "gap-only-a", "outcome": "false_alarm"})
        + b"\n"
    )
    report = compare(A, B, "a.yaml", "b.yaml", truth=truth, outcomes=outcomes)
    assert report.verdicts == {"enc-b": "hit", "gap-only-a": "false_alarm"}
    assert report.outcomes_a is not None and report.outcomes_b is not None
    assert report.outcomes_a.to_dict() == {
        "reviewed": 2,
        "confirmed": 1,
        "false_alarms": 1,
        "unreviewed": 1,
        "precision": 0.5,
    }
    assert report.outcomes_b.to_dict()["precision"] == 1.0
    assert report.outcomes_b.unreviewed == 2
    d = report.to_dict()
    assert d["gained"][0]["verdict"] == "hit" and d["lost"][0]["verdict"] == "false_alarm"
    assert d["truth"]["b"]["types"]["encounter"]["recall"] == 1.0
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    print_backtest(report, Console(file=buffer, width=200))
    assert "loitering" in buffer.getvalue()


RULES = {
    "version": 1,
    "rules": [
        {"id": "loitering", "version": 3, "enabled": True, "params": {"min_duration_h": 4.0}},
        {"id": "encounter", "version": 1, "enabled": True, "params": {"max_distance_m": 500}},
    ],
}


def test_rules_overrides(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(RULES), encoding="utf-8")
    b = rules_overrides(
        a, ["loitering.min_duration_h=5", "encounter.enabled=false"], tmp_path / "b.yaml"
    )
    edited = yaml.safe_load(b.read_text(encoding="utf-8"))
    loitering, encounter = edited["rules"]
    assert loitering["params"]["min_duration_h"] == 5 and loitering["version"] == 4
    assert encounter["enabled"] is False and encounter["version"] == 2
    assert encounter["params"] == {"max_distance_m": 500}
    assert yaml.safe_load(a.read_text(encoding="utf-8")) == RULES  # A is untouched
    with pytest.raises(BacktestError):
        rules_overrides(a, ["nosuch.x=1"], tmp_path / "c.yaml")
    with pytest.raises(BacktestError):
        rules_overrides(a, ["loitering=1"], tmp_path / "c.yaml")


def test_backtest_runs_each_version(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("version: 1\nrules: []\n# A\n", encoding="utf-8")
    b.write_text("version: 1\nrules: []\n# B\n", encoding="utf-8")
    calls: list[tuple[list[str], Path]] = []

    def runner(
        paths: list[str], out_dir: Path, ingest_settings: IngestSettings, *, rules_path: Path
    ) -> dict[str, Any]:
        calls.append((paths, rules_path))
        out_dir.mkdir(parents=True, exist_ok=True)
        is_a = "# A" in rules_path.read_text(encoding="utf-8")
        (out_dir / "alerts.jsonl").write_bytes(b"".join(as_line(x) for x in (A if is_a else B)))
        return {"alerts": {}, "wall_seconds": 0.1, "detectors": RUNNING_A if is_a else SILENT_B}

    report = backtest(["day.nmea"], a, b, tmp_path / "out", runner=runner)
    assert [rules for _, rules in calls] == [a, b]
    assert len(report.diff.gained) == 1 and len(report.diff.lost) == 1
    saved = orjson.loads((tmp_path / "out" / "backtest.json").read_bytes())
    assert saved["by_type"]["encounter"]["gained"] == 1
    assert saved["runs"]["a"]["wall_seconds"] == 0.1
    # B's risk model was missing: the report says so beside the alerts it did not raise
    assert saved["runs"]["a"]["not_running"] == []
    assert saved["runs"]["b"]["not_running"] == [SILENT_B[0]]


def health(rule: str, state: str, reason: str = "") -> dict[str, Any]:
    return {"rule": {"id": rule, "version": 1}, "state": state, "reason": reason,
            "model_version": None}  # fmt: skip


RUNNING_A = [health("migrant_risk", "running"), health("loitering", "disabled")]
SILENT_B = [health("migrant_risk", "silent", "no model file at b.joblib"), RUNNING_A[1]]


def test_backtest_needs_a_pipeline_that_takes_rules(tmp_path: Path) -> None:
    def old_runner(
        paths: list[str], out_dir: Path, ingest_settings: IngestSettings
    ) -> dict[str, Any]:
        return {}

    with pytest.raises(BacktestError, match="rules_path"):
        backtest(["x"], tmp_path / "a", tmp_path / "b", tmp_path / "out", runner=old_runner)
