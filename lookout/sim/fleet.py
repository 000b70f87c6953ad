"""Normal traffic: merchant ships on the lanes, ships at anchor and alongside, fishing boats
trawling and drifting nets, ferries on their timetables, patrols, dive boats, tows.

Everything here is ordinary; the parts that look like an alert to a naive rule (a trawler
hauling, a ship swinging at anchor, tugs alongside a ship in port, a ferry at a jetty, a dive
boat on a mooring buoy, gillnetters drifting with their nets) are written to the truth file as
hard negatives, with the alert types they must not raise.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

from lookout.sim.motion import (
    AT_ANCHOR,
    FISHING,
    MOORED,
    SHIP,
    SMALL,
    UNDEFINED,
    UNDER_WAY,
    Anchor,
    Drift,
    Handling,
    Kin,
    Loiter,
    Moored,
    Phase,
    Sail,
    Trawl,
    lasting,
    move,
    path_length_m,
    point_along,
)
from lookout.sim.region import FerryRoute, Ground, Lane, Port
from lookout.sim.vessel import Identity, SimVessel
from lookout.sim.world import HOUR, LatLon, World
from tracks.hygiene import distance_m, initial_bearing

__all__ = ["build_background", "spawn"]

FAST_FERRY = Handling(max_turn=60.0, accel=4.0, max_speed=30.0, yaw=1.0)

# Shares of the background fleet.
SHARES = {
    "merchant": 0.42,
    "anchored": 0.14,
    "port": 0.05,
    "trawler": 0.19,
    "gillnet": 0.05,
    "fishing_transit": 0.03,
    "patrol": 0.02,
    "leisure": 0.03,
    "tow": 0.02,
}
ANCHORAGE_WEIGHTS = {
    "chittagong": 5.0,
    "kutubdia": 1.5,
    "mongla": 1.0,
    "yangon": 1.5,
    "haldia": 1.5,
    "phuket": 0.5,
    "penang": 1.0,
    "port_klang": 1.5,
    "belawan": 1.0,
    "sabang": 0.3,
}
WET_BERTHS = (
    "chittagong",
    "sittwe",
    "yangon",
    "phuket",
    "penang",
    "port_klang",
    "visakhapatnam",
    "ranong",
    "kawthaung",
    "krabi",
    "myeik",
    "langkawi",
)
PATROL_BOXES = (
    ("BD", (91.6, 20.2, 92.3, 21.2), 55),
    ("MM", (92.2, 19.0, 93.2, 20.3), 55),
    ("IN", (92.0, 10.5, 93.5, 12.5), 55),
    ("TH", (97.6, 7.5, 98.3, 9.6), 55),
    ("MY", (99.3, 5.6, 100.1, 6.6), 55),
    ("ID", (95.0, 5.6, 96.5, 6.3), 51),
)
DIVE_SITES = ((7.60, 98.36), (7.68, 98.76), (7.80, 98.62), (7.95, 98.28))
DIVE_BASE = (7.81, 98.35)


def spawn(
    world: World,
    role: str,
    rng: random.Random,
    *,
    mmsi: int,
    ais_class: str,
    identity: Identity | None,
    at: LatLon,
    heading: float,
    speed: float,
    handling: Handling,
    plan: Iterator[Phase],
    appear_ms: int | None = None,
    nav_status: int = UNDER_WAY,
    sends_static: bool = True,
    heading_sensor: bool | None = None,
    keep_rx_times: bool = True,
) -> SimVessel:
    """A vessel with a plausible transponder of its class, added to the world."""
    class_a = ais_class == "A"
    if heading_sensor is None:
        heading_sensor = class_a or rng.random() < 0.3
    kin = Kin(at[0], at[1], handling, sog=speed, heading=heading, nav_status=nav_status)
    vessel = SimVessel(
        mmsi,
        ais_class,
        identity,
        kin,
        plan,
        rng,
        role=role,
        appear_ms=world.start_ms if appear_ms is None else appear_ms,
        gps_sigma_m=rng.uniform(2.5, 7.0) if class_a else rng.uniform(5.0, 12.0),
        heading_sensor=heading_sensor,
        rot_sensor=class_a and rng.random() < 0.5,
        sends_static=sends_static,
        keep_rx_times=keep_rx_times,
    )
    vessel.watch = True
    return world.add(vessel)


def _weighted(rng: random.Random, items: Sequence[tuple[float, object]]) -> object:
    total = sum(w for w, _ in items)
    x = rng.uniform(0.0, total)
    for w, item in items:
        x -= w
        if x <= 0:
            return item
    return items[-1][1]


def _port_at(world: World, point: LatLon) -> Port | None:
    for port in world.region.ports.values():
        if distance_m(point[0], point[1], *port.approach) < 2000:
            return port
    return None


_LANE_SIDES = (400.0, 1100.0, 1900.0)  # metres to starboard of the centre line


def _offset_lane(world: World, points: Sequence[LatLon], rng: random.Random) -> list[LatLon]:
    """The lane shifted to starboard (traffic keeps right of the centre line), at sea."""
    side = rng.choice(_LANE_SIDES)
    key = (tuple(points), side)
    cache: dict[object, list[LatLon]] = world.cache.setdefault("lanes", {})
    if key in cache:
        return cache[key]
    out: list[LatLon] = []
    for i, p in enumerate(points):
        a = points[max(0, i - 1)]
        b = points[min(len(points) - 1, i + 1)]
        course = initial_bearing(a[0], a[1], b[0], b[1])
        out.append(move(p[0], p[1], (course + 90.0) % 360.0, side))
    cache[key] = out if world.is_sea_path(out, step_km=4.0) else list(points)
    return cache[key]


def _status_at_anchor(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.78:
        return AT_ANCHOR
    if roll < 0.86:
        return UNDER_WAY  # never switched from "under way": common in real data
    if roll < 0.90:
        return MOORED
    return UNDEFINED


def _merchant_mmsi(world: World, rng: random.Random, regional: Sequence[str]) -> int:
    mids = world.region.mids
    if rng.random() < 0.7:
        return world.ids.mmsi(mids["XX"])
    return world.ids.mmsi(mids[rng.choice(list(regional))])


def _lanes_from(world: World, port: Port) -> list[tuple[Lane, bool]]:
    out = []
    for lane in world.region.lanes:
        if distance_m(*lane.waypoints[0], *port.approach) < 2000:
            out.append((lane, True))
        elif distance_m(*lane.waypoints[-1], *port.approach) < 2000:
            out.append((lane, False))
    return out


def _arrival_phases(world: World, port: Port | None, rng: random.Random) -> Iterator[Phase]:
    """At the end of a lane: anchor in the port's anchorage, or off its approach."""
    if port is None:
        return
    if port.anchorage is not None:
        spot = _near(world, port.anchorage, 2000.0, rng)
        yield Sail([spot], 6.0, slow_at_end=True, arrive_m=150.0)
    yield Anchor(
        (0.0, 0.0),
        rng.uniform(80.0, 220.0),
        None,
        nav_status=_status_at_anchor(rng),
        flood_course=rng.uniform(0, 360),
        tide_phase=rng.uniform(0, 6.28),
        settle=True,
    )


