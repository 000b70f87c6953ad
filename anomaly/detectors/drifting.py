"""`drifting`: a vessel at sea moving slowly where the sea takes it, not where it points.

A search-and-rescue concern (an engine failure, a boat adrift): severity high. The criteria are
those of AMSA's drift detector (github.com/amsa-code/risky, behaviour-detector: speed over ground
from 0.25 kn, course over ground and heading 45 degrees or more apart, the AIS set not saying at
anchor or moored, a drift path tolerating short interruptions) and the Danish Maritime
Authority's AisAbnormal drift analysis, with the range of the issue: 0.2 to 3 kn, for an hour.

Per report, a *drift candidate* is a report at `min_speed_kn` to `max_speed_kn` whose course and
heading differ by `min_deviation_deg` (or, with no heading, any report in that speed range). A
run of candidates tolerates other reports for up to `max_excursion_min`. The episode opens when
the run has lasted `min_duration_h` (`fishing_min_duration_h` for fishing vessels) and:

- the vessel went somewhere: at least `min_displacement_m` from where the run began, at a net
  `min_drift_kn` (a vessel at anchor swings around its anchor and stays);
- its reports say drift: it reports being not under command (status 2) in half of them; or,
  where most give a heading (`heading_share`), `deviation_share` of them
  differ from the course by `min_deviation_deg`; where they do not, the course wanders: it
  changes by `wander_deg` or more from one report to the next in `wander_share` of
  `wander_min_reports` or more reports made at `wander_min_kn` or more (below that a course over
  ground is GPS noise: a boat settling on its mooring is not adrift). A share, not an average:
  a trawler towing on straight legs turns round now and then, and when it is heard only every
  few minutes one such turn would lift the average over any limit. Fishing vessels that do not
  report a status (class B, or status 15) may be drifting with their nets for hours on end:
  they need the heading evidence and `fishing_min_duration_h`; one reporting a status other
  than 7 is taken at its word. A class B vessel whose type is not known yet (its static report
  not heard, as happens for hours with satellite reception) may be such a boat: it needs
  `fishing_min_duration_h` too;
- it is not at anchor, moored, aground, fishing or sailing by its status (`not_drifting_status`
  ends a run) and not in an anchorage or port zone.

It is revised every `revise_every_h`; it ends with the run, at the last drift candidate.
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
from anomaly.records import Alert, AlertType, Severity, Tlp
from tracks.hygiene import course_change, distance_m, initial_bearing, knots
from tracks.records import TrackPoint

__all__ = ["DriftingDetector", "DriftingParams"]

UNDEFINED_STATUS: Final = 15  # "not defined": the default of a transponder nobody set
NOT_UNDER_COMMAND: Final = 2  # the vessel says it cannot manoeuvre: an engine failure, say


class DriftingParams(Params):
    min_speed_kn: float = Field(0.2, ge=0)
    max_speed_kn: float = Field(3.0, gt=0)
    min_deviation_deg: float = Field(45.0, gt=0, le=180)
    deviation_share: float = Field(0.5, gt=0, le=1)
    heading_share: float = Field(0.5, gt=0, le=1)
    wander_deg: float = Field(20.0, gt=0)
    wander_share: float = Field(0.3, gt=0, le=1)
    wander_min_kn: float = Field(0.5, ge=0)
    wander_min_reports: int = Field(10, ge=2)
    min_duration_h: float = Field(1.0, gt=0)
    fishing_ship_types: list[int] = Field(default_factory=lambda: [30])
    fishing_min_duration_h: float = Field(8.0, gt=0)
    min_displacement_m: float = Field(500.0, ge=0)
    min_drift_kn: float = Field(0.25, ge=0)
    max_excursion_min: float = Field(15.0, ge=0)
    max_gap_min: float = Field(90.0, gt=0)
    not_drifting_status: list[int] = Field(default_factory=lambda: [1, 5, 6, 7, 8])
    revise_every_h: float = Field(1.0, gt=0)
    check_every_min: float = Field(5.0, gt=0)


class _State(VesselState):
    __slots__ = (
        "d_lat",
        "d_lon",
        "d_ts",
        "exc_start",
        "n",
        "n_dcog",
        "n_dev",
        "n_head",
        "n_nuc",
        "n_told",
        "n_wide",
        "next_check",
        "prev_cog",
        "run_start",
        "s_lat",
        "s_lon",
        "sum_dcog",
    )

    def __init__(self) -> None:
        super().__init__()
        self.run_start = 0  # 0: no run
        self.s_lat = self.s_lon = 0.0
        self.d_ts = 0  # the last drift candidate, and where
        self.d_lat = self.d_lon = 0.0
        self.exc_start = 0
        self.n = self.n_head = self.n_dev = self.n_dcog = self.n_told = self.n_nuc = 0
        self.sum_dcog = 0.0
        self.n_wide = 0  # course changes of wander_deg or more
        self.prev_cog = -1.0
        self.next_check = 0

    def to_json(self) -> list[Any]:
        return [*super().to_json(), *(getattr(self, name) for name in _FIELDS)]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data)
        for name, value in zip(_FIELDS, data[4:], strict=False):  # older states lack the last
            setattr(self, name, value)


# in the order of the saved state: the fields of version 1, then those added since
_FIELDS: Final = (*sorted(set(_State.__slots__) - {"n_wide"}), "n_wide")


class DriftingDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.DRIFTING
    Params: ClassVar[type[Params]] = DriftingParams
    default_tlp: ClassVar[Tlp] = Tlp.GREEN

    def __init__(
        self, config: RuleConfig | None = None, context: DetectContext | None = None
    ) -> None:
        super().__init__(config, context)
        p: DriftingParams = self.params  # type: ignore[assignment]
        self.p = p
        self._lo, self._hi = p.min_speed_kn, p.max_speed_kn
        self._dev = p.min_deviation_deg
        self._exc_ms = round(p.max_excursion_min * 60_000)
        self._stale_ms = round(p.max_gap_min * 60_000)
        self._min_ms = round(p.min_duration_h * 3_600_000)
        self._fishing_ms = round(p.fishing_min_duration_h * 3_600_000)
        self._revise_ms = round(p.revise_every_h * 3_600_000)
        self._check_ms = round(p.check_every_min * 60_000)
        self._stop = frozenset(p.not_drifting_status)
        self._fishing_types = frozenset(p.fishing_ship_types)
        self._wander_kn = p.wander_min_kn

    def _new_state(self) -> _State:
        return _State()

    def _update(self, point: TrackPoint) -> list[Alert]:
        if not point.segment_id:
            return []
        speed = point.sog
        if speed is None:
            speed = point.implied_sog
        st = self._vessels.get(point.mmsi)
        if st is None:
            if point.mmsi_class in NOT_VESSELS:
                return []
            st = self._vessels[point.mmsi] = _State()
        out = self._close_if_stale(point, st) if st.ep is not None else None
        ts = point.ts
        silent = ts - st.last_ts > self._stale_ms
        st.last_ts = ts
        if st.ep is not None:
            self._open[point.mmsi] = ts
        nav = point.nav_status
        stopped = nav in self._stop
        in_band = speed is not None and self._lo <= speed <= self._hi and not stopped
        heading, cog = point.heading, point.cog
        candidate = in_band and (
            heading is None
            or cog is None
            or nav == NOT_UNDER_COMMAND
            or abs(course_change(cog, heading)) >= self._dev
        )
        if not st.run_start:
            if candidate:
                self._start_run(st, point)
            return out or []
        if (
            stopped
            or silent
            or (not candidate and st.exc_start and ts - st.exc_start > self._exc_ms)
        ):
            out = self._end_run(point.mmsi, st, out)
            if candidate:
                self._start_run(st, point)
            return out or []
        st.n += 1
        if nav is not None and nav != UNDEFINED_STATUS:
            st.n_told += 1
            if nav == NOT_UNDER_COMMAND:
                st.n_nuc += 1
        if heading is not None and cog is not None:
            st.n_head += 1
            if abs(course_change(cog, heading)) >= self._dev:
                st.n_dev += 1
        if in_band and cog is not None and speed >= self._wander_kn:  # type: ignore[operator]
            if st.prev_cog >= 0:
                change = abs(course_change(st.prev_cog, cog))
                st.sum_dcog += change
                st.n_wide += change >= self.p.wander_deg
                st.n_dcog += 1
            st.prev_cog = cog
        if not candidate:
            if not st.exc_start:
                st.exc_start = ts
            return out or []
        st.exc_start = 0
        st.d_ts = ts
        st.d_lat, st.d_lon = point.lat, point.lon  # type: ignore[assignment]  # on track
        if st.ep is not None:
            if ts - st.ep.last_rev >= self._revise_ms:
                st.static, st.flag = point.static, point.flag
                return [*(out or ()), self._alert(point.mmsi, st, ts, None)]
            return out or []
        if ts - st.run_start >= self._min_ms and ts >= st.next_check:
            st.next_check = ts + self._check_ms
            st.static, st.flag = point.static, point.flag
            if self._drifting(st, point.ais_class == "B"):
                self._open_episode(point.mmsi, st, st.run_start, ts)
                return [*(out or ()), self._alert(point.mmsi, st, ts, None)]
        return out or []

    def _start_run(self, st: _State, point: TrackPoint) -> None:
        st.run_start = st.d_ts = point.ts
        st.s_lat = st.d_lat = point.lat  # type: ignore[assignment]  # on track
        st.s_lon = st.d_lon = point.lon  # type: ignore[assignment]
        st.exc_start = 0
        st.n = 1
        st.n_head = st.n_dev = st.n_dcog = 0
        nav = point.nav_status
        st.n_told = int(nav is not None and nav != UNDEFINED_STATUS)
        st.n_nuc = int(nav == NOT_UNDER_COMMAND)
        if point.heading is not None and point.cog is not None:
            st.n_head = st.n_dev = 1
        st.sum_dcog = 0.0
        st.n_wide = 0
        st.prev_cog = -1.0
        st.next_check = 0

    def _end_run(self, mmsi: int, st: _State, out: list[Alert] | None) -> list[Alert] | None:
        if st.ep is not None:
            out = [*(out or ()), self._alert(mmsi, st, st.d_ts, st.d_ts)]
        st.run_start = 0
        return out

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        alert = self._alert(mmsi, st, st.d_ts, st.d_ts)
        st.run_start = 0
        return [alert]

    def _drifting(self, st: _State, class_b: bool) -> bool:
        p = self.p
        duration = st.d_ts - st.run_start
        # A fishing vessel whose status says "under way" (not 7, fishing) is taken at its word;
        # one that says nothing (class B, status 15) may be lying to its nets.
        says_nothing = st.n_told < 0.5 * st.n
        fishing = st.static.ship_type in self._fishing_types and says_nothing
        maybe_fishing = says_nothing and may_be_fishing(
            st.static.ship_type, self._fishing_types, class_b
        )
        if maybe_fishing and duration < self._fishing_ms:
            return False
        moved = distance_m(st.s_lat, st.s_lon, st.d_lat, st.d_lon)
        if moved < p.min_displacement_m or knots(moved, duration / 1000) < p.min_drift_kn:
            return False
        if st.n_nuc >= 0.5 * st.n:
            pass  # it says it is not under command: no better sign of drifting
        elif st.n_head >= p.heading_share * st.n:
            if st.n_dev < p.deviation_share * st.n_head:
                return False
        elif fishing or st.n_dcog < p.wander_min_reports or st.n_wide < p.wander_share * st.n_dcog:
            return False
        return not self.context.in_anchorage(st.d_lat, st.d_lon)

    def _alert(self, mmsi: int, st: _State, ts: int, end: int | None) -> Alert:
        ep = st.ep
        assert ep is not None
        last = st.d_ts
        duration = last - st.run_start
        moved = distance_m(st.s_lat, st.s_lon, st.d_lat, st.d_lon)
        drift = knots(moved, duration / 1000) if duration > 0 else 0.0
        toward = initial_bearing(st.s_lat, st.s_lon, st.d_lat, st.d_lon)
        verb = "Drifted" if end is not None else "Drifting"
        reasons = [
            f"{verb} {fmt_km(moved)} toward {toward:03.0f}° in {fmt_hours(duration)} since "
            f"{fmt_utc(st.run_start)} (net {fmt_kn(drift)}), not at anchor or moored."
        ]
        if st.n_nuc >= 0.5 * st.n:
            reasons.append("It reports being not under command (navigational status 2).")
        elif st.n_head >= self.p.heading_share * st.n and st.n_head:
            share = st.n_dev / st.n_head
            reasons.append(
                f"Course over ground and heading differ by {self.p.min_deviation_deg:.0f}° or "
                f"more in {share:.0%} of its reports: it is not going where it points."
            )
        elif st.n_dcog:
            reasons.append(
                f"No heading reported; its course wanders: it changes by "
                f"{self.p.wander_deg:.0f}° or more from one report to the next in "
                f"{st.n_wide / st.n_dcog:.0%} of its reports ({st.sum_dcog / st.n_dcog:.0f}° on "
                "average)."
            )
        if end is not None:
            reasons.append(f"Stopped drifting at {fmt_utc(end)}.")
        hours = duration / 3_600_000
        return self._emit(
            mmsi,
            st,
            ts,
            lat=st.d_lat,
            lon=st.d_lon,
            severity=Severity.HIGH,
            score=min(0.95, 0.65 + 0.1 * hours),
            reasons=reasons,
            evidence=self._evidence(mmsi, st.run_start - 1_800_000, last, (st.d_lat, st.d_lon)),
            end=end,
            extra={
                "duration_h": round(hours, 2),
                "drift_kn": round(drift, 2),
                "drift_deg": round(toward),
                "drift_m": round(moved),
                "deviation_share": round(st.n_dev / st.n_head, 2) if st.n_head else None,
            },
        )
