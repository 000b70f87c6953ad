"""The `lookout` command: wires the stages together (DESIGN.md, CLI)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, NoReturn

import orjson
import typer

from config import Settings, load_settings
from ingest.pipeline import Ingestor, IngestSettings, InputFormat
from ingest.records import DeadLetter, PositionReport, StaticReport
from ingest.service import ingest_paths
from lookout import cli_analysis, logs
from lookout.runtime import tune_gc

if TYPE_CHECKING:
    from lookout.bus.kafka import KafkaBus

app = typer.Typer(
    help="Lookout: maritime domain awareness from AIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ConfigDir = Annotated[
    Path | None, typer.Option("--config", help="Folder with lookout.yaml, rules.yaml ...")
]


def ingest_settings_of(config_dir: Path | None, input_format: str | None = None) -> IngestSettings:
    cfg = load_settings(config_dir).ingest
    fmt: InputFormat = input_format or cfg.input_format  # type: ignore[assignment]
    return IngestSettings(
        assembly_timeout_ms=int(cfg.assembly_timeout_s * 1000),
        dedup_window_ms=int(cfg.dedup_window_s * 1000),
        max_line_bytes=cfg.max_line_bytes,
        input_format=fmt,
    )


def _kafka_bus(bootstrap: str | None, settings: Settings) -> KafkaBus:
    from lookout.bus.kafka import KafkaBus

    return KafkaBus(
        bootstrap or settings.kafka.bootstrap,
        partitions=settings.kafka.partitions,
        compression=settings.kafka.compression,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        stop_timeout_s=settings.kafka.stop_timeout_s,
    )


def _stop_on_signals(bus: KafkaBus) -> threading.Event:
    """SIGTERM or SIGINT: the service's loop ends, and from then on the bus waits for the
    broker at most its stop timeout, so that a stop ends even while the broker is gone."""
    stop = threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        stop.set()
        bus.begin_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


class OutputClosed(BaseException):
    """The reader of `lookout decode`'s output went away (`| head`): stop, as Unix tools do.
    A BaseException, so that the ingest pipeline does not take it for a bad line."""


class JsonLinesSink:
    """`lookout decode` output: records to one stream, dead letters to another."""

    def __init__(self, out: BinaryIO, dead: BinaryIO) -> None:
        self._write = out.write
        self._dead = dead

    def record(self, report: PositionReport | StaticReport) -> None:
        line = orjson.dumps(report.to_dict(), option=orjson.OPT_APPEND_NEWLINE)
        try:  # inline, not through _emit: once per record, a call costs 3 % of decode
            self._write(line)
        except BrokenPipeError:
            raise OutputClosed from None

    def deadletter(self, letter: DeadLetter) -> None:
        self._emit(self._dead, orjson.dumps(letter.to_dict(), option=orjson.OPT_APPEND_NEWLINE))

    @staticmethod
    def _emit(stream: BinaryIO, line: bytes) -> None:
        try:
            stream.write(line)
        except BrokenPipeError:
            raise OutputClosed from None


@app.command()
def decode(
    paths: Annotated[list[str], typer.Argument(help="Files (plain or gzip), or - for stdin")],
    input_format: Annotated[str, typer.Option("--format", help="auto | nmea | csv")] = "auto",
    deadletters: Annotated[
        Path | None,
        typer.Option(help="Write dead letters to this file instead of stderr"),
    ] = None,
    config: ConfigDir = None,
) -> None:
    """Decode recorded AIS into JSON records on stdout; the last stderr line is the summary."""
    if input_format not in ("auto", "nmea", "csv"):
        raise typer.BadParameter("--format must be auto, nmea or csv")
    settings = ingest_settings_of(config, input_format)
    out = sys.stdout.buffer
    dead_stream: BinaryIO = deadletters.open("wb") if deadletters else sys.stderr.buffer
    ingestor = Ingestor(JsonLinesSink(out, dead_stream), settings)
    try:
        unreadable = ingest_paths(paths, ingestor)
        out.flush()
    except (OutputClosed, BrokenPipeError):  # the reader left, maybe before the last flush
        _output_closed(ingestor)
    for path, error in unreadable:
        typer.echo(f"lookout decode: cannot read {path}: {error}", err=True)
    dead_stream.flush()
    sys.stderr.write(orjson.dumps(ingestor.stats.summary()).decode() + "\n")
    if unreadable:
        raise typer.Exit(code=1)


def _output_closed(ingestor: Ingestor) -> NoReturn:
    """Exit as a Unix tool whose reader left (128 + SIGPIPE), with the accounting so far."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
    summary = orjson.dumps(ingestor.stats.summary()).decode()
    sys.stderr.write(f"lookout decode: output closed, stopped after {summary}\n")
    raise typer.Exit(code=141)


