"""Injected behaviours, one function each, every one written to the truth file.

Each behaviour builds its own vessel(s) with a designed plan, physically plausible (speeds,
turns and reporting as any other vessel of its kind) and varied by its random stream: where it
happens, when, how long, with which kind of vessel. Durations are drawn comfortably beyond the
published thresholds (a gap of 2 h in a watch area or 6 h elsewhere, a meeting of 2 h, 4 h of
loitering, 1 h of drifting); episodes that the scenario's span cuts short, or that were drawn
borderline on purpose, are labelled `optional`.

A truth record's `also` lists alert types that would be a fair call on the same vessel at the
same time without being the point (a spoofed position is also an impossible speed; a migrant
boat may well raise a route anomaly): the evaluation counts those neither as hits nor as false
alarms.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from ingest.mmsi import MIDS
from lookout.sim.fleet import spawn
from lookout.sim.motion import (
    NOT_UNDER_COMMAND,
    SART_ACTIVE,
    SHIP,
    SMALL,
    UNDEFINED,
    UNDER_WAY,
    Anchor,
    Drift,
    Kin,
    Loiter,
    Phase,
    Pursue,
    Sail,
    Trawl,
    destination,
    move,
    path_length_m,
)
from lookout.sim.region import Landing
from lookout.sim.truth import MIGRANT_VOYAGE, TruthRecord
from lookout.sim.vessel import Identity, SimVessel, Window
from lookout.sim.world import HOUR, LatLon, NoRoomError, World
from tracks.hygiene import distance_m, initial_bearing

__all__ = ["inject"]

NM: Final = 1852.0
GAP_WATCH_H: Final = 2.0
GAP_ELSEWHERE_H: Final = 6.0
ROUTE: Final = "route_anomaly"

# Behaviours per 300 vessels per day.
RATES: Final = {
    "ais_gap": 6,
    "encounter": 5,
    "loitering": 5,
    "drifting": 5,
    "distress": 4,
    "position_jump": 5,
    "speed_anomaly": 4,
    "identity_anomaly": 6,
    "zone_entry": 3,
    "coastal_approach": 3,
    "route_anomaly": 2,
    "migrant_voyage": 4,
}
PLACEHOLDERS: Final = (
    123_456_789,
    111_111_111,
    222_222_222,
    100_000_000,
    999_999_999,
    555_555_555,
    412_000_000,
    405_000_000,
    987_654_321,
)


def _metres(knots: float, hours: float) -> float:
    return knots * NM * hours


def _window(
    world: World, rng: random.Random, duration_h: float, lead_h: float, tail_h: float
) -> tuple[int, float] | None:
    """(episode start, duration) fitting the scenario; the duration shrinks if it must."""
    room = world.hours - lead_h - tail_h
    if room < 0.25:
        return None
    duration_h = min(duration_h, room)
    start = world.start_ms + int((lead_h + rng.uniform(0.0, room - duration_h)) * HOUR)
    return start, duration_h


def _rx_before(vessel: SimVessel, t: int) -> int | None:
    times = vessel.rx_times
    if not times:
        return None
    import bisect

    i = bisect.bisect_left(times, t)
    return times[i - 1] if i > 0 else None


def _rx_after(vessel: SimVessel, t: int) -> int | None:
    times = vessel.rx_times
    if not times:
        return None
    import bisect

    i = bisect.bisect_left(times, t)
    return times[i] if i < len(times) else None


def _rx_in(vessel: SimVessel, a: int, b: int) -> list[int]:
    times: array[int] | None = vessel.rx_times
    if not times:
        return []
    import bisect

    return list(times[bisect.bisect_left(times, a) : bisect.bisect_left(times, b)])


def _phase_start(vessel: SimVessel, name: str, after: int = 0) -> int | None:
    for t, phase in vessel.phase_log:
        if phase == name and t >= after:
            return t
    return None


def _onward(
    world: World, rng: random.Random, at: LatLon, course: float, knots: float
) -> list[LatLon]:
    """Waypoints carrying on from `at` roughly along `course` at sea for the rest of the day."""
    points = [at]
    here = at
    need = _metres(knots, world.hours + 2)
    run = 0.0
    for _ in range(12):
        for _ in range(12):
            leg = rng.uniform(40_000, 120_000)
            nxt = destination(here[0], here[1], course, leg)
            if world.offshore_nm(*nxt) > 6 and world.is_sea_path([here, nxt], 4.0):
                break
            course = (course + rng.choice((-1, 1)) * rng.uniform(20, 70)) % 360
        else:
            break
        points.append(nxt)
        here = nxt
        run += leg
        if run > need:
            break
        course = (course + rng.gauss(0, 15)) % 360
    return points[1:] if len(points) > 1 else [destination(at[0], at[1], course, 20_000)]


def _coastal_boxes(world: World) -> list[tuple[float, float, float, float]]:
    """Boxes round the coastal stations, for behaviours that must be heard from the shore."""
    out = []
    for rx in world.region.receivers:
        d = rx.range_nm / 60.0
        out.append((rx.at[1] - d, rx.at[0] - d, rx.at[1] + d, rx.at[0] + d))
    return out


def _nearest_ground(world: World, at: LatLon) -> Any:
    return min(world.region.grounds, key=lambda g: distance_m(*at, *g.centre))


def _go_fishing(world: World, rng: random.Random, at: LatLon, speed: float) -> Iterator[Phase]:
    """What a small boat does after its episode: steam to the nearest fishing ground and fish
    there (small boats do not cross the open sea for no reason: that is a migrant's track)."""
    ground = _nearest_ground(world, at)
    spot = move(
        ground.centre[0],
        ground.centre[1],
        rng.uniform(0, 360),
        rng.uniform(0, ground.radius_km * 600),
    )
    if world.is_sea_path([at, spot], 4.0):
        yield Sail([spot], min(speed, 8.0), arrive_m=500.0)
        yield Trawl(
            ground.centre,
            ground.radius_km * 1000,
            ground.tow_course,
            world.end_ms + 2 * HOUR,
            reports_fishing=False,
            tow_speed=rng.uniform(2.6, 4.0),
        )
    else:
        yield Loiter(at, 3000.0, world.end_ms + 2 * HOUR, speed=(2.5, 4.0))


def _fishing_start(world: World, rng: random.Random) -> tuple[Any, LatLon]:
    ground = rng.choice(world.region.grounds)
    for _ in range(50):
        p = move(
            ground.centre[0],
            ground.centre[1],
            rng.uniform(0, 360),
            rng.uniform(0, ground.radius_km * 700),
        )
        if world.offshore_nm(*p) > 2.0:
            return ground, p
    return ground, ground.centre


def _watch_boxes(world: World) -> list[tuple[float, float, float, float]]:
    return [z.geometry.bounds for z in world.geo.zones if z.kind == "watch_area"]


def _mid(world: World, rng: random.Random, countries: Sequence[str]) -> tuple[int, ...]:
    return world.region.mids[rng.choice(list(countries))]


def _small_craft(
    world: World, rng: random.Random, mmsi: int, country: str, ship_type: int = 30
) -> Identity:
    return world.ids.small(mmsi, ship_type, country, length=rng.randint(12, 30))


def _also(*types: str) -> list[str]:
    return sorted({*types, ROUTE})


# -- ais_gap ------------------------------------------------------------------------------
def ais_gap(world: World, rng: random.Random, k: int) -> None:
    """A vessel reporting regularly goes dark for hours and reappears elsewhere: a merchant
    ship that makes an unseen detour, or a fishing boat that leaves its ground dark and is seen
    again fishing tens of kilometres away."""
    in_watch = k % 2 == 0
    threshold = GAP_WATCH_H if in_watch else GAP_ELSEWHERE_H
    want = rng.uniform(2.8, 5.5) if in_watch else rng.uniform(7.0, 11.0)
    slot = _window(world, rng, want, rng.uniform(1.5, 2.5), rng.uniform(1.0, 2.0))
    if slot is None:
        return
    dark_start, dark_h = slot
    dark_end = dark_start + int(dark_h * HOUR)
    lead_h = (dark_start - world.start_ms) / HOUR
    fishing = rng.random() < 0.3

    def ok(lat: float, lon: float) -> bool:
        return (world.geo.in_watch_area(lat, lon) == in_watch) and not world.in_outage(
            lat, lon, dark_start - 3 * HOUR, dark_start + int((dark_h + 3) * HOUR)
        )

    if fishing:
        made = _dark_fisher(world, rng, ok, dark_start, dark_end)
        if made is None:
            return
        vessel, a, c = made
    else:
        speed = rng.uniform(8.0, 13.0)
        boxes = _watch_boxes(world) if in_watch else None
        for _ in range(30):
            try:
                a = world.sea_point(rng, min_nm=15 if in_watch else 25, boxes=boxes, check=ok)
                p0, course = world.straight_run(rng, a, _metres(speed, lead_h), min_nm=5)
            except NoRoomError:
                continue
            detour = (course + rng.choice((-1, 1)) * rng.uniform(30, 100)) % 360
            b = destination(a[0], a[1], detour, _metres(speed, dark_h * rng.uniform(0.3, 0.5)))
            onward = (course + rng.gauss(0, 30)) % 360
            c = destination(b[0], b[1], onward, _metres(speed, dark_h * 0.45))
            if world.offshore_nm(*b) < 5 or world.offshore_nm(*c) < 5:
                continue
            if not world.is_sea_path([a, b, c], 3.0):
                continue
            break
        else:
            return
        country = rng.choice(("BD", "MM", "IN", "TH", "MY", "ID"))
        mmsi = world.ids.mmsi(world.region.mids["XX" if rng.random() < 0.6 else country])
        identity = world.ids.merchant(mmsi, rng.choice((70, 79, 80, 70)), "")
        rest = _onward(world, rng, c, onward, speed)
        vessel = spawn(
            world,
            "gap",
            rng,
            mmsi=mmsi,
            ais_class="A",
            identity=identity,
            at=p0,
            heading=course,
            speed=speed,
            handling=SHIP,
            plan=iter([Sail([a, b, c, *rest], speed, arrive_m=600.0)]),
        )
    mmsi = vessel.mmsi
    vessel.dark.append(Window(dark_start, dark_end))
    record = world.label(
        "ais_gap",
        [mmsi],
        dark_start,
        dark_end,
        a,
        variant="fishing" if fishing else "passage",
        optional=dark_h < threshold + 0.3,
        dark_hours=round(dark_h, 2),
        in_watch_area=in_watch,
        also=_also("position_jump", "speed_anomaly"),
    )

    def finalize() -> None:
        last = _rx_before(vessel, dark_start)
        first = _rx_after(vessel, dark_end)
        if last is None:
            record.details["_drop"] = True
            return
        record.start = last
        record.end = first
        silent_h = ((first or world.end_ms) - last) / HOUR
        record.details["silent_hours"] = round(silent_h, 2)
        if silent_h < threshold + 0.3:
            record.optional = True
        if first is not None:
            record.details["reappeared_km"] = round(distance_m(*a, *c) / 1000, 1)

    world.finalizers.append(finalize)


def _dark_fisher(
    world: World,
    rng: random.Random,
    ok: Callable[[float, float], bool],
    dark_start: int,
    dark_end: int,
) -> tuple[SimVessel, LatLon, LatLon] | None:
    """A fishing boat trawling its ground that goes dark, moves 20-60 km and fishes on."""
    grounds = [g for g in world.region.grounds if ok(*g.centre)]
    if not grounds:
        return None
    ground = rng.choice(grounds)
    a = ground.centre
    for _ in range(40):
        a = move(
            ground.centre[0],
            ground.centre[1],
            rng.uniform(0, 360),
            rng.uniform(0, ground.radius_km * 700),
        )
        if world.offshore_nm(*a) > 3 and ok(*a):
            break
    else:
        return None
    c = a
    for _ in range(40):
        c = destination(a[0], a[1], rng.uniform(0, 360), rng.uniform(20_000, 60_000))
        if world.offshore_nm(*c) > 3 and world.is_sea_path([a, c], 3.0):
            break
    else:
        return None
    country = ground.country
    mmsi = world.ids.mmsi(world.region.mids[country])
    identity = _small_craft(world, rng, mmsi, country, 30)
    cls = "B" if rng.random() < 0.6 else "A"
    tow = rng.uniform(2.6, 4.0)
    leave = dark_start + int(rng.uniform(0.2, 0.5) * (dark_end - dark_start))

    def plan() -> Iterator[Phase]:
        yield Trawl(a, 4000.0, ground.tow_course, leave, reports_fishing=cls == "A", tow_speed=tow)
        yield Sail([c], rng.uniform(6.0, 8.0), arrive_m=500.0)
        yield Trawl(
            c,
            6000.0,
            ground.tow_course,
            world.end_ms + 2 * HOUR,
            reports_fishing=cls == "A",
            tow_speed=tow,
        )

    vessel = spawn(
        world,
        "gap",
        rng,
        mmsi=mmsi,
        ais_class=cls,
        identity=identity,
        at=a,
        heading=ground.tow_course,
        speed=tow,
        handling=SMALL,
        plan=plan(),
        nav_status=UNDER_WAY,
    )
    return vessel, a, c


# -- encounter ----------------------------------------------------------------------------
class MeetingPath:
    """Where two vessels keep together: a slow drift with some wander, a function of time."""

    def __init__(self, rng: random.Random, at: LatLon, t0: int) -> None:
        self.at = at
        self.t0 = t0
        self.course = rng.uniform(0, 360)
        self.speed = rng.uniform(0.3, 1.3)
        self.amp = rng.uniform(40.0, 200.0)
        self.period_ms = rng.uniform(40, 100) * 60_000
        self.phase = rng.uniform(0, 2 * math.pi)

    def centre(self, t: int) -> LatLon:
        hours = (t - self.t0) / HOUR
        lat, lon = move(self.at[0], self.at[1], self.course, _metres(self.speed, hours))
        wobble = self.amp * math.sin(2 * math.pi * (t - self.t0) / self.period_ms + self.phase)
        return move(lat, lon, (self.course + 90) % 360, wobble)

    def station(self, offset_m: float) -> Callable[[int], tuple[float, float, float, float]]:
        """A point `offset_m` to starboard of the centre (negative: to port)."""

        def at(t: int) -> tuple[float, float, float, float]:
            lat, lon = self.centre(t)
            lat, lon = move(lat, lon, (self.course + 90) % 360, offset_m)
            ahead = self.centre(t + 60_000)
            course = initial_bearing(*self.centre(t), *ahead)
            speed = distance_m(*self.centre(t), *ahead) / NM * 60
            return lat, lon, course, speed

        return at


def _meeting_party(
    world: World,
    rng: random.Random,
    role: str,
    path: MeetingPath,
    offset: float,
    meet: int,
    part: int,
    approach: tuple[float, float],
    kind: str,
) -> SimVessel | None:
    speed = rng.uniform(*approach)
    appear = max(world.start_ms, meet - int(rng.uniform(1.5, 3.5) * HOUR))
    target = path.station(offset)(meet)[:2]
    try:
        start, course = world.straight_run(rng, target, _metres(speed, (meet - appear) / HOUR))
    except NoRoomError:
        return None
    away_course = rng.uniform(0, 360)
    if kind == "carrier":
        mmsi = world.ids.mmsi(world.region.mids["XX"])
        identity = world.ids.merchant(mmsi, rng.choice((79, 79, 80, 70)), "")
        cls, handling = "A", SHIP
    else:
        country = rng.choice(("BD", "MM", "TH", "MY", "ID", "IN"))
        mmsi = world.ids.mmsi(world.region.mids[country])
        identity = _small_craft(world, rng, mmsi, country)
        cls, handling = ("A" if rng.random() < 0.65 else "B"), SMALL

    def plan() -> Iterator[Phase]:
        yield Sail([target], speed, arrive_at_ms=meet, arrive_m=150.0)
        yield Pursue(path.station(offset), part, max_speed=3.0)
        here = path.centre(part)
        if kind == "carrier":
            yield Sail(_onward(world, rng, here, away_course, speed), speed, arrive_m=600.0)
        else:
            yield from _go_fishing(world, rng, here, speed)

    return spawn(
        world,
        role,
        rng,
        mmsi=mmsi,
        ais_class=cls,
        identity=identity,
        at=start,
        heading=course,
        speed=speed,
        handling=handling,
        plan=plan(),
        appear_ms=appear,
    )


def encounter(world: World, rng: random.Random, k: int) -> None:
    """Two vessels meet at sea, well away from any port or anchorage, and keep within a few
    hundred metres at under 2 kn for hours: a transshipment, a transfer of people."""
    short = k % 4 == 3  # a borderline meeting of well under 2 h: optional
    want = rng.uniform(1.1, 1.8) if short else rng.uniform(2.4, 3.5)
    slot = _window(world, rng, want, rng.uniform(2.0, 3.0), 1.5)
    if slot is None:
        return
    meet, hours = slot
    part = meet + int(hours * HOUR)
    covered = k % 2 == 0  # half within reach of the shore, half out where only satellites hear

    def ok(lat: float, lon: float) -> bool:
        if covered and not world.in_coverage(lat, lon, 0.8):
            return False
        return not world.in_outage(lat, lon, meet - 2 * HOUR, part + HOUR)

    try:
        at = world.sea_point(
            rng, min_nm=15, boxes=_coastal_boxes(world) if covered else None, check=ok
        )
    except NoRoomError:
        return
    path = MeetingPath(rng, at, meet)
    gap = rng.uniform(30.0, 250.0)
    a = _meeting_party(world, rng, "encounter", path, gap / 2, meet, part, (9.0, 12.0), "carrier")
    b = _meeting_party(world, rng, "encounter", path, -gap / 2, meet, part, (6.0, 9.0), "fishing")
    if a is None or b is None:
        for vessel in (a, b):
            if vessel is not None:
                world.vessels.remove(vessel)
        return
    record = world.label(
        "encounter",
        [a.mmsi, b.mmsi],
        meet,
        part,
        at,
        optional=hours < 2.2,
        hours=round(hours, 2),
        separation_m=round(gap),
        also=_also("loitering"),
    )

    def finalize() -> None:
        starts = [_phase_start(v, "Pursue") for v in (a, b)]
        if all(s is not None for s in starts):
            record.start = max(s for s in starts if s is not None)

    world.finalizers.append(finalize)


# -- loitering ----------------------------------------------------------------------------
def loitering(world: World, rng: random.Random, k: int) -> None:
    """A ship idles for hours far offshore, slowly manoeuvring under power: waiting for a
    rendezvous, a carrier waiting for fishing boats, a ship waiting for orders off the lanes."""
    slot = _window(world, rng, rng.uniform(4.6, 9.0), rng.uniform(1.5, 3.0), 1.0)
    if slot is None:
        return
    start, hours = slot
    end = start + int(hours * HOUR)
    try:
        centre = world.sea_point(
            rng,
            min_nm=28,
            check=lambda lat, lon: not world.in_outage(lat, lon, start - 2 * HOUR, end + HOUR),
        )
        speed = rng.uniform(9.0, 13.0)
        p0, course = world.straight_run(
            rng, centre, _metres(speed, (start - world.start_ms) / HOUR), min_nm=5
        )
    except NoRoomError:
        return
    ship_type = rng.choice((79, 79, 80, 70, 89, 0))
    mmsi = world.ids.mmsi(world.region.mids["XX"])
    identity = world.ids.merchant(mmsi, ship_type, "")
    radius = rng.uniform(1500.0, 5000.0)

    def plan() -> Iterator[Phase]:
        yield Sail([centre], speed, arrive_m=500.0, arrive_at_ms=start)
        yield Loiter(centre, radius, end, speed=(0.6, 1.7))
        yield Sail(_onward(world, rng, centre, rng.uniform(0, 360), speed), speed, arrive_m=600.0)

    vessel = spawn(
        world,
        "loitering",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=p0,
        heading=course,
        speed=speed,
        handling=SHIP,
        plan=plan(),
    )
    record = world.label(
        "loitering",
        [mmsi],
        start,
        end,
        centre,
        optional=hours < 4.3,
        hours=round(hours, 2),
        offshore_nm=round(world.offshore_nm(*centre), 1),
        also=_also("drifting"),
    )

    def finalize() -> None:
        began = _phase_start(vessel, "Loiter")
        if began is not None:
            record.start = began
            record.optional = record.optional or (end - began) / HOUR < 4.3

    world.finalizers.append(finalize)


# -- drifting -----------------------------------------------------------------------------
def drifting(world: World, rng: random.Random, k: int) -> None:
    """Engine failure: the vessel drifts with current and wind, bow beam-on or wandering,
    at 0.4-2.4 kn, for hours; then gets going again."""
    slot = _window(world, rng, rng.uniform(1.6, 5.0), rng.uniform(1.5, 3.0), 1.0)
    if slot is None:
        return
    start, hours = slot
    end = start + int(hours * HOUR)
    try:
        at = world.sea_point(
            rng,
            min_nm=12,
            check=lambda lat, lon: not world.in_outage(lat, lon, start - 2 * HOUR, end + HOUR),
        )
        speed = rng.uniform(7.0, 11.0)
        p0, course = world.straight_run(
            rng, at, _metres(speed, (start - world.start_ms) / HOUR), min_nm=5
        )
    except NoRoomError:
        return
    ship_type = rng.choice((30, 30, 70, 52, 79, 0))
    country = rng.choice(("BD", "MM", "IN", "TH", "MY", "ID"))
    mmsi = world.ids.mmsi(world.region.mids[country])
    identity = (
        world.ids.merchant(mmsi, ship_type, "")
        if ship_type in (70, 79)
        else _small_craft(world, rng, mmsi, country, ship_type)
    )
    roll = rng.random()
    status = NOT_UNDER_COMMAND if roll < 0.4 else (UNDER_WAY if roll < 0.85 else UNDEFINED)
    wandering = rng.random() < 0.3
    rate = rng.uniform(0.4, 2.0)
    offset = rng.uniform(50, 130) * rng.choice((-1, 1))

    def plan() -> Iterator[Phase]:
        yield Sail([at], speed, arrive_m=500.0, arrive_at_ms=start)
        yield Drift(
            end,
            rng.uniform(0, 360),
            rate,
            heading_offset=offset,
            wandering=wandering,
            nav_status=status,
        )
        if ship_type in (70, 79):
            yield Sail(_onward(world, rng, at, rng.uniform(0, 360), speed), speed, arrive_m=600.0)
        else:
            yield from _go_fishing(world, rng, at, speed)

    vessel = spawn(
        world,
        "drifting",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=p0,
        heading=course,
        speed=speed,
        handling=SMALL if ship_type != 70 else SHIP,
        plan=plan(),
        heading_sensor=True,
    )
    also = ["loitering"] if hours >= 3.5 and rate < 2.0 else []
    record = world.label(
        "drifting",
        [mmsi],
        start,
        end,
        at,
        optional=hours < 1.2,
        hours=round(hours, 2),
        rate_kn=round(rate, 2),
        wandering=wandering,
        nav_status=status,
        also=_also(*also, "speed_anomaly"),
    )

    def finalize() -> None:
        began = _phase_start(vessel, "Drift")
        if began is not None:
            record.start = began

    world.finalizers.append(finalize)


# -- distress -----------------------------------------------------------------------------
_DEVICES: Final = {"sart": 970, "mob": 972, "epirb": 974}


def distress(world: World, rng: random.Random, k: int) -> None:
    """An AIS-SART in a life raft, a man-overboard device, an EPIRB-AIS, or a ship reporting
    navigational status 14: drifting positions, a report a minute (devices)."""
    kind = ("sart", "epirb", "status14", "mob")[k % 4]
    duration = {"sart": (2, 8), "epirb": (2, 10), "mob": (0.5, 2.5), "status14": (1, 4)}[kind]
    slot = _window(world, rng, rng.uniform(*duration), rng.uniform(1.0, 3.0), 0.3)
    if slot is None:
        return
    start, hours = slot
    end = start + int(hours * HOUR)
    try:
        at = world.sea_point(rng, min_nm=5, max_nm=150)
    except NoRoomError:
        return
    rate = rng.uniform(0.3, 1.2)
    set_course = rng.uniform(0, 360)
    if kind in _DEVICES:
        mmsi = world.ids.claim(
            _DEVICES[kind] * 1_000_000 + rng.randint(10, 99) * 10_000 + rng.randint(1, 9999)
        )
        kin_at = at
        vessel = spawn(
            world,
            "distress",
            rng,
            mmsi=mmsi,
            ais_class=kind,
            identity=None,
            at=kin_at,
            heading=0.0,
            speed=rate,
            handling=SMALL,
            appear_ms=start,
            heading_sensor=False,
            plan=iter([Drift(end, set_course, rate, wandering=True, nav_status=SART_ACTIVE)]),
            nav_status=SART_ACTIVE,
        )
        also: list[str] = ["drifting", "identity_anomaly", "ais_gap"]
    else:
        country = rng.choice(("BD", "MM", "IN", "TH"))
        mmsi = world.ids.mmsi(world.region.mids[country])
        identity = _small_craft(world, rng, mmsi, country, rng.choice((30, 30, 70)))
        speed = rng.uniform(6.0, 9.0)
        try:
            p0, course = world.straight_run(
                rng, at, _metres(speed, (start - world.start_ms) / HOUR), min_nm=3
            )
        except NoRoomError:
            return

        def plan() -> Iterator[Phase]:
            yield Sail([at], speed, arrive_m=500.0, arrive_at_ms=start)
            yield Drift(end, set_course, rate, wandering=True, nav_status=SART_ACTIVE)
            yield Drift(
                world.end_ms + HOUR, set_course, rate, wandering=True, nav_status=NOT_UNDER_COMMAND
            )

        vessel = spawn(
            world,
            "distress",
            rng,
            mmsi=mmsi,
            ais_class="A",
            identity=identity,
            at=p0,
            heading=course,
            speed=speed,
            handling=SMALL,
            plan=plan(),
            heading_sensor=True,
        )
        also = ["drifting", "loitering", "ais_gap"]
        world.label("drifting", [mmsi], start, None, at, optional=True, also=_also())
    record = world.label(
        "distress",
        [mmsi],
        start,
        end,
        at,
        device=kind,
        hours=round(hours, 2),
        also=_also(*also),
    )

    def finalize() -> None:
        heard = _rx_in(vessel, start, end + 60_000)
        if not heard:
            record.details["_drop"] = True
            return
        record.start = heard[0]
        record.end = heard[-1] if end < world.end_ms - 10 * 60_000 else None

    world.finalizers.append(finalize)


# -- position_jump ------------------------------------------------------------------------
def _transit_vessel(
    world: World,
    rng: random.Random,
    role: str,
    *,
    around: int,
    min_nm: float = 20,
    ship_types: Sequence[int] = (70, 70, 80, 79),
    small: bool = False,
    covered: bool = False,
) -> tuple[SimVessel, LatLon] | None:
    """A vessel under way in open water, passing a point at `around` (within reach of a
    coastal station when `covered`); a small one is a fishing boat working its ground."""
    if small:
        ground, at = _fishing_start(world, rng)
        if covered and not world.in_coverage(*at, 0.8):
            for _ in range(20):
                ground, at = _fishing_start(world, rng)
                if world.in_coverage(*at, 0.8):
                    break
        country = ground.country
        mmsi = world.ids.mmsi(world.region.mids[country])
        identity = _small_craft(world, rng, mmsi, country, rng.choice(list(ship_types)))
        cls = "B" if rng.random() < 0.5 else "A"
        tow = rng.uniform(2.6, 4.0)
        vessel = spawn(
            world,
            role,
            rng,
            mmsi=mmsi,
            ais_class=cls,
            identity=identity,
            at=at,
            heading=ground.tow_course,
            speed=tow,
            handling=SMALL,
            plan=iter(
                [
                    Trawl(
                        ground.centre,
                        ground.radius_km * 1000,
                        ground.tow_course,
                        world.end_ms + 2 * HOUR,
                        reports_fishing=cls == "A",
                        tow_speed=tow,
                    )
                ]
            ),
        )
        return vessel, at
    speed = rng.uniform(8.0, 13.0)
    boxes = _coastal_boxes(world) if covered else None
    try:
        mid = world.sea_point(
            rng,
            min_nm=min(min_nm, 12.0) if covered else min_nm,
            boxes=boxes,
            check=(lambda lat, lon: world.in_coverage(lat, lon, 0.6)) if covered else None,
        )
        p0, course = world.straight_run(rng, mid, _metres(speed, (around - world.start_ms) / HOUR))
    except NoRoomError:
        return None
    mmsi = world.ids.mmsi(world.region.mids["XX"])
    identity = world.ids.merchant(mmsi, rng.choice(list(ship_types)), "")
    route = [mid, *_onward(world, rng, mid, course, speed)]
    vessel = spawn(
        world,
        role,
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=p0,
        heading=course,
        speed=speed,
        handling=SHIP,
        plan=iter([Sail(route, speed, arrive_m=600.0)]),
    )
    return vessel, mid


def position_jump(world: World, rng: random.Random, k: int) -> None:
    """Spoofing (the reported position jumps tens to hundreds of kilometres away for a while,
    then back) or a cloned MMSI (a second transmitter with the same identity elsewhere)."""
    clone = k % 2 == 1
    want = rng.uniform(2.0, 6.0) if clone else rng.uniform(10, 60) / 60
    slot = _window(world, rng, want, rng.uniform(1.5, 3.0), 0.5)
    if slot is None:
        return
    start, hours = slot
    end = start + int(hours * HOUR)
    made = _transit_vessel(world, rng, "position_jump", around=start, small=clone, covered=True)
    if made is None:
        return
    vessel, at = made
    if clone:
        grounds = [g for g in world.region.grounds if distance_m(*g.centre, *at) > 150_000]
        ground = rng.choice(grounds)
        far = move(
            ground.centre[0],
            ground.centre[1],
            rng.uniform(0, 360),
            rng.uniform(0, ground.radius_km * 600),
        )
        tow = rng.uniform(2.6, 4.0)
        twin = SimVessel(
            vessel.mmsi,
            vessel.ais_class,
            vessel.identities[0][1],
            Kin(far[0], far[1], SMALL, sog=tow, heading=ground.tow_course),
            iter(
                [
                    Trawl(
                        ground.centre,
                        ground.radius_km * 1000,
                        ground.tow_course,
                        world.end_ms + 2 * HOUR,
                        reports_fishing=False,
                        tow_speed=tow,
                    )
                ]
            ),
            rng,
            role="clone",
            appear_ms=start,
            gps_sigma_m=8.0,
            heading_sensor=vessel.heading_sensor,
            keep_rx_times=True,
        )
        twin.dark.append(Window(end, world.end_ms + 10 * HOUR))
        world.add(twin)
        record = world.label(
            "position_jump",
            [vessel.mmsi],
            start,
            end,
            far,
            variant="clone",
            apart_km=round(distance_m(*far, *at) / 1000),
            also=_also(
                "speed_anomaly", "identity_anomaly", "ais_gap", "zone_entry", "coastal_approach"
            ),
        )
        members: tuple[SimVessel, ...] = (vessel, twin)
    else:
        bearing = rng.uniform(0, 360)
        metres = rng.uniform(30_000, 250_000)
        vessel.spoof.append((Window(start, end), bearing, metres))
        record = world.label(
            "position_jump",
            [vessel.mmsi],
            start,
            end,
            at,
            variant="spoof",
            offset_km=round(metres / 1000),
            also=_also("speed_anomaly", "zone_entry"),
        )
        members = (vessel,)

    def finalize() -> None:
        heard = sorted(t for v in members for t in _rx_in(v, start, end))
        if not heard:
            record.details["_drop"] = True
            return
        record.start = heard[0]
        record.end = heard[-1]

    world.finalizers.append(finalize)


# -- speed_anomaly ------------------------------------------------------------------------
def speed_anomaly(world: World, rng: random.Random, k: int) -> None:
    """The reported speed is impossible for the ship (45-99 kn from a cargo ship) or does not
    match its positions (stuck at zero, or several times the real speed)."""
    variant = ("impossible", "frozen", "impossible", "scaled")[k % 4]
    want = rng.uniform(10, 50) / 60 if variant == "impossible" else rng.uniform(0.5, 1.5)
    slot = _window(world, rng, want, rng.uniform(1.5, 3.0), 0.5)
    if slot is None:
        return
    start, hours = slot
    end = start + int(hours * HOUR)
    made = _transit_vessel(world, rng, "speed_anomaly", around=start, covered=True)
    if made is None:
        return
    vessel, at = made
    if variant == "impossible":
        value = round(rng.uniform(45.0, 99.0), 1)
        vessel.sog_fault.append((Window(start, end), "set", value))
    elif variant == "frozen":
        value = 0.0
        vessel.sog_fault.append((Window(start, end), "set", value))
    else:
        value = round(rng.uniform(3.0, 5.0), 1)
        vessel.sog_fault.append((Window(start, end), "scale", value))
    record = world.label(
        "speed_anomaly",
        [vessel.mmsi],
        start,
        end,
        at,
        variant=variant,
        value=value,
        also=_also(),
    )

    def finalize() -> None:
        heard = _rx_in(vessel, start, end)
        if not heard:
            record.details["_drop"] = True
            return
        record.start, record.end = heard[0], heard[-1]

    world.finalizers.append(finalize)


# -- identity_anomaly ---------------------------------------------------------------------
def _unallocated_mid(rng: random.Random) -> int:
    while True:
        mid = rng.randint(201, 775)
        if mid not in MIDS:
            return mid


def identity_anomaly(world: World, rng: random.Random, k: int) -> None:
    """An MMSI that cannot be right (a placeholder, an unallocated MID), an IMO number whose
    check digit fails, or a name and call sign that keep changing."""
    variant = ("placeholder", "bad_imo", "changes", "mid", "changes", "bad_imo")[k % 6]
    slot = _window(world, rng, world.hours, 0.0, 0.0)
    if slot is None:
        return
    small = variant in ("placeholder", "mid")
    made = _transit_vessel(
        world,
        rng,
        "identity_anomaly",
        around=world.start_ms + int(world.hours * HOUR / 2),
        small=small,
        ship_types=(30, 30, 0) if small else (70, 70, 80, 79),
    )
    if made is None:
        return
    vessel, at = made
    start = world.start_ms
    detail: dict[str, object] = {}
    if variant == "placeholder":
        used = world.cache.setdefault("placeholders", set())
        free = [m for m in PLACEHOLDERS if m not in used and m not in world.ids.used]
        if not free:
            world.vessels.remove(vessel)
            return
        vessel.mmsi = world.ids.claim(rng.choice(free))
        used.add(vessel.mmsi)
    elif variant == "mid":
        vessel.mmsi = world.ids.claim(_unallocated_mid(rng) * 1_000_000 + rng.randint(1, 999_999))
    elif variant == "bad_imo":
        identity = vessel.identities[0][1]
        assert identity is not None
        wrong = identity.imo + rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9))
        if wrong // 10 != identity.imo // 10:
            wrong = identity.imo - 1 if identity.imo % 10 else identity.imo + 1
        vessel.identities[0] = (0, identity.renamed(imo=wrong))
        detail["imo"] = wrong
    else:
        identity = vessel.identities[0][1]
        assert identity is not None
        other = world.ids.merchant(vessel.mmsi, identity.ship_type, "")
        alias = identity.renamed(name=other.name, callsign=other.callsign)
        t = world.start_ms + int(rng.uniform(1.0, 3.0) * HOUR)
        changes: list[int] = []
        current = identity
        while t < world.end_ms - HOUR and len(changes) < 4:
            current = alias if current is identity else identity
            vessel.change_identity(t, current)
            changes.append(t)
            t += int(rng.uniform(1.0, 4.0) * HOUR)
        if len(changes) < 2:
            world.vessels.remove(vessel)
            return
        start = changes[0]
        detail["changes"] = len(changes)
    mmsi = vessel.mmsi
    record = world.label(
        "identity_anomaly",
        [mmsi],
        start,
        None,
        at,
        variant=variant,
        also=_also("position_jump", "ais_gap"),
        details=detail,
    )

    def finalize() -> None:
        heard = _rx_in(vessel, start, world.end_ms + 1)
        if not heard:
            record.details["_drop"] = True
            return
        if variant != "changes":
            record.start = heard[0]
        if vessel.gone or heard[-1] < world.end_ms - 2 * HOUR:
            record.end = heard[-1]

    world.finalizers.append(finalize)


