"""The machinery every per-vessel detector shares: state, episodes, alerts, evidence.

A concrete detector subclasses `VesselDetector`, names its `alert_type` and its `Params` (a
frozen pydantic model: the rule's `params`, validated, with the published defaults), and
implements `_update(point)`; per vessel it keeps a small slotted state (`VesselState`) that
serialises to a JSON list. The base class gives it:

- the `Detector` protocol (`update`, `advance`, `state_of`, `restore`, `forget`);
- episodes: an `Episode` is one alert in the making (its start fixes the alert id, its revision
  counts up with every emission), `_emit` builds the next revision of it;
- stale episodes: a vessel whose episode is open and that falls silent for the detector's
  `_stale_ms` has its episode closed at its last point, by `advance` or, if its next point comes
  first, by `_close_if_stale` in `_update`: both give the same alert;
- evidence tracks from the shared `Trails` (or its own when used alone), updated *after* the
  detectors have seen a point, so an alert built while handling a point sees the track up to the
  point before and adds the point itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict

from anomaly.blobs import pack_named, unpack_named
from anomaly.context import DetectContext
from anomaly.detectors.base import RuleConfig
from anomaly.records import Alert, AlertType, Severity, Tlp, Vessel, alert_id
from anomaly.trail import Trails
from tracks.records import StaticFields, TrackPoint

__all__ = [
    "NOT_VESSELS",
    "Episode",
    "Params",
    "VesselDetector",
    "VesselState",
    "fmt_hours",
    "fmt_km",
    "fmt_kn",
    "fmt_position",
    "fmt_utc",
    "vessel_of",
]


NOT_VESSELS: Final = frozenset({"sart", "mob", "epirb", "aton", "coast_station", "sar_aircraft"})
"""Transmitters that are not vessels: behaviour detectors leave them alone (distress has its
own detector; an aid to navigation or a base station does not loiter)."""


class Params(BaseModel):
    """Base of every detector's parameters: frozen, and a typo in rules.yaml is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Episode:
    """One alert in the making: its start (hence id), revision and when it was detected."""

    __slots__ = ("detected_at", "last_rev", "revision", "start")

    def __init__(self, start: int, detected_at: int, revision: int = 0, last_rev: int = 0) -> None:
        self.start = start
        self.detected_at = detected_at
        self.revision = revision
        self.last_rev = last_rev  # event time of the last revision emitted

    def to_json(self) -> list[int]:
        return [self.start, self.detected_at, self.revision, self.last_rev]

    @classmethod
    def from_json(cls, data: Sequence[int] | None) -> Episode | None:
        return None if data is None else cls(*data)


class VesselState:
    """Per-vessel state: the base keeps the last point's time and the open episode."""

    __slots__ = ("ep", "flag", "last_ts", "static")

    def __init__(self) -> None:
        self.last_ts = 0
        self.ep: Episode | None = None
        self.static: StaticFields = _NO_STATIC
        self.flag: str | None = None

    def to_json(self) -> list[Any]:
        ep = self.ep
        return [self.last_ts, ep.to_json() if ep else None, list(self.static), self.flag]

    def load_json(self, data: list[Any]) -> None:
        self.last_ts = data[0]
        self.ep = Episode.from_json(data[1])
        self.static = StaticFields(*data[2])
        self.flag = data[3]


S = TypeVar("S", bound=VesselState)
_NO_STATIC = StaticFields()


