"""Evidence trails and state blobs: bounded, evenly thinned, round-tripped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anomaly.blobs import BlobFormatError, pack_named, unpack_named
from anomaly.trail import Trails
from tests.detect_builders import Leg, build, hours, sail
from tests.track_builders import T0_MS

SHIP = 405_000_500


def test_a_day_of_positions_keeps_a_bounded_evenly_spread_trail() -> None:
    trails = Trails(capacity=64, spacing_s=60, horizon_s=12 * 3600)
    points = build(sail(SHIP, [Leg(hours(24), 8.0, 90.0)]))
    for point in points:
        trails.update(point)
    kept = trails.positions(SHIP, 0)
    assert 16 < len(kept) <= 64
    assert kept[-1][0] >= points[-1].ts - 60_000
    assert kept[0][0] >= points[-1].ts - 12 * 3_600_000  # the horizon
    for hour in range(13, 23):  # every hour of the horizon keeps some positions
        lo = T0_MS + hour * 3_600_000
        assert any(lo <= ts < lo + 3_600_000 for ts, _, _ in kept), hour


def test_a_linestring_of_the_window_and_the_tail() -> None:
    trails = Trails()
    points = build(sail(SHIP, [Leg(hours(1), 8.0, 90.0)]))
    for point in points:
        trails.update(point)
    line = trails.linestring(SHIP, points[0].ts, points[-1].ts, [(15.5, 89.5)])
    assert line is not None and line["type"] == "LineString"
    assert line["coordinates"][-1] == [89.5, 15.5] and len(line["coordinates"]) > 30
    single = trails.linestring(SHIP, points[-1].ts + 1, None, [(15.5, 89.5)])
    assert single == {"type": "LineString", "coordinates": [[89.5, 15.5], [89.5, 15.5]]}
    assert trails.linestring(999, 0) is None


def test_trail_state_round_trips() -> None:
    trails = Trails()
    for point in build(sail(SHIP, [Leg(hours(3), 8.0, 90.0)])):
        trails.update(point)
    blob = trails.state_of(SHIP)
    assert blob is not None
    again = Trails()
    again.restore(SHIP, blob)
    assert again.positions(SHIP, 0) == trails.positions(SHIP, 0)
    with pytest.raises(ValueError):
        again.restore(SHIP, b"\x00" * 7)
    again.forget(SHIP)
    assert again.state_of(SHIP) is None


@given(st.dictionaries(st.text(max_size=20), st.binary(max_size=200), max_size=8))
def test_blobs_round_trip(parts: dict[str, bytes]) -> None:
    assert unpack_named(pack_named(parts)) == parts


@pytest.mark.parametrize("blob", [b"", b"\x09", b"\x01\x05ab", b"\x01\x01a\xff\xff\xff\x00"])
def test_broken_blobs_are_refused(blob: bytes) -> None:
    with pytest.raises(BlobFormatError):
        unpack_named(blob)