def _near(world: World, point: LatLon, radius_m: float, rng: random.Random) -> LatLon:
    for _ in range(50):
        p = move(point[0], point[1], rng.uniform(0, 360), rng.uniform(0, radius_m))
        if not world.geo.is_on_land(*p):
            return p
    return point


def merchant(world: World, rng: random.Random) -> None:
    region = world.region
    lane = _weighted(rng, [(lane.weight, lane) for lane in region.lanes])
    assert isinstance(lane, Lane)
    points = list(lane.waypoints if rng.random() < 0.5 else reversed(lane.waypoints))
    points = _offset_lane(world, points, rng)
    end_port = _port_at(world, points[-1])
    start_port = _port_at(world, points[0])
    speed = rng.uniform(*lane.speed_kn)
    ship_type = rng.choice(lane.ship_types)
    if ship_type in (80, 81, 84, 89):
        speed = min(speed, rng.uniform(11.0, 14.5))
    mmsi = _merchant_mmsi(world, rng, ("BD", "IN", "MM", "MY", "TH", "ID", "LK"))
    identity = world.ids.merchant(mmsi, ship_type, end_port.name if end_port else "SINGAPORE")
    length = path_length_m(points)
    waiting = start_port is not None and start_port.anchorage is not None and rng.random() < 0.1

    if waiting:
        assert start_port is not None and start_port.anchorage is not None
        spot = _near(world, start_port.anchorage, 2000.0, rng)
        depart = world.start_ms + int(rng.uniform(0.1, 1.4) * (world.end_ms - world.start_ms))

        def waiting_plan() -> Iterator[Phase]:
            yield Anchor(
                spot,
                rng.uniform(80, 200),
                depart,
                nav_status=_status_at_anchor(rng),
                flood_course=rng.uniform(0, 360),
                tide_phase=rng.uniform(0, 6.28),
            )
            yield Sail([start_port.approach, *points[1:]], speed, arrive_m=800.0)
            yield from _arrival_phases(world, end_port, rng)

        vessel = spawn(
            world,
            "merchant",
            rng,
            mmsi=mmsi,
            ais_class="A",
            identity=identity,
            at=spot,
            heading=rng.uniform(0, 360),
            speed=0.0,
            handling=SHIP,
            plan=waiting_plan(),
            nav_status=AT_ANCHOR,
        )
        world.negative("at_anchor", [mmsi], world.start_ms, depart, ["drifting", "loitering"], spot)
        del vessel
        return

    # a ship bound beyond the region must not reach the end of the lane within the scenario
    # (it would vanish); one bound for a port may arrive and anchor
    reserve = 30_000.0 if end_port is not None else speed * 1852.0 * (world.hours + 3.0)
    along = rng.uniform(0.0, max(0.0, length - reserve))
    index, lat, lon = point_along(points, along)
    rest = points[index:]

    def plan() -> Iterator[Phase]:
        yield Sail(rest, speed, arrive_m=800.0)
        yield from _arrival_phases(world, end_port, rng)

    spawn(
        world,
        "merchant",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=(lat, lon),
        heading=initial_bearing(lat, lon, *rest[0]),
        speed=speed,
        handling=SHIP,
        plan=plan(),
    )


