"""The embedded default: every stage in one process over the in-process bus.

With no source configured it replays the bundled sample (a simulated day in the Bay of Bengal).
So far the pipeline runs as far as ingest: records land on `ais.decoded` and are counted.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import orjson

from config import Settings
from ingest.pipeline import IngestSettings
from ingest.records import DeadLetter, from_json
from ingest.service import run_ingest
from lookout.bus import topics
from lookout.bus.base import payload
from lookout.bus.memory import MemoryBus

log = logging.getLogger(__name__)

SAMPLE_NAME = "sample.nmea.gz"


def bundled_sample() -> Path:
    return Path(str(resources.files("ingest") / "data" / SAMPLE_NAME))


def run_embedded(settings: Settings, sources: list[str], ingest_settings: IngestSettings) -> None:
    urls = sources or list(settings.ingest.sources) or [str(bundled_sample())]
    bus = MemoryBus(default_partitions=settings.embedded.partitions)
    bus.ensure_topics(topics.ALL)
    counter = bus.consumer([topics.DECODED, topics.DEADLETTER], "embedded-count")
    kinds: Counter[str] = Counter()
    vessels: set[int] = set()
    stats = run_ingest(urls, bus, ingest_settings, settings.ingest.reconnect_max_s)
    while batch := counter.poll(timeout_s=0.1, max_records=10_000):
        for message in batch:
            record = payload(message, from_json)
            kinds[record.kind] += 1
            if not isinstance(record, DeadLetter):
                vessels.add(record.mmsi)
        counter.commit({m.tp: m.offset + 1 for m in batch})
    report = {"sources": urls, "ingest": stats.summary(), "bus": dict(kinds),
              "vessels": len(vessels)}  # fmt: skip
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
