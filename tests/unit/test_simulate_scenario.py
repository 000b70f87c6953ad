"""The scenario simulator: deterministic by seed, every injected behaviour in the truth, clean
NMEA that ingest decodes completely, and physically plausible tracks."""

from __future__ import annotations

import gzip
import itertools
import random
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyais
import pytest
from pyais.encode import encode_dict

from ingest.pipeline import Ingestor
from ingest.records import PositionReport
from lookout.sim.encode import aivdm, position_payload, raw_rot
from lookout.sim.radio import report_interval_s
from lookout.sim.scenario import BEHAVIOURS, Scenario, ScenarioSettings
from lookout.sim.truth import HARD_NEGATIVE, MIGRANT_VOYAGE, TruthRecord, read_roster, read_truth
from lookout.simulate import Vessel, _position, write_scenario
from tests.builders import CollectingSink
from tracks.hygiene import distance_m

SETTINGS = ScenarioSettings(vessels=30, hours=10.0, seed=21, behaviour_rate=3.0)


class Run:
    def __init__(self, settings: ScenarioSettings) -> None:
        scenario = Scenario(settings)
        self.scenario = scenario
        self.lines = list(scenario.lines())
        self.truth = scenario.truth()
        self.info = scenario.info()
        sink = CollectingSink()
        ingestor = Ingestor(sink)
        for line in self.lines:
            ingestor.push(line.encode(), "sim", 0)
        ingestor.flush()
        self.stats = ingestor.stats
        self.sink = sink
        self.tracks: dict[int, list[PositionReport]] = defaultdict(list)
        for report in sink.positions:
            self.tracks[report.mmsi].append(report)
        for track in self.tracks.values():
            track.sort(key=lambda r: r.ts)

    def episodes(self, kind: str) -> list[TruthRecord]:
        return [t for t in self.truth if t.type == kind]


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(SETTINGS)


def test_position_payload_matches_pyais() -> None:
    rng = random.Random(5)
    for _ in range(300):
        kind = rng.choice((1, 18))
        mmsi = rng.randint(200_000_000, 799_999_999)
        lat, lon = rng.uniform(-89.9, 89.9), rng.uniform(-179.9, 179.9)
        sog = rng.choice((None, round(rng.uniform(0, 102.2), 1)))
        cog = rng.choice((None, round(rng.uniform(0, 359.9), 1)))
        heading = rng.choice((None, rng.randint(0, 359)))
        rot = rng.choice((None, rng.uniform(-700, 700)))
        msg = pyais.decode(
            aivdm(
                position_payload(
                    kind,
                    mmsi,
                    lat,
                    lon,
                    sog,
                    cog,
                    heading,
                    rng.randint(0, 59),
                    rng.randint(0, 15),
                    raw_rot(rot),
                ),
                "B",
            )
        )
        assert msg.msg_type == kind and msg.mmsi == mmsi
        assert msg.lat == pytest.approx(lat, abs=2e-6) and msg.lon == pytest.approx(lon, abs=2e-6)
        assert msg.speed == (102.3 if sog is None else pytest.approx(sog))
        assert msg.course == (360.0 if cog is None else pytest.approx(cog))
        assert msg.heading == (511 if heading is None else heading)


def test_simple_generator_packs_the_reports_pyais_encoded() -> None:
    """`lookout.simulate` packs its position reports by hand: the lines pyais's `encode_dict`
    wrote from the same fields, so a seed still gives the traffic it always gave."""
    rng = random.Random(9)
    for _ in range(2000):
        vessel = Vessel(
            mmsi=rng.randint(200_000_000, 799_999_999),
            class_a=rng.random() < 0.5,
            lat=rng.uniform(-89.9, 89.9),
            lon=rng.uniform(-179.9, 179.9),
            sog=rng.choice((0.1, 0.0, round(rng.uniform(0, 102.2), 1), rng.uniform(0, 60))),
            cog=rng.choice((rng.uniform(0, 360), 359.96, 0.04, rng.uniform(359.9, 360))),
            ship_type=30,
            name="X",
            callsign="X",
            imo=0,
            next_static_ms=0,
        )
        now_ms = rng.randint(0, 10**13)
        data: dict[str, Any] = {
            "mmsi": vessel.mmsi,
            "lat": round(vessel.lat, 5),
            "lon": round(vessel.lon, 5),
            "speed": vessel.sog,
            "course": round(vessel.cog, 1),
            "heading": round(vessel.cog) % 360,
            "second": (now_ms // 1000) % 60,
        }
        if vessel.class_a:
            data.update(type=1, status=1 if vessel.sog < 0.5 else 0, turn=0)
        else:
            data.update(type=18)
        want = encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel="A")
        assert _position(vessel, now_ms) == want, data