class VesselDetector(Generic[S]):
    """Base of the per-vessel detectors; see the module docstring."""

    alert_type: ClassVar[AlertType]
    Params: ClassVar[type[Params]]
    default_tlp: ClassVar[Tlp] = Tlp.AMBER
    keyed_by: ClassVar[str] = "mmsi"

    def __init__(self, config: RuleConfig | None = None, context: DetectContext | None = None):
        self.config = config if config is not None else self.default_config()
        if self.config.id != self.alert_type.value:
            raise ValueError(f"{type(self).__name__} runs rule {self.alert_type}, not {config}")
        self.params = self.Params.model_validate(self.config.params)
        ctx = context if context is not None else DetectContext()
        self.context = ctx
        self._own_trails = ctx.trails is None
        self.trails: Trails = Trails() if ctx.trails is None else ctx.trails
        self._vessels: dict[int, S] = {}
        self._open: dict[int, int] = {}  # vessels with an open episode -> their last point's ts
        self._stale_ms = 2 * 3_600_000
        self.touched: set[int] = set()  # vessels changed by `advance`, for the stage to save
        if not self._own_trails:  # the stage updates the shared trails: skip the wrapper
            self.update = self._update  # type: ignore[method-assign]

    @classmethod
    def default_config(cls) -> RuleConfig:
        return RuleConfig(id=cls.alert_type.value, version=1, params={}, tlp=cls.default_tlp)

    # -- the Detector protocol ------------------------------------------------------------
    def update(self, point: TrackPoint) -> list[Alert]:
        alerts = self._update(point)
        self.trails.update(point)
        return alerts

    def advance(self, now_ms: int) -> list[Alert]:
        if not self._open:
            return []
        out: list[Alert] = []
        stale = self._stale_ms
        for mmsi, last in list(self._open.items()):
            if now_ms - last >= stale:
                st = self._vessels[mmsi]
                out.extend(self._close_stale(mmsi, st))
                self.touched.add(mmsi)
        return out

    def state_of(self, mmsi: int) -> bytes | None:
        st = self._vessels.get(mmsi)
        if st is None:
            return None
        parts = {"s": orjson.dumps(st.to_json())}
        if self._own_trails:
            trail = self.trails.state_of(mmsi)
            if trail is not None:
                parts["t"] = trail
        return pack_named(parts)

    def restore(self, mmsi: int, blob: bytes) -> None:
        parts = unpack_named(blob)
        st = self._new_state()
        st.load_json(orjson.loads(parts["s"]))
        self.forget(mmsi)
        self._vessels[mmsi] = st
        if self._own_trails and "t" in parts:
            self.trails.restore(mmsi, parts["t"])
        if st.ep is not None:
            self._open[mmsi] = st.last_ts
        self._restored(mmsi, st)

    def forget(self, mmsi: int) -> None:
        st = self._vessels.pop(mmsi, None)
        self._open.pop(mmsi, None)
        if st is not None:
            self._forgotten(mmsi, st)
        if self._own_trails:
            self.trails.forget(mmsi)

    def __len__(self) -> int:
        return len(self._vessels)

    # -- for subclasses -------------------------------------------------------------------
    def _update(self, point: TrackPoint) -> list[Alert]:
        raise NotImplementedError

    def _new_state(self) -> S:
        raise NotImplementedError

    def _close_stale(self, mmsi: int, st: S) -> list[Alert]:
        """Close the open episode of a vessel silent for `_stale_ms` (at its last point)."""
        raise NotImplementedError

    def _restored(self, mmsi: int, st: S) -> None:
        """Hook: rebuild indexes from a restored state."""

    def _forgotten(self, mmsi: int, st: S) -> None:
        """Hook: drop a forgotten vessel from indexes."""

    def _state(self, point: TrackPoint) -> S:
        st = self._vessels.get(point.mmsi)
        if st is None:
            st = self._vessels[point.mmsi] = self._new_state()
        return st

    def _close_if_stale(self, point: TrackPoint, st: S) -> list[Alert] | None:
        """Before handling `point`: close the episode if the silence before it made it stale."""
        if st.ep is not None and point.ts - st.last_ts >= self._stale_ms:
            return self._close_stale(point.mmsi, st)
        return None

    def _open_episode(self, mmsi: int, st: S, start: int, detected_at: int) -> Episode:
        ep = st.ep = Episode(start, detected_at)
        self._open[mmsi] = st.last_ts
        return ep

    def _end_episode(self, mmsi: int, st: S) -> None:
        st.ep = None
        self._open.pop(mmsi, None)

    def _emit(
        self,
        mmsi: int,
        st: S,
        ts: int,
        *,
        lat: float,
        lon: float,
        severity: Severity,
        score: float,
        reasons: Iterable[str],
        evidence: dict[str, Any] | None,
        end: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Alert:
        """The next revision of the vessel's open episode (closing it when `end` is given)."""
        ep = st.ep
        assert ep is not None, "no open episode"
        ep.revision += 1
        ep.last_rev = ts
        alert = Alert(
            id=alert_id(self.alert_type, (mmsi,), ep.start),
            type=self.alert_type,
            severity=self.config.severity or severity,
            score=min(1.0, max(0.0, score)),
            mmsi=mmsi,
            mmsis=(mmsi,),
            vessel=vessel_of(st.static, st.flag),
            lat=lat,
            lon=lon,
            start=ep.start,
            end=end,
            detected_at=ep.detected_at,
            reasons=tuple(reasons),
            evidence=evidence,
            rule=self.config.rule,
            tlp=self.config.tlp,
            areas=self.context.areas_of(lat, lon),
            revision=ep.revision,
            extra=extra or {},
        )
        if end is not None:
            self._end_episode(mmsi, st)
        return alert

    def _evidence(
        self, mmsi: int, since_ms: int, until_ms: int | None = None, *tail: tuple[float, float]
    ) -> dict[str, Any] | None:
        return self.trails.linestring(mmsi, since_ms, until_ms, tail)


def may_be_fishing(ship_type: int | None, fishing_types: frozenset[int], class_b: bool) -> bool:
    """A fishing vessel by its type, or a class B vessel whose type is not heard yet (its static
    report can take hours with satellite reception): such a boat may be lying to its nets."""
    return ship_type in fishing_types or (ship_type is None and class_b)


def vessel_of(static: StaticFields, flag: str | None) -> Vessel:
    return Vessel(static.name, static.callsign, static.imo, static.ship_type, flag)


def fmt_hours(ms: float) -> str:
    hours = ms / 3_600_000
    if hours < 1.0:
        return f"{round(ms / 60_000)} min"
    return f"{hours:.1f} h"


def fmt_km(metres: float) -> str:
    km = metres / 1000
    return f"{km:.1f} km" if km < 10 else f"{km:,.0f} km"


def fmt_kn(knots: float) -> str:
    return f"{knots:.1f} kn" if knots < 100 else f"{knots:,.0f} kn"


def fmt_utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_position(lat: float, lon: float) -> str:
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"{abs(lat):.3f}°{ns} {abs(lon):.3f}°{ew}"
