"""Memory per active vessel: the tracks consumer keeps 100,000 states in memory, target 4 KB.

Each vessel gets its own static data (name, callsign, destination: strings of its own) and 40
class A fixes 10 s apart (a ship under way below 14 kn), so at the end its reorder buffer holds
a minute of reports and its recent-points buffer is full (32). Everything the states keep is
allocated while tracemalloc traces, including the dict that holds them.

Tracing slows the builder about sixfold, so the test builds 2,000 vessels (4 s) rather than
20,000 (39 s): the cost per vessel hardly depends on how many there are (measured: 3,354 bytes
at 2,000 vessels, 3,346 at 20,000, 3,369 at 100,000 where the dict grows).
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from ingest.records import PositionReport
from tests.track_builders import make_report, make_static, steady_track
from tracks.builder import TrackBuilder
from tracks.state import VesselState

VESSELS = 2_000
FIXES = 40
LIMIT_BYTES = 4096


def test_bytes_per_active_vessel() -> None:
    builder = TrackBuilder()
    track = [
        tuple(make_report(ts=ts, lat=lat, lon=lon, heading=90, rot=0.0))[2:]
        for ts, lat, lon in steady_track(FIXES, 12.0, every_s=10)
    ]
    base_ts = make_report().ts
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        states = {mmsi: _vessel(builder, mmsi, base_ts, track) for mmsi in _mmsis()}
        gc.collect()
        per_vessel = (tracemalloc.get_traced_memory()[0] - before) / VESSELS
    finally:
        tracemalloc.stop()
    print(f"\n{per_vessel:.0f} bytes per active vessel ({len(states)} vessels, {FIXES} fixes)")
    sample = states[next(iter(states))]
    assert len(sample.pending) == 7 and len(sample.recent_points()) == 32
    assert per_vessel < LIMIT_BYTES


def _mmsis() -> range:
    return range(247_000_000, 247_000_000 + VESSELS)


def _vessel(
    builder: TrackBuilder, mmsi: int, base_ts: int, track: list[tuple[Any, ...]]
) -> VesselState:
    static = make_static(
        mmsi=mmsi,
        name=f"VESSEL {mmsi}",
        callsign=f"I{mmsi % 100_000:05d}",
        imo=9_000_000 + mmsi % 1_000_000,
        ship_type=70,
        to_bow=90,
        to_stern=20,
        to_port=8,
        to_starboard=8,
        draught=6.5,
        destination=f"PORT {mmsi % 997}",
    )
    state, _ = builder.advance(None, static)
    offset = mmsi % 1000  # each vessel's own times: distinct int objects, as on a real feed
    for i, rest in enumerate(track):
        report = PositionReport(mmsi, base_ts + offset + i * 10_000, *rest)
        state, _ = builder.advance(state, report)
    return state