# -- zone_entry ---------------------------------------------------------------------------
def zone_entry(world: World, rng: random.Random, k: int) -> None:
    """A small fishing or unknown boat sails into a watch area (the truth comes from the
    geometry, as for every vessel: see `Scenario._label_zone_entries`)."""
    zones = [z for z in world.geo.zones if z.kind == "watch_area"]
    if not zones:
        return
    zone = zones[k % len(zones)]
    west, south, east, north = zone.geometry.bounds
    enter_at = world.start_ms + int(rng.uniform(1.5, max(1.6, world.hours - 1.5)) * HOUR)
    speed = rng.uniform(6.0, 9.0)
    appear = max(world.start_ms, enter_at - int(rng.uniform(1.5, 3.0) * HOUR))
    for _ in range(60):
        target = (rng.uniform(south, north), rng.uniform(west, east))
        if not world.geo.in_watch_area(*target) or world.offshore_nm(*target) < 5:
            continue
        try:
            start, course = world.straight_run(
                rng, target, _metres(speed, (enter_at - appear) / HOUR + 0.5)
            )
        except NoRoomError:
            continue
        if world.geo.in_watch_area(*start):
            continue
        break
    else:
        return
    country = rng.choice(("BD", "MM", "TH", "MY", "ID"))
    mmsi = world.ids.mmsi(world.region.mids[country])
    identity = _small_craft(world, rng, mmsi, country, rng.choice((30, 30, 0)))

    def plan() -> Iterator[Phase]:
        yield Sail([target], speed, arrive_m=600.0)
        yield Trawl(
            target,
            12_000.0,
            (course + 90) % 360,
            world.end_ms + 2 * HOUR,
            reports_fishing=False,
            tow_speed=rng.uniform(2.6, 4.0),
        )

    spawn(
        world,
        "zone_entry",
        rng,
        mmsi=mmsi,
        ais_class="B" if rng.random() < 0.6 else "A",
        identity=identity,
        at=start,
        heading=course,
        speed=speed,
        handling=SMALL,
        plan=plan(),
        sends_static=rng.random() < 0.7,
        appear_ms=appear,
    )


