"""How simulated vessels move: a kinematic state and the phases that steer it.

A vessel's true state (`Kin`) is advanced by its current `Phase`. Most phases steer: they say
which course and speed they want, and `Kin.steer` turns the bow at most `Handling.max_turn`
degrees a minute and changes speed at most `Handling.accel` knots a minute, while a slowly
varying drift angle (current, leeway) keeps the course over ground a few degrees off the
heading, as on a real ship. Phases that are not under command set the state themselves: a
drifting hull (moved by current and wind, bow wherever the wind leaves it), a ship swinging at
anchor (round its anchor with the tide, bow to the stream), a ship alongside.

All speeds are knots, courses degrees true, times epoch milliseconds, steps seconds.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from tracks.hygiene import distance_m, initial_bearing

__all__ = [
    "Anchor",
    "Drift",
    "Handling",
    "Kin",
    "Loiter",
    "Moored",
    "Phase",
    "Pursue",
    "Sail",
    "Trawl",
    "angle_diff",
    "lasting",
    "move",
]

EARTH_RADIUS_M: Final = 6_371_008.8
KNOT: Final = 1852.0 / 3600.0  # metres per second
MAX_STEP_S: Final = 15.0

# AIS navigational status (ITU-R M.1371, table 45)
UNDER_WAY: Final = 0
AT_ANCHOR: Final = 1
NOT_UNDER_COMMAND: Final = 2
MOORED: Final = 5
FISHING: Final = 7
SART_ACTIVE: Final = 14
UNDEFINED: Final = 15


def angle_diff(a: float, b: float) -> float:
    """Signed smallest difference b - a, degrees in [-180, 180)."""
    return (b - a + 540.0) % 360.0 - 180.0


def move(lat: float, lon: float, course: float, metres: float) -> tuple[float, float]:
    """The point `metres` along `course` (flat-earth step; exact enough below a few km)."""
    c = math.radians(course)
    dlat = metres * math.cos(c) / EARTH_RADIUS_M
    dlon = metres * math.sin(c) / (EARTH_RADIUS_M * math.cos(math.radians(lat)))
    return lat + math.degrees(dlat), lon + math.degrees(dlon)


def destination(lat: float, lon: float, course: float, metres: float) -> tuple[float, float]:
    """Great-circle destination, for long distances."""
    phi1, lam1 = math.radians(lat), math.radians(lon)
    theta, delta = math.radians(course), metres / EARTH_RADIUS_M
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    return math.degrees(phi2), (math.degrees(lam2) + 540.0) % 360.0 - 180.0


def path_length_m(points: Sequence[tuple[float, float]]) -> float:
    return sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(points))


def point_along(points: Sequence[tuple[float, float]], metres: float) -> tuple[int, float, float]:
    """(index of the next waypoint, lat, lon) `metres` along a polyline."""
    for i in range(1, len(points)):
        a, b = points[i - 1], points[i]
        leg = distance_m(a[0], a[1], b[0], b[1])
        if metres <= leg:
            f = metres / leg if leg else 0.0
            return i, a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
        metres -= leg
    last = points[-1]
    return len(points) - 1, last[0], last[1]


@dataclass(frozen=True, slots=True)
class Handling:
    """How a hull manoeuvres: large ships turn and speed up slowly, small boats quickly."""

    max_turn: float  # degrees per minute at full rudder
    accel: float  # knots per minute
    max_speed: float
    yaw: float  # amplitude of the autopilot's yaw, degrees


SHIP: Final = Handling(max_turn=25.0, accel=0.6, max_speed=22.0, yaw=0.8)
SMALL: Final = Handling(max_turn=90.0, accel=3.0, max_speed=14.0, yaw=2.5)
FAST: Final = Handling(max_turn=60.0, accel=4.0, max_speed=32.0, yaw=1.0)


class Kin:
    """A vessel's true state."""

    __slots__ = (
        "cog",
        "drift",
        "handling",
        "heading",
        "lat",
        "lon",
        "nav_status",
        "rot",
        "sog",
        "speed_jitter",
        "yaw_phase",
    )

    def __init__(
        self,
        lat: float,
        lon: float,
        handling: Handling,
        sog: float = 0.0,
        heading: float = 0.0,
        nav_status: int = UNDER_WAY,
    ) -> None:
        self.lat = lat
        self.lon = lon
        self.sog = sog
        self.heading = heading % 360.0
        self.cog = self.heading
        self.nav_status = nav_status
        self.rot = 0.0  # degrees per minute, of the heading
        self.drift = 0.0  # cog - heading under way, degrees (current, leeway)
        self.speed_jitter = 0.0  # knots, slowly varying
        self.yaw_phase = 0.0
        self.handling = handling

    def steer(self, want_course: float, want_speed: float, dt: float, rng: random.Random) -> None:
        """Turn toward `want_course` and change speed toward `want_speed` within the limits,
        then move over ground."""
        h = self.handling
        minutes = dt / 60.0
        # slow drift angle (Ornstein-Uhlenbeck): a few degrees of set and leeway
        k = min(1.0, dt / 1800.0)
        self.drift += -self.drift * k + rng.gauss(0.0, 2.0) * math.sqrt(k)
        self.speed_jitter += -self.speed_jitter * k + rng.gauss(0.0, 0.35) * math.sqrt(k)
        turn_limit = h.max_turn * minutes * (0.4 if self.sog > 14 else 1.0)
        error = angle_diff(self.heading, want_course)
        turn = max(-turn_limit, min(turn_limit, error * min(1.0, minutes * 6.0)))
        self.yaw_phase = (self.yaw_phase + dt / 40.0) % (2 * math.pi)
        yaw = h.yaw * math.sin(self.yaw_phase)
        self.heading = (self.heading + turn) % 360.0
        self.rot = turn / minutes if minutes else 0.0
        jitter = self.speed_jitter * min(1.0, want_speed / 8.0)
        target = max(0.0, min(h.max_speed, want_speed + jitter))
        dv = h.accel * minutes
        self.sog += max(-dv, min(dv, target - self.sog))
        drift = self.drift if self.sog > 3.0 else self.drift * 3.0
        self.cog = (self.heading + drift + yaw) % 360.0
        self.advance_position(dt)

    def advance_position(self, dt: float) -> None:
        if self.sog > 0:
            self.lat, self.lon = move(self.lat, self.lon, self.cog, self.sog * KNOT * dt)


