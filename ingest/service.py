"""The ingest service loop: sources -> Ingestor -> bus, until the sources end or a signal."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable

from ingest.pipeline import Ingestor, IngestSettings, LineStats
from ingest.publish import BusSink
from ingest.sources import FileSource, Source, iter_sources, open_source
from lookout.bus import topics
from lookout.bus.base import Bus, BusTimeout, Producer

log = logging.getLogger(__name__)

# While the last records wait for the broker, say this often what a kill would lose.
UNDELIVERED_REPORT_EVERY_S = 10.0


def open_sources(urls: Iterable[str], max_line_bytes: int, reconnect_max_s: float) -> list[Source]:
    return [
        open_source(url, max_line_bytes=max_line_bytes, reconnect_max_s=reconnect_max_s)
        for url in urls
    ]


def ingest_paths(paths: Iterable[str], ingestor: Ingestor) -> list[tuple[str, OSError]]:
    """Push every line of recorded files through `ingestor`; returns the unreadable ones."""
    unreadable: list[tuple[str, OSError]] = []
    push = ingestor.push
    for path in paths:
        try:
            source = open_source(path, max_line_bytes=ingestor.settings.max_line_bytes)
            if isinstance(source, FileSource):
                for batch in source.batches():
                    ingestor.push_lines(batch.lines, batch.source, batch.rx_ms)
                continue
            for raw in source.lines():
                push(raw.data, raw.source, raw.rx_ms, raw.truncated)
        except OSError as exc:
            unreadable.append((path, exc))
    ingestor.flush()
    return unreadable


def run_ingest(
    urls: list[str],
    bus: Bus,
    settings: IngestSettings,
    reconnect_max_s: float = 30.0,
    stop: threading.Event | None = None,
) -> LineStats:
    """Ingest every source into the bus; returns the line accounting. Flushes before returning."""
    bus.ensure_topics([topics.DECODED, topics.DEADLETTER])
    producer = bus.producer()
    sources = open_sources(urls, settings.max_line_bytes, reconnect_max_s)
    stopping = stop or threading.Event()
    _stop_sources_on_signals(sources, stopping)
    ingestor = Ingestor(BusSink(producer), settings)
    started = time.monotonic()
    try:
        files = [source for source in sources if isinstance(source, FileSource)]
        if len(files) == len(sources):
            _push_files(files, ingestor, stopping)
        else:
            for raw in iter_sources(sources):
                ingestor.push(raw.data, raw.source, raw.rx_ms, raw.truncated)
                if stopping.is_set():
                    break
    finally:
        ingestor.flush()
        deliver_all(producer)
        producer.close()
    elapsed = time.monotonic() - started
    log.info("ingested %d lines in %.1f s", ingestor.stats.lines, elapsed)
    return ingestor.stats


def deliver_all(producer: Producer) -> None:
    """Wait until the broker has acknowledged every record, however long that takes: a live
    feed cannot be read again. Meanwhile say, every `UNDELIVERED_REPORT_EVERY_S`, what killing
    the process would lose, so that a loss is never silent."""
    while True:
        try:
            producer.flush(timeout_s=UNDELIVERED_REPORT_EVERY_S)
            return
        except BusTimeout as exc:
            log.warning(
                "waiting for the broker to acknowledge the last records (%s): killing the "
                "process now loses them",
                exc,
            )


def _push_files(files: list[FileSource], ingestor: Ingestor, stopping: threading.Event) -> None:
    """Recorded files one after the other, a read chunk at a time (`Ingestor.push_lines`)."""
    for source in files:
        for batch in source.batches():
            ingestor.push_lines(batch.lines, batch.source, batch.rx_ms)
            if stopping.is_set():
                return


def _stop_sources_on_signals(sources: list[Source], stopping: threading.Event) -> None:
    """SIGTERM or SIGINT: the sources stop and what was read is delivered. Unlike the other
    services' handler (lookout.cli), it does not begin the bus's stop: the last records wait
    for the broker as long as it takes (`deliver_all`)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping sources, flushing", signum)
        stopping.set()
        for source in sources:
            source.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
