"""`migrant_risk`: a calibrated score of the signs that a small boat may be carrying people.

Per vessel, `anomaly.models.risk.VesselRisk` keeps the indicators up to date (departure from a
departure area, a small fishing or unknown vessel, class B or no static data, steady slow
passage across open sea toward another country's coast, gaps, stops at sea, idling near a
destination coast at night, identity anomalies); every `eval_every_min` the model turns them
into a probability. An alert opens when the probability has been at least the threshold on
`persist` evaluations in a row (4, that is for 1.5 h: a fishing boat heading out to its grounds
looks like a crossing for an hour or so, then starts fishing; a crossing takes days, so the wait
costs nothing in warning time); its reasons list each indicator's contribution in an officer's
words ("Left the departure area (Cox's Bazar - Teknaf coast ...) 14 h ago (+0.21)"). It is
revised when the score moves by `revise_delta` (or every `revise_every_h`), and ends when the
score stays under `clear_ratio` of the threshold, or when the vessel has been silent
`end_after_silent_h` (at its last point).

The model comes from the rule's `model` parameter: "default" (the bundled model,
`anomaly/models/data/risk.joblib`), a path, or "" for none. Without a model file the detector
stays silent, says so once in the log and reports why (`silence`, shown by
GET /v1/detectors); it never fails the stage.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import Field

from anomaly.context import DetectContext
from anomaly.detectors.base import RuleConfig
from anomaly.detectors.vessel import Params, VesselDetector, VesselState
from anomaly.models.loading import load_detector_model
from anomaly.models.risk import (
    DEFAULT_MODEL,
    HOUR,
    INDICATORS,
    SAMPLE_MS,
    RiskGeography,
    RiskModel,
    VesselRisk,
)
from anomaly.records import Alert, AlertType, Severity, Tlp
from tracks.records import TrackPoint

__all__ = ["MigrantRiskDetector", "MigrantRiskParams", "risk_geography"]

log = logging.getLogger(__name__)


class MigrantRiskParams(Params):
    model: str = "default"
    threshold: float | None = Field(None, gt=0, lt=1)  # None: the model's own
    eval_every_min: float = Field(30.0, gt=0)
    min_observed_h: float = Field(1.0, ge=0)
    persist: int = Field(4, ge=1)
    clear_ratio: float = Field(0.6, gt=0, le=1)
    revise_delta: float = Field(0.1, gt=0)
    revise_every_h: float = Field(2.0, gt=0)
    end_after_silent_h: float = Field(12.0, gt=0)
    small_craft_only: bool = True  # score only vessels with a small-craft or class B sign


def risk_geography(context: DetectContext, geo: Any | None) -> RiskGeography:
    """Departure areas and destination coasts from `geo` (an `anomaly.geo.Geography`), or from
    the default configuration when none is given; the context's shore distance when it has a
    coastline."""
    if geo is None:
        try:
            from anomaly.geo import load_geography

            geo = load_geography()
        except Exception as exc:  # pragma: no cover - the geography ships with Lookout
            log.warning("migrant_risk: no geography (%s): departures and coasts unknown", exc)
            return RiskGeography(lambda lat, lon: None, context.distance_to_shore_nm, ())
    return RiskGeography.from_geography(geo)


class _State(VesselState):
    __slots__ = ("above", "below", "last_p", "lat", "lon", "next_eval", "risk")

    def __init__(self, mmsi: int = 0) -> None:
        super().__init__()
        self.risk = VesselRisk(mmsi)
        self.next_eval = 0
        self.above = 0
        self.below = 0
        self.last_p = 0.0
        self.lat = 0.0
        self.lon = 0.0

    def to_json(self) -> list[Any]:
        return [
            *super().to_json(),
            self.risk.to_json(),
            self.next_eval,
            self.above,
            self.below,
            self.last_p,
            self.lat,
            self.lon,
        ]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data[:4])
        self.risk = VesselRisk.from_json(data[4])
        self.next_eval, self.above, self.below = int(data[5]), int(data[6]), int(data[7])
        self.last_p, self.lat, self.lon = float(data[8]), float(data[9]), float(data[10])


class MigrantRiskDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.MIGRANT_RISK
    Params: ClassVar[type[Params]] = MigrantRiskParams
    default_tlp: ClassVar[Tlp] = Tlp.AMBER

    def __init__(
        self,
        config: RuleConfig | None = None,
        context: DetectContext | None = None,
        geo: Any | None = None,
        model: RiskModel | None = None,
    ) -> None:
        super().__init__(config, context)
        p: MigrantRiskParams = self.params  # type: ignore[assignment]
        self.p = p
        loaded = load_detector_model(p.model, DEFAULT_MODEL, "migrant_risk", given=model)
        self.model: RiskModel | None = loaded.model
        self.silence = loaded.problem  # why it raises no alert ("": it can)
        self.geo = risk_geography(self.context, geo) if self.model is not None else None
        threshold = (
            p.threshold
            if p.threshold is not None
            else (self.model.threshold if self.model else 0.5)
        )
        self.threshold = threshold
        self._every_ms = round(p.eval_every_min * 60_000)
        self._stale_ms = round(p.end_after_silent_h * 3_600_000)
        self._revise_ms = round(p.revise_every_h * 3_600_000)

    def _new_state(self) -> _State:
        return _State()

    def _update(self, point: TrackPoint) -> list[Alert]:
        if self.model is None or self.geo is None:
            return []
        st = self._vessels.get(point.mmsi)
        if st is None:
            st = self._vessels[point.mmsi] = _State(point.mmsi)
        elif (
            point.ts > st.risk.last_ts
            and point.ts - st.risk.last_sample_ts < SAMPLE_MS
            and point.ts - st.risk.last_ts < HOUR
            and not point.flags
            and point.segment_id
            and point.lat is not None
        ):
            # the common case, a report seconds after the last: only the clocks move
            st.last_ts = st.risk.last_ts = point.ts
            if st.ep is not None:
                self._open[point.mmsi] = point.ts
            return []
        out = self._close_if_stale(point, st) or []
        st.risk.update(point, self.geo)
        if point.ts > st.last_ts:
            st.last_ts = point.ts
        st.static = point.static
        st.flag = point.flag
        if point.segment_id and point.lat is not None and point.lon is not None:
            st.lat, st.lon = point.lat, point.lon
        if st.ep is not None:
            self._open[point.mmsi] = st.last_ts
        if point.ts >= st.next_eval and st.risk.observed_h >= self.p.min_observed_h:
            st.next_eval = point.ts + self._every_ms
            out.extend(self._evaluate(point.mmsi, st, point.ts))
        return out

    def _evaluate(self, mmsi: int, st: _State, ts: int) -> list[Alert]:
        assert self.model is not None and self.geo is not None
        if self.p.small_craft_only and st.ep is None and max(st.risk.small_craft_signs()) <= 0:
            st.above = 0
            return []  # a large vessel that tells what it is: not the risk model's business
        x, facts = st.risk.indicators(self.geo)
        probability = self.model.proba(x)
        threshold = self.threshold
        if probability >= threshold:
            st.above += 1
            st.below = 0
        else:
            st.above = 0
            if probability < threshold * self.p.clear_ratio:
                st.below += 1
        ep = st.ep
        if ep is None:
            if st.above >= self.p.persist:
                self._open_episode(mmsi, st, ts, ts)
                st.last_p = probability
                return [self._alert(mmsi, st, ts, probability, x, facts, None)]
            return []
        if st.below >= self.p.persist:
            st.above = st.below = 0
            return [self._alert(mmsi, st, ts, probability, x, facts, ts)]
        if (
            abs(probability - st.last_p) >= self.p.revise_delta
            or ts - ep.last_rev >= self._revise_ms
        ):
            st.last_p = probability
            return [self._alert(mmsi, st, ts, probability, x, facts, None)]
        return []

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        x, facts = st.risk.indicators(self.geo) if self.geo else (None, {})
        if x is None or self.model is None:
            self._end_episode(mmsi, st)
            return []
        return [self._alert(mmsi, st, st.last_ts, st.last_p, x, facts, st.last_ts, silent=True)]

    def _alert(
        self,
        mmsi: int,
        st: _State,
        ts: int,
        probability: float,
        x: Any,
        facts: dict[str, Any],
        end: int | None,
        silent: bool = False,
    ) -> Alert:
        assert self.model is not None
        ep = st.ep
        assert ep is not None
        if probability >= 0.8:
            severity = Severity.HIGH
        elif probability >= 0.6:
            severity = Severity.MEDIUM
        else:
            severity = Severity.LOW
        contributions = self.model.contributions(x)
        reasons = [
            f"Migrant-risk score {probability:.2f} (alert at {self.threshold:.2f}), "
            f"from these signs:"
        ]
        reasons.extend(self.model.reasons(x, facts))
        if end is not None:
            reasons.append(
                "No transmission for a long time: episode closed at the last report."
                if silent
                else "The signs have faded: score back under the alert level."
            )
        alert = self._emit(
            mmsi,
            st,
            ts,
            lat=st.lat,
            lon=st.lon,
            severity=severity,
            score=probability,
            reasons=reasons,
            evidence=self._evidence(mmsi, ep.start - 6 * 3_600_000),
            end=end,
            extra={
                "indicators": {n: round(float(v), 3) for n, v in zip(INDICATORS, x, strict=True)},
                "contributions": {n: round(d, 3) for n, d in contributions},
                "threshold": self.threshold,
            },
        )
        return replace(alert, model_version=self.model.version)