class Phase:
    """One stretch of a vessel's plan. `advance` moves the state by `dt` seconds ending at
    `t_ms`; `done` says the phase is over (the vessel moves on to its next phase)."""

    analytic = False  # True: `advance` may take any step (the state is a function of time)
    until_ms: int | None = None
    duration_ms: int | None = None  # when set, the phase ends this long after it starts

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        """Called once, when the phase begins."""

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        raise NotImplementedError

    def done(self, kin: Kin, t_ms: int) -> bool:
        return self.until_ms is not None and t_ms >= self.until_ms


class Sail(Phase):
    """Follow waypoints at a speed; with `arrive_at_ms`, adjust the speed to arrive on time."""

    def __init__(
        self,
        waypoints: Sequence[tuple[float, float]],
        speed: float,
        *,
        arrive_m: float = 400.0,
        arrive_at_ms: int | None = None,
        until_ms: int | None = None,
        nav_status: int = UNDER_WAY,
        slow_at_end: bool = False,
    ) -> None:
        self.waypoints = list(waypoints)
        self.speed = speed
        self.arrive_m = arrive_m
        self.arrive_at_ms = arrive_at_ms
        self.until_ms = until_ms
        self.nav_status = nav_status
        self.slow_at_end = slow_at_end
        self.index = 0
        self.finished = False

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        kin.nav_status = self.nav_status

    def remaining_m(self, kin: Kin) -> float:
        if self.index >= len(self.waypoints):
            return 0.0
        wp = self.waypoints[self.index]
        rest = path_length_m(self.waypoints[self.index :])
        return distance_m(kin.lat, kin.lon, wp[0], wp[1]) + rest

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        if self.finished:
            kin.steer(kin.heading, 0.0, dt, rng)
            return
        wp = self.waypoints[self.index]
        dist = distance_m(kin.lat, kin.lon, wp[0], wp[1])
        while dist < max(self.arrive_m, kin.sog * KNOT * dt * 1.5):
            self.index += 1
            if self.index >= len(self.waypoints):
                self.finished = True
                kin.steer(kin.heading, 0.0 if self.slow_at_end else kin.sog, dt, rng)
                return
            wp = self.waypoints[self.index]
            dist = distance_m(kin.lat, kin.lon, wp[0], wp[1])
        speed = self.speed
        if self.arrive_at_ms is not None:
            left_s = (self.arrive_at_ms - t_ms) / 1000.0
            need = self.remaining_m(kin) / max(left_s, 60.0) / KNOT
            speed = max(0.6 * self.speed, min(need, 1.35 * self.speed, kin.handling.max_speed))
        if self.slow_at_end and self.index == len(self.waypoints) - 1:
            speed = min(speed, max(1.0, dist / 600.0))  # ease in over the last kilometres
        kin.steer(initial_bearing(kin.lat, kin.lon, wp[0], wp[1]), speed, dt, rng)

    def done(self, kin: Kin, t_ms: int) -> bool:
        return self.finished or (self.until_ms is not None and t_ms >= self.until_ms)