# -- coastal_approach ---------------------------------------------------------------------
def coastal_approach(world: World, rng: random.Random, k: int) -> None:
    """A small boat from the open sea heads straight for a beach, away from any port."""
    speed = rng.uniform(5.0, 9.0)
    run_h = rng.uniform(4.0, 6.0)
    if world.hours < 3.0:
        return
    arrive = world.start_ms + int(
        rng.uniform(min(3.5, world.hours - 0.6), world.hours - 0.5) * HOUR
    )
    landings = list(world.region.destinations)
    first = k * 3 % len(landings)
    for landing in landings[first:] + landings[:first]:
        try:
            start, course = world.straight_run(rng, landing.at, _metres(speed, run_h), min_nm=15)
            break
        except NoRoomError:
            continue
    else:
        return
    country = rng.choice(("BD", "MM", "TH", "MY", "ID"))
    mmsi = world.ids.mmsi(world.region.mids[country])
    identity = _small_craft(world, rng, mmsi, country, rng.choice((30, 0, 37)))

    def plan() -> Iterator[Phase]:
        yield Sail([landing.at], speed, arrive_m=200.0, arrive_at_ms=arrive, slow_at_end=True)

    vessel = spawn(
        world,
        "coastal_approach",
        rng,
        mmsi=mmsi,
        ais_class="B" if rng.random() < 0.6 else "A",
        identity=identity,
        at=start,
        heading=course,
        speed=speed,
        handling=SMALL,
        plan=plan(),
        appear_ms=arrive - int(run_h * HOUR),
    )
    window_h = min(3.0, 24.0 / speed)
    record = world.label(
        "coastal_approach",
        [mmsi],
        arrive - int(window_h * HOUR),
        arrive,
        landing.at,
        landing=landing.id,
        country=landing.country,
        also=_also("zone_entry", "migrant_risk", "ais_gap"),
    )

    def finalize() -> None:
        arrived = vessel.gone_ms
        if arrived is not None:
            record.end = arrived
            record.start = arrived - int(window_h * HOUR)
        if not _rx_in(vessel, record.start, record.end or world.end_ms):
            record.details["_drop"] = True

    world.finalizers.append(finalize)


