"""The analysts' loop through the `lookout` command: simulate a labelled scenario, process it,
evaluate the alerts against the truth, backtest a rule change, train a model and use it."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from anomaly.models.route import load_model
from lookout.cli import app
from lookout.sim.truth import read_truth

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, runner: CliRunner) -> Path:
    folder = tmp_path_factory.mktemp("scenario")
    result = runner.invoke(
        app,
        ["simulate", "--scenario", "bay-of-bengal", "--out", str(folder / "day.nmea.gz"),
         "--vessels", "24", "--hours", "3", "--seed", "31",
         "--behaviour", "distress", "--behaviour", "identity_anomaly"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def processed(scenario: Path, runner: CliRunner) -> Path:
    out = scenario / "out"
    result = runner.invoke(app, ["process", str(scenario / "day.nmea.gz"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_simulate_writes_the_scenario_and_its_truth(scenario: Path) -> None:
    info, truth = read_truth(scenario / "day.truth.jsonl")
    assert info is not None and info.vessel_hours > 12
    assert {t.type for t in truth} >= {"distress", "identity_anomaly"}
    assert not {t.type for t in truth} & {"encounter", "loitering", "migrant_voyage"}


def test_evaluate_scores_the_alerts_against_the_truth(
    scenario: Path, processed: Path, runner: CliRunner
) -> None:
    report_path = scenario / "eval.json"
    result = runner.invoke(
        app,
        ["evaluate", str(processed / "alerts.jsonl"), "--truth", str(scenario / "day.truth.jsonl"),
         "--json", str(report_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "distress" in result.stdout
    report = orjson.loads(report_path.read_bytes())
    distress = report["types"]["distress"]
    assert distress["episodes"] >= 1 and distress["recall"] == 1.0


def test_evaluate_refuses_a_missing_file(scenario: Path, runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["evaluate", str(scenario / "nothing.jsonl"), "--truth", str(scenario / "x.jsonl")]
    )
    assert result.exit_code == 2
    assert "nosuchfile" in re.sub(r"[\s│]", "", result.output)  # rich wraps it in a box


def test_backtest_of_a_disabled_rule_loses_exactly_its_alerts(
    scenario: Path, processed: Path, runner: CliRunner
) -> None:
    out = scenario / "backtest"
    result = runner.invoke(
        app,
        ["backtest", str(scenario / "day.nmea.gz"), "--out", str(out),
         "--set", "distress.enabled=false", "--truth", str(scenario / "day.truth.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = orjson.loads((out / "backtest.json").read_bytes())
    baseline = [
        orjson.loads(line) for line in (processed / "alerts.jsonl").read_bytes().splitlines()
    ]
    distress_ids = {a["id"] for a in baseline if a["type"] == "distress"}
    assert distress_ids
    assert {a["id"] for a in report["lost"]} == distress_ids
    assert not report["gained"]
    rules_b = yaml.safe_load((out / "rules-b.yaml").read_text())
    (distress,) = [r for r in rules_b["rules"] if r["id"] == "distress"]
    assert distress["enabled"] is False


def test_backtest_needs_exactly_one_version_b(scenario: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["backtest", str(scenario / "day.nmea.gz"), "--out", "x"])
    assert result.exit_code == 2
    result = runner.invoke(
        app, ["backtest", str(scenario / "day.nmea.gz"), "--out", str(scenario / "bad"),
              "--set", "no_such_rule.x=1"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no rule 'no_such_rule'" in result.output


def test_train_writes_a_route_model_the_loader_accepts(scenario: Path, runner: CliRunner) -> None:
    path = scenario / "route.joblib"
    result = runner.invoke(
        app, ["train", str(scenario / "day.nmea.gz"), "--kind", "route", "--out", str(path)]
    )
    assert result.exit_code == 0, result.output
    model = load_model(path, "route_anomaly")
    assert model.version in result.output


def test_train_risk_without_labels_is_refused(scenario: Path, runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            str(scenario / "day.nmea.gz"),
            "--kind",
            "risk",
            "--out",
            str(scenario / "r.joblib"),
        ],
    )
    assert result.exit_code == 1
    assert "no risky voyages labelled" in result.output
    assert not (scenario / "r.joblib").exists()
