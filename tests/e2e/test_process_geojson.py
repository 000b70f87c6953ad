"""`lookout process` on a multi-hour recording of thousands of vessels (2,000), some of which
fall silent for longer than the segment gap: the GeoJSON is valid RFC 7946 and its segments
match the input's vessels and gaps."""

from __future__ import annotations

import gzip
import random
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from geojson_pydantic import FeatureCollection
from typer.testing import CliRunner

from ingest.decode import payload_to_int
from ingest.framing import parse_line
from lookout.cli import app
from lookout.simulate import simulate

pytestmark = pytest.mark.e2e

VESSELS = 2000
HOURS = 2.5
START_MS = 1_714_521_600_000
GAP_FROM_MS = START_MS + 15 * 60_000  # silent from 00:15 ...
GAP_TO_MS = START_MS + 140 * 60_000  # ... to 02:20: 2 h 5 min, longer than the 2 h segment gap


def _mmsi(payload: bytes) -> int:
    value, bits = payload_to_int(payload)
    return (value >> (bits - 38)) & 0x3FFFFFFF


def _recording(path: Path) -> tuple[set[int], set[int]]:
    """Write the recording; returns every vessel, and those silenced for the gap."""
    rng = random.Random(4)
    vessels: set[int] = set()
    silenced: set[int] = set()
    dropping = False
    with gzip.open(path, "wt", encoding="ascii", compresslevel=1) as out:  # level 9: +9 s
        for line in simulate(vessels=VESSELS, hours=HOURS, seed=17, start_ms=START_MS):
            framed, sentence = parse_line(line.encode())
            if sentence.number == 1:  # a later part follows its first part's fate
                mmsi = _mmsi(sentence.payload)
                if mmsi not in vessels:
                    vessels.add(mmsi)
                    if rng.random() < 0.1:
                        silenced.add(mmsi)
                assert framed.time_ms is not None
                dropping = mmsi in silenced and GAP_FROM_MS <= framed.time_ms < GAP_TO_MS
            if not dropping:
                out.write(line + "\n")
    return vessels, silenced


@pytest.mark.timeout(900)  # 2.5 h of 2,000 vessels: minutes on a busy two-core machine
def test_process_writes_segments_matching_vessels_and_gaps(tmp_path: Path) -> None:
    recording = tmp_path / "recording.nmea.gz"
    vessels, silenced = _recording(recording)
    assert len(silenced) > 50

    result = CliRunner().invoke(app, ["process", str(recording), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output

    text = (tmp_path / "out" / "tracks.geojson").read_bytes()
    collection = FeatureCollection.model_validate_json(text)  # RFC 7946 structure
    raw = orjson.loads(text)
    assert "crs" not in raw  # RFC 7946 drops the crs member: WGS84 lon/lat only
    segments: dict[int, list[dict[str, object]]] = defaultdict(list)
    for feature in raw["features"]:
        geometry = feature["geometry"]
        assert geometry["type"] in ("LineString", "Point")
        points = (
            geometry["coordinates"]
            if geometry["type"] == "LineString"
            else [geometry["coordinates"]]
        )
        if geometry["type"] == "LineString":
            assert len(points) >= 2
        for lon, lat in points:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
            assert 80 <= lon <= 97 and 6 <= lat <= 21  # [lon, lat], in the simulated region
        segments[feature["properties"]["mmsi"]].append(feature["properties"])
    assert len(collection.features) == len(raw["features"])

    assert set(segments) == vessels
    for mmsi, found in segments.items():
        found.sort(key=lambda p: str(p["start"]))
        if mmsi in silenced:
            assert len(found) == 2, (mmsi, found)
            before, after = found
            assert str(before["end"]) < "2024-05-01T00:15:00"
            assert str(after["start"]) >= "2024-05-01T02:20:00"
            assert after["segment_id"] == before["segment_id"] + 1  # type: ignore[operator]
        else:
            assert len(found) == 1, (mmsi, found)

    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    balance = summary["decoded_lines"] + summary["non_ais_lines"] + summary["deadletter_lines"]
    assert balance + summary["blank_lines"] == summary["lines"]
    assert summary["vessels"] == len(vessels)
    assert summary["segments"] == len(raw["features"])
