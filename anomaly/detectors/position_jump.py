"""`position_jump`: one MMSI in two places (cloned or shared), or a track that teleports.

Tracks flags a position `impossible` when reaching it from the vessel's last good fix would take
more than the vessel's physical speed limit; such a point stays off the track. One such point is
usually a bad fix (GPS scatter, a corrupted report) and is not alerted. What is alerted:

- **two places at once** (a cloned or shared MMSI): off-track positions at least `min_distance_km`
  from the track that are consistent with one another (a second, physically possible track),
  `shadow_points` of them, while the main track goes on between them;
- **a jump**: `shadow_points` consecutive consistent far positions (the track moved and stayed),
  or tracks restarting the track at a far place after a run of such positions, away from a track
  that was established (`established_points` fixes), so not the correction of a bad first fix;
- **erratic positions**: `erratic_count` far, mutually inconsistent positions within
  `erratic_window_h` (failing or jammed GNSS, spoofing).

The figures are the distance from the track and the speed it would take. The episode is revised
when it escalates (erratic -> jump -> two places) or grows, and ends after `end_after_quiet_h`
without another impossible position.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pydantic import Field

from anomaly.context import DetectContext
from anomaly.detectors.base import RuleConfig
from anomaly.detectors.vessel import (
    Params,
    VesselDetector,
    VesselState,
    fmt_hours,
    fmt_km,
    fmt_kn,
    fmt_position,
)
from anomaly.records import Alert, AlertType, Severity
from tracks.hygiene import distance_m, knots, speed_limit_knots
from tracks.records import IMPOSSIBLE, NEW_SEGMENT, TrackPoint

__all__ = ["PositionJumpDetector", "PositionJumpParams"]

CLONE: Final = "two_places"
JUMP: Final = "jump"
ERRATIC: Final = "erratic"
_RANK: Final = {ERRATIC: 1, JUMP: 2, CLONE: 3}
_SEVERITY: Final = {
    ERRATIC: (Severity.MEDIUM, 0.5),
    JUMP: (Severity.HIGH, 0.75),
    CLONE: (Severity.HIGH, 0.85),
}


class PositionJumpParams(Params):
    min_distance_km: float = Field(3.0, gt=0)
    shadow_points: int = Field(2, ge=2)
    shadow_gap_min: float = Field(30.0, gt=0)
    established_points: int = Field(5, ge=1)
    erratic_count: int = Field(3, ge=2)
    erratic_window_h: float = Field(1.0, gt=0)
    end_after_quiet_h: float = Field(2.0, gt=0)
    revise_every_min: float = Field(30.0, gt=0)


class _State(VesselState):
    __slots__ = (
        "g_lat",
        "g_lon",
        "g_ts",
        "jumps",
        "kind",
        "last_km",
        "last_kn",
        "max_km",
        "o_lat",
        "o_lon",
        "recent",
        "reported",
        "seg_n",
        "sh_first",
        "sh_lat",
        "sh_lon",
        "sh_n",
        "sh_ts",
        "sh_weave",
    )

    def __init__(self) -> None:
        super().__init__()
        self.g_ts = 0  # the last good fix
        self.g_lat = self.g_lon = 0.0
        self.seg_n = 0  # fixes in the current segment
        self.sh_first = self.sh_ts = self.sh_n = self.sh_weave = 0  # the second track
        self.sh_lat = self.sh_lon = 0.0
        self.recent: list[int] = []  # times of far impossible positions (erratic window)
        self.kind = ""  # the episode's kind, and its figures
        self.jumps = self.reported = 0
        self.max_km = self.last_km = self.last_kn = 0.0
        self.o_lat = self.o_lon = 0.0  # the other (off-track) position

    def to_json(self) -> list[Any]:
        return [*super().to_json(), *(getattr(self, name) for name in _FIELDS)]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data)
        for name, value in zip(_FIELDS, data[4:], strict=True):
            setattr(self, name, value)


_FIELDS: Final = tuple(sorted(_State.__slots__))


class PositionJumpDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.POSITION_JUMP
    Params: ClassVar[type[Params]] = PositionJumpParams

    def __init__(
        self, config: RuleConfig | None = None, context: DetectContext | None = None
    ) -> None:
        super().__init__(config, context)
        p: PositionJumpParams = self.params  # type: ignore[assignment]
        self.p = p
        self._min_m = p.min_distance_km * 1000
        self._shadow_gap_ms = round(p.shadow_gap_min * 60_000)
        self._erratic_ms = round(p.erratic_window_h * 3_600_000)
        self._stale_ms = round(p.end_after_quiet_h * 3_600_000)
        self._revise_ms = round(p.revise_every_min * 60_000)

    def _new_state(self) -> _State:
        return _State()

    def _update(self, point: TrackPoint) -> list[Alert]:
        if point.segment_id:
            st = self._vessels.get(point.mmsi)
            if st is None:
                st = self._vessels[point.mmsi] = _State()
            out = self._close_if_stale(point, st) if st.ep is not None else None
            flags = point.flags
            if flags and NEW_SEGMENT in flags:
                if point.dt_s is None and st.g_ts and st.seg_n >= self.p.established_points:
                    out = self._restarted(point, st, out)
                st.seg_n = 0
            st.g_ts = point.ts
            st.g_lat = point.lat  # type: ignore[assignment]  # on track: never None
            st.g_lon = point.lon  # type: ignore[assignment]
            st.seg_n += 1
            if st.sh_n:
                st.sh_weave += 1
            return out or []
        if point.flags and IMPOSSIBLE in point.flags and point.lat is not None:
            return self._impossible(point)
        return []

    def _limit(self, point: TrackPoint) -> float:
        return speed_limit_knots(point.mmsi_class, point.ais_class, point.static.ship_type)

    def _impossible(self, point: TrackPoint) -> list[Alert]:
        st = self._vessels.get(point.mmsi)
        if st is None or not st.g_ts:
            return []
        lat, lon, ts = point.lat, point.lon, point.ts
        assert lat is not None and lon is not None
        out = self._close_if_stale(point, st) or []
        far = distance_m(st.g_lat, st.g_lon, lat, lon)
        if far < self._min_m:
            return out
        limit = self._limit(point)
        if (
            st.sh_n
            and ts - st.sh_ts <= self._shadow_gap_ms
            and _possible(st.sh_ts, st.sh_lat, st.sh_lon, ts, lat, lon, limit)
        ):
            st.sh_n += 1
        else:
            st.sh_first, st.sh_n, st.sh_weave = ts, 1, 0
        st.sh_ts, st.sh_lat, st.sh_lon = ts, lat, lon
        recent = st.recent
        recent.append(ts)
        while recent[0] < ts - self._erratic_ms:
            recent.pop(0)
        kind = ""
        if st.sh_n >= self.p.shadow_points:
            kind = CLONE if st.sh_weave else JUMP
        elif len(recent) >= self.p.erratic_count:
            kind = ERRATIC
        dt_s = (ts - st.g_ts) / 1000
        speed = knots(far, dt_s) if dt_s > 0 else -1.0  # no time at all
        return out + self._event(point, st, kind, far, speed, lat, lon)

    def _restarted(self, point: TrackPoint, st: _State, out: list[Alert] | None) -> list[Alert]:
        """Tracks restarted the track here after a run of impossible fixes."""
        lat, lon = point.lat, point.lon
        assert lat is not None and lon is not None
        far = distance_m(st.g_lat, st.g_lon, lat, lon)
        dt_s = (point.ts - st.g_ts) / 1000
        speed = knots(far, dt_s) if dt_s > 0 else -1.0  # no time at all
        if far < self._min_m or 0 <= speed <= self._limit(point):
            return out or []
        kind = CLONE if st.ep is not None and st.kind == CLONE else JUMP
        alerts = self._event(point, st, kind, far, speed, lat, lon)
        st.sh_n = 0  # the second track became the track
        return [*(out or ()), *alerts]

    def _event(
        self,
        point: TrackPoint,
        st: _State,
        kind: str,
        far: float,
        speed: float,
        lat: float,
        lon: float,
    ) -> list[Alert]:
        ts = point.ts
        st.static, st.flag = point.static, point.flag
        if st.ep is None:
            if not kind:
                return []
            st.jumps = st.reported = 0
            st.max_km = 0.0
            st.kind = kind
            st.last_ts = ts
            self._open_episode(point.mmsi, st, ts, ts)
        st.last_ts = ts
        self._open[point.mmsi] = ts
        st.jumps += 1
        st.max_km = max(st.max_km, far / 1000)
        st.last_km, st.last_kn = far / 1000, speed
        st.o_lat, st.o_lon = lat, lon
        escalated = bool(kind) and _RANK[kind] > _RANK[st.kind]
        if escalated:
            st.kind = kind
        ep = st.ep
        assert ep is not None
        due = ts - ep.last_rev >= self._revise_ms and st.jumps > st.reported
        if ep.revision and not escalated and not due:
            return []
        return [self._alert(point.mmsi, st, ts, None)]

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        alert = self._alert(mmsi, st, st.last_ts, st.last_ts)
        st.sh_n = 0
        st.recent = []
        return [alert]

    def _alert(self, mmsi: int, st: _State, ts: int, end: int | None) -> Alert:
        ep = st.ep
        assert ep is not None
        st.reported = st.jumps
        speed = fmt_kn(st.last_kn) if st.last_kn >= 0 else "no time at all"
        other = fmt_position(st.o_lat, st.o_lon)
        span = fmt_hours(max(ts - ep.start, 60_000))
        if st.kind == CLONE:
            reason = (
                f"Reported from two places at once: {fmt_km(st.last_km * 1000)} apart (implied "
                f"{speed}), {st.jumps} reports from the other place ({other}) in {span} between "
                "reports from its track: a cloned or shared MMSI."
            )
        elif st.kind == JUMP:
            reason = (
                f"Jumped {fmt_km(st.last_km * 1000)} from its track to {other} (implied {speed}) "
                "and kept reporting from there: spoofed or false positions."
            )
        else:
            reason = (
                f"{st.jumps} positions in {span} were impossible jumps of up to "
                f"{fmt_km(st.max_km * 1000)} from its track: erratic or spoofed positions."
            )
        reasons = [reason]
        if st.kind != ERRATIC and st.jumps > 1:
            farthest = fmt_km(st.max_km * 1000)
            reasons.append(f"{st.jumps} impossible positions so far, up to {farthest} away.")
        severity, score = _SEVERITY[st.kind]
        implied = round(st.last_kn, 1) if st.last_kn >= 0 else None
        return self._emit(
            mmsi,
            st,
            ts,
            lat=st.g_lat,
            lon=st.g_lon,
            severity=severity,
            score=score,
            reasons=reasons,
            evidence=self._evidence(
                mmsi, ep.start - 1_800_000, ts, (st.g_lat, st.g_lon), (st.o_lat, st.o_lon)
            ),
            end=end,
            extra={
                "kind": st.kind,
                "distance_km": round(st.last_km, 2),
                "implied_kn": implied,
                "max_distance_km": round(st.max_km, 2),
                "impossible_positions": st.jumps,
                "other_lat": st.o_lat,
                "other_lon": st.o_lon,
            },
        )


def _possible(
    ts0: int, lat0: float, lon0: float, ts: int, lat: float, lon: float, limit: float
) -> bool:
    dist = distance_m(lat0, lon0, lat, lon)
    if dist <= 50.0:
        return True
    dt_s = (ts - ts0) / 1000
    return dt_s > 0 and knots(dist, dt_s) <= limit