class Trawl(Phase):
    """Bottom trawling: tows of 1.5-4 h at 2.5-4.5 kn along the ground's contour, slow turns at
    the end of a tow, hauls of 20-45 min at about 1 kn; back toward the centre when outside."""

    def __init__(
        self,
        centre: tuple[float, float],
        radius_m: float,
        tow_course: float,
        until_ms: int,
        *,
        reports_fishing: bool = True,
        tow_speed: float = 3.2,
    ) -> None:
        self.centre = centre
        self.radius_m = radius_m
        self.tow_course = tow_course
        self.until_ms = until_ms
        self.reports_fishing = reports_fishing
        self.tow_speed = tow_speed
        self.mode = "tow"
        self.mode_until = 0
        self.course = tow_course

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        self._tow(kin, t_ms, rng)

    def _tow(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        self.mode = "tow"
        self.mode_until = t_ms + int(rng.uniform(1.5, 4.0) * 3_600_000)
        dist = distance_m(kin.lat, kin.lon, *self.centre)
        base = self.tow_course if rng.random() < 0.5 else self.tow_course + 180.0
        if dist > 0.6 * self.radius_m:  # the tow that brings it back toward the centre
            home = initial_bearing(kin.lat, kin.lon, *self.centre)
            if abs(angle_diff(base, home)) > 90.0:
                base += 180.0
        self.course = (base + rng.gauss(0.0, 12.0)) % 360.0
        kin.nav_status = FISHING if self.reports_fishing else UNDER_WAY

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        if t_ms >= self.mode_until:
            if self.mode == "tow":
                self.mode = "haul"
                self.mode_until = t_ms + int(rng.uniform(20, 45) * 60_000)
            else:
                self._tow(kin, t_ms, rng)
        if self.mode == "tow":
            self.course = (self.course + rng.gauss(0.0, 0.6) * math.sqrt(dt / 10)) % 360.0
            kin.steer(self.course, self.tow_speed, dt, rng)
        else:  # hauling: slow, the bow wanders as the net comes in
            kin.steer((kin.heading + rng.gauss(0.0, 3.0)) % 360.0, 0.9, dt, rng)


class Loiter(Phase):
    """Slow manoeuvring under power in a small area: 0.3-1.8 kn, course changing every
    10-40 min, pulled back when it strays beyond `radius_m`."""

    def __init__(
        self,
        centre: tuple[float, float],
        radius_m: float,
        until_ms: int | None,
        speed: tuple[float, float] = (0.4, 1.6),
        nav_status: int = UNDER_WAY,
    ) -> None:
        self.centre = centre
        self.radius_m = radius_m
        self.until_ms = until_ms
        self.speed_range = speed
        self.nav_status = nav_status
        self.next_change = 0
        self.course = 0.0
        self.speed = speed[0]

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        kin.nav_status = self.nav_status

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        if t_ms >= self.next_change:
            self.next_change = t_ms + int(rng.uniform(10, 40) * 60_000)
            self.speed = rng.uniform(*self.speed_range)
            if distance_m(kin.lat, kin.lon, *self.centre) > self.radius_m:
                home = initial_bearing(kin.lat, kin.lon, *self.centre)
                self.course = (home + rng.gauss(0.0, 25.0)) % 360.0
            else:
                self.course = (kin.heading + rng.uniform(-120.0, 120.0)) % 360.0
        kin.steer(self.course, self.speed, dt, rng)


class Drift(Phase):
    """Not under command: moved by current and wind, the bow left to the wind.

    The drift's set turns slowly (tidal and wind changes); the heading either lies at an
    angle to the drift (a hull lies beam-on to the wind) with some yaw, or wanders.
    """

    def __init__(
        self,
        until_ms: int,
        set_course: float,
        rate: float,
        *,
        heading_offset: float = 90.0,
        wandering: bool = False,
        nav_status: int = NOT_UNDER_COMMAND,
    ) -> None:
        self.until_ms = until_ms
        self.set_course = set_course
        self.rate = rate
        self.heading_offset = heading_offset
        self.wandering = wandering
        self.nav_status = nav_status
        self.rate_now = rate

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        kin.nav_status = self.nav_status

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        hours = dt / 3600.0
        self.set_course = (self.set_course + rng.gauss(0.0, 8.0) * math.sqrt(hours)) % 360.0
        self.rate_now += (self.rate - self.rate_now) * min(1.0, dt / 1200.0) + rng.gauss(
            0.0, 0.05
        ) * math.sqrt(dt / 60.0)
        self.rate_now = max(0.15, self.rate_now)
        # the engine is off: the way comes off the hull within minutes
        kin.sog += (self.rate_now - kin.sog) * min(1.0, dt / 150.0)
        before = kin.heading
        if self.wandering:
            kin.heading = (kin.heading + rng.gauss(0.0, 25.0) * math.sqrt(hours)) % 360.0
        else:
            lie = (self.set_course + self.heading_offset) % 360.0
            error = angle_diff(kin.heading, lie)
            kin.heading = (kin.heading + error * min(1.0, dt / 900.0) + rng.gauss(0.0, 1.5)) % 360.0
        kin.rot = angle_diff(before, kin.heading) / (dt / 60.0) if dt else 0.0
        kin.cog = (self.set_course + rng.gauss(0.0, 3.0)) % 360.0
        kin.advance_position(dt)


class Anchor(Phase):
    """Swinging at anchor: the hull lies `swing_m` down-stream of its anchor, bow to the
    stream; the stream reverses with the tide (12.42 h) and the wind adds a few degrees, so
    the hull sweeps a circle of `swing_m` round the anchor at a fraction of a knot."""

    analytic = True

    def __init__(
        self,
        anchor: tuple[float, float],
        swing_m: float,
        until_ms: int | None,
        *,
        nav_status: int = AT_ANCHOR,
        flood_course: float = 0.0,
        tide_phase: float = 0.0,
        settle: bool = False,
    ) -> None:
        self.settle = settle  # drop the anchor where the vessel is, rather than at `anchor`
        self.anchor = anchor
        self.swing_m = swing_m
        self.until_ms = until_ms
        self.nav_status = nav_status
        self.flood_course = flood_course
        self.tide_phase = tide_phase
        self.wind = 0.0

    def stream(self, t_ms: int) -> float:
        """The direction the stream sets toward: flood, turning through 180 to ebb and back."""
        tide = 2 * math.pi * (t_ms / 3_600_000.0) / 12.42 + self.tide_phase
        return (self.flood_course + 90.0 * (1.0 - math.cos(tide))) % 360.0

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        kin.nav_status = self.nav_status
        stream = self.stream(t_ms)
        if self.settle:  # the hull ends up down-stream of where the anchor went down
            self.anchor = move(kin.lat, kin.lon, (stream + 180.0) % 360.0, self.swing_m)
        else:
            kin.lat, kin.lon = move(self.anchor[0], self.anchor[1], stream, self.swing_m)
            kin.sog = 0.0
            kin.heading = (stream + 180.0) % 360.0

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        k = min(1.0, dt / 1800.0)
        self.wind += -self.wind * k + rng.gauss(0.0, 8.0) * math.sqrt(k)
        stream = (self.stream(t_ms) + self.wind) % 360.0
        lat, lon = move(self.anchor[0], self.anchor[1], stream, self.swing_m)
        moved = distance_m(kin.lat, kin.lon, lat, lon)
        before = kin.heading
        if moved > 0.5:
            kin.cog = initial_bearing(kin.lat, kin.lon, lat, lon)
        kin.sog = moved / KNOT / dt if dt else 0.0
        kin.lat, kin.lon = lat, lon
        kin.heading = (stream + 180.0) % 360.0  # bow into the stream, toward the anchor
        kin.rot = angle_diff(before, kin.heading) / (dt / 60.0) if dt else 0.0


class Moored(Phase):
    """Alongside: a few metres of surge on the lines, nothing more."""

    analytic = True

    def __init__(
        self,
        berth: tuple[float, float],
        heading: float,
        until_ms: int | None,
        nav_status: int = MOORED,
    ) -> None:
        self.berth = berth
        self.heading_at = heading
        self.until_ms = until_ms
        self.nav_status = nav_status

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        kin.nav_status = self.nav_status

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        kin.lat, kin.lon = move(self.berth[0], self.berth[1], self.heading_at, rng.gauss(0, 2.0))
        kin.sog = 0.0
        kin.heading = self.heading_at
        kin.cog = self.heading_at
        kin.rot = 0.0


class Pursue(Phase):
    """Keep station on a moving point (alongside another vessel, a meeting place): steer for
    it and match its speed, never faster than `max_speed`."""

    def __init__(
        self,
        target: Callable[[int], tuple[float, float, float, float]],
        until_ms: int,
        max_speed: float = 3.0,
        nav_status: int = UNDER_WAY,
    ) -> None:
        self.target = target  # t_ms -> (lat, lon, course, speed) of the point to keep
        self.until_ms = until_ms
        self.max_speed = max_speed
        self.nav_status = nav_status

    def start(self, kin: Kin, t_ms: int, rng: random.Random) -> None:
        kin.nav_status = self.nav_status

    def advance(self, kin: Kin, t_ms: int, dt: float, rng: random.Random) -> None:
        lat, lon, course, speed = self.target(t_ms)
        dist = distance_m(kin.lat, kin.lon, lat, lon)
        if dist < 30.0:
            want_course, want_speed = course, speed
        else:
            want_course = initial_bearing(kin.lat, kin.lon, lat, lon)
            want_speed = min(self.max_speed, speed + dist / 300.0)
        kin.steer(want_course, want_speed, dt, rng)


def lasting(phase: Phase, duration_ms: int) -> Phase:
    """The phase, ending `duration_ms` after it begins (for plans built ahead of time)."""
    phase.duration_ms = duration_ms
    return phase


def advance(kin: Kin, phase: Phase, t_ms: int, dt: float, rng: random.Random) -> None:
    """Advance `dt` seconds ending at `t_ms`, in steps short enough for the controllers."""
    if phase.analytic or dt <= MAX_STEP_S:
        phase.advance(kin, t_ms, dt, rng)
        return
    steps = math.ceil(dt / MAX_STEP_S)
    step = dt / steps
    for i in range(1, steps + 1):
        phase.advance(kin, t_ms - round((steps - i) * step * 1000), step, rng)