# -- route_anomaly ------------------------------------------------------------------------
def route_anomaly(world: World, rng: random.Random, k: int) -> None:
    """A merchant ship leaves the shipping lanes for a long detour through waters no lane
    crosses, then carries on."""
    slot = _window(world, rng, rng.uniform(5.0, 9.0), rng.uniform(1.5, 3.0), 1.0)
    if slot is None:
        return
    start, hours = slot
    made = _transit_vessel(world, rng, "route_anomaly", around=start, min_nm=40)
    if made is None:
        return
    vessel, at = made
    speed = vessel.kin.sog
    course = vessel.kin.heading
    out = (course + rng.choice((-1, 1)) * rng.uniform(60, 110)) % 360
    far = destination(at[0], at[1], out, _metres(speed, hours * 0.45))
    back = destination(
        far[0], far[1], (course + (out - course) * -0.3) % 360, _metres(speed, hours * 0.45)
    )
    if not world.is_sea_path([at, far, back], 4.0) or world.offshore_nm(*back) < 5:
        world.vessels.remove(vessel)
        return
    rest = _onward(world, rng, back, course, speed)
    vessel.plan = iter([Sail([at, far, back, *rest], speed, arrive_m=600.0)])
    world.label(
        "route_anomaly",
        [vessel.mmsi],
        start,
        start + int(hours * HOUR),
        far,
        hours=round(hours, 2),
        also=_also("loitering"),
    )


