"""When a simulated transponder reports, and who hears it.

Reporting intervals follow ITU-R M.1371-5 (annex 1, tables 1 and 2):

    class A  at anchor or moored, not faster than 3 kn       3 min
             0-14 kn       10 s   (3 1/3 s while changing course)
             14-23 kn       6 s   (2 s while changing course)
             over 23 kn     2 s
    class B "CS"  not faster than 2 kn   3 min,  faster   30 s
    AIS-SART, MOB, EPIRB-AIS: a burst every minute
    static and voyage data (type 5; type 24 parts A and B): every 6 min

Reception: coastal stations hear class A out to their range (class B, with its 2 W, to about
70 % of it), less reliably toward the edge; beyond them only satellites hear, during passes of a
few minutes every 20-60 min, and miss many messages (slot collisions over a large footprint).
Outages make holes: a station down (its area falls back to the satellites), or a whole area
where nothing is received for hours (a feed or a provider down) so that every vessel there
falls silent together.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from lookout.sim.region import Receiver

__all__ = ["Outage", "Radio", "RadioSettings", "report_interval_s"]

NM: Final = 1852.0
CHANGING_COURSE: Final = 5.0  # degrees per minute of turn: "changing course"


def report_interval_s(ais_class: str, sog: float, nav_status: int, rot: float) -> float:
    """The nominal reporting interval of a transponder in this state."""
    if ais_class == "B":
        return 180.0 if sog <= 2.0 else 30.0
    if ais_class != "A":
        return 60.0  # distress devices: a burst a minute
    if nav_status in (1, 5) and sog <= 3.0:
        return 180.0
    turning = abs(rot) >= CHANGING_COURSE
    if sog > 23.0:
        return 2.0
    if sog > 14.0:
        return 2.0 if turning else 6.0
    return 10.0 / 3.0 if turning else 10.0


@dataclass(frozen=True, slots=True)
class RadioSettings:
    reception: float = 1.0  # scales every reception probability (0.5: a poor network)
    satellite: bool = True
    sat_revisit_min: tuple[float, float] = (20.0, 60.0)
    sat_window_min: tuple[float, float] = (6.0, 12.0)
    sat_p_a: float = 0.5
    sat_p_b: float = 0.3
    terrestrial_p_a: float = 0.95
    terrestrial_p_b: float = 0.85
    class_b_range: float = 0.7
    duplicates: bool = True  # a message heard by two stations is written twice


@dataclass(frozen=True, slots=True)
class Outage:
    """No reception: from `station` only (None: from anything inside the circle)."""

    id: str
    start_ms: int
    end_ms: int
    lat: float
    lon: float
    radius_km: float
    station: str | None = None  # a station down; None: a blackout of the whole circle

    def covers(self, lat: float, lon: float, t_ms: int) -> bool:
        if not self.start_ms <= t_ms < self.end_ms:
            return False
        return _fast_km(lat, lon, self.lat, self.lon) <= self.radius_km


def _fast_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) * 0.5))
    y = math.radians(lat2 - lat1)
    return 6371.0 * math.hypot(x, y)


class Radio:
    """Who hears a message sent at (lat, lon) at `t_ms`: station ids, possibly none."""

    def __init__(
        self,
        receivers: tuple[Receiver, ...],
        settings: RadioSettings,
        start_ms: int,
        end_ms: int,
        rng: random.Random,
        outages: tuple[Outage, ...] = (),
    ) -> None:
        self.receivers = receivers
        self.settings = settings
        self.outages = outages
        self.passes: list[tuple[int, int, str]] = []
        if settings.satellite:
            t = start_ms - int(rng.uniform(0, settings.sat_revisit_min[1]) * 60_000)
            number = 0
            while t < end_ms + 3_600_000:
                length = int(rng.uniform(*settings.sat_window_min) * 60_000)
                number += 1
                self.passes.append((t, t + length, f"sat-{number % 7 + 1}"))
                t += int(rng.uniform(*settings.sat_revisit_min) * 60_000)
        self._pass_index = 0

    def near(self, lat: float, lon: float) -> list[tuple[Receiver, float]]:
        """Receivers within reach of a position, with the distance in nautical miles."""
        out = []
        for rx in self.receivers:
            if abs(rx.at[0] - lat) > 1.5 or abs(rx.at[1] - lon) > 1.5:
                continue
            nm = _fast_km(lat, lon, rx.at[0], rx.at[1]) * 1000.0 / NM
            if nm <= rx.range_nm * 1.05:
                out.append((rx, nm))
        return out

    def satellite_pass(self, t_ms: int) -> str | None:
        passes = self.passes
        i = self._pass_index
        # event time only moves forward (give or take a reorder): walk from the last pass
        while i > 0 and passes[i][0] > t_ms:
            i -= 1
        while i + 1 < len(passes) and passes[i + 1][0] <= t_ms:
            i += 1
        self._pass_index = i
        if passes and passes[i][0] <= t_ms < passes[i][1]:
            return passes[i][2]
        return None

    def hearing(
        self,
        lat: float,
        lon: float,
        t_ms: int,
        class_b: bool,
        near: list[tuple[Receiver, float]],
        rng: random.Random,
    ) -> list[str]:
        s = self.settings
        blacked = False
        down: set[str] = set()
        for outage in self.outages:
            if outage.start_ms <= t_ms < outage.end_ms:
                if outage.station is not None:
                    down.add(outage.station)
                elif outage.covers(lat, lon, t_ms):
                    blacked = True
        if blacked:
            return []
        heard: list[str] = []
        p0 = (s.terrestrial_p_b if class_b else s.terrestrial_p_a) * s.reception
        for rx, nm in near:
            if rx.id in down:
                continue
            reach = rx.range_nm * (s.class_b_range if class_b else 1.0)
            if nm > reach:
                continue
            p = p0 * (1.0 - (nm / reach) ** 4)
            if rng.random() < p:
                heard.append(rx.id)
                if not s.duplicates:
                    break
        if len(heard) > 2:
            heard = heard[:2]
        if heard or not s.satellite:
            return heard
        sat = self.satellite_pass(t_ms)
        if sat is not None and rng.random() < (s.sat_p_b if class_b else s.sat_p_a) * s.reception:
            return [sat]
        return []
