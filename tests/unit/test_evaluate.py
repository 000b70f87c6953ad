"""`lookout evaluate` on hand-made alert and truth files, with the expected numbers worked out
by hand below (times are hours after 2024-05-01T00:00Z).

Truth
T1 ais_gap        1      0-3
T2 ais_gap        2      5-8
T3 encounter      3,4    2-5
T4 loitering      5      1-6, optional
T5 drifting       6      10-12, also: loitering
T6 migrant        7      0-, arrival 20, also: migrant_risk
T7 hard negative  8      trawling, not: loitering
T8 position_jump  9      4-4:30

Alerts
A1 ais_gap        1      0:10-3:05, detected 2:10 (two revisions)
A2 ais_gap        1      12-13,     detected 14    -> false alarm
A3 encounter      3,4    2:30-,     detected 4:30
A4 encounter      3,99   2:30-4,    detected 4     -> false alarm
A5 loitering      5      1:30-5,    detected 5:30  -> ignored (optional)
A6 loitering      6      10:30-12,  detected 11    -> ignored (also)
A7 loitering      8      5-10,      detected 9     -> false alarm, on trawling
A8 migrant_risk   7      9-,        detected 10    -> ignored (also)
A9 drifting       6      10:20-12,  detected 11

ais_gap   2 episodes, 1 detected, 2 alerts: 1 hit, 1 false alarm  P .5  R .5  F1 .5   delay 2:10
encounter 1 episode, detected, 2 alerts: 1 hit, 1 false alarm     P .5  R 1   F1 2/3  delay 2:30
loitering 0 mandatory episodes, 3 alerts: 2 ignored, 1 false       P 0   R -   F1 0
drifting  1 episode, detected, 1 hit                               P 1   R 1   F1 1    delay 1:00
position_jump 1 episode, missed, no alert                          P -   R 0   F1 0
identity_anomaly: nothing either way                               not scored
macro-F1 = (0.5 + 2/3 + 0 + 1 + 0) / 5 = 0.43333; 3 false alarms over 1,000 vessel-hours = 3.0
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.records import iso_ms
from lookout.evaluate import EvalSettings, evaluate, load_alerts, print_report
from lookout.sim.truth import ScenarioInfo, TruthRecord, read_truth, write_truth

T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z
H = 3_600_000


def at(hours: float) -> str:
    return iso_ms(T0 + round(hours * H))


def alert(
    id_: str,
    type_: str,
    mmsis: list[int],
    start: float,
    end: float | None,
    detected: float,
    revision: int = 1,
) -> dict[str, Any]:
    return {
        "v": 1,
        "kind": "alert",
        "id": id_,
        "revision": revision,
        "type": type_,
        "severity": "medium",
        "score": 0.5,
        "mmsi": mmsis[0],
        "mmsis": mmsis,
        "start": at(start),
        "end": None if end is None else at(end),
        "detected_at": at(detected),
    }


def truth(
    id_: str,
    type_: str,
    mmsis: list[int],
    start: float,
    end: float | None,
    *,
    optional: bool = False,
    **details: Any,
) -> TruthRecord:
    return TruthRecord(
        id_,
        type_,
        tuple(mmsis),
        T0 + round(start * H),
        None if end is None else T0 + round(end * H),
        optional=optional,
        details=details,
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    records = [
        truth("T1", "ais_gap", [1], 0, 3),
        truth("T2", "ais_gap", [2], 5, 8),
        truth("T3", "encounter", [3, 4], 2, 5),
        truth("T4", "loitering", [5], 1, 6, optional=True),
        truth("T5", "drifting", [6], 10, 12, also=["loitering"]),
        truth("T6", "migrant_voyage", [7], 0, None, arrival=at(20), also=["migrant_risk"]),
        truth("T7", "hard_negative", [8], 0, 24, label="trawling", **{"not": ["loitering"]}),
        truth("T8", "position_jump", [9], 4, 4.5),
    ]
    info = ScenarioInfo("test", 1, T0, T0 + 24 * H, vessels=42, vessel_hours=1000.0)
    truth_path = tmp_path / "truth.jsonl"
    write_truth(truth_path, info, records, [{"mmsi": 1, "role": "merchant"}])
    alerts = [
        alert("A1", "ais_gap", [1], 0 + 10 / 60, 3 + 5 / 60, 2 + 10 / 60, revision=1),
        alert("A1", "ais_gap", [1], 0 + 10 / 60, None, 2 + 10 / 60, revision=2),
        alert("A2", "ais_gap", [1], 12, 13, 14),
        alert("A3", "encounter", [3, 4], 2.5, None, 4.5),
        alert("A4", "encounter", [3, 99], 2.5, 4, 4),
        alert("A5", "loitering", [5], 1.5, 5, 5.5),
        alert("A6", "loitering", [6], 10.5, 12, 11),
        alert("A7", "loitering", [8], 5, 10, 9),
        alert("A8", "migrant_risk", [7], 9, None, 10),
        alert("A9", "drifting", [6], 10 + 20 / 60, 12, 11),
    ]
    alerts_path = tmp_path / "alerts.jsonl.gz"
    with gzip.open(alerts_path, "wb") as out:
        for a in alerts:
            out.write(orjson.dumps(a) + b"\n")
    return alerts_path, truth_path


def test_scores_by_hand(files: tuple[Path, Path]) -> None:
    alerts_path, truth_path = files
    alerts = load_alerts(alerts_path)
    assert len(alerts) == 9  # A1's two revisions are one alert: the later one
    assert next(a for a in alerts if a.id == "A1").end is None
    info, records = read_truth(truth_path)
    report = evaluate(alerts, info, records, EvalSettings(tolerance_s=1800))
    d = report.to_dict()
    gap, enc, loi, dri, jump = (
        d["types"][t] for t in ("ais_gap", "encounter", "loitering", "drifting", "position_jump")
    )
    assert (gap["episodes"], gap["detected"], gap["alerts"], gap["hits"], gap["false_alarms"]) == (
        2,
        1,
        2,
        1,
        1,
    )
    assert (gap["precision"], gap["recall"], gap["f1"]) == (0.5, 0.5, 0.5)
    assert gap["delay_s"]["median"] == 7800.0
    assert (enc["precision"], enc["recall"], enc["f1"]) == (0.5, 1.0, 0.6667)
    assert enc["delay_s"]["median"] == 9000.0
    assert (loi["episodes"], loi["optional_episodes"], loi["ignored"], loi["false_alarms"]) == (
        0,
        1,
        2,
        1,
    )
    assert (loi["precision"], loi["recall"], loi["f1"]) == (0.0, None, 0.0)
    assert (dri["f1"], dri["delay_s"]["median"]) == (1.0, 3600.0)
    assert (jump["detected"], jump["precision"], jump["recall"], jump["f1"]) == (0, None, 0.0, 0.0)
    assert d["types"]["identity_anomaly"]["f1"] is None
    assert d["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0 + 1 + 0) / 5, abs=1e-4)
    assert d["false_alarms"] == 3
    assert d["false_alarms_per_1000_vessel_hours"] == 3.0
    assert sorted(d["false_alarm_ids"]) == ["A2", "A4", "A7"]
    assert sorted(d["missed"]) == ["T2", "T8"]
    assert d["hard_negatives"]["trawling"] == {
        "episodes": 1,
        "false_alarms": 1,
        "by_type": {"loitering": 1},
    }
    assert d["types"]["migrant_risk"]["ignored"] == 1
    voyages = d["migrant_voyages"]
    assert voyages["total"] == 1 and voyages["all_alerted_before_arrival"]
    assert voyages["voyages"][0]["lead_h"] == 10.0
    assert voyages["voyages"][0]["first_alert_type"] == "migrant_risk"
    assert d["acceptance"] == {
        "macro_f1_at_least_0.9": False,
        "at_most_1_false_alarm_per_1000_vessel_hours": False,
        "every_migrant_voyage_alerted_before_arrival": True,
    }


def test_tolerance_and_late_alerts(files: tuple[Path, Path]) -> None:
    alerts_path, truth_path = files
    info, records = read_truth(truth_path)
    alerts = load_alerts(alerts_path)
    # without tolerance A1 (0:10 ..) still overlaps T1 (0-3); nothing changes but the margins
    strict = evaluate(alerts, info, records, EvalSettings(tolerance_s=0)).to_dict()
    assert strict["types"]["ais_gap"]["hits"] == 1
    # a migrant alert after arrival does not count
    late = [a for a in alerts if a.type != "migrant_risk"]
    report = evaluate(late, info, records).to_dict()
    assert not report["migrant_voyages"]["all_alerted_before_arrival"]
    assert report["migrant_voyages"]["voyages"][0]["first_alert"] is None


def test_vessel_hours_override_and_report_prints(files: tuple[Path, Path]) -> None:
    from io import StringIO

    from rich.console import Console

    alerts_path, truth_path = files
    _info, records = read_truth(truth_path)
    report = evaluate(load_alerts(alerts_path), None, records, vessel_hours=500.0)
    assert report.to_dict()["false_alarms_per_1000_vessel_hours"] == 6.0
    buffer = StringIO()
    print_report(report, Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "ais_gap" in text and "trawling" in text and "migrant_risk" in text
