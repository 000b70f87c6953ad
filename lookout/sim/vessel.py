"""A simulated vessel: who it says it is, how it moves (its plan of phases), what its
transponder sends (and when it does not, or lies), and what the receivers make of it.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

from lookout.sim.encode import (
    aivdm,
    position_payload,
    raw_rot,
    static_sentences,
    with_tags,
)
from lookout.sim.motion import Kin, Phase, advance, move
from lookout.sim.radio import Radio, report_interval_s
from lookout.sim.region import Receiver

__all__ = ["Identity", "SimVessel", "Window"]

STATIC_EVERY_MS: Final = 360_000
DARK_TICK_MS: Final = 60_000
NEAR_REFRESH_MS: Final = 300_000


@dataclass(frozen=True, slots=True)
class Identity:
    """Static and voyage data (type 5; type 24 carries a part of it)."""

    name: str | None
    callsign: str | None
    imo: int  # 0: not available
    ship_type: int  # 0: not available
    to_bow: int = 0
    to_stern: int = 0
    to_port: int = 0
    to_starboard: int = 0
    draught: float = 0.0
    destination: str = ""

    @property
    def length(self) -> int:
        return self.to_bow + self.to_stern

    def renamed(self, **changes: Any) -> Identity:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    end_ms: int

    def __contains__(self, t_ms: object) -> bool:
        return isinstance(t_ms, int) and self.start_ms <= t_ms < self.end_ms


class SimVessel:
    """One transmitter. `tick(t_ms)` advances it to `t_ms`, returns the lines received then
    and the time of its next report (None once it is gone)."""

    def __init__(
        self,
        mmsi: int,
        ais_class: str,  # "A", "B", or a device: "sart", "mob", "epirb"
        identity: Identity | None,
        kin: Kin,
        plan: Iterator[Phase],
        rng: random.Random,
        *,
        role: str,
        appear_ms: int,
        gps_sigma_m: float = 6.0,
        heading_sensor: bool = True,
        rot_sensor: bool = False,
        sends_static: bool = True,
        keep_rx_times: bool = False,
    ) -> None:
        self.mmsi = mmsi
        self.ais_class = ais_class
        self.identities: list[tuple[int, Identity | None]] = [(0, identity)]
        self.kin = kin
        self.plan = plan
        self.rng = rng
        self.role = role
        self.appear_ms = appear_ms
        self.gps_sigma_m = gps_sigma_m
        self.heading_sensor = heading_sensor
        self.rot_sensor = rot_sensor
        self.sends_static = sends_static and identity is not None
        self.phase: Phase | None = None
        self.phase_started_ms = appear_ms
        self.phase_log: list[tuple[int, str]] = []  # (start, phase class) for the truth
        self.last_ms = appear_ms
        self.gone = False
        self.gone_ms: int | None = None
        self.next_static_ms = appear_ms + rng.randint(0, STATIC_EVERY_MS)
        self.part_b_next = False
        # transmission faults and tricks (behaviours)
        self.dark: list[Window] = []
        self.dark_when: Callable[[Kin, int], bool] | None = None
        self.spoof: list[tuple[Window, float, float]] = []  # window, bearing, metres
        self.sog_fault: list[tuple[Window, str, float]] = []  # window, "set"|"scale", value
        self.status_override: list[tuple[Window, int]] = []
        self.msg_type = 1
        self.report_scale = 1.0  # scales the ITU intervals
        self.min_interval_ms = 0  # a feed keeping one position a vessel this often at most
        self._last_position_ms = -(10**15)
        # what happened, for the truth file and vessel-hours
        self.first_rx: int | None = None
        self.last_rx: int | None = None
        self.last_rx_at = (kin.lat, kin.lon)
        self.rx_count = 0
        self.rx_times: array[int] | None = array("q") if keep_rx_times else None
        self.on_phase: Callable[[SimVessel, Phase, int], None] | None = None
        self._near: list[tuple[Receiver, float]] = []
        self._near_ms = -NEAR_REFRESH_MS
        self._near_at = (0.0, 0.0)
        self.watch = False  # follow watch-area entries for the truth file
        self.inside_watch: bool | None = None
        self.next_zone_check = 0
        self.entries: list[tuple[int, float, float, tuple[str, ...]]] = []

    # -- identity ---------------------------------------------------------------------
    def identity_at(self, t_ms: int) -> Identity | None:
        current = self.identities[0][1]
        for since, identity in self.identities:
            if since <= t_ms:
                current = identity
        return current

    def change_identity(self, at_ms: int, identity: Identity) -> None:
        self.identities.append((at_ms, identity))
        self.identities.sort(key=lambda item: item[0])

    # -- motion -----------------------------------------------------------------------
    def start(self) -> None:
        self._next_phase(self.appear_ms)

    def _next_phase(self, t_ms: int) -> None:
        phase = next(self.plan, None)
        if phase is None:
            self.phase = None
            self.gone = True
            self.gone_ms = t_ms
            return
        self.phase = phase
        self.phase_started_ms = t_ms
        self.phase_log.append((t_ms, type(phase).__name__))
        if phase.duration_ms is not None:
            phase.until_ms = t_ms + phase.duration_ms
        phase.start(self.kin, t_ms, self.rng)
        if self.on_phase is not None:
            self.on_phase(self, phase, t_ms)

    def move_to(self, t_ms: int) -> None:
        """Advance the true state to `t_ms`, through as many phases as that takes."""
        guard = 0
        while not self.gone and self.last_ms < t_ms:
            phase = self.phase
            assert phase is not None
            if phase.done(self.kin, self.last_ms):
                self._next_phase(self.last_ms)
                guard += 1
                if guard > 1000:
                    raise RuntimeError(f"vessel {self.mmsi}: phases that end at once")
                continue
            until = phase.until_ms
            end = t_ms if until is None or until <= self.last_ms else min(t_ms, until)
            advance(self.kin, phase, end, (end - self.last_ms) / 1000.0, self.rng)
            self.last_ms = end
            if phase.done(self.kin, end):
                self._next_phase(end)

    def fast_forward(self, t_ms: int) -> None:
        """Move without transmitting (a voyage that began before the scenario)."""
        self.move_to(t_ms)

    # -- transmitting -----------------------------------------------------------------
    def interval_ms(self) -> int:
        kin = self.kin
        seconds = report_interval_s(
            "A" if self.ais_class == "A" else ("B" if self.ais_class == "B" else "device"),
            kin.sog,
            kin.nav_status,
            kin.rot,
        )
        return max(1000, round(seconds * 1000 * self.rng.uniform(0.98, 1.02)))

    def is_dark(self, t_ms: int) -> bool:
        for window in self.dark:
            if window.start_ms <= t_ms < window.end_ms:
                return True
        return self.dark_when is not None and self.dark_when(self.kin, t_ms)

    def near(self, radio: Radio, t_ms: int) -> list[tuple[Receiver, float]]:
        kin = self.kin
        lat0, lon0 = self._near_at
        if (
            t_ms - self._near_ms >= NEAR_REFRESH_MS
            or abs(kin.lat - lat0) > 0.02
            or abs(kin.lon - lon0) > 0.02
        ):
            self._near = radio.near(kin.lat, kin.lon)
            self._near_ms = t_ms
            self._near_at = (kin.lat, kin.lon)
        return self._near

    def reported(self, t_ms: int) -> tuple[float, float, float | None, float | None, int | None]:
        """(lat, lon, sog, cog, heading) as the transponder sends them: sensor noise, faults."""
        kin = self.kin
        rng = self.rng
        sigma = self.gps_sigma_m
        lat, lon = kin.lat, kin.lon
        if sigma:
            lat, lon = move(lat, lon, rng.uniform(0.0, 360.0), abs(rng.gauss(0.0, sigma)))
        for window, bearing, metres in self.spoof:
            if window.start_ms <= t_ms < window.end_ms:
                lat, lon = move(lat, lon, bearing, metres)
        true_sog = kin.sog
        sog: float | None = max(0.0, true_sog + rng.gauss(0.0, 0.06))
        if true_sog < 0.3:  # GNSS speed at rest: a few tenths of scatter
            sog = abs(rng.gauss(0.0, 0.15))
        for window, mode, value in self.sog_fault:
            if window.start_ms <= t_ms < window.end_ms:
                sog = value if mode == "set" else true_sog * value
        cog: float | None
        if true_sog < 0.4:
            cog = (kin.cog + rng.gauss(0.0, 70.0)) % 360.0
        else:
            cog = (kin.cog + rng.gauss(0.0, max(0.6, 2.5 / true_sog))) % 360.0
        heading: int | None = None
        if self.heading_sensor:
            heading = round(kin.heading + rng.gauss(0.0, 0.6)) % 360
        return lat, lon, sog, cog, heading

    def tick(self, t_ms: int, radio: Radio, station_group: Iterator[int]) -> list[str]:
        """Advance to `t_ms` and transmit; the lines any receiver heard."""
        self.move_to(t_ms)
        if self.gone or t_ms < self.appear_ms or self.is_dark(t_ms):
            return []
        kin = self.kin
        near = self.near(radio, t_ms)
        class_b = self.ais_class == "B"
        lines: list[str] = []
        stations = radio.hearing(kin.lat, kin.lon, t_ms, class_b, near, self.rng)
        heard = False
        if stations and t_ms - self._last_position_ms >= self.min_interval_ms:
            self._last_position_ms = t_ms
            lines.extend(self._position_lines(t_ms, stations))
            heard = True
        if self.sends_static and t_ms >= self.next_static_ms:
            self.next_static_ms = t_ms + STATIC_EVERY_MS
            static_stations = radio.hearing(kin.lat, kin.lon, t_ms, class_b, near, self.rng)
            if static_stations:
                lines.extend(self._static_lines(t_ms, static_stations, station_group))
        if heard:  # a position heard: what a track (and a gap detector) sees
            self.rx_count += 1
            if self.first_rx is None:
                self.first_rx = t_ms
            self.last_rx = t_ms
            self.last_rx_at = (kin.lat, kin.lon)
            if self.rx_times is not None:
                self.rx_times.append(t_ms)
        return lines

    def _position_lines(self, t_ms: int, stations: list[str]) -> list[str]:
        kin = self.kin
        lat, lon, sog, cog, heading = self.reported(t_ms)
        second = (t_ms // 1000) % 60
        status = kin.nav_status
        for window, override in self.status_override:
            if window.start_ms <= t_ms < window.end_ms:
                status = override
        if self.ais_class == "B":
            payload = position_payload(18, self.mmsi, lat, lon, sog, cog, heading, second)
        else:
            rot = raw_rot(kin.rot) if self.rot_sensor else -128
            payload = position_payload(
                self.msg_type,
                self.mmsi,
                lat,
                lon,
                sog,
                cog,
                heading,
                second,
                status,
                rot,
                accuracy=self.gps_sigma_m < 5,
            )
        sentence = aivdm(payload, "A" if self.rng.random() < 0.5 else "B")
        seconds = t_ms // 1000
        out = []
        for station in stations:
            stamp = seconds + (1 if self.rng.random() < 0.1 else 0)
            out.extend(with_tags([sentence], stamp, 0, station))
        return out

    def _static_lines(
        self, t_ms: int, stations: list[str], station_group: Iterator[int]
    ) -> list[str]:
        identity = self.identity_at(t_ms)
        if identity is None:
            return []
        data: dict[str, Any]
        if self.ais_class == "A":
            data = {
                "type": 5,
                "mmsi": self.mmsi,
                "ais_version": 1,
                "imo": identity.imo,
                "callsign": identity.callsign or "",
                "shipname": identity.name or "",
                "ship_type": identity.ship_type,
                "to_bow": identity.to_bow,
                "to_stern": identity.to_stern,
                "to_port": identity.to_port,
                "to_starboard": identity.to_starboard,
                "epfd": 1,
                "month": 0,
                "day": 0,
                "hour": 24,
                "minute": 60,
                "draught": identity.draught,
                "destination": identity.destination,
                "dte": 0,
            }
        else:
            part_b = self.part_b_next
            data = {"type": 24, "mmsi": self.mmsi, "partno": 1 if part_b else 0}
            if part_b:
                data.update(
                    ship_type=identity.ship_type,
                    callsign=identity.callsign or "",
                    to_bow=identity.to_bow,
                    to_stern=identity.to_stern,
                    to_port=identity.to_port,
                    to_starboard=identity.to_starboard,
                )
            else:  # part A; part B follows within the minute
                data.update(shipname=identity.name or "")
                self.next_static_ms = t_ms + 15_000 + self.rng.randint(0, 30_000)
            self.part_b_next = not part_b
        sentences = static_sentences(data, "B" if self.rng.random() < 0.5 else "A")
        seconds = t_ms // 1000
        out = []
        for station in stations:
            out.extend(with_tags(sentences, seconds, next(station_group), station))
        return out

    def next_tick(self, t_ms: int) -> int:
        if self.gone:
            return t_ms
        if self.is_dark(t_ms) or t_ms < self.appear_ms:
            return t_ms + DARK_TICK_MS
        return t_ms + max(1000, round(self.interval_ms() * self.report_scale))