# -- migrant_voyage -----------------------------------------------------------------------
def migrant_voyage(world: World, rng: random.Random, k: int) -> None:
    """A small fishing or unknown boat (class B or no static data) leaves a beach near
    Teknaf or Sittwe, crosses the open sea at a steady 5-7.5 kn toward Aceh, southern Thailand
    or northern Malaysia, may meet small craft on the way, often goes dark near the far coast,
    and lands on a beach. The scenario sees its departure, its crossing or its arrival."""
    region = world.region
    country = ("ID", "TH", "MY", "ID", "TH")[k % 5]
    stage = ("departure", "crossing", "arrival")[k % 3]
    dep = rng.choice(region.departures)
    dest = rng.choice([d for d in region.destinations if d.country == country])
    route = [*region.crossing_routes[country]]
    try:
        near_dest, _ = world.straight_run(rng, dest.at, 25 * NM, min_nm=10)
    except NoRoomError:
        near_dest = dest.at
    if not world.is_sea_path([route[-1], near_dest], 4.0):
        near_dest = route[-1]
    waypoints = [dep.at, *route, near_dest, dest.at]
    speed = rng.uniform(5.0, 7.5)
    crossing_h = path_length_m(waypoints) / NM / speed
    loading_h = rng.uniform(0.3, 0.8)
    meeting = rng.random() < 0.35
    meet_h = rng.uniform(1.2, 2.8) if meeting else 0.0
    wait_offshore = rng.random() < 0.25
    total_h = loading_h + crossing_h + meet_h + (3.0 if wait_offshore else 0.0)
    if stage == "departure":
        depart = world.start_ms + int(rng.uniform(1.0, max(1.1, world.hours - 8)) * HOUR)
    elif stage == "crossing":
        depart = world.start_ms - int(rng.uniform(0.3, 0.6) * total_h * HOUR)
    else:
        arrival_guess = world.start_ms + int(
            rng.uniform(min(8.0, world.hours * 0.6), max(8.5, world.hours - 1)) * HOUR
        )
        depart = arrival_guess - int(total_h * HOUR)
    begin = depart - int(loading_h * HOUR)
    # identity: class B (often without static data) or class A that never sends type 5
    invalid = rng.random() < 0.25
    flag_country = dep.country
    if invalid:
        mmsi = world.ids.claim(_unallocated_mid(rng) * 1_000_000 + rng.randint(1, 999_999))
    else:
        mmsi = world.ids.mmsi(world.region.mids[flag_country])
    class_b = rng.random() < 0.6
    ship_type = rng.choice((30, 30, 0))
    identity = _small_craft(world, rng, mmsi, flag_country, ship_type)
    sends_static = rng.random() < (0.6 if class_b else 0.3)
    dark_nm = rng.uniform(25, 70) if rng.random() < 0.7 else 0.0
    if stage == "arrival" and dark_nm:  # keep four hours in sight before it goes dark
        seen_h = (depart + int((total_h - loading_h) * HOUR) - world.start_ms) / HOUR
        dark_nm = min(dark_nm, max(0.0, (seen_h - 4.0) * speed))
        dark_nm = dark_nm if dark_nm >= 15 else 0.0
    mid_index = len(route) // 2
    meet_point = route[mid_index]
    meet_at_h = loading_h + path_length_m(waypoints[: mid_index + 2]) / NM / speed
    meet_start = begin + int(meet_at_h * HOUR)
    meet_end = meet_start + int(meet_h * HOUR)
    path = MeetingPath(rng, meet_point, meet_start) if meeting else None
    local_night = _next_local_night(dest, begin + int((total_h - 3) * HOUR))

    def plan() -> Iterator[Phase]:
        yield Anchor(
            dep.at,
            rng.uniform(20, 40),
            depart,
            nav_status=UNDER_WAY,
            flood_course=rng.uniform(0, 360),
        )
        if path is not None:
            yield Sail(waypoints[1 : mid_index + 2], speed, arrive_m=800.0)
            yield Pursue(path.station(40.0), meet_end, max_speed=3.0)
            rest = waypoints[mid_index + 2 :]
        else:
            rest = waypoints[1:]
        if wait_offshore:
            yield Sail(rest[:-2], speed, arrive_m=800.0)
            hold = rest[-2]
            yield Sail([hold], speed, arrive_m=500.0)
            yield Loiter(hold, 2500.0, local_night, speed=(0.5, 1.5))
            rest = rest[-1:]
        yield Sail(rest, speed, arrive_m=150.0, slow_at_end=True)

    vessel = spawn(
        world,
        "migrant",
        rng,
        mmsi=mmsi,
        ais_class="B" if class_b else "A",
        identity=identity,
        at=dep.at,
        heading=180.0,
        speed=0.0,
        handling=SMALL,
        plan=plan(),
        appear_ms=begin,
        sends_static=sends_static,
        heading_sensor=not class_b or rng.random() < 0.3,
    )
    if dark_nm:
        target = dest.at

        def dark_when(kin: Kin, t: int) -> bool:
            return distance_m(kin.lat, kin.lon, *target) < dark_nm * NM

        vessel.dark_when = dark_when
    small_craft: SimVessel | None = None
    if path is not None and world.start_ms < meet_end and meet_start < world.end_ms:
        small_craft = _meeting_party(
            world, rng, "migrant_meeting", path, -40.0, meet_start, meet_end, (6.0, 8.0), "fishing"
        )
    also = _also(
        "coastal_approach",
        "zone_entry",
        "ais_gap",
        "loitering",
        "encounter",
        "identity_anomaly",
        "drifting",
        "migrant_risk",
        "speed_anomaly",
    )
    record = world.label(
        MIGRANT_VOYAGE,
        [mmsi],
        depart,
        None,
        dep.at,
        departure=dep.id,
        departure_zone=dep.zone,
        destination=dest.id,
        destination_zone=dest.zone,
        destination_country=dest.country,
        stage=stage,
        speed_kn=round(speed, 1),
        dark_within_nm=round(dark_nm) if dark_nm else None,
        also=also,
    )
    extra: list[TruthRecord] = []
    if invalid:
        extra.append(
            world.label(
                "identity_anomaly",
                [mmsi],
                max(begin, world.start_ms),
                None,
                dep.at,
                variant="mid",
                also=also,
            )
        )
    if small_craft is not None:
        extra.append(
            world.label(
                "encounter",
                [mmsi, small_craft.mmsi],
                meet_start,
                meet_end,
                meet_point,
                optional=meet_h < 2.2,
                hours=round(meet_h, 2),
                also=also,
            )
        )
    if wait_offshore:
        extra.append(
            world.label("loitering", [mmsi], begin, None, dest.at, optional=True, also=also)
        )
    gap = world.label("ais_gap", [mmsi], begin, None, dest.at, optional=True, also=also)

    def finalize() -> None:
        heard = _rx_in(vessel, world.start_ms, world.end_ms + 1)
        if not heard:
            for r in (record, *extra, gap):
                r.details["_drop"] = True
            return
        arrived = vessel.gone_ms
        if arrived is None or arrived > world.end_ms:
            left_m = _remaining_m(vessel, waypoints)
            arrived = world.end_ms + int(left_m / NM / speed * HOUR)
            record.details["arrival_estimated"] = True
        record.end = arrived
        from ingest.records import iso_ms

        record.details["arrival"] = iso_ms(arrived)
        for r in extra:
            if r.type == "loitering":
                began = _phase_start(vessel, "Loiter")
                if began is None:
                    r.details["_drop"] = True
                else:
                    r.start, r.end = began, min(local_night, arrived)
            elif r.type == "identity_anomaly":
                r.start = heard[0]
                r.end = heard[-1] if heard[-1] < world.end_ms - 2 * HOUR else None
            elif r.type == "encounter":
                began = _phase_start(vessel, "Pursue")
                if began is None or not _rx_in(vessel, meet_start, meet_end):
                    r.details["_drop"] = True
                else:
                    r.start = began
        if not dark_nm:
            gap.details["_drop"] = True
            return
        last = heard[-1]
        silent_h = (world.end_ms - last) / HOUR
        where = vessel.last_rx_at
        threshold = GAP_WATCH_H if world.geo.in_watch_area(*where) else GAP_ELSEWHERE_H
        if last >= arrived or silent_h < 0.5:
            gap.details["_drop"] = True
            return
        gap.start = last
        gap.optional = silent_h < threshold + 0.5
        gap.details["silent_hours"] = round(silent_h, 2)

    world.finalizers.append(finalize)