def anchored(world: World, rng: random.Random, taken: list[LatLon]) -> None:
    region = world.region
    port_id = _weighted(rng, [(w, p) for p, w in ANCHORAGE_WEIGHTS.items()])
    port = region.ports[str(port_id)]
    assert port.anchorage is not None
    radius = 6000.0 if port.id == "chittagong" else 2500.0
    spot = port.anchorage
    for _ in range(60):
        spot = move(
            port.anchorage[0], port.anchorage[1], rng.uniform(0, 360), rng.uniform(0, radius)
        )
        if world.geo.is_on_land(*spot) or not world.geo.in_anchorage(*spot):
            continue
        if all(distance_m(*spot, *other) > 450 for other in taken):
            break
    taken.append(spot)
    ship_type = rng.choice((70, 70, 70, 79, 80, 80, 89, 71))
    mmsi = _merchant_mmsi(world, rng, ("BD", "IN", "MM", "MY", "ID"))
    identity = world.ids.merchant(mmsi, ship_type, port.name)
    status = _status_at_anchor(rng)
    lanes = _lanes_from(world, port)
    depart: int | None = None
    if lanes and rng.random() < 0.15:
        depart = world.start_ms + int(rng.uniform(0.1, 0.9) * (world.end_ms - world.start_ms))

    def plan() -> Iterator[Phase]:
        yield Anchor(
            spot,
            rng.uniform(80, 240),
            depart,
            nav_status=status,
            flood_course=rng.uniform(0, 360),
            tide_phase=rng.uniform(0, 6.28),
        )
        if depart is not None:
            lane, forward = rng.choice(lanes)
            points = list(lane.waypoints if forward else reversed(lane.waypoints))
            speed = rng.uniform(*lane.speed_kn)
            yield Sail(points, speed, arrive_m=800.0)
            yield from _arrival_phases(world, _port_at(world, points[-1]), rng)

    spawn(
        world,
        "anchored",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=spot,
        heading=rng.uniform(0, 360),
        speed=0.0,
        handling=SHIP,
        plan=plan(),
        nav_status=status,
    )
    world.negative(
        "at_anchor",
        [mmsi],
        world.start_ms,
        depart,
        ["drifting", "loitering", "encounter"],
        spot,
        status=status,
    )