def test_itu_reporting_intervals() -> None:
    assert report_interval_s("A", 0.1, 1, 0.0) == 180.0  # at anchor
    assert report_interval_s("A", 0.1, 0, 0.0) == 10.0  # "under way" set: 10 s
    assert report_interval_s("A", 12.0, 0, 0.0) == 10.0
    assert report_interval_s("A", 12.0, 0, 20.0) == pytest.approx(10 / 3)  # changing course
    assert report_interval_s("A", 18.0, 0, 0.0) == 6.0
    assert report_interval_s("A", 25.0, 0, 0.0) == 2.0
    assert report_interval_s("B", 1.0, 0, 0.0) == 180.0
    assert report_interval_s("B", 6.0, 0, 0.0) == 30.0
    assert report_interval_s("sart", 1.0, 14, 0.0) == 60.0


def test_same_seed_same_scenario_other_seed_another() -> None:
    small = ScenarioSettings(
        vessels=8, hours=1.5, seed=3, behaviours=("distress", "identity_anomaly")
    )

    def once(settings: ScenarioSettings) -> tuple[list[str], list[dict[str, object]]]:
        scenario = Scenario(settings)
        lines = list(scenario.lines())
        return lines, [t.to_dict() for t in scenario.truth()]

    first, again = once(small), once(small)
    assert first == again and first[0]
    other = once(ScenarioSettings(vessels=8, hours=1.5, seed=4, behaviours=small.behaviours))
    assert other[0] != first[0]


def test_clean_traffic_decodes_without_dead_letters(run: Run) -> None:
    stats = run.stats
    assert stats.deadletter_lines == 0, stats.summary()
    assert stats.balanced and stats.lines == len(run.lines)
    assert {"1", "5", "18", "24"} <= set(stats.summary()["msg_types"])  # type: ignore[operator]
    # duplicates heard by two stations are recognised as such, never as new reports
    assert stats.duplicate_lines > 0


def test_every_behaviour_is_in_the_truth(run: Run) -> None:
    kinds = {t.type for t in run.truth}
    for behaviour in BEHAVIOURS:
        expected = MIGRANT_VOYAGE if behaviour == "migrant_voyage" else behaviour
        assert expected in kinds, f"{behaviour} missing from the truth"
    labels = {t.label for t in run.truth if t.type == HARD_NEGATIVE}
    assert {"trawling", "at_anchor", "tug_alongside", "ferry"} <= labels
    assert run.info.vessel_hours > 0 and run.info.vessels >= len(run.tracks) - 2


def test_ordinary_vessels_never_vanish(run: Run) -> None:
    """Background traffic keeps transmitting to the end (a ship that vanished mid-scenario would
    look like a vessel going dark, unlabelled)."""
    background = {"merchant", "anchored", "moored", "trawler", "gillnet", "fishing_transit",
                  "ferry", "patrol", "leisure", "tow"}  # fmt: skip
    gone = [(v.role, v.mmsi) for v in run.scenario.world.vessels
            if v.role in background and v.gone]  # fmt: skip
    assert not gone


def test_truth_vessels_are_heard(run: Run) -> None:
    heard = set(run.tracks)
    for t in run.truth:
        if t.type == HARD_NEGATIVE:
            continue
        assert heard & set(t.mmsis), f"{t.type} on {t.mmsis}: never heard"
    voyages = run.episodes(MIGRANT_VOYAGE)
    assert all(v.arrival is not None and v.arrival >= v.start for v in voyages)


