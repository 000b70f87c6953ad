"""`identity_anomaly`: an identity that cannot be right, or that keeps changing.

Findings, each a reason of the vessel's alert:

- the MMSI is invalid (`mmsi_class` invalid): a placeholder that unconfigured transponders send
  (123456789, repeated digits, a serial of 000000), a Maritime Identification Digit allocated to
  no country, or no ITU-R M.585 format at all;
- the IMO number fails its check digit (IMO Resolution A.1078(28): the last digit is the sum of
  the first six weighted 7..2, modulo 10) or is not seven digits;
- the name, call sign or IMO number changed `min_changes` times within `change_window_h`, each
  field that changed counting once (two ships sharing one MMSI alternate their static data; a
  new name with a new call sign under the same MMSI is an identity being swapped; one corrected
  name is not an anomaly), or the IMO number changed from one valid number to another
  (`imo_change_alerts`): a hull's IMO number is for life.

A value appearing where there was none is not a change. One alert per vessel while it keeps
transmitting: revised when a new finding appears or the change count doubles, ended when the
vessel has been silent `end_after_silent_h`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

from pydantic import Field

from anomaly.context import DetectContext
from anomaly.detectors.base import RuleConfig
from anomaly.detectors.vessel import Params, VesselDetector, VesselState, fmt_hours
from anomaly.records import Alert, AlertType, Severity
from ingest.mmsi import flag_of_mid, is_placeholder, mid_of
from tracks.records import StaticFields, TrackPoint

__all__ = ["IdentityAnomalyDetector", "IdentityParams", "is_valid_imo"]

_IDENTITY: Final = ("name", "callsign", "imo")
_FIELD_NAMES: Final = {"name": "name", "callsign": "call sign", "imo": "IMO number"}
_MAX_CHANGES: Final = 32

# finding -> (severity, score)
_WEIGHT: Final = {
    "placeholder": (Severity.MEDIUM, 0.7),
    "mid": (Severity.MEDIUM, 0.7),
    "format": (Severity.MEDIUM, 0.7),
    "imo": (Severity.LOW, 0.4),
    "changes": (Severity.MEDIUM, 0.6),
    "imo_change": (Severity.HIGH, 0.8),
}


class IdentityParams(Params):
    check_mmsi: bool = True
    check_imo: bool = True
    change_window_h: float = Field(24.0, gt=0)
    min_changes: int = Field(2, ge=1)
    imo_change_alerts: bool = True
    end_after_silent_h: float = Field(6.0, gt=0)


def is_valid_imo(imo: int) -> bool:
    """Seven digits whose last is the check digit of the first six (weights 7, 6, 5, 4, 3, 2)."""
    if not 1_000_000 <= imo <= 9_999_999:
        return False
    digits = f"{imo}"
    total = sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True))
    return total % 10 == int(digits[6])


class _State(VesselState):
    __slots__ = ("changes", "findings", "mmsi_checked", "reported_changes", "unsent", "where")

    def __init__(self) -> None:
        super().__init__()
        self.mmsi_checked = False  # once per episode
        self.findings: dict[str, str] = {}  # code -> reason, in the order found
        self.changes: list[int] = []  # event times of identity changes
        self.reported_changes = 0
        self.unsent = False  # findings not yet alerted (no position known yet)
        # The last point on the track (any sequence with lat, lon at 2, 3): kept by reference,
        # one assignment a point, rather than copied.
        self.where: Sequence[Any] | None = None

    @property
    def lat(self) -> float | None:
        return None if self.where is None else self.where[2]

    @property
    def lon(self) -> float | None:
        return None if self.where is None else self.where[3]

    def to_json(self) -> list[Any]:
        return [
            *super().to_json(),
            self.findings,
            self.changes,
            self.reported_changes,
            self.unsent,
            self.lat,
            self.lon,
            self.mmsi_checked,
        ]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data)
        (
            self.findings,
            self.changes,
            self.reported_changes,
            self.unsent,
            lat,
            lon,
            self.mmsi_checked,
        ) = data[4:11]
        self.where = None if lat is None else (None, None, lat, lon)


class IdentityAnomalyDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.IDENTITY_ANOMALY
    Params: ClassVar[type[Params]] = IdentityParams

    def __init__(
        self, config: RuleConfig | None = None, context: DetectContext | None = None
    ) -> None:
        super().__init__(config, context)
        p: IdentityParams = self.params  # type: ignore[assignment]
        self.p = p
        self._window_ms = round(p.change_window_h * 3_600_000)
        self._stale_ms = round(p.end_after_silent_h * 3_600_000)

    def _new_state(self) -> _State:
        return _State()

    def _update(self, point: TrackPoint) -> list[Alert]:
        st = self._vessels.get(point.mmsi)
        if st is None:
            st = self._vessels[point.mmsi] = _State()
            st.last_ts = point.ts
            st.flag = point.flag  # the MMSI's, for good
        out = None
        if st.ep is not None and point.ts - st.last_ts >= self._stale_ms:
            out = self._close_stale(point.mmsi, st)
        fresh = False
        if not st.mmsi_checked:  # once per episode
            st.mmsi_checked = True
            fresh = self._check_mmsi(point, st)
        static = point.static
        if static is not st.static and static != st.static:
            fresh = self._check_static(point.ts, st, st.static, static) or fresh
            st.static = static
        if point.ts > st.last_ts:
            st.last_ts = point.ts
        if point.segment_id:
            st.where = point
        if st.ep is not None:
            self._open[point.mmsi] = st.last_ts
        if fresh or st.unsent:
            alert = self._alert(point, st)
            if alert is not None:
                out = [*(out or ()), alert]
        return out or []

    def _check_mmsi(self, point: TrackPoint, st: _State) -> bool:
        if not self.p.check_mmsi or point.mmsi_class != "invalid":
            return False
        mmsi = point.mmsi
        if is_placeholder(mmsi):
            st.findings["placeholder"] = (
                f"MMSI {mmsi} is a placeholder that unconfigured transponders send, "
                "not an identity assigned to a ship."
            )
        else:
            mid = mid_of(mmsi)
            if mid is None:
                st.findings["format"] = f"MMSI {mmsi} follows no ITU-R M.585 format."
            elif flag_of_mid(mid) is None:
                st.findings["mid"] = (
                    f"MMSI {mmsi} starts with MID {mid}, which is allocated to no country."
                )
            else:
                st.findings["format"] = f"MMSI {mmsi} is not a valid ship identity."
        return True

    def _check_static(self, ts: int, st: _State, old: StaticFields, new: StaticFields) -> bool:
        fresh = False
        p = self.p
        if p.check_imo and new.imo is not None and new.imo != old.imo and not is_valid_imo(new.imo):
            st.findings["imo"] = (
                f"IMO number {new.imo} is not valid (wrong check digit or not seven digits)."
            )
            fresh = True
        changed = [
            f
            for f in _IDENTITY
            if getattr(old, f) is not None
            and getattr(new, f) is not None
            and getattr(old, f) != getattr(new, f)
        ]
        if not changed:
            return fresh
        if (
            "imo" in changed
            and p.imo_change_alerts
            and old.imo is not None
            and new.imo is not None
            and is_valid_imo(old.imo)
            and is_valid_imo(new.imo)
        ):
            st.findings["imo_change"] = (
                f"IMO number changed from {old.imo} to {new.imo}: a ship keeps its IMO number "
                "for life, so two ships are using this MMSI or the data is false."
            )
            fresh = True
        changes = st.changes
        changes.extend([ts] * len(changed))  # each field that changed counts
        since = ts - self._window_ms
        while changes and changes[0] < since:
            changes.pop(0)
        del changes[:-_MAX_CHANGES]
        count = len(changes)
        if count >= p.min_changes:
            what = ", ".join(
                f"{_FIELD_NAMES[f]} {_quote(getattr(old, f))} -> {_quote(getattr(new, f))}"
                for f in changed
            )
            elapsed = changes[-1] - changes[0]
            span = f" in {fmt_hours(elapsed)}" if elapsed > 0 else " at once"
            st.findings["changes"] = (
                f"Identity changed {count} times{span} (latest: {what}): "
                "two ships may be sharing one MMSI, or one is taking another's identity."
            )
            if st.reported_changes == 0 or count >= 2 * st.reported_changes:
                fresh = True
        return fresh

    def _alert(self, point: TrackPoint, st: _State) -> Alert | None:
        if not st.findings:
            return None
        if st.lat is None or st.lon is None:
            st.unsent = True
            return None
        st.unsent = False
        if st.ep is None:
            self._open_episode(point.mmsi, st, point.ts, point.ts)
        if "changes" in st.findings:
            st.reported_changes = len(st.changes)
        return self._build(point.mmsi, st, point.ts, None)

    def _build(self, mmsi: int, st: _State, ts: int, end: int | None) -> Alert:
        ep = st.ep
        lat, lon = st.lat, st.lon
        assert ep is not None and lat is not None and lon is not None
        severity, score = max((_WEIGHT[code] for code in st.findings), key=lambda w: w[1])
        score = min(1.0, score + 0.1 * (len(st.findings) - 1))
        return self._emit(
            mmsi,
            st,
            ts,
            lat=lat,
            lon=lon,
            severity=severity,
            score=score,
            reasons=list(st.findings.values()),
            evidence=self._evidence(mmsi, ts - 3_600_000, ts, (lat, lon)),
            end=end,
            extra={"findings": list(st.findings), "identity_changes": len(st.changes)},
        )

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        alert = self._build(mmsi, st, st.last_ts, st.last_ts)
        st.findings = {}
        st.changes = []
        st.reported_changes = 0
        st.unsent = False
        st.mmsi_checked = False
        return [alert]


def _quote(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)
