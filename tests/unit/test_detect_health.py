"""Detector health: each stage says, per rule, whether its detector runs, is silent (and why),
is disabled or is missing; the report reaches summary.json, the database and /v1/detectors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

import anomaly.registry
from anomaly.health import (
    DISABLED,
    RUNNING,
    SILENT,
    UNAVAILABLE,
    DetectorHealth,
    MemoryHealthBoard,
    detector_health,
)
from anomaly.models.risk import DEFAULT_MODEL as RISK_MODEL
from anomaly.models.route import load_model
from anomaly.rules import RuleSet, dump_rules, load_rules
from anomaly.sql_store import SqlHealthBoard
from anomaly.stage import DetectStage
from anomaly.store import MemoryDetectStore
from api.sharing import Role
from ingest.pipeline import IngestSettings
from lookout.batch import process
from lookout.db import make_engine, migrate
from lookout.simulate import simulate
from tests.api_fixtures import ApiServer
from tests.unit.test_detect_stage import published, scenario, settings

MISSING_MODEL = "/nonexistent/lookout/risk.joblib"


def edited(**params: dict[str, Any]) -> RuleSet:
    """The bundled rules with some rules' params replaced; `enabled` in them switches a rule."""
    rules = []
    for rule in load_rules():
        change = params.get(rule.id)
        if change is not None:
            enabled = change.get("enabled", rule.enabled)
            new = {k: v for k, v in change.items() if k != "enabled"}
            rule = rule.model_copy(update={"enabled": enabled, "params": {**rule.params, **new}})
        rules.append(rule)
    return RuleSet(version=1, rules=tuple(rules))


def by_rule(health: list[DetectorHealth]) -> dict[str, DetectorHealth]:
    return {h.rule_id: h for h in health}


def test_each_rule_is_reported_running_silent_or_disabled() -> None:
    rules = edited(
        route_anomaly={"model": ""},
        migrant_risk={"model": MISSING_MODEL},
        loitering={"enabled": False},
    )
    board = MemoryHealthBoard()
    stage = DetectStage(
        published([]), MemoryDetectStore(), rules, settings=settings(keyed_by=None),
        health_board=board,
    )  # fmt: skip

    reports = board.read()  # reported at start, before any point
    assert {r.group for r in reports} == {"detect"}
    health = by_rule([r.health for r in reports])
    assert set(health) == {rule.id for rule in rules}
    assert health["loitering"].state == DISABLED
    assert health["route_anomaly"].state == SILENT
    assert "no model configured" in health["route_anomaly"].reason
    assert health["migrant_risk"].state == SILENT
    assert MISSING_MODEL in health["migrant_risk"].reason
    assert health["ais_gap"] == DetectorHealth("ais_gap", rules.get("ais_gap").version, RUNNING)  # type: ignore[union-attr]
    assert health["encounter"].state == RUNNING
    assert by_rule(stage.health) == health
    stage.close()


def test_a_running_model_detector_names_its_model_version() -> None:
    health = by_rule(
        DetectStage(published([]), MemoryDetectStore(), load_rules(), settings=settings()).health
    )
    assert health["migrant_risk"].state == RUNNING
    assert health["migrant_risk"].model_version == load_model(RISK_MODEL, "migrant_risk").version
    assert health["migrant_risk"].reason == ""


def test_a_rule_without_a_detector_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(anomaly.registry.DETECTORS, "drifting", "anomaly.detectors.absent:Gone")
    monkeypatch.setattr(anomaly.registry, "_loaded", {})
    stage = DetectStage(published([]), MemoryDetectStore(), load_rules(), settings=settings())
    health = by_rule(stage.health)
    assert health["drifting"].state == UNAVAILABLE
    assert "no detector" in health["drifting"].reason
    assert health["ais_gap"].state == RUNNING


def test_each_stage_reports_the_rules_it_runs() -> None:
    configs = load_rules().configs()
    per_vessel = {h.rule_id for h in detector_health(configs, [], "mmsi")}
    cross_vessel = {h.rule_id for h in detector_health(configs, [], "cell")}
    assert cross_vessel == {"encounter"}
    assert per_vessel == {c.id for c in configs} - {"encounter"}
    assert {h.rule_id for h in detector_health(configs, [], None)} == {c.id for c in configs}


def test_the_report_carries_the_newest_event_time_as_the_stage_closes() -> None:
    points = scenario()
    board = MemoryHealthBoard()
    stage = DetectStage(
        published(points), MemoryDetectStore(), load_rules(), settings=settings(),
        health_board=board,
    )  # fmt: skip
    assert {r.event_ts for r in board.read()} == {None}  # nothing seen yet
    stage.finish()
    stage.close()
    assert {r.event_ts for r in board.read()} == {max(p.ts for p in points)}


def test_a_failing_board_does_not_stop_detection() -> None:
    class Broken(MemoryHealthBoard):
        def report(self, *args: Any) -> None:
            raise sa.exc.OperationalError("report", {}, Exception("database is gone"))

    stage = DetectStage(
        published(scenario()), MemoryDetectStore(), load_rules(), settings=settings(),
        health_board=Broken(),
    )  # fmt: skip
    stage.finish()
    assert stage.counters.points > 0
    stage.close()


# -- the database board --------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def board(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlHealthBoard]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'health.db'}"
    else:
        url = request.getfixturevalue("pg_database")()
    migrate(url)
    made = SqlHealthBoard.from_url(url)
    yield made
    made.close()