def in_port(world: World, rng: random.Random) -> int:
    """A ship alongside with one or two tugs rafted next to it (or a tug pair): the vessels
    stay within metres of each other for hours, in a port."""
    port = world.region.ports[rng.choice(WET_BERTHS)]
    berth = _near(world, port.berth, 400.0, rng)
    heading = rng.uniform(0, 360)
    members: list[int] = []
    ship_type = rng.choice((70, 70, 79, 80, 52))
    mmsi = world.ids.mmsi(world.region.mids.get(port.country, (405,)))
    if ship_type == 52:
        identity = world.ids.small(mmsi, 52, port.country, imo=True, length=rng.randint(24, 35))
    else:
        identity = world.ids.merchant(mmsi, ship_type, port.name)
    status = MOORED if rng.random() < 0.8 else UNDER_WAY
    spawn(
        world,
        "moored",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=berth,
        heading=heading,
        speed=0.0,
        handling=SHIP,
        nav_status=status,
        plan=iter([Moored(berth, heading, None, nav_status=status)]),
    )
    members.append(mmsi)
    for side in range(rng.choice((1, 2))):
        tug_at = move(berth[0], berth[1], (heading + 90 + 180 * side) % 360, rng.uniform(18, 35))
        tug = world.ids.mmsi(world.region.mids.get(port.country, (405,)))
        tug_identity = world.ids.small(tug, 52, port.country, imo=True, length=rng.randint(22, 34))
        tug_status = MOORED if rng.random() < 0.6 else UNDER_WAY
        spawn(
            world,
            "moored",
            rng,
            mmsi=tug,
            ais_class="A",
            identity=tug_identity,
            at=tug_at,
            heading=heading,
            speed=0.0,
            handling=SMALL,
            nav_status=tug_status,
            plan=iter([Moored(tug_at, heading, None, nav_status=tug_status)]),
        )
        members.append(tug)
    world.negative(
        "tug_alongside",
        members,
        world.start_ms,
        None,
        ["encounter", "loitering", "drifting"],
        berth,
        port=port.id,
    )
    return len(members)


def _fishing_vessel(
    world: World, rng: random.Random, ground: Ground, role: str
) -> tuple[int, str, Identity | None, bool]:
    class_a = rng.random() < 0.45
    mmsi = world.ids.mmsi(world.region.mids.get(ground.country, (405,)))
    identity = world.ids.small(mmsi, 30, ground.country, length=rng.randint(15, 36))
    sends = class_a or rng.random() < 0.7
    return mmsi, "A" if class_a else "B", identity, sends


def _ground_point(world: World, ground: Ground, rng: random.Random, frac: float = 0.7) -> LatLon:
    for _ in range(80):
        p = move(
            ground.centre[0],
            ground.centre[1],
            rng.uniform(0, 360),
            rng.uniform(0, ground.radius_km * 1000 * frac),
        )
        if world.offshore_nm(*p) > 2.0:
            return p
    return ground.centre


def _home_phases(world: World, port: Port, rng: random.Random, speed: float) -> Iterator[Phase]:
    """Steam home and tie up: approach, then into the port zone (a river berth, often)."""
    yield Sail([port.approach, port.berth], speed, arrive_m=300.0, slow_at_end=True)
    yield Moored(port.berth, rng.uniform(0, 360), None)


def trawler(world: World, rng: random.Random) -> None:
    ground = _weighted(rng, [(g.weight, g) for g in world.region.grounds])
    assert isinstance(ground, Ground)
    mmsi, cls, identity, sends = _fishing_vessel(world, rng, ground, "trawler")
    at = _ground_point(world, ground, rng)
    port = world.region.ports[ground.home]
    leave = world.end_ms
    if rng.random() < 0.2:
        leave = world.start_ms + int(rng.uniform(0.2, 0.9) * (world.end_ms - world.start_ms))
    reports_fishing = cls == "A" and rng.random() < 0.6
    tow = rng.uniform(2.6, 4.2)

    def plan() -> Iterator[Phase]:
        yield Trawl(
            ground.centre,
            ground.radius_km * 1000,
            ground.tow_course,
            leave,
            reports_fishing=reports_fishing,
            tow_speed=tow,
        )
        yield from _home_phases(world, port, rng, rng.uniform(7.0, 9.0))

    spawn(
        world,
        "trawler",
        rng,
        mmsi=mmsi,
        ais_class=cls,
        identity=identity,
        at=at,
        heading=ground.tow_course,
        speed=tow,
        handling=SMALL,
        plan=plan(),
        sends_static=sends,
        nav_status=FISHING if reports_fishing else UNDER_WAY,
    )
    world.negative(
        "trawling", [mmsi], world.start_ms, leave, ["loitering", "drifting"], at, ground=ground.id
    )
    if leave < world.end_ms:
        world.negative(
            "returning_to_port",
            [mmsi],
            leave,
            None,
            ["coastal_approach"],
            port.approach,
            port=port.id,
        )


