"""A traffic generator: vessels moving in a region, written as NMEA with tag-block times.

Used for the bundled sample, the benchmarks and the integration tests. Each vessel sails
straight legs with gentle course changes; class A vessels report every 10 s under way and
every 3 min at anchor, class B every 30 s; static data (type 5, or type 24 A/B) every 6 min,
type 5 split over two sentences grouped by tag block. A small share of lines can be corrupted
(`noise`) to exercise the dead-letter path.

`write_scenario` is the realistic one (`lookout simulate --scenario bay-of-bengal`): traffic on
the region's lanes, fishing grounds, ferries and anchorages, ITU reporting rates, coastal
stations and satellite passes, coverage holes, and injected behaviours of every alert type
with a truth file (`lookout.sim`).
"""

from __future__ import annotations

import gzip
import heapq
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookout.sim.encode import aivdm, packed_position, static_sentences, with_tags

if TYPE_CHECKING:
    from lookout.sim.scenario import ScenarioSettings
    from lookout.sim.truth import ScenarioInfo

EARTH_RADIUS_M = 6_371_000.0
KNOT_MS = 1852 / 3600

# Bay of Bengal and Andaman Sea, open water (west, south, east, north).
BAY_OF_BENGAL = (82.0, 8.0, 95.5, 19.5)
# Flags seen in the region: Bangladesh, India, Myanmar, Thailand, Malaysia, Indonesia,
# Sri Lanka, and the large open registers.
REGION_MIDS = (405, 405, 419, 419, 506, 506, 567, 533, 525, 417, 477, 563, 636, 538, 351)
SHIP_TYPES = (30, 30, 30, 70, 70, 80, 60, 52, 37, 90)


@dataclass
class Vessel:
    mmsi: int
    class_a: bool
    lat: float
    lon: float
    sog: float
    cog: float
    ship_type: int
    name: str
    callsign: str
    imo: int
    next_static_ms: int
    part_b_next: bool = False

    def interval_ms(self) -> int:
        if not self.class_a:
            return 30_000
        return 180_000 if self.sog < 0.5 else 10_000

    def advance(self, seconds: float, rng: random.Random) -> None:
        distance = self.sog * KNOT_MS * seconds
        bearing = math.radians(self.cog)
        lat1, lon1 = math.radians(self.lat), math.radians(self.lon)
        angular = distance / EARTH_RADIUS_M
        lat2 = math.asin(
            math.sin(lat1) * math.cos(angular)
            + math.cos(lat1) * math.sin(angular) * math.cos(bearing)
        )
        lon2 = lon1 + math.atan2(
            math.sin(bearing) * math.sin(angular) * math.cos(lat1),
            math.cos(angular) - math.sin(lat1) * math.sin(lat2),
        )
        self.lat, self.lon = math.degrees(lat2), math.degrees(lon2)
        self.cog = (self.cog + rng.gauss(0, 0.5)) % 360


def _make_vessel(index: int, rng: random.Random, start_ms: int) -> Vessel:
    west, south, east, north = BAY_OF_BENGAL
    mid = rng.choice(REGION_MIDS)
    anchored = rng.random() < 0.1
    return Vessel(
        mmsi=mid * 1_000_000 + 100_000 + index,
        class_a=rng.random() < 0.7,
        lat=rng.uniform(south, north),
        lon=rng.uniform(west, east),
        sog=0.1 if anchored else round(rng.uniform(3, 14), 1),
        cog=rng.uniform(0, 360),
        ship_type=rng.choice(SHIP_TYPES),
        name=f"SIM VESSEL {index}",
        callsign=f"S{index:05d}",
        imo=9_000_000 + index * 7,
        next_static_ms=start_ms + rng.randint(0, 360_000),
    )


# What pyais's `encode_dict` writes after the time stamp when given none of it: type 1, the
# manoeuvre indicator 3 and zeros; type 18, zeros.
_PYAIS_TAIL_1 = 3 << 23
_PYAIS_TAIL_18 = 0


