"""`route_anomaly`: a vessel moving unlike the traffic of its waters, by a learned model.

Per vessel, the last `anomaly.models.route.RouteModel.window_s` of its track (one fix a minute)
is scored every `eval_every_min`: how usual its cells, courses and speeds are in history, and
how its speed, turns, straightness, gaps and kind compare with usual track windows (an
IsolationForest). An alert opens when the score has been above the model's threshold (or
`threshold`) on `persist` evaluations in a row, lists the figures furthest from usual traffic,
and ends after `clear` normal evaluations or when the vessel has been silent
`end_after_silent_h`. A vessel that made no way in the window (at anchor, alongside) is not
scored: a route needs movement.

The model comes from the rule's `model` parameter: "default" (the bundled model, trained on
simulated traffic of the Bay of Bengal: retrain it on your own history with `lookout train`),
a path, or "" for none. Without a model file the detector stays silent, says so in the log and
reports why (`silence`, shown by GET /v1/detectors).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from anomaly.context import DetectContext
from anomaly.detectors.base import RuleConfig
from anomaly.detectors.vessel import Params, VesselDetector, VesselState
from anomaly.models.features import TrackWindow
from anomaly.models.loading import load_detector_model
from anomaly.records import Alert, AlertType, Severity, Tlp
from tracks.records import TrackPoint

if TYPE_CHECKING:  # the model module is imported where a model is loaded
    from anomaly.models.route import RouteModel

__all__ = ["RouteAnomalyDetector", "RouteAnomalyParams"]

log = logging.getLogger(__name__)


class RouteAnomalyParams(Params):
    model: str = "default"
    threshold: float | None = None  # None: the model's own (0: its training contamination)
    eval_every_min: float = Field(60.0, gt=0)
    min_fixes: int = Field(20, ge=2)
    min_window_h: float = Field(1.5, gt=0)
    persist: int = Field(2, ge=1)
    clear: int = Field(2, ge=1)
    end_after_silent_h: float = Field(6.0, gt=0)
    ignore_mmsi_classes: list[str] = [
        "aton",
        "coast_station",
        "sar_aircraft",
        "sart",
        "mob",
        "epirb",
    ]


class _State(VesselState):
    __slots__ = ("above", "below", "lat", "lon", "next_eval", "score", "window")

    def __init__(self, span_s: float = 10_800.0, spacing_s: float = 60.0) -> None:
        super().__init__()
        self.window = TrackWindow(span_s, spacing_s)
        self.next_eval = 0
        self.above = 0
        self.below = 0
        self.score = 0.0
        self.lat = 0.0
        self.lon = 0.0

    def to_json(self) -> list[Any]:
        w = self.window
        return [
            *super().to_json(),
            w.span_ms,
            w.spacing_ms,
            w.to_list(),
            w.ais_class,
            w.mmsi_class,
            self.next_eval,
            self.above,
            self.below,
            self.score,
            self.lat,
            self.lon,
        ]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data[:4])
        self.window = TrackWindow(data[4] / 1000, data[5] / 1000)
        self.window.load(data[6])
        self.window.static = self.static
        self.window.ais_class, self.window.mmsi_class = data[7], data[8]
        self.next_eval, self.above, self.below = int(data[9]), int(data[10]), int(data[11])
        self.score, self.lat, self.lon = float(data[12]), float(data[13]), float(data[14])


def _has_coastline(context: DetectContext) -> bool:
    # the context's default answers "far from shore" everywhere (anomaly.context._far)
    return getattr(context.distance_to_shore_nm, "__name__", "") != "_far"


class RouteAnomalyDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.ROUTE_ANOMALY
    Params: ClassVar[type[Params]] = RouteAnomalyParams
    default_tlp: ClassVar[Tlp] = Tlp.AMBER

    def __init__(
        self,
        config: RuleConfig | None = None,
        context: DetectContext | None = None,
        model: RouteModel | None = None,
    ) -> None:
        from anomaly.models.route import DEFAULT_MODEL, is_moving

        super().__init__(config, context)
        p: RouteAnomalyParams = self.params  # type: ignore[assignment]
        self.p = p
        self._is_moving = is_moving
        loaded = load_detector_model(p.model, DEFAULT_MODEL, "route_anomaly", given=model)
        self.model: RouteModel | None = loaded.model
        self.silence = loaded.problem  # why it raises no alert ("": it can)
        self.threshold = (
            p.threshold
            if p.threshold is not None
            else (self.model.threshold if self.model else 1.0)
        )
        self._shore = self.context.distance_to_shore_nm
        if self.model is not None and not _has_coastline(self.context):
            try:
                from anomaly.geo import load_geography

                self._shore = load_geography().distance_to_shore_nm
            except Exception:  # pragma: no cover - the geography ships with Lookout
                log.warning("route_anomaly: no coastline: distances to shore read as far")
        self._every_ms = round(p.eval_every_min * 60_000)
        self._stale_ms = round(p.end_after_silent_h * 3_600_000)
        self._ignore = frozenset(p.ignore_mmsi_classes)

    def _new_state(self) -> _State:
        if self.model is None:
            return _State()
        return _State(self.model.window_s, self.model.spacing_s)

    def _update(self, point: TrackPoint) -> list[Alert]:
        model = self.model
        if model is None:
            return []
        st = self._vessels.get(point.mmsi)
        if st is not None and 0 <= point.ts - st.window.last_ts < st.window.spacing_ms:
            # a report within the window's spacing of the last fix kept: only the clock moves
            if point.ts > st.last_ts:
                st.last_ts = point.ts
                if st.ep is not None:
                    self._open[point.mmsi] = point.ts
            return []
        if point.mmsi_class in self._ignore:
            return []
        st = self._state(point)
        out = self._close_if_stale(point, st) or []
        if not st.window.add(point):
            return out
        st.last_ts = max(st.last_ts, point.ts)
        st.static, st.flag = point.static, point.flag
        st.lat, st.lon = point.lat or 0.0, point.lon or 0.0
        if st.ep is not None:
            self._open[point.mmsi] = st.last_ts
        window = st.window
        if (
            point.ts >= st.next_eval
            and len(window) >= self.p.min_fixes
            and window.hours() >= self.p.min_window_h
        ):
            st.next_eval = point.ts + self._every_ms
            if self._is_moving(window) or st.ep is not None:
                out.extend(self._evaluate(point.mmsi, st, point.ts))
        return out

    def _evaluate(self, mmsi: int, st: _State, ts: int) -> list[Alert]:
        assert self.model is not None
        vector = self.model.vector(st.window, self._shore)
        score = self.model.score(vector)
        st.score = score
        if score > self.threshold:
            st.above += 1
            st.below = 0
        else:
            st.above = 0
            st.below += 1
        if st.ep is None:
            if st.above >= self.p.persist:
                start = st.window.first_ts
                self._open_episode(mmsi, st, start, ts)
                return [self._alert(mmsi, st, ts, vector, None)]
            return []
        if st.below >= self.p.clear:
            return [self._alert(mmsi, st, ts, vector, ts)]
        return []

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        if self.model is None or len(st.window) < 2:
            self._end_episode(mmsi, st)
            return []
        vector = self.model.vector(st.window, self._shore)
        return [self._alert(mmsi, st, st.last_ts, vector, st.last_ts)]

    def _alert(self, mmsi: int, st: _State, ts: int, vector: Any, end: int | None) -> Alert:
        assert self.model is not None and st.ep is not None
        margin = st.score - self.threshold
        severity = Severity.MEDIUM if margin > 2.0 else Severity.LOW
        score = max(0.0, min(1.0, 0.5 + margin / 10))
        reasons = [
            f"Track of the last {st.window.hours():.1f} h unlike usual traffic in these waters "
            f"(anomaly score {st.score:.2f}, alert above {self.threshold:.2f})"
        ]
        reasons.extend(self.model.explain(vector))
        if end is not None:
            reasons.append("Back to usual traffic, or silent: episode closed.")
        alert = self._emit(
            mmsi,
            st,
            ts,
            lat=st.lat,
            lon=st.lon,
            severity=severity,
            score=score,
            reasons=reasons,
            evidence=self._evidence(mmsi, st.ep.start),
            end=end,
            extra={"anomaly_score": round(st.score, 4), "threshold": round(self.threshold, 4)},
        )
        return replace(alert, model_version=self.model.version)