def _remaining_m(vessel: SimVessel, waypoints: Sequence[LatLon]) -> float:
    kin = vessel.kin
    best = min(range(len(waypoints)), key=lambda i: distance_m(kin.lat, kin.lon, *waypoints[i]))
    ahead = waypoints[best:]
    return distance_m(kin.lat, kin.lon, *ahead[0]) + path_length_m(ahead)


def _next_local_night(landing: Landing, after: int) -> int:
    """The next 21:00 local time at the landing (UTC offset from the longitude)."""
    offset_h = round(landing.at[1] / 15.0)
    day = HOUR * 24
    local = after + offset_h * HOUR
    night = local - local % day + 21 * HOUR
    if night <= local:
        night += day
    return night - offset_h * HOUR


BEHAVIOUR_FUNCTIONS: Final = {
    "ais_gap": ais_gap,
    "encounter": encounter,
    "loitering": loitering,
    "drifting": drifting,
    "distress": distress,
    "position_jump": position_jump,
    "speed_anomaly": speed_anomaly,
    "identity_anomaly": identity_anomaly,
    "zone_entry": zone_entry,
    "coastal_approach": coastal_approach,
    "route_anomaly": route_anomaly,
    "migrant_voyage": migrant_voyage,
}


def inject(world: World, behaviours: Sequence[str]) -> None:
    for name in behaviours:
        for k in range(world.count(RATES[name], name)):
            BEHAVIOUR_FUNCTIONS[name](world, world.rng(name), k)