def gillnetter(world: World, rng: random.Random) -> None:
    """Drift-net fishing: the boat lies to its net for hours, drifting with the current,
    nets shot again a few kilometres away. Always tells it is a fishing vessel (type 30)."""
    ground = _weighted(rng, [(g.weight, g) for g in world.region.grounds])
    assert isinstance(ground, Ground)
    mmsi, cls, identity, _ = _fishing_vessel(world, rng, ground, "gillnet")
    at = _ground_point(world, ground, rng, 0.8)
    set_course = rng.uniform(0, 360)

    def plan() -> Iterator[Phase]:
        t = world.start_ms
        current = set_course
        while t < world.end_ms + HOUR:
            soak = int(rng.uniform(3.0, 7.0) * HOUR)
            t += soak
            current = (current + rng.gauss(0, 30)) % 360
            yield Drift(
                t,
                current,
                rng.uniform(0.3, 1.0),
                heading_offset=rng.uniform(40, 140) * rng.choice((-1, 1)),
                nav_status=FISHING if cls == "A" else UNDER_WAY,
            )
            spot = _ground_point(world, ground, rng, 0.8)
            yield Sail([spot], rng.uniform(5.0, 7.0), arrive_m=300.0)
            t += HOUR

    spawn(
        world,
        "gillnet",
        rng,
        mmsi=mmsi,
        ais_class=cls,
        identity=identity,
        at=at,
        heading=rng.uniform(0, 360),
        speed=0.5,
        handling=SMALL,
        plan=plan(),
        nav_status=FISHING if cls == "A" else UNDER_WAY,
    )
    world.negative(
        "gillnetting", [mmsi], world.start_ms, None, ["loitering", "drifting"], at, ground=ground.id
    )


def fishing_transit(world: World, rng: random.Random) -> None:
    """A boat leaving harbour for its ground, then trawling."""
    ground = _weighted(rng, [(g.weight, g) for g in world.region.grounds])
    assert isinstance(ground, Ground)
    mmsi, cls, identity, sends = _fishing_vessel(world, rng, ground, "transit")
    port = world.region.ports[ground.home]
    appear = world.start_ms + int(rng.uniform(0.0, 0.6) * (world.end_ms - world.start_ms))
    spot = _ground_point(world, ground, rng)
    tow = rng.uniform(2.6, 4.0)

    def plan() -> Iterator[Phase]:
        yield Sail([spot], rng.uniform(7.0, 9.0), arrive_m=500.0)
        yield Trawl(
            ground.centre,
            ground.radius_km * 1000,
            ground.tow_course,
            world.end_ms + HOUR,
            reports_fishing=cls == "A",
            tow_speed=tow,
        )

    spawn(
        world,
        "fishing_transit",
        rng,
        mmsi=mmsi,
        ais_class=cls,
        identity=identity,
        at=port.approach,
        heading=initial_bearing(*port.approach, *spot),
        speed=7.0,
        handling=SMALL,
        plan=plan(),
        appear_ms=appear,
        sends_static=sends,
    )
    world.negative(
        "trawling", [mmsi], appear, None, ["loitering", "drifting"], spot, ground=ground.id
    )


