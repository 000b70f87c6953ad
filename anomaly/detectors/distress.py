"""`distress`: an AIS-SART, MOB or EPIRB-AIS transmitting, or a vessel reporting status 14.

These are people in danger, so the alert is critical, immediate (the first report opens it) and
shared with every search-and-rescue partner (the rule's TLP, GREEN by default). ITU-R M.585:
AIS-SART 970xxyyyy, man-overboard device 972xxyyyy, EPIRB-AIS 974xxyyyy (`mmsi_class` sart,
mob, epirb); ITU-R M.1371: navigational status 14 is "AIS-SART active" (also used by MOB and
EPIRB-AIS). A device in *test* mode sends status 15 (ITU-R M.1371 annex, AIS-SART test); those
reports are not distress and are ignored when `ignore_test_status` is set.

While the device keeps transmitting the alert is revised as it drifts (every `revise_every_min`
once it moved `revise_moved_m`), with the drift's speed and direction; it ends when the device
has been silent `end_after_silent_min` (long: far offshore only satellite passes hear it, an
hour or more apart), or when a ship that reported status 14 reports another.
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
    fmt_utc,
)
from anomaly.records import Alert, AlertType, Severity, Tlp
from tracks.hygiene import distance_m, initial_bearing, knots
from tracks.records import TrackPoint

__all__ = ["DistressDetector", "DistressParams"]

ACTIVE_STATUS: Final = 14  # AIS-SART active (also MOB-AIS, EPIRB-AIS)
TEST_STATUS: Final = 15  # AIS-SART test

_DEVICES: Final = {
    "sart": ("AIS-SART (search and rescue transmitter)", "survivors may be in a life raft"),
    "mob": ("AIS man-overboard (MOB) device", "a person is in the water"),
    "epirb": ("EPIRB-AIS emergency beacon", "a vessel is in distress"),
}
_STATUS_KIND: Final = "status14"


class DistressParams(Params):
    revise_every_min: float = Field(10.0, gt=0)
    revise_moved_m: float = Field(500.0, ge=0)
    end_after_silent_min: float = Field(180.0, gt=0)
    ignore_test_status: bool = True


class _State(VesselState):
    __slots__ = ("first_lat", "first_lon", "kind", "lat", "lon", "rev_lat", "rev_lon")

    def __init__(self) -> None:
        super().__init__()
        self.kind = ""
        self.first_lat = self.first_lon = self.lat = self.lon = 0.0
        self.rev_lat = self.rev_lon = 0.0

    def to_json(self) -> list[Any]:
        return [
            *super().to_json(),
            self.kind,
            self.first_lat,
            self.first_lon,
            self.lat,
            self.lon,
            self.rev_lat,
            self.rev_lon,
        ]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data)
        (
            self.kind,
            self.first_lat,
            self.first_lon,
            self.lat,
            self.lon,
            self.rev_lat,
            self.rev_lon,
        ) = data[4:11]


class DistressDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.DISTRESS
    Params: ClassVar[type[Params]] = DistressParams
    default_tlp: ClassVar[Tlp] = Tlp.GREEN

    def __init__(
        self, config: RuleConfig | None = None, context: DetectContext | None = None
    ) -> None:
        super().__init__(config, context)
        p: DistressParams = self.params  # type: ignore[assignment]
        self._revise_ms = round(p.revise_every_min * 60_000)
        self._moved_m = p.revise_moved_m
        self._stale_ms = round(p.end_after_silent_min * 60_000)
        self._ignore_test = p.ignore_test_status

    def _new_state(self) -> _State:
        return _State()

    def _update(self, point: TrackPoint) -> list[Alert]:
        device = point.mmsi_class in _DEVICES
        status = point.nav_status
        if not device and status != ACTIVE_STATUS:
            if self._open and point.mmsi in self._open:  # a ship's status 14 is over
                st = self._vessels[point.mmsi]
                return self._close_stale(point.mmsi, st)
            return []
        if device and status == TEST_STATUS and self._ignore_test:
            return []
        lat, lon = point.lat, point.lon
        if lat is None or lon is None:
            return []
        st = self._state(point)
        out = self._close_if_stale(point, st) or []
        if point.ts < st.last_ts:
            return out
        st.last_ts = point.ts
        st.static = point.static
        st.flag = point.flag
        st.lat, st.lon = lat, lon
        if st.ep is None:
            st.kind = point.mmsi_class if device else _STATUS_KIND
            st.first_lat = st.rev_lat = lat
            st.first_lon = st.rev_lon = lon
            self._open_episode(point.mmsi, st, point.ts, point.ts)
            out.append(self._alert(point.mmsi, st, point.ts, None))
            return out
        self._open[point.mmsi] = point.ts
        ep = st.ep
        if (
            point.ts - ep.last_rev >= self._revise_ms
            and distance_m(st.rev_lat, st.rev_lon, lat, lon) >= self._moved_m
        ):
            out.append(self._alert(point.mmsi, st, point.ts, None))
        return out

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        return [self._alert(mmsi, st, st.last_ts, st.last_ts)]

    def _alert(self, mmsi: int, st: _State, ts: int, end: int | None) -> Alert:
        ep = st.ep
        assert ep is not None
        if st.kind == _STATUS_KIND:
            name = st.static.name or f"MMSI {mmsi}"
            reasons = [
                f"{name} reports navigational status 14 (AIS-SART, MOB or EPIRB active) at "
                f"{fmt_position(st.lat, st.lon)} since {fmt_utc(ep.start)}: a distress signal."
            ]
        else:
            what, meaning = _DEVICES[st.kind]
            reasons = [
                f"{what} {mmsi} transmitting at {fmt_position(st.lat, st.lon)} since "
                f"{fmt_utc(ep.start)}: {meaning}."
            ]
        extra: dict[str, Any] = {"device": st.kind}
        elapsed = ts - ep.start
        moved = distance_m(st.first_lat, st.first_lon, st.lat, st.lon)
        if elapsed >= 60_000 and moved >= 50.0:
            drift = knots(moved, elapsed / 1000)
            toward = initial_bearing(st.first_lat, st.first_lon, st.lat, st.lon)
            reasons.append(
                f"Drifting {fmt_kn(drift)} toward {toward:03.0f}°: {fmt_km(moved)} from the first "
                f"position in {fmt_hours(elapsed)}."
            )
            extra.update(drift_kn=round(drift, 2), drift_deg=round(toward), drift_m=round(moved))
        if end is not None:
            reasons.append(
                f"No transmission since {fmt_utc(end)}: the device stopped or is out of reception."
            )
        st.rev_lat, st.rev_lon = st.lat, st.lon
        return self._emit(
            mmsi,
            st,
            ts,
            lat=st.lat,
            lon=st.lon,
            severity=Severity.CRITICAL,
            score=1.0,
            reasons=reasons,
            evidence=self._evidence(mmsi, ep.start - 3_600_000, None, (st.lat, st.lon)),
            end=end,
            extra=extra,
        )
