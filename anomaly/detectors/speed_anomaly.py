"""`speed_anomaly`: a reported speed the vessel cannot make, or one its positions contradict.

Judged over consecutive windows of `window_min` of a vessel's track (never on one report: a
single speed over ground is noisy, and one glitch is not an anomaly):

- **impossible for the vessel**: `min_impossible_reports` reports (and at least half of the
  window's) above the highest speed its AIS ship type can make (`type_max_kn`, by type code or
  range; `default_max_kn` for the others and the unknown). Alerted at once;
- **inconsistent with its positions**: the mean reported speed exceeds the speed along its path
  (the sum of its legs, which GPS scatter only lengthens), or falls short of the speed of its
  straight-line displacement (which turning only shortens), by more than `tolerance_kn` and
  `tolerance_share` of the larger: so a vessel manoeuvring in a harbour, whose path is long and
  displacement short, is consistent. Alerted after `persist_windows` such windows in a row.

The episode ends after `clear_windows` consistent windows (or `end_after_silent_h` of silence),
at the end of the last inconsistent window.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pydantic import Field, field_validator

from anomaly.context import DetectContext
from anomaly.detectors.base import RuleConfig
from anomaly.detectors.vessel import (
    Params,
    VesselDetector,
    VesselState,
    fmt_hours,
    fmt_km,
    fmt_kn,
)
from anomaly.records import Alert, AlertType, Severity
from tracks.hygiene import distance_m, knots
from tracks.records import TrackPoint

__all__ = ["SpeedAnomalyDetector", "SpeedAnomalyParams", "ship_type_label"]

IMPOSSIBLE: Final = "impossible"
OVER: Final = "over"  # reports faster than it moves
UNDER: Final = "under"  # moves faster than it reports

# Highest plausible speed by AIS ship type (ITU-R M.1371 table 53), with a margin over the
# fastest of each kind in service: cargo ships rarely pass 25 kn, tankers 20 kn.
DEFAULT_TYPE_MAX_KN: Final = {
    "30": 22.0,  # fishing
    "31-32": 20.0,  # towing
    "33-34": 20.0,  # dredging, diving
    "36": 35.0,  # sailing
    "37": 60.0,  # pleasure craft
    "40-49": 70.0,  # high-speed craft
    "50": 45.0,  # pilot vessel
    "51": 60.0,  # search and rescue
    "52": 20.0,  # tug
    "53": 35.0,  # port tender
    "54": 25.0,  # anti-pollution
    "55": 60.0,  # law enforcement
    "60-69": 45.0,  # passenger
    "70-79": 30.0,  # cargo
    "80-89": 25.0,  # tanker
}

_LABELS: Final = (
    (30, 30, "fishing vessel"),
    (31, 32, "towing vessel"),
    (33, 34, "work vessel"),
    (35, 35, "military vessel"),
    (36, 36, "sailing vessel"),
    (37, 37, "pleasure craft"),
    (40, 49, "high-speed craft"),
    (50, 50, "pilot vessel"),
    (51, 51, "search and rescue vessel"),
    (52, 52, "tug"),
    (53, 59, "service vessel"),
    (60, 69, "passenger ship"),
    (70, 79, "cargo ship"),
    (80, 89, "tanker"),
)


def ship_type_label(ship_type: int | None) -> str:
    if ship_type is not None:
        for low, high, label in _LABELS:
            if low <= ship_type <= high:
                return label
    return "vessel"


def _type_range(key: str) -> tuple[int, int]:
    low, _, high = key.partition("-")
    return int(low), int(high or low)


class SpeedAnomalyParams(Params):
    window_min: float = Field(10.0, gt=0)
    min_reports: int = Field(5, ge=2)
    persist_windows: int = Field(2, ge=1)
    clear_windows: int = Field(2, ge=1)
    tolerance_kn: float = Field(3.0, ge=0)
    tolerance_share: float = Field(0.3, ge=0)
    type_max_kn: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TYPE_MAX_KN))
    default_max_kn: float = Field(50.0, gt=0)
    min_impossible_reports: int = Field(3, ge=1)
    revise_every_min: float = Field(30.0, gt=0)
    end_after_silent_h: float = Field(2.0, gt=0)

    @field_validator("type_max_kn")
    @classmethod
    def _ranges(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            try:
                low, high = _type_range(key)
            except ValueError:
                raise ValueError(f"ship type {key!r}: use a code (30) or a range (70-79)") from None
            if not 0 <= low <= high <= 99:
                raise ValueError(f"ship type range {key!r} is outside 0-99")
        return value


class _State(VesselState):
    __slots__ = (
        "bad",
        "bad_end",
        "bad_start",
        "f_disp",
        "f_dur",
        "f_kin",
        "f_max",
        "f_over",
        "f_rep",
        "f_sogs",
        "good",
        "kind",
        "limit",
        "p_lat",
        "p_lon",
        "w_lat",
        "w_lon",
        "w_max",
        "w_n",
        "w_nsog",
        "w_over",
        "w_path",
        "w_sog",
        "w_start",
    )

    def __init__(self) -> None:
        super().__init__()
        self.w_start = 0  # the current window: start, position, path, speeds reported
        self.w_lat = self.w_lon = self.w_path = self.w_sog = self.w_max = 0.0
        self.w_n = self.w_nsog = self.w_over = 0
        self.limit = 0.0
        self.p_lat = self.p_lon = 0.0  # where the last window was judged
        self.bad = self.good = 0  # inconsistent / consistent windows in a row
        self.bad_start = self.bad_end = 0
        self.kind = ""  # the figures of the last inconsistent window
        self.f_rep = self.f_kin = self.f_disp = self.f_max = self.f_dur = 0.0
        self.f_over = self.f_sogs = 0

    def to_json(self) -> list[Any]:
        return [*super().to_json(), *(getattr(self, name) for name in _FIELDS)]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data)
        for name, value in zip(_FIELDS, data[4:], strict=True):
            setattr(self, name, value)


_FIELDS: Final = tuple(sorted(_State.__slots__))


class SpeedAnomalyDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.SPEED_ANOMALY
    Params: ClassVar[type[Params]] = SpeedAnomalyParams

    def __init__(
        self, config: RuleConfig | None = None, context: DetectContext | None = None
    ) -> None:
        super().__init__(config, context)
        p: SpeedAnomalyParams = self.params  # type: ignore[assignment]
        self.p = p
        self._window_ms = round(p.window_min * 60_000)
        self._revise_ms = round(p.revise_every_min * 60_000)
        self._stale_ms = round(p.end_after_silent_h * 3_600_000)
        limits = [0.0] * 100
        for code in range(100):
            limits[code] = p.default_max_kn
        for key, value in sorted(p.type_max_kn.items(), key=lambda kv: _type_range(kv[0])):
            low, high = _type_range(key)
            for code in range(low, high + 1):
                limits[code] = value
        self._limits = limits

    def _new_state(self) -> _State:
        return _State()

    def _update(self, point: TrackPoint) -> list[Alert]:
        if not point.segment_id:
            return []
        st = self._vessels.get(point.mmsi)
        if st is None:
            st = self._vessels[point.mmsi] = _State()
        ts = point.ts
        out = None
        if st.ep is not None and ts - st.last_ts >= self._stale_ms:
            out = self._close_stale(point.mmsi, st)
        st.last_ts = ts
        if st.ep is not None:
            self._open[point.mmsi] = ts
        dt_s = point.dt_s
        if not st.w_start or dt_s is None or dt_s * 2000 > self._window_ms:
            self._start_window(st, point)
            return out or []
        st.w_path += point.dist_m or 0.0
        st.w_n += 1
        sog = point.sog
        if sog is not None:
            st.w_sog += sog
            st.w_nsog += 1
            if sog > st.limit:
                st.w_over += 1
                if sog > st.w_max:
                    st.w_max = sog
        if ts - st.w_start < self._window_ms:
            return out or []
        alerts = self._judge(point, st)
        self._start_window(st, point)
        if out:
            return out + alerts
        return alerts

    def _start_window(self, st: _State, point: TrackPoint) -> None:
        st.w_start = point.ts
        st.w_lat = point.lat  # type: ignore[assignment]  # on track: never None
        st.w_lon = point.lon  # type: ignore[assignment]
        st.w_path = st.w_sog = st.w_max = 0.0
        st.w_n = st.w_nsog = st.w_over = 0
        ship_type = point.static.ship_type
        st.limit = (
            self._limits[ship_type]
            if ship_type is not None and 0 <= ship_type < 100
            else self.p.default_max_kn
        )

    def _judge(self, point: TrackPoint, st: _State) -> list[Alert]:
        """The window ending at `point` is complete: consistent or not?"""
        p = self.p
        reports = st.w_n
        dur_s = (point.ts - st.w_start) / 1000
        sogs = st.w_nsog
        if reports < p.min_reports or sogs < p.min_reports or dur_s <= 0:
            return []  # too few reports to judge: no evidence either way
        lat, lon = point.lat, point.lon
        assert lat is not None and lon is not None
        kind = ""
        rep = st.w_sog / sogs
        path_kn = knots(st.w_path, dur_s)
        disp_kn = knots(distance_m(st.w_lat, st.w_lon, lat, lon), dur_s)
        tolerance = max(p.tolerance_kn, p.tolerance_share * max(rep, path_kn))
        if st.w_over >= p.min_impossible_reports and 2 * st.w_over >= sogs:
            kind = IMPOSSIBLE
        elif rep - path_kn > tolerance:
            kind = OVER
        elif disp_kn - rep > tolerance:
            kind = UNDER
        st.static, st.flag = point.static, point.flag
        st.p_lat, st.p_lon = lat, lon
        if not kind:
            st.bad = 0
            st.good += 1
            if st.ep is not None and st.good >= p.clear_windows:
                return [self._alert(point.mmsi, st, point.ts, st.bad_end)]
            return []
        st.good = 0
        st.bad += 1
        if st.bad == 1 and st.ep is None:
            st.bad_start = st.w_start
        st.bad_end = point.ts
        st.kind, st.f_rep, st.f_kin, st.f_disp = kind, rep, path_kn, disp_kn
        st.f_max, st.f_over, st.f_sogs, st.f_dur = st.w_max, st.w_over, sogs, dur_s
        if st.ep is None:
            if kind != IMPOSSIBLE and st.bad < p.persist_windows:
                return []
            self._open_episode(point.mmsi, st, st.bad_start, point.ts)
            return [self._alert(point.mmsi, st, point.ts, None)]
        if point.ts - st.ep.last_rev >= self._revise_ms:
            return [self._alert(point.mmsi, st, point.ts, None)]
        return []

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        return [self._alert(mmsi, st, st.last_ts, st.bad_end)]

    def _alert(self, mmsi: int, st: _State, ts: int, end: int | None) -> Alert:
        ep = st.ep
        assert ep is not None
        window = fmt_hours(st.f_dur * 1000)
        if st.kind == IMPOSSIBLE:
            label = ship_type_label(st.static.ship_type)
            reason = (
                f"Reported speeds up to {fmt_kn(st.f_max)} ({st.f_over} of {st.f_sogs} reports "
                f"in {window} above {fmt_kn(st.limit)}): impossible for a {label}."
            )
            severity, score = Severity.MEDIUM, 0.7
        elif st.kind == OVER:
            reason = (
                f"Reports {fmt_kn(st.f_rep)} but its positions show {fmt_kn(st.f_kin)} along its "
                f"track over {window}: the reported speed or the positions are false."
            )
            severity, score = _graded(st.f_rep - st.f_kin, self.p.tolerance_kn)
        else:
            moved = st.f_disp * st.f_dur * 1852 / 3600
            reason = (
                f"Reports {fmt_kn(st.f_rep)} but its positions moved {fmt_km(moved)} in {window} "
                f"({fmt_kn(st.f_disp)}): the reported speed or the positions are false."
            )
            severity, score = _graded(st.f_disp - st.f_rep, self.p.tolerance_kn)
        last = st.bad_end if end is None else end
        reasons = [reason, f"Inconsistent for {fmt_hours(max(last - ep.start, 0))} so far."]
        if end is not None:
            reasons[1] = f"Inconsistent for {fmt_hours(max(end - ep.start, 0))}, then consistent."
        return self._emit(
            mmsi,
            st,
            ts,
            lat=st.p_lat,
            lon=st.p_lon,
            severity=severity,
            score=score,
            reasons=reasons,
            evidence=self._evidence(mmsi, ep.start - 600_000, ts, (st.p_lat, st.p_lon)),
            end=end,
            extra={
                "kind": st.kind,
                "reported_kn": round(st.f_rep, 1),
                "track_kn": round(st.f_kin, 1),
                "displacement_kn": round(st.f_disp, 1),
                "limit_kn": st.limit,
                "max_reported_kn": round(st.f_max, 1),
            },
        )


def _graded(excess: float, tolerance: float) -> tuple[Severity, float]:
    if excess > 3 * max(tolerance, 1.0):
        return Severity.MEDIUM, 0.6
    return Severity.LOW, 0.45