def _local_departures(route: FerryRoute, start_ms: int, end_ms: int) -> list[int]:
    out = []
    day0 = datetime.fromtimestamp(start_ms / 1000, UTC).replace(hour=0, minute=0, second=0)
    base = int(day0.timestamp() * 1000)
    for day in range(-1, int((end_ms - start_ms) / (24 * HOUR)) + 2):
        for hour in route.departures_h:
            out.append(base + int((day * 24 + hour - route.utc_offset_h) * HOUR))
    return sorted(t for t in out if t >= start_ms - 6 * HOUR)


def ferry(world: World, rng: random.Random, route: FerryRoute, reverse_start: bool) -> None:
    legs = list(route.legs)
    departures = _local_departures(route, world.start_ms, world.end_ms)
    handling = FAST_FERRY if route.speed_kn >= 18 else SHIP
    ship_type = 40 if route.speed_kn >= 18 else 60
    mids = world.region.mids.get(route.country, (405,))
    mmsi = world.ids.mmsi(mids)
    identity = world.ids.small(mmsi, ship_type, route.country, imo=True, length=rng.randint(30, 60))
    head_out = initial_bearing(*legs[0], *legs[1])
    head_back = initial_bearing(*legs[-1], *legs[-2])
    trip_h = path_length_m(legs) / 1852.0 / route.speed_kn
    shift = int((trip_h + route.dwell_h + 0.5) * HOUR) if reverse_start else 0
    status = MOORED if rng.random() < 0.7 else UNDER_WAY

    def plan() -> Iterator[Phase]:
        at_far_end = reverse_start
        for dep in departures:
            dep += shift
            if at_far_end:
                yield Moored(legs[-1], head_back, dep, nav_status=status)
                yield Sail(legs[::-1], route.speed_kn, arrive_m=150.0, slow_at_end=True)
                at_far_end = False
                continue
            yield Moored(legs[0], head_out, dep, nav_status=status)
            yield Sail(legs, route.speed_kn, arrive_m=150.0, slow_at_end=True)
            yield Moored(
                legs[-1], head_back, dep + int((trip_h + route.dwell_h) * HOUR), nav_status=status
            )
            yield Sail(legs[::-1], route.speed_kn, arrive_m=150.0, slow_at_end=True)
        yield Moored(legs[0], head_out, None, nav_status=status)

    at = legs[-1] if reverse_start else legs[0]
    spawn(
        world,
        "ferry",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=at,
        heading=head_back if reverse_start else head_out,
        speed=0.0,
        handling=handling,
        plan=plan(),
        nav_status=status,
    )
    world.negative(
        "ferry",
        [mmsi],
        world.start_ms,
        None,
        ["loitering", "drifting", "coastal_approach", "encounter"],
        at,
        route=route.id,
    )


def patrol(world: World, rng: random.Random) -> None:
    country, box, ship_type = rng.choice(PATROL_BOXES)
    west, south, east, north = box
    mmsi = world.ids.mmsi(world.region.mids.get(country, (405,)))
    identity = world.ids.small(mmsi, ship_type, country, imo=False, length=rng.randint(30, 80))

    def pick() -> LatLon:
        for _ in range(100):
            p = (rng.uniform(south, north), rng.uniform(west, east))
            if world.offshore_nm(*p) > 3.0:
                return p
        return ((south + north) / 2, (west + east) / 2)

    start = pick()

    def plan() -> Iterator[Phase]:
        for _ in range(500):  # patrols until the scenario ends (it stops the loop)
            target = pick()
            speed = rng.uniform(8.0, 14.0)
            yield Sail([target], speed, arrive_m=500.0)
            if rng.random() < 0.3:  # a boarding, a check: stopped for a while
                yield lasting(
                    Loiter(target, 800.0, None, speed=(0.5, 2.0)), int(rng.uniform(0.3, 1.2) * HOUR)
                )

    spawn(
        world,
        "patrol",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=start,
        heading=rng.uniform(0, 360),
        speed=10.0,
        handling=SMALL,
        plan=plan(),
    )