def test_the_database_board_replaces_a_groups_rows(board: SqlHealthBoard) -> None:
    first = [
        DetectorHealth("ais_gap", 2, RUNNING),
        DetectorHealth("migrant_risk", 2, SILENT, "no model file at /x", None),
    ]
    board.report("detect", first, None)
    board.report("detect-cells", [DetectorHealth("encounter", 3, RUNNING)], 1_700_000_000_000)
    later = [DetectorHealth("migrant_risk", 3, RUNNING, "", "risk-2026.1")]
    board.report("detect", later, 1_700_000_060_000)

    reports = board.read()
    assert [(r.group, r.health) for r in reports] == [
        ("detect", later[0]),  # ais_gap left the rules: its row went with the report
        ("detect-cells", DetectorHealth("encounter", 3, RUNNING)),
    ]
    assert [r.event_ts for r in reports] == [1_700_000_060_000, 1_700_000_000_000]
    assert all(r.reported_ms > 1_700_000_000_000 for r in reports)


# -- lookout process ------------------------------------------------------------------------------
@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "detection-process"])
def test_summary_lists_each_rules_health(tmp_path: Path, parallel: bool) -> None:
    capture = tmp_path / "capture.nmea"
    capture.write_text("\n".join(simulate(vessels=5, hours=0.5, seed=3)) + "\n")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(dump_rules(edited(migrant_risk={"model": MISSING_MODEL})))

    summary = process(
        [str(capture)], tmp_path / "out", IngestSettings(), rules_path=rules_file,
        parallel=parallel,
    )  # fmt: skip

    written = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert written["detectors"] == summary["detectors"]
    states = {d["rule"]["id"]: d for d in summary["detectors"]}
    assert states["migrant_risk"]["state"] == SILENT
    assert MISSING_MODEL in states["migrant_risk"]["reason"]
    assert states["route_anomaly"]["state"] == RUNNING
    assert states["route_anomaly"]["model_version"]


def test_summary_of_a_run_with_every_rule_disabled(tmp_path: Path) -> None:
    capture = tmp_path / "capture.nmea"
    capture.write_text("\n".join(simulate(vessels=2, hours=0.2, seed=3)) + "\n")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(dump_rules(load_rules()).replace("enabled: true", "enabled: false"))
    summary = process([str(capture)], tmp_path / "out", IngestSettings(), rules_path=rules_file)
    assert {d["state"] for d in summary["detectors"]} == {DISABLED}
    assert len(summary["detectors"]) == len(load_rules())


# -- GET /v1/detectors --------------------------------------------------------------------------
def test_the_api_shows_detector_health_to_staff_only(
    make_api: Callable[..., ApiServer],
) -> None:
    server = make_api()
    officer = server.client(server.key("lookout-ops", [Role.OFFICER]))
    empty = officer.get("/v1/detectors")
    assert empty.status_code == 200, empty.text
    assert empty.json()["detectors"] == [] and "No detection stage" in empty.json()["note"]

    server.context.detectors.report(
        "detect",
        [
            DetectorHealth("ais_gap", 2, RUNNING),
            DetectorHealth("loitering", 1, DISABLED),
            DetectorHealth("migrant_risk", 2, SILENT, f"no model file at {MISSING_MODEL}"),
        ],
        1_700_000_000_000,
    )
    server.context.detectors.report("detect-cells", [DetectorHealth("encounter", 3, RUNNING)], None)
    engine = make_engine(server.context.settings.db_url)
    with engine.begin() as conn:  # the cross-vessel stage stopped reporting two minutes ago
        conn.execute(
            sa.text("UPDATE detect_health SET reported_ms = reported_ms - 120000 "
                    "WHERE \"group\" = 'detect-cells'")
        )  # fmt: skip
    engine.dispose()

    body = officer.get("/v1/detectors").json()
    rows = {(d["group"], d["rule"]["id"]): d for d in body["detectors"]}
    assert rows[("detect", "migrant_risk")]["state"] == SILENT
    assert rows[("detect", "migrant_risk")]["reason"].endswith(MISSING_MODEL)
    assert rows[("detect", "ais_gap")]["event_time"] == "2023-11-14T22:13:20.000Z"
    assert rows[("detect-cells", "encounter")]["stale"] is True
    assert rows[("detect", "ais_gap")]["stale"] is False
    assert body["attention"] == ["detect/migrant_risk", "detect-cells/encounter"]
    assert body["note"] is None

    # the same for monitoring: alert on lookout_detector_running == 0
    metrics = server.client().get("/metrics").text
    running = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith("lookout_detector_running{")
    }
    assert running == {
        'lookout_detector_running{group="detect",rule="ais_gap",state="running"}': 1.0,
        'lookout_detector_running{group="detect",rule="migrant_risk",state="silent"}': 0.0,
        'lookout_detector_running{group="detect-cells",rule="encounter",state="running"}': 0.0,
    }  # the disabled rule has no series; the stale one is down
    age = 'lookout_detector_report_age_seconds{group="detect-cells",rule="encounter"} 12'
    assert age in metrics  # two minutes and a little

    for roles in ([Role.ANALYST], [Role.ADMIN]):
        assert server.client(server.key("lookout-ops", roles)).get("/v1/detectors").is_success
    partner = server.client(server.key("th-mecc"))
    assert partner.get("/v1/detectors").status_code == 403
    assert server.client().get("/v1/detectors").status_code == 401


def test_members_of_one_group_report_at_once(board: SqlHealthBoard) -> None:
    """Every member of a group reports the same rules: concurrent reports must not collide."""
    health = [DetectorHealth(rule, 1, RUNNING) for rule in ("ais_gap", "loitering", "distress")]
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def member(n: int) -> None:
        start.wait()
        for i in range(40):
            try:
                board.report("detect", health, n * 1000 + i)
            except BaseException as exc:  # reported below
                failures.append(exc)

    threads = [threading.Thread(target=member, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [r.health for r in board.read()] == sorted(health, key=lambda h: h.rule_id)
