"""The embedded default: every stage in one process over the in-process bus, the API and the
map on 127.0.0.1:8000.

With no source configured it replays the bundled sample (simulated traffic in the Bay of
Bengal and the Andaman Sea) at `embedded.replay_speed` times real time. Ingest, tracks and
detection run in threads; the API consumes `alerts` into its store. The alert
store persists in the configured database; the stages' own state lives for the run (the
in-process bus does not outlive the process), and replaying the same data yields the same alert
ids, which the store drops.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

from anomaly.context import default_context
from anomaly.health import HealthBoard
from anomaly.rules import load_rules
from anomaly.stage import DetectSettings, DetectStage
from anomaly.store import MemoryDetectStore
from api.context import ApiContext
from api.main import create_app
from api.settings import ApiSettings
from api.sink import AlertSink
from config import Settings
from ingest.pipeline import IngestSettings
from ingest.records import DeadLetter, PositionReport, StaticReport
from ingest.service import run_ingest
from lookout.bus import topics
from lookout.bus.base import Bus, Producer, Serializable, message_bytes, next_offsets
from lookout.bus.memory import MemoryBus
from tracks.memory_store import MemoryTrackStore
from tracks.service import ServiceSettings, TrackStage

log = logging.getLogger(__name__)

SAMPLE_NAME = "sample.nmea.gz"


def bundled_sample() -> Path:
    return Path(str(resources.files("ingest") / "data" / SAMPLE_NAME))


class PacedBus:
    """A bus whose producers hold records back to `speed` times real time by event time."""

    def __init__(self, bus: MemoryBus, speed: float) -> None:
        self._bus = bus
        self._speed = speed
        self._first_ts: int | None = None
        self._started = 0.0

    def __getattr__(self, name: str) -> object:
        return getattr(self._bus, name)

    def producer(self) -> Producer:
        return _PacedProducer(self._bus.producer(), self._wait)

    def _wait(self, ts: int) -> None:
        if self._first_ts is None:
            self._first_ts, self._started = ts, time.monotonic()
            return
        due = self._started + (ts - self._first_ts) / 1000 / self._speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, 5.0))


class _PacedProducer:
    def __init__(self, inner: Producer, wait: Callable[[int], None]) -> None:
        self._inner = inner
        self._wait = wait

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self._inner.send(topic, value, key)

    def send_record(self, topic: str, record: Serializable, key: bytes | None = None) -> None:
        if isinstance(record, PositionReport | StaticReport) and not isinstance(record, DeadLetter):
            self._wait(record.ts)
        self._inner.send_record(topic, record, key)

    def send_all(
        self, topic: str, messages: Iterable[tuple[bytes | None, bytes, Serializable | None]]
    ) -> None:
        for key, value, record in messages:  # paced one by one
            if record is None:
                self.send(topic, value, key)
            else:
                self.send_record(topic, record, key)

    def flush(self, timeout_s: float | None = None) -> None:
        self._inner.flush(timeout_s)

    def close(self) -> None:
        self._inner.close()


def run_embedded(settings: Settings, sources: list[str], ingest_settings: IngestSettings) -> None:
    urls = sources or list(settings.ingest.sources) or [str(bundled_sample())]
    bus = MemoryBus(default_partitions=settings.embedded.partitions)
    bus.ensure_topics(topics.ALL)
    track_store = MemoryTrackStore()
    api_settings = ApiSettings.from_env(
        db_url=settings.database.url,
        config_dir=settings.config_dir,
        host=settings.api.host,
        port=settings.api.port,
    )
    context = ApiContext.open(api_settings, track_store)
    app = create_app(api_settings, context=context)
    _print_demo_keys(context, api_settings)

    stop = threading.Event()
    speed = settings.embedded.replay_speed
    ingest_bus: Bus = PacedBus(bus, speed) if speed > 0 else bus  # type: ignore[assignment]
    stages = [
        threading.Thread(
            target=run_ingest,
            args=(urls, ingest_bus, ingest_settings, settings.ingest.reconnect_max_s, stop),
            name="ingest",
            daemon=True,
        ),
        threading.Thread(
            target=TrackStage(bus, track_store, settings=ServiceSettings(save_interval_s=1.0)).run,
            args=(stop,),
            name="tracks",
            daemon=True,
        ),
        *_detection_threads(bus, settings, context.detectors, stop),
        *_alert_sink_threads(bus, context, stop),
        threading.Thread(
            target=_write_deadletters,
            args=(bus, Path(settings.embedded.deadletter_path), stop),
            name="deadletters",
            daemon=True,
        ),
    ]
    for thread in stages:
        thread.start()
    log.info("replaying %s at %sx; API and map on http://%s:%d/", urls, speed or "max",
             api_settings.host, api_settings.port)  # fmt: skip
    try:
        import uvicorn

        uvicorn.Server(
            uvicorn.Config(app, host=api_settings.host, port=api_settings.port, log_level="info")
        ).run()
    finally:
        stop.set()
        for thread in stages:
            thread.join(timeout=10)


def _detection_threads(
    bus: MemoryBus, settings: Settings, board: HealthBoard, stop: threading.Event
) -> list[threading.Thread]:
    """One member that owns every partition, so it runs every detector, cross-vessel ones too;
    it reports their health where the API reads it (`board`, in the database)."""
    rules = load_rules(settings.config_dir)
    context = default_context(settings.config_dir)
    detect_settings = DetectSettings(save_interval_s=1.0, keyed_by=None)
    stage = DetectStage(bus, MemoryDetectStore(), rules, context, detect_settings, board)
    return [threading.Thread(target=stage.run, args=(stop,), name="detect", daemon=True)]


def _alert_sink_threads(
    bus: MemoryBus, context: ApiContext, stop: threading.Event
) -> list[threading.Thread]:
    sink = AlertSink.from_bus(context.store, bus)
    return [threading.Thread(target=sink.run, args=(stop,), name="alert-sink", daemon=True)]


def _write_deadletters(bus: MemoryBus, path: Path, stop: threading.Event) -> None:
    """Dead letters of every stage, appended to a JSON-lines file (nothing silently vanishes,
    and the in-process bus does not hold them forever)."""
    consumer = bus.consumer([topics.DEADLETTER], "embedded-deadletters")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        while not stop.is_set():
            batch = consumer.poll(timeout_s=0.5, max_records=5000)
            for message in batch:
                out.write(message_bytes(message) + b"\n")
            if batch:
                out.flush()
                consumer.commit(next_offsets(batch))
    consumer.close()


def _print_demo_keys(context: ApiContext, api_settings: ApiSettings) -> None:
    """Development only: a fresh key per configured agency, printed once."""
    if api_settings.environment != "development":
        return
    pepper = api_settings.api_key_pepper.get_secret_value().encode()
    lines = ["", "Demo API keys (development only; new ones each start):"]
    for agency in context.registry.all():
        label = f"demo-{secrets.token_hex(3)}"
        roles = list(agency.config.roles)
        _, key = context.store.create_key(agency.config.id, roles, pepper, label=label)
        lines.append(f"  {agency.config.id:18s} {','.join(roles):34s} {key}")
    lines.append(f"  map: http://{api_settings.host}:{api_settings.port}/   API: /docs")
    print("\n".join(lines), flush=True)
