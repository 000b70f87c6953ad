"""The analysts' commands: `lookout evaluate`, `lookout backtest`, `lookout train`, `lookout bench`.

Registered on the main `lookout` app by `lookout.cli`; each imports its machinery lazily, so the
services' start-up does not pay for scikit-learn or the simulator.
"""

from __future__ import annotations

import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from config import load_settings

ConfigDir = Annotated[
    Path | None, typer.Option("--config", help="Folder with lookout.yaml, rules.yaml ...")
]


def _write_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


def evaluate(
    alerts: Annotated[Path, typer.Argument(help="alerts.jsonl (from lookout process)")],
    truth: Annotated[Path, typer.Option(help="The scenario's truth file (lookout simulate)")],
    tolerance_s: Annotated[
        float, typer.Option(min=0.0, help="Seconds either side when matching episodes")
    ] = 1800.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report")] = None,
) -> None:
    """Score alerts against a simulated scenario's truth: precision, recall, F1 per type,
    detection delay, false alarms per 1,000 vessel-hours, migrant voyages alerted in time."""
    from lookout.evaluate import EvalSettings, load_alerts, print_report
    from lookout.evaluate import evaluate as score
    from lookout.sim.truth import read_truth

    for path in (alerts, truth):
        if not path.is_file():
            raise typer.BadParameter(f"{path}: no such file")
    info, records = read_truth(truth)
    report = score(load_alerts(alerts), info, records, EvalSettings(tolerance_s=tolerance_s))
    print_report(report)
    if json_out is not None:
        _write_json(json_out, report.to_dict())


def backtest(
    paths: Annotated[list[str], typer.Argument(help="Recorded files (plain or gzip)")],
    out: Annotated[Path, typer.Option(help="Output folder (a/, b/, backtest.json)")],
    rules_a: Annotated[
        Path | None, typer.Option(help="Version A of the rules (default: the configured ones)")
    ] = None,
    rules_b: Annotated[Path | None, typer.Option(help="Version B of the rules")] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--set", help="Version B = A with rule.param=value; repeat for several"),
    ] = None,
    truth: Annotated[Path | None, typer.Option(help="Score both against this truth")] = None,
    outcomes: Annotated[
        Path | None, typer.Option(help="Officers' outcomes (JSON lines of id, outcome)")
    ] = None,
    config: ConfigDir = None,
) -> None:
    """Run two versions of the rules over the same data: the alerts kept, changed, gained and
    lost, each marked hit or false alarm when a truth or outcomes file is given."""
    from lookout.backtest import BacktestError, print_backtest, rules_overrides
    from lookout.backtest import backtest as run_backtest
    from lookout.cli import ingest_settings_of

    settings = load_settings(config)
    a = rules_a or settings.config_dir / "rules.yaml"
    if (rules_b is None) == (not override):
        raise typer.BadParameter("give either --rules-b or --set rule.param=value (not both)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        b = rules_b or rules_overrides(a, override or [], out / "rules-b.yaml")
        report = run_backtest(
            paths,
            a,
            b,
            out,
            ingest_settings=ingest_settings_of(config),
            truth=truth,
            outcomes=outcomes,
            partitions=settings.embedded.partitions,
            config_dir=settings.config_dir,
        )
    except (BacktestError, OSError, ValueError) as exc:
        typer.echo(f"lookout backtest: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    print_backtest(report)


class ModelKind(StrEnum):
    route = "route"
    risk = "risk"


def train(
    paths: Annotated[list[Path], typer.Argument(help="Recorded history (NMEA or CSV, gzip ok)")],
    kind: Annotated[
        ModelKind, typer.Option(help="route (normal traffic) or risk (labelled voyages)")
    ],
    out: Annotated[Path, typer.Option(help="Model file to write (.joblib)")],
    truth: Annotated[
        list[Path] | None, typer.Option(help="Truth files with labelled voyages (risk)")
    ] = None,
    outcomes: Annotated[
        list[Path] | None, typer.Option(help="Closed alerts exported from the API (risk)")
    ] = None,
    seed: int = 0,
    config: ConfigDir = None,
) -> None:
    """Train a model from history and write it as a versioned file; point a rule's `model`
    parameter at it in rules.yaml."""
    from anomaly.geo import load_geography
    from anomaly.models.route import save_model

    settings = load_settings(config)
    geo = load_geography(settings.config_dir)
    model: Any
    try:
        if kind is ModelKind.route:
            from anomaly.models.train import train_route_from_files

            model = train_route_from_files(
                paths, distance_to_shore_nm=geo.distance_to_shore_nm, seed=seed
            )
        else:
            model = _train_risk(paths, truth or [], outcomes or [], geo)
    except ValueError as exc:
        typer.echo(f"lookout train: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    save_model(model, out)
    typer.echo(f"wrote {kind.value} model {model.version} to {out}", err=True)


def _train_risk(paths: list[Path], truth: list[Path], outcomes: list[Path], geo: Any) -> Any:
    from anomaly.models.risk import RiskGeography
    from anomaly.models.train import load_labels, train_risk_from_files

    labels = load_labels(truth, outcomes)
    if not len(labels):
        raise ValueError("no risky voyages labelled: give --truth or --outcomes")
    return train_risk_from_files(paths, labels, RiskGeography.from_geography(geo))


class Bench(StrEnum):
    ingest = "ingest"
    tracks = "tracks"
    detect = "detect"
    api = "api"


_BENCH_SCRIPTS = {
    Bench.ingest: "run.py",
    Bench.tracks: "bench_tracks.py",
    Bench.detect: "bench_detect.py",
    Bench.api: "bench_api.py",
}


def bench(
    ctx: typer.Context,
    which: Annotated[Bench, typer.Argument(help="ingest, tracks, detect or api")],
) -> None:
    """Run a benchmark of a source checkout (`benchmarks/`); extra options go to it."""
    folder = Path(__file__).resolve().parent.parent / "benchmarks"
    script = folder / _BENCH_SCRIPTS[which]
    if not script.is_file():
        typer.echo("lookout bench: the benchmarks come with a source checkout", err=True)
        raise typer.Exit(code=1)
    code = subprocess.call([sys.executable, str(script), *ctx.args])
    raise typer.Exit(code=code)


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(backtest)
    app.command()(train)
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(bench)