def leisure(world: World, rng: random.Random) -> None:
    """A dive or island-hopping boat out of Chalong: moored on buoys at the sites."""
    mmsi = world.ids.mmsi((567,))
    identity = world.ids.small(mmsi, 37, "TH", length=rng.randint(12, 25))
    berth = _near(world, DIVE_BASE, 600.0, rng)
    day0 = world.start_ms - (world.start_ms + 7 * HOUR) % (24 * HOUR)

    def plan() -> Iterator[Phase]:
        day = day0
        while day < world.end_ms + 24 * HOUR:
            out = day + int(rng.uniform(1.0, 2.0) * HOUR)  # 08:00-09:00 local
            yield Moored(berth, 180.0, out, nav_status=MOORED)
            sites = rng.sample(DIVE_SITES, rng.choice((2, 3)))  # a dive at each, an hour or so
            for site_at in sites:
                site = _near(world, site_at, 500.0, rng)
                yield Sail([site], rng.uniform(14.0, 20.0), arrive_m=80.0, slow_at_end=True)
                buoy = Anchor(
                    (0.0, 0.0),
                    rng.uniform(15, 35),
                    None,
                    nav_status=MOORED,
                    flood_course=rng.uniform(0, 360),
                    settle=True,
                )
                yield lasting(buoy, int(rng.uniform(0.8, 1.5) * HOUR))
            yield Sail([berth], rng.uniform(14.0, 20.0), arrive_m=80.0, slow_at_end=True)
            day += 24 * HOUR

    spawn(
        world,
        "leisure",
        rng,
        mmsi=mmsi,
        ais_class="B",
        identity=identity,
        at=berth,
        heading=180.0,
        speed=0.0,
        handling=SMALL,
        plan=plan(),
        heading_sensor=False,
    )
    world.negative(
        "moored_at_buoy",
        [mmsi],
        world.start_ms,
        None,
        ["drifting", "loitering", "encounter", "coastal_approach"],
        DIVE_BASE,
    )


def tow(world: World, rng: random.Random) -> None:
    """A tug towing a barge along a coastal route at 4-7 kn."""
    choices = [
        lane
        for lane in world.region.lanes
        if lane.id
        in (
            "sittwe-chittagong",
            "belawan-penang",
            "phuket-penang",
            "chittagong-mongla",
            "chittagong-haldia",
        )
    ]
    lane = rng.choice(choices)
    points = list(lane.waypoints if rng.random() < 0.5 else reversed(lane.waypoints))
    along = rng.uniform(0.0, path_length_m(points) * 0.6)
    index, lat, lon = point_along(points, along)
    rest = points[index:]
    country = "BD" if lane.id.startswith("chittagong") or lane.id.startswith("sittwe") else "MY"
    mmsi = world.ids.mmsi(world.region.mids[country])
    identity = world.ids.small(mmsi, 31, country, imo=True, length=rng.randint(25, 38))
    speed = rng.uniform(4.5, 6.8)
    port = _port_at(world, rest[-1])

    def plan() -> Iterator[Phase]:
        yield Sail(rest, speed, arrive_m=600.0)
        yield from _arrival_phases(world, port, rng)

    spawn(
        world,
        "tow",
        rng,
        mmsi=mmsi,
        ais_class="A",
        identity=identity,
        at=(lat, lon),
        heading=initial_bearing(lat, lon, *rest[0]),
        speed=speed,
        handling=SHIP,
        plan=plan(),
    )


def build_background(world: World, vessels: int) -> None:
    """About `vessels` ordinary vessels, in the shares above."""
    builders: dict[str, Callable[[random.Random], object]] = {
        "merchant": lambda rng: merchant(world, rng),
        "trawler": lambda rng: trawler(world, rng),
        "gillnet": lambda rng: gillnetter(world, rng),
        "fishing_transit": lambda rng: fishing_transit(world, rng),
        "patrol": lambda rng: patrol(world, rng),
        "leisure": lambda rng: leisure(world, rng),
        "tow": lambda rng: tow(world, rng),
    }
    taken: list[LatLon] = []
    ferries = world.region.ferries
    n_ferries = min(len(ferries) * 2, round(vessels * 0.03))
    for i in range(n_ferries):
        ferry(world, world.rng("ferry"), ferries[i % len(ferries)], reverse_start=i >= len(ferries))
    budget = vessels - n_ferries
    for kind, share in SHARES.items():
        n = round(budget * share)
        made = 0
        while made < n:
            rng = world.rng(kind)
            if kind == "anchored":
                anchored(world, rng, taken)
                made += 1
            elif kind == "port":
                made += in_port(world, rng)
            else:
                builders[kind](rng)
                made += 1