def _position(vessel: Vessel, now_ms: int) -> list[str]:
    """A type 1 (class A) or 18 (class B) report, packed by hand (pyais's general encoder is
    about four fifths of a simulation's time) into the bits `encode_dict` made of it: latitude
    and longitude to 5 decimals, speed and course in tenths cut short, no turn indicator."""
    payload = packed_position(
        1 if vessel.class_a else 18,
        vessel.mmsi,
        lat_raw=round(round(vessel.lat, 5) * 600_000.0),
        lon_raw=round(round(vessel.lon, 5) * 600_000.0),
        sog_raw=int(vessel.sog * 10.0),
        cog_raw=int(round(vessel.cog, 1) * 10.0),
        heading=round(vessel.cog) % 360,
        second=(now_ms // 1000) % 60,
        nav_status=1 if vessel.sog < 0.5 else 0,
        rot_raw=0,
        tail=_PYAIS_TAIL_1 if vessel.class_a else _PYAIS_TAIL_18,
    )
    return [aivdm(payload, "A")]


def _static(vessel: Vessel) -> list[str]:
    data: dict[str, Any]
    if vessel.class_a:
        data = {
            "type": 5, "mmsi": vessel.mmsi, "imo": vessel.imo, "callsign": vessel.callsign,
            "shipname": vessel.name, "ship_type": vessel.ship_type, "to_bow": 20,
            "to_stern": 10, "to_port": 4, "to_starboard": 4, "draught": 4.2,
            "destination": "CHITTAGONG", "month": 5, "day": 14, "hour": 6, "minute": 30,
        }  # fmt: skip
    else:
        vessel.part_b_next = not vessel.part_b_next
        data = {"type": 24, "mmsi": vessel.mmsi, "partno": 1 if vessel.part_b_next else 0}
        if vessel.part_b_next:
            data.update(ship_type=vessel.ship_type, callsign=vessel.callsign, to_bow=8,
                        to_stern=4, to_port=2, to_starboard=2)  # fmt: skip
        else:
            data.update(shipname=vessel.name)
    return static_sentences(data, "B")


def _corrupt(line: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:  # a flipped character: the checksum no longer matches
        at = rng.randrange(len(line) - 8, len(line) - 4)
        return line[:at] + ("0" if line[at] != "0" else "1") + line[at + 1 :]
    if roll < 0.8:
        return line[: rng.randrange(10, len(line) - 4)]  # truncated
    return "$GPGGA,120000.00,2130.000,N,09130.000,E,1,08,1.0,10.0,M,0.0,M,,*"  # a stray line


def simulate(
    vessels: int = 100,
    hours: float = 2.0,
    seed: int = 1,
    start_ms: int = 1_714_521_600_000,  # 2024-05-01T00:00:00Z
    noise: float = 0.0,
    station: str = "lookout-sim",
) -> Iterator[str]:
    """NMEA lines with tag-block times, in time order."""
    rng = random.Random(seed)
    fleet = [_make_vessel(i, rng, start_ms) for i in range(vessels)]
    queue = [(start_ms + rng.randint(0, v.interval_ms()), i) for i, v in enumerate(fleet)]
    heapq.heapify(queue)
    end_ms = start_ms + int(hours * 3_600_000)
    last_ms = [start_ms] * vessels
    group = 0
    while queue:
        now_ms, index = heapq.heappop(queue)
        if now_ms > end_ms:
            continue
        vessel = fleet[index]
        vessel.advance((now_ms - last_ms[index]) / 1000, rng)
        last_ms[index] = now_ms
        sentences = [_position(vessel, now_ms)]
        if now_ms >= vessel.next_static_ms:
            sentences.append(_static(vessel))
            vessel.next_static_ms = now_ms + 360_000
        for sentence in sentences:
            group = group % 9999 + 1
            for line in with_tags(sentence, now_ms // 1000, group, station):
                yield _corrupt(line, rng) if noise and rng.random() < noise else line
        heapq.heappush(queue, (now_ms + vessel.interval_ms(), index))


# -- scenarios: regional traffic with labelled behaviours (lookout.sim) --------------------
def write_scenario(
    out: str | Path,
    truth: str | Path,
    settings: ScenarioSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScenarioInfo:
    """Simulate a scenario: NMEA with tag-block times to `out` (gzip when it ends in .gz),
    its truth to `truth` (JSON lines, see `lookout.sim.truth`). Returns the scenario line."""
    from lookout.sim.scenario import Scenario, ScenarioSettings
    from lookout.sim.truth import write_truth

    scenario = Scenario(settings or ScenarioSettings())
    out_path = Path(out)
    opener: Any = gzip.open if out_path.suffix == ".gz" else open
    count = 0
    with opener(out_path, "wt", encoding="ascii", newline="\n") as stream:
        write = stream.write
        for line in scenario.lines():
            write(line)
            write("\n")
            count += 1
            if progress is not None and count % 100_000 == 0:
                progress(count)
    info = scenario.info()
    info.counts["lines"] = count
    write_truth(Path(truth), info, scenario.truth(), scenario.roster())
    return info
