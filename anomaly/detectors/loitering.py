"""`loitering`: a vessel lingering slowly far from shore, the way mother ships wait.

Global Fishing Watch's definition (Miller et al. 2018, "Identifying global patterns of
transshipment behavior", Frontiers in Marine Science 5:240): an average speed below 2 knots for
at least 4 hours, at least 20 nautical miles from shore. Streaming, per vessel: a *run* starts at
a report below `max_speed_kn` and goes on while the vessel stays slow, allowing excursions above
it of up to `max_excursion_min` (a short repositioning) and silences of up to `max_gap_h` if it
was still slow across them. Once the run is `min_duration_h` long, its time-weighted average
speed below `max_speed_kn` and the vessel at least `min_shore_distance_nm` from shore, the
episode opens; it is revised every `revise_every_h` and ends when the run does.

Not loitering:
- at anchor or moored: navigational status 1 or 5 for `anchored_share` of the run, or in an
  anchorage or port zone;
- fishing: status 7 ("engaged in fishing") for `fishing_status_share` of the run, or a fishing
  vessel (`fishing_ship_types`) moving like one fishing: at trawling speeds (`trawl_min_kn` to
  `trawl_max_kn`) for `trawl_time_share` of the run with `fishing_turns_per_h` turns an hour
  (course changes of 45 degrees or more while making way). A fishing vessel lying to drift nets
  moves exactly like a vessel loitering, for hours, then shoots its net again a little way off;
  so a fishing vessel that shows no sign of fishing must linger `fishing_min_duration_h` (longer
  than a net's soak) without moving off even briefly to be loitering. A class B vessel whose
  type is not known yet (its static report not heard, as happens for hours with satellite
  reception) may be such a boat, and is judged like one; mother ships carry class A.
- aids to navigation, base stations, SAR aircraft and distress beacons.

Speeds are the reported speed over ground (far less noisy at low speed than positions, whose
scatter alone makes a moored vessel "move" at a knot), or the implied speed when none is given.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pydantic import Field

from anomaly.context import DetectContext
from anomaly.detectors.base import RuleConfig
from anomaly.detectors.vessel import (
    NOT_VESSELS,
    Params,
    VesselDetector,
    VesselState,
    fmt_hours,
    fmt_km,
    fmt_kn,
    fmt_utc,
    may_be_fishing,
)
from anomaly.records import Alert, AlertType, Severity
from tracks.hygiene import course_change, distance_m
from tracks.records import TrackPoint

__all__ = ["LoiteringDetector", "LoiteringParams"]

ANCHORED: Final = frozenset({1, 5})  # at anchor, moored
FISHING_STATUS: Final = 7
TURN_DEG: Final = 45.0
TURN_MIN_KN: Final = 1.5  # below this a course over ground is mostly GPS noise


class LoiteringParams(Params):
    max_speed_kn: float = Field(2.0, gt=0)
    min_duration_h: float = Field(4.0, gt=0)
    min_shore_distance_nm: float = Field(20.0, ge=0)
    max_excursion_min: float = Field(30.0, ge=0)
    max_gap_h: float = Field(3.0, gt=0)
    anchored_share: float = Field(0.5, gt=0, le=1)
    fishing_ship_types: list[int] = Field(default_factory=lambda: [30])
    fishing_min_duration_h: float = Field(12.0, gt=0)
    fishing_status_share: float = Field(0.25, gt=0, le=1)
    trawl_min_kn: float = Field(1.0, ge=0)
    trawl_max_kn: float = Field(5.0, gt=0)
    trawl_time_share: float = Field(0.3, ge=0, le=1)
    fishing_turns_per_h: float = Field(1.0, ge=0)
    revise_every_h: float = Field(1.0, gt=0)
    check_every_min: float = Field(10.0, gt=0)


class _State(VesselState):
    __slots__ = (
        "calm_start",
        "e_speed",
        "e_total",
        "exc_start",
        "lat",
        "lat_max",
        "lat_min",
        "lon",
        "lon_max",
        "lon_min",
        "next_check",
        "ref_cog",
        "run_start",
        "s_lat",
        "s_lon",
        "shore_nm",
        "sl_lat",
        "sl_lon",
        "slow_ts",
        "t_anchor",
        "t_fish",
        "t_speed",
        "t_total",
        "t_trawl",
        "turns",
    )

    def __init__(self) -> None:
        super().__init__()
        self.run_start = 0  # 0: no run
        self.s_lat = self.s_lon = self.lat = self.lon = 0.0  # run start, latest position
        self.slow_ts = 0  # the run's last slow report, and where
        self.sl_lat = self.sl_lon = 0.0
        self.exc_start = 0  # an excursion above the speed limit started then
        self.e_total = self.e_speed = 0.0  # its time and speed, counted if the run goes on
        self.calm_start = 0  # the run's current stretch without any excursion began then
        self.t_total = self.t_speed = self.t_anchor = self.t_fish = self.t_trawl = 0.0
        self.turns = 0
        self.ref_cog = -1.0
        self.lat_min = self.lat_max = self.lon_min = self.lon_max = 0.0
        self.next_check = 0
        self.shore_nm = 0.0

    def to_json(self) -> list[Any]:
        return [*super().to_json(), *(getattr(self, name) for name in _FIELDS)]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data)
        for name, value in zip(_FIELDS, data[4:], strict=True):
            setattr(self, name, value)


_FIELDS: Final = tuple(sorted(_State.__slots__))


class LoiteringDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.LOITERING
    Params: ClassVar[type[Params]] = LoiteringParams

    def __init__(
        self, config: RuleConfig | None = None, context: DetectContext | None = None
    ) -> None:
        super().__init__(config, context)
        p: LoiteringParams = self.params  # type: ignore[assignment]
        self.p = p
        self._max_kn = p.max_speed_kn
        self._min_ms = round(p.min_duration_h * 3_600_000)
        self._exc_ms = round(p.max_excursion_min * 60_000)
        self._gap_ms = round(p.max_gap_h * 3_600_000)
        self._stale_ms = self._gap_ms
        self._revise_ms = round(p.revise_every_h * 3_600_000)
        self._check_ms = round(p.check_every_min * 60_000)
        self._fishing_types = frozenset(p.fishing_ship_types)
        self._fishing_ms = round(p.fishing_min_duration_h * 3_600_000)

    def _new_state(self) -> _State:
        return _State()

    def _update(self, point: TrackPoint) -> list[Alert]:
        if not point.segment_id:
            return []
        st = self._vessels.get(point.mmsi)
        if st is None:
            if point.mmsi_class in NOT_VESSELS:
                return []
            st = self._vessels[point.mmsi] = _State()
        out = self._close_if_stale(point, st) if st.ep is not None else None
        ts = point.ts
        dt = ts - st.last_ts
        st.last_ts = ts
        speed = point.sog
        if speed is None:
            speed = point.implied_sog
            if speed is None:
                return out or []
        lat: float = point.lat  # type: ignore[assignment]  # on track: never None
        lon: float = point.lon  # type: ignore[assignment]
        st.lat, st.lon = lat, lon
        slow = speed < self._max_kn
        if not st.run_start:
            if slow:
                self._start_run(st, ts, lat, lon)
            return out or []
        if dt > self._gap_ms:  # a silence inside the run: still there, and still slow?
            implied = point.implied_sog
            if implied is None or implied >= self._max_kn:
                out = self._end_run(point.mmsi, st, out)
                if slow:
                    self._start_run(st, ts, lat, lon)
                return out or []
        self._accumulate(st, point, speed, dt)
        if slow:
            st.t_total += st.e_total + dt
            st.t_speed += st.e_speed + speed * dt
            st.e_total = st.e_speed = 0.0
            if st.exc_start:
                st.calm_start = ts  # back from an excursion (a net shot again, say)
            st.exc_start = 0
            st.slow_ts = ts
            st.sl_lat, st.sl_lon = lat, lon
            if lat < st.lat_min:
                st.lat_min = lat
            elif lat > st.lat_max:
                st.lat_max = lat
            if lon < st.lon_min:
                st.lon_min = lon
            elif lon > st.lon_max:
                st.lon_max = lon
        else:
            st.e_total += dt
            st.e_speed += speed * dt
            if not st.exc_start:
                st.exc_start = ts
            elif ts - st.exc_start > self._exc_ms:
                return self._end_run(point.mmsi, st, out) or []
        if st.ep is not None:
            self._open[point.mmsi] = ts
            if ts - st.ep.last_rev >= self._revise_ms:
                st.static, st.flag = point.static, point.flag
                return [*(out or ()), self._alert(point.mmsi, st, ts, None)]
        elif st.slow_ts - st.run_start >= self._min_ms and ts >= st.next_check:
            st.next_check = ts + self._check_ms
            st.static, st.flag = point.static, point.flag
            if self._loitering(st, point.ais_class == "B"):
                self._open_episode(point.mmsi, st, st.run_start, ts)
                return [*(out or ()), self._alert(point.mmsi, st, ts, None)]
        return out or []

    def _start_run(self, st: _State, ts: int, lat: float, lon: float) -> None:
        st.run_start = st.slow_ts = st.calm_start = ts
        st.s_lat = st.sl_lat = st.lat_min = st.lat_max = lat
        st.s_lon = st.sl_lon = st.lon_min = st.lon_max = lon
        st.exc_start = 0
        st.e_total = st.e_speed = 0.0
        st.t_total = st.t_speed = st.t_anchor = st.t_fish = st.t_trawl = 0.0
        st.turns = 0
        st.ref_cog = -1.0
        st.next_check = 0

    def _accumulate(self, st: _State, point: TrackPoint, speed: float, dt: int) -> None:
        """The time shares and turns that tell anchoring and fishing from loitering."""
        p = self.p
        nav = point.nav_status
        if nav in ANCHORED:
            st.t_anchor += dt
        elif nav == FISHING_STATUS:
            st.t_fish += dt
        if p.trawl_min_kn <= speed <= p.trawl_max_kn:
            st.t_trawl += dt
        cog = point.cog
        if cog is not None and speed >= TURN_MIN_KN:
            if st.ref_cog < 0:
                st.ref_cog = cog
            elif abs(course_change(st.ref_cog, cog)) >= TURN_DEG:
                st.turns += 1
                st.ref_cog = cog

    def _end_run(self, mmsi: int, st: _State, out: list[Alert] | None) -> list[Alert] | None:
        if st.ep is not None:
            out = [*(out or ()), self._alert(mmsi, st, st.slow_ts, st.slow_ts)]
        st.run_start = 0
        return out

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        alert = self._alert(mmsi, st, st.slow_ts, st.slow_ts)
        st.run_start = 0
        return [alert]

    def _loitering(self, st: _State, class_b: bool) -> bool:
        """Whether the run so far is loitering (not anchoring, not fishing, far from shore)."""
        p = self.p
        total = st.t_total
        if total <= 0 or st.t_speed / total >= self._max_kn:
            return False
        if st.t_anchor >= p.anchored_share * total or st.t_fish >= p.fishing_status_share * total:
            return False
        if may_be_fishing(st.static.ship_type, self._fishing_types, class_b) and (
            self._fishing_pattern(st) or st.slow_ts - st.calm_start < self._fishing_ms
        ):
            return False
        lat, lon = st.lat, st.lon
        if self.context.in_anchorage(lat, lon):
            return False
        st.shore_nm = self.context.distance_to_shore_nm(lat, lon)
        return st.shore_nm >= p.min_shore_distance_nm

    def _fishing_pattern(self, st: _State) -> bool:
        p = self.p
        hours = st.t_total / 3_600_000
        return (
            st.t_trawl >= p.trawl_time_share * st.t_total
            and hours > 0
            and st.turns / hours >= p.fishing_turns_per_h
        )

    def _alert(self, mmsi: int, st: _State, ts: int, end: int | None) -> Alert:
        ep = st.ep
        assert ep is not None
        p = self.p
        last = end if end is not None else ts
        duration = last - st.run_start
        average = st.t_speed / st.t_total if st.t_total > 0 else 0.0
        across_ns = distance_m(st.lat_min, st.lon_min, st.lat_max, st.lon_min)
        across_ew = distance_m(st.lat_min, st.lon_min, st.lat_min, st.lon_max)
        lat, lon = (st.sl_lat, st.sl_lon) if end is not None else (st.lat, st.lon)
        shore = (
            "far from any known shore" if st.shore_nm >= 900 else f"{st.shore_nm:.0f} nm from shore"
        )
        verb = "Loitered" if end is not None else "Loitering for"
        reasons = [
            f"{verb} {fmt_hours(duration)} since {fmt_utc(st.run_start)} at an average "
            f"{fmt_kn(average)}, {shore}, within {fmt_km(across_ns)} by {fmt_km(across_ew)}."
        ]
        if st.static.ship_type in self._fishing_types:
            reasons.append(
                "A fishing vessel, but not moving like one fishing: no trawling pattern and no "
                "'engaged in fishing' status."
            )
        watch = self.context.in_watch_area(lat, lon)
        if watch:
            reasons.append("Inside a watch area.")
        if end is not None:
            reasons.append(f"Moved on at {fmt_utc(end)}.")
        hours = duration / 3_600_000
        score = 0.55 + min(0.3, 0.03 * max(0.0, hours - p.min_duration_h))
        severity = Severity.HIGH if watch else Severity.MEDIUM
        return self._emit(
            mmsi,
            st,
            ts,
            lat=lat,
            lon=lon,
            severity=severity,
            score=score + (0.1 if watch else 0.0),
            reasons=reasons,
            evidence=self._evidence(mmsi, st.run_start - 1_800_000, last, (lat, lon)),
            end=end,
            extra={
                "duration_h": round(hours, 2),
                "average_kn": round(average, 2),
                "shore_nm": round(st.shore_nm, 1),
                "area_km": [round(across_ns / 1000, 2), round(across_ew / 1000, 2)],
            },
        )