@app.command()
def ingest(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Feed URL; repeat for several")
    ] = None,
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap HOST:PORT")] = None,
    config: ConfigDir = None,
) -> None:
    """Run the ingest service: feeds in, records on `ais.decoded`, dead letters out."""
    from ingest.service import run_ingest

    settings = load_settings(config)
    urls = list(source or settings.ingest.sources)
    if not urls:
        raise typer.BadParameter("no --source given and none configured")
    bus = _kafka_bus(kafka, settings)
    try:
        if not bus.wait_until_reachable(_stop_on_signals(bus)):
            return  # stopped before the broker came
        stats = run_ingest(urls, bus, ingest_settings_of(config), settings.ingest.reconnect_max_s)
    finally:
        bus.close()
    sys.stderr.write(orjson.dumps(stats.summary()).decode() + "\n")


@app.command()
def process(
    paths: Annotated[list[str], typer.Argument(help="Recorded files (plain or gzip)")],
    out: Annotated[Path, typer.Option(help="Output folder")],
    rules: Annotated[
        Path | None, typer.Option(help="A rules file other than the configuration's")
    ] = None,
    config: ConfigDir = None,
) -> None:
    """Batch: the pipeline over recorded data; writes tracks.geojson, alerts.jsonl and
    summary.json."""
    from lookout.batch import process as run_batch
    from lookout.batch import terminal_progress

    settings = load_settings(config)
    with terminal_progress() as progress:
        summary = run_batch(
            paths,
            out,
            ingest_settings_of(config),
            partitions=settings.embedded.partitions,
            progress=progress,
            config_dir=settings.config_dir,
            rules_path=rules,
        )
    sys.stderr.write(orjson.dumps(summary).decode() + "\n")
    if summary["unreadable"]:
        raise typer.Exit(code=1)


@app.command()
def tracks(
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap HOST:PORT")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (PostgreSQL in production)")] = None,
    config: ConfigDir = None,
) -> None:
    """Run the tracks service: a member of the `tracks` consumer group."""
    from lookout.db import make_engine, migrate, wait_for_database
    from tracks.service import TrackStage
    from tracks.sql_store import SqlTrackStore

    settings = load_settings(config)
    url = db or settings.database.url
    bus = _kafka_bus(kafka, settings)
    stop = _stop_on_signals(bus)
    if wait_for_database(url, stop):
        migrate(url)
        if bus.wait_until_reachable(stop):
            TrackStage(bus, SqlTrackStore(make_engine(url))).run(stop)
    bus.close()


@app.command()
def detect(
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap HOST:PORT")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (PostgreSQL in production)")] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(help="vessels | router | cells (default: all three); repeat for several"),
    ] = None,
    config: ConfigDir = None,
) -> None:
    """Run the detection service: per-vessel detectors (group `detect`), the re-keying of points
    by spatial cell (group `cells`) and the cross-vessel detectors (group `detect-cells`)."""
    from anomaly.context import default_context
    from anomaly.rules import load_rules
    from anomaly.service import ROLES, run_detect_service
    from anomaly.sql_store import SqlDetectStore, SqlHealthBoard
    from lookout.db import make_engine, migrate, wait_for_database

    roles = role or list(ROLES)
    if set(roles) - set(ROLES):
        raise typer.BadParameter(f"--role must be one of {', '.join(ROLES)}")
    settings = load_settings(config)
    url = db or settings.database.url
    bus = _kafka_bus(kafka, settings)
    stop = _stop_on_signals(bus)
    if not wait_for_database(url, stop):
        bus.close()
        return
    migrate(url)
    engine = make_engine(url)
    store, board = SqlDetectStore(engine), SqlHealthBoard(engine)
    context = default_context(settings.config_dir)
    rules = load_rules(settings.config_dir)
    try:
        if bus.wait_until_reachable(stop):
            run_detect_service(bus, store, rules, context, roles, stop, health_board=board)
    finally:
        bus.close()
        engine.dispose()


