"""A scenario: a region's traffic for some hours, with labelled behaviours, as NMEA and truth.

    scenario = Scenario(ScenarioSettings(vessels=300, hours=24, seed=7))
    for line in scenario.lines():        # NMEA 4 tag-block lines, in time order
        ...
    info, truth = scenario.info(), scenario.truth()   # once the lines are consumed

The same settings give the same lines and truth, byte for byte. Vessels are independent random
streams (named by role and number), so adding a behaviour does not reshuffle the rest.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from lookout.sim.names import IdentityFactory
from lookout.sim.radio import Outage, Radio, RadioSettings
from lookout.sim.region import REGIONS
from lookout.sim.truth import HARD_NEGATIVE, ScenarioInfo, TruthRecord
from lookout.sim.vessel import SimVessel
from lookout.sim.world import HOUR, World

__all__ = ["BEHAVIOURS", "Scenario", "ScenarioSettings"]

BEHAVIOURS: Final = (
    "ais_gap",
    "encounter",
    "loitering",
    "drifting",
    "distress",
    "position_jump",
    "speed_anomaly",
    "identity_anomaly",
    "zone_entry",
    "coastal_approach",
    "route_anomaly",
    "migrant_voyage",
)
ZONE_CHECK_MS: Final = 60_000
REENTRY_MS: Final = 3_600_000
RECEPTION_GAP_MS: Final = 90 * 60_000
ROUTINE_SHIP_TYPES: Final = frozenset(range(60, 90))  # merchant traffic: routine transits


@dataclass(frozen=True, slots=True)
class ScenarioSettings:
    scenario: str = "bay-of-bengal"
    vessels: int = 300  # background vessels (behaviours add their own)
    hours: float = 24.0
    seed: int = 1
    start_ms: int = 1_714_521_600_000  # 2024-05-01T00:00:00Z
    behaviours: tuple[str, ...] = BEHAVIOURS
    behaviour_rate: float = 1.0  # scales how many of each behaviour
    extra_rates: tuple[tuple[str, float], ...] = ()  # (behaviour, multiplier): more of some
    noise: float = 0.0  # share of corrupted lines (the dead-letter path)
    position_noise: float = 1.0  # scales GNSS scatter
    report_scale: float = 1.0  # scales the ITU reporting intervals
    min_interval_s: float = 0.0  # a feed that keeps at most one report per vessel this often
    reception: float = 1.0  # scales reception probabilities
    satellite: bool = True
    coverage_holes: int | None = None  # None: about three a day
    duplicates: bool = True
    hard_negatives: bool = True  # include the hard-negative behaviours and labels

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["behaviours"] = list(self.behaviours)
        data["extra_rates"] = [list(item) for item in self.extra_rates]
        return data


@dataclass
class _Stats:
    lines: int = 0
    messages: int = 0
    by_role: dict[str, int] = field(default_factory=dict)


class Scenario:
    def __init__(self, settings: ScenarioSettings) -> None:
        from anomaly.geo import load_geography

        unknown = set(settings.behaviours) - set(BEHAVIOURS)
        if unknown:
            raise ValueError(f"unknown behaviours: {', '.join(sorted(unknown))}")
        if settings.scenario not in REGIONS:
            raise ValueError(f"unknown scenario {settings.scenario!r}; known: {sorted(REGIONS)}")
        self.settings = settings
        start = settings.start_ms
        end = start + int(settings.hours * HOUR)
        self.world = World(
            region=REGIONS[settings.scenario],
            geo=load_geography(),
            seed=settings.seed,
            start_ms=start,
            end_ms=end,
            ids=IdentityFactory(random.Random(f"{settings.seed}:ids")),
            settings={
                "vessels": settings.vessels,
                "behaviour_rate": settings.behaviour_rate,
                "extra_rates": dict(settings.extra_rates),
            },
        )
        self._plan_outages()
        self.radio = Radio(
            self.world.region.receivers,
            RadioSettings(
                reception=settings.reception,
                satellite=settings.satellite,
                duplicates=settings.duplicates,
            ),
            start,
            end,
            self.world.rng("satellites"),
            tuple(self.world.outages),
        )
        from lookout.sim.behaviours import inject
        from lookout.sim.fleet import build_background

        build_background(self.world, settings.vessels)
        inject(self.world, settings.behaviours)
        if not settings.hard_negatives:
            self.world.truth = [t for t in self.world.truth if t.type != HARD_NEGATIVE]
        for vessel in self.world.vessels:
            vessel.gps_sigma_m *= settings.position_noise
            vessel.report_scale = settings.report_scale
            vessel.min_interval_ms = int(settings.min_interval_s * 1000)
        self.stats = _Stats()
        self._done = False
        self._blackout_members: dict[str, set[int]] = {}

    # -- coverage holes ---------------------------------------------------------------
    def _plan_outages(self) -> None:
        world = self.world
        s = self.settings
        rng = world.rng("outages")
        count = s.coverage_holes
        if count is None:
            count = round(world.hours / 24 * 3) if world.hours >= 6 else 0
        busy = [
            r
            for r in world.region.receivers
            if r.id.split("-")[0] in ("bd", "mm", "th", "my", "id", "in")
        ]
        for number in range(count):
            rx = rng.choice(busy)
            hours = rng.uniform(2.5, 6.0)
            latest = max(0.5, world.hours - hours - 0.5)
            start = world.start_ms + int(rng.uniform(0.5, latest) * HOUR)
            end = start + int(hours * HOUR)
            if number % 2 == 0:  # a whole area goes silent: a feed or a provider is down
                outage = Outage(
                    f"hole-{number + 1}", start, end, rx.at[0], rx.at[1], rx.range_nm * 1.852 * 1.1
                )
            else:  # one station down: its area falls back to the satellites
                outage = Outage(
                    f"station-{number + 1}",
                    start,
                    end,
                    rx.at[0],
                    rx.at[1],
                    rx.range_nm * 1.852,
                    station=rx.id,
                )
            world.outages.append(outage)

    # -- the run ----------------------------------------------------------------------
    def lines(self) -> Iterator[str]:
        """Every received line, in time order. Consume it whole before reading the truth."""
        if self._done:
            raise RuntimeError("a scenario runs once; build another to run it again")
        world = self.world
        s = self.settings
        start, end = world.start_ms, world.end_ms
        noise_rng = world.rng("noise")
        groups = itertools.cycle(range(1, 10_000))
        heap: list[tuple[int, int, int]] = []
        for index, vessel in enumerate(world.vessels):
            vessel.start()
            first = max(start, vessel.appear_ms)
            if vessel.appear_ms < start:
                vessel.fast_forward(start)
            heapq.heappush(heap, (first + vessel.rng.randint(0, 10_000), index, index))
        pending_outages = sorted(
            (o for o in world.outages if o.station is None), key=lambda o: o.start_ms
        )
        seq = len(world.vessels)
        stats = self.stats
        while heap:
            t, _, index = heapq.heappop(heap)
            if t > end:
                continue
            while pending_outages and pending_outages[0].start_ms <= t:
                self._snapshot(pending_outages.pop(0))
            vessel = world.vessels[index]
            lines = vessel.tick(t, self.radio, groups)
            if vessel.watch and t >= vessel.next_zone_check and not vessel.gone:
                self._check_zones(vessel, t)
            for line in lines:
                stats.lines += 1
                if s.noise and noise_rng.random() < s.noise:
                    line = _corrupt(line, noise_rng)
                yield line
            if not vessel.gone:
                seq += 1
                heapq.heappush(heap, (vessel.next_tick(t), seq, index))
        self._done = True
        self._finish()

    def _snapshot(self, outage: Outage) -> None:
        members = set()
        for vessel in self.world.vessels:
            if vessel.gone or vessel.appear_ms > outage.start_ms:
                continue
            if outage.covers(vessel.kin.lat, vessel.kin.lon, outage.start_ms):
                members.add(vessel.mmsi)
        self._blackout_members[outage.id] = members

    def _check_zones(self, vessel: SimVessel, t: int) -> None:
        vessel.next_zone_check = t + ZONE_CHECK_MS
        kin = vessel.kin
        inside = self.world.geo.in_watch_area(kin.lat, kin.lon)
        if vessel.inside_watch is False and inside:
            vessel.entries.append(
                (t, kin.lat, kin.lon, self.world.watch_areas_at(kin.lat, kin.lon))
            )
        vessel.inside_watch = inside

    # -- the truth --------------------------------------------------------------------
    def _finish(self) -> None:
        world = self.world
        for finalize in world.finalizers:
            finalize()
        self._label_zone_entries()
        self._label_outages()
        self._label_reception_gaps()
        # episodes that never showed (a behaviour whose vessel no receiver heard) are dropped
        kept: list[TruthRecord] = []
        for record in world.truth:
            if record.details.pop("_drop", False):
                continue
            kept.append(record)
        kept.sort(key=lambda r: (r.start, r.type, r.mmsis))
        for number, record in enumerate(kept, start=1):
            record.id = f"T{number:05d}"
        world.truth = kept

    def _label_zone_entries(self) -> None:
        world = self.world
        for vessel in world.vessels:
            last_entry = -REENTRY_MS * 10
            for t, lat, lon, zones in vessel.entries:
                if t - last_entry < REENTRY_MS:
                    continue
                last_entry = t
                identity = vessel.identity_at(t)
                ship_type = identity.ship_type if identity else 0
                routine = ship_type in ROUTINE_SHIP_TYPES or vessel.ais_class not in ("A", "B")
                heard_near = vessel.rx_times is None or _heard_within(vessel, t, 20 * 60_000)
                world.label(
                    "zone_entry",
                    [vessel.mmsi],
                    t,
                    None,
                    (lat, lon),
                    optional=routine or vessel.is_dark(t) or not heard_near,
                    zones=list(zones),
                    ship_type=ship_type,
                    role=vessel.role,
                )

    def _label_outages(self) -> None:
        world = self.world
        for outage in world.outages:
            members = sorted(self._blackout_members.get(outage.id, ()))
            if outage.station is None and members:
                world.negative(
                    "coverage_hole",
                    members,
                    outage.start_ms,
                    outage.end_ms,
                    ["ais_gap"],
                    (outage.lat, outage.lon),
                    radius_km=round(outage.radius_km, 1),
                    outage=outage.id,
                )

    def _label_reception_gaps(self) -> None:
        """Silences of a vessel that kept transmitting: reception, not the vessel."""
        world = self.world
        for vessel in world.vessels:
            times = vessel.rx_times
            if times is None or len(times) < 2:
                continue
            holes = [
                o for o in world.outages if vessel.mmsi in self._blackout_members.get(o.id, ())
            ]
            previous = times[0]
            for t in itertools.chain(times[1:], [world.end_ms] if not vessel.gone else []):
                in_hole = any(o.start_ms < t and o.end_ms > previous for o in holes)
                if (
                    t - previous >= RECEPTION_GAP_MS
                    and not in_hole
                    and not _dark_between(vessel, previous, t)
                ):
                    world.negative(
                        "reception_gap",
                        [vessel.mmsi],
                        previous,
                        t if t < world.end_ms else None,
                        ["ais_gap"],
                        hours=round((t - previous) / HOUR, 2),
                    )
                previous = t

    def roster(self) -> list[dict[str, Any]]:
        """Every simulated transmitter that was heard: MMSI, role, class, ship type."""
        out = []
        for vessel in self.world.vessels:
            if vessel.first_rx is None:
                continue
            identity = vessel.identity_at(vessel.first_rx)
            out.append(
                {
                    "mmsi": vessel.mmsi,
                    "role": vessel.role,
                    "ais_class": vessel.ais_class,
                    "ship_type": identity.ship_type if identity else None,
                    "name": identity.name if identity and vessel.sends_static else None,
                    "messages": vessel.rx_count,
                }
            )
        return out

    def truth(self) -> list[TruthRecord]:
        if not self._done:
            raise RuntimeError("consume lines() first")
        return list(self.world.truth)

    def info(self) -> ScenarioInfo:
        if not self._done:
            raise RuntimeError("consume lines() first")
        world = self.world
        spans: dict[int, tuple[int, int]] = {}
        for vessel in world.vessels:
            if vessel.first_rx is None or vessel.last_rx is None:
                continue
            lo, hi = spans.get(vessel.mmsi, (vessel.first_rx, vessel.last_rx))
            spans[vessel.mmsi] = (min(lo, vessel.first_rx), max(hi, vessel.last_rx))
        hours = sum((hi - lo) / HOUR for lo, hi in spans.values())
        counts: dict[str, int] = {}
        for record in world.truth:
            key = record.type if record.type != HARD_NEGATIVE else f"hard_negative:{record.label}"
            counts[key] = counts.get(key, 0) + 1
        return ScenarioInfo(
            scenario=self.settings.scenario,
            seed=self.settings.seed,
            start=world.start_ms,
            end=world.end_ms,
            vessels=len(spans),
            vessel_hours=hours,
            settings=self.settings.to_dict(),
            counts=dict(sorted(counts.items())),
        )


def _heard_within(vessel: SimVessel, t: int, window: int) -> bool:
    times = vessel.rx_times
    if not times:
        return False
    import bisect

    i = bisect.bisect_left(times, t - window)
    return i < len(times) and times[i] <= t + window


def _dark_between(vessel: SimVessel, a: int, b: int) -> bool:
    for window in vessel.dark:
        if window.start_ms < b and window.end_ms > a:
            return True
    if vessel.dark_when is not None and vessel.gone_ms is not None and vessel.gone_ms <= b:
        return True
    return vessel.dark_when is not None and vessel.role == "migrant"


def _corrupt(line: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:  # a flipped character: the checksum no longer matches
        at = rng.randrange(len(line) - 8, len(line) - 4)
        return line[:at] + ("0" if line[at] != "0" else "1") + line[at + 1 :]
    if roll < 0.8:
        return line[: rng.randrange(10, len(line) - 4)]  # truncated
    return "$GPGGA,120000.00,2130.000,N,09130.000,E,1,08,1.0,10.0,M,0.0,M,,*"  # a stray line