def test_tracks_are_physically_plausible(run: Run) -> None:
    tricks: dict[int, list[TruthRecord]] = defaultdict(list)
    for t in run.truth:
        if t.type in ("position_jump", "speed_anomaly"):
            tricks[t.mmsi].append(t)
    for mmsi, track in run.tracks.items():
        for a, b in itertools.pairwise(track):
            dt = (b.ts - a.ts) / 1000
            if dt <= 0 or a.lat is None or b.lat is None:
                continue
            metres = distance_m(a.lat, a.lon, b.lat, b.lon)  # type: ignore[arg-type]
            knots = metres / dt * 3600 / 1852
            if metres > 200 and knots > 40:
                assert any(
                    t.start - 60_000 <= b.ts <= (t.end or b.ts) + 60_000 for t in tricks[mmsi]
                ), f"{mmsi}: {knots:.0f} kn at {b.ts}"


def _during(track: list[PositionReport], t: TruthRecord) -> list[PositionReport]:
    end = t.end if t.end is not None else 2**62
    return [r for r in track if t.start <= r.ts <= end]


def test_encounters_are_close_and_slow(run: Run) -> None:
    for t in run.episodes("encounter"):
        if t.optional:
            continue
        a, b = (_during(run.tracks[m], t) for m in t.mmsis)
        pairs = [(p, min(b, key=lambda q: abs(q.ts - p.ts))) for p in a if b]
        close = [
            distance_m(p.lat, p.lon, q.lat, q.lon)
            for p, q in pairs  # type: ignore[arg-type]
            if abs(p.ts - q.ts) <= 120_000
        ]
        assert close and statistics.median(close) < 500
        speeds = [r.sog for r in a + b if r.sog is not None]
        assert statistics.median(speeds) < 2.0


def test_loitering_is_slow_and_drifting_is_crabwise(run: Run) -> None:
    for t in run.episodes("loitering"):
        if t.optional:
            continue
        speeds = [r.sog for r in _during(run.tracks[t.mmsi], t) if r.sog is not None]
        assert speeds and statistics.mean(speeds) < 2.0
    for t in run.episodes("drifting"):
        if t.optional:
            continue
        fixes = _during(run.tracks[t.mmsi], t)
        speeds = [r.sog for r in fixes if r.sog is not None]
        assert speeds and 0.2 <= statistics.median(speeds) <= 3.0
        if not t.details.get("wandering"):
            off = [
                abs((r.cog - r.heading + 540) % 360 - 180)
                for r in fixes
                if r.cog is not None and r.heading is not None
            ]
            assert off and statistics.median(off) >= 45


def test_gaps_are_silences_of_hours(run: Run) -> None:
    for t in run.episodes("ais_gap"):
        track = run.tracks[t.mmsi]
        end = t.end if t.end is not None else run.info.end
        inside = [r for r in track if t.start < r.ts < end]
        assert not inside
        assert (end - t.start) / 3_600_000 >= (0.5 if t.optional else 2.0)


def test_noise_corrupts_lines_and_every_line_is_accounted() -> None:
    scenario = Scenario(ScenarioSettings(vessels=6, hours=0.5, seed=8, behaviours=(), noise=0.2))
    lines = list(scenario.lines())
    sink = CollectingSink()
    ingestor = Ingestor(sink)
    for line in lines:
        ingestor.push(line.encode(), "sim", 0)
    ingestor.flush()
    assert ingestor.stats.deadletter_lines > 0 and ingestor.stats.balanced


def test_write_scenario_gzip_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "day.nmea.gz", tmp_path / "truth.jsonl"
    info = write_scenario(
        out, truth, ScenarioSettings(vessels=6, hours=1.0, seed=2, behaviours=("identity_anomaly",))
    )
    with gzip.open(out, "rt", encoding="ascii") as stream:
        lines = stream.read().splitlines()
    assert len(lines) == info.counts["lines"] and lines[0].startswith("\\s:")
    read_info, records = read_truth(truth)
    assert read_info is not None and read_info.seed == 2
    assert any(r.type == "identity_anomaly" for r in records)
    roster = read_roster(truth)
    assert any(v["role"] == "identity_anomaly" for v in roster.values())