@app.command()
def api(
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap HOST:PORT")] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (PostgreSQL in production)")] = None,
    config: ConfigDir = None,
) -> None:
    """Run the API service: consumes `alerts` into the store and serves partner agencies."""
    from api.main import run_api
    from api.settings import ApiSettings
    from lookout.db import make_engine, wait_for_database
    from tracks.sql_store import SqlTrackStore

    settings = load_settings(config)
    url = db or settings.database.url
    api_settings = ApiSettings.from_env(
        db_url=url, config_dir=settings.config_dir, host=settings.api.host, port=settings.api.port
    )
    bus = _kafka_bus(kafka, settings)
    try:
        # uvicorn installs its own signal handlers once it runs
        if wait_for_database(url, _stop_on_signals(bus)):
            run_api(api_settings, bus, vessels=SqlTrackStore(make_engine(url)))
    finally:
        bus.close()


@app.command()
def run(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Feed URL; repeat for several")
    ] = None,
    config: ConfigDir = None,
) -> None:
    """The embedded default: one process, in-process bus; replays the bundled sample."""
    from lookout.embedded import run_embedded

    run_embedded(load_settings(config), list(source or []), ingest_settings_of(config))


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Output file; .gz compresses")],
    scenario: Annotated[
        str | None,
        typer.Option(help="A regional scenario with labelled behaviours: bay-of-bengal"),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="The scenario's truth file (default: OUT.truth.jsonl)")
    ] = None,
    vessels: Annotated[int, typer.Option(min=1)] = 100,
    hours: Annotated[float, typer.Option(min=0.01)] = 2.0,
    seed: int = 1,
    noise: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of corrupted lines")] = 0.0,
    behaviour_rate: Annotated[
        float, typer.Option(min=0.0, help="Scales how many of each behaviour (scenario)")
    ] = 1.0,
    behaviour: Annotated[
        list[str] | None,
        typer.Option(help="Only these behaviours (scenario); repeat for several"),
    ] = None,
) -> None:
    """Generate realistic AIS traffic as NMEA with tag-block times; with --scenario, regional
    traffic with injected, labelled behaviours of every alert type and a truth file."""
    if scenario is not None:
        _simulate_scenario(out, scenario, truth, vessels, hours, seed, noise, behaviour_rate,
                           behaviour)  # fmt: skip
        return
    import gzip

    from lookout.simulate import simulate as generate

    opener = gzip.open if out.suffix == ".gz" else open
    count = 0
    with opener(out, "wt", encoding="ascii") as stream:
        for line in generate(vessels=vessels, hours=hours, seed=seed, noise=noise):
            stream.write(line + "\n")
            count += 1
    typer.echo(f"wrote {count} lines to {out}", err=True)


def _simulate_scenario(
    out: Path,
    name: str,
    truth: Path | None,
    vessels: int,
    hours: float,
    seed: int,
    noise: float,
    behaviour_rate: float,
    behaviours: list[str] | None,
) -> None:
    from lookout.sim.scenario import BEHAVIOURS, ScenarioSettings
    from lookout.simulate import write_scenario

    if name != "bay-of-bengal":
        raise typer.BadParameter(f"unknown scenario {name!r}; known: bay-of-bengal")
    unknown = sorted(set(behaviours or ()) - set(BEHAVIOURS))
    if unknown:
        raise typer.BadParameter(f"unknown behaviours {unknown}; known: {', '.join(BEHAVIOURS)}")
    settings = ScenarioSettings(
        scenario=name,
        vessels=vessels,
        hours=hours,
        seed=seed,
        noise=noise,
        behaviour_rate=behaviour_rate,
        behaviours=tuple(behaviours) if behaviours else BEHAVIOURS,
    )
    stem = out.name.removesuffix(".gz").removesuffix(".nmea")
    truth_path = truth or out.with_name(stem + ".truth.jsonl")
    info = write_scenario(out, truth_path, settings)
    typer.echo(
        f"wrote {info.counts['lines']} lines to {out}, truth to {truth_path} "
        f"({info.vessels} vessels, {info.vessel_hours:.0f} vessel-hours)",
        err=True,
    )


cli_analysis.register(app)


def main() -> None:  # pragma: no cover - console entry point
    logs.configure()
    tune_gc()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
