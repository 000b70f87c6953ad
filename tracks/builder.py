"""The per-vessel track builder: one report in, the state and the cleaned points out.

`TrackBuilder.advance(state, report)` touches nothing but the state it returns (it updates the
given state in place, or makes one), so the consumer can save that state with its offsets and
a restart replays to the same points. Positions wait in a small reorder buffer until the
vessel's newest report is `reorder_window_s` ahead, then leave in event-time order and go
through hygiene: impossible jumps are emitted flagged and kept off the track, long silences and
identity changes start new segments, and on-track points get their kinematics.
"""

from __future__ import annotations

from ingest.records import PositionReport, StaticReport
from tracks.hygiene import (
    DEFAULT_SETTINGS,
    TrackSettings,
    course_change,
    distance_m,
    initial_bearing,
    knots,
    speed_limit_knots,
)
from tracks.records import (
    IDENTITY_CHANGE,
    IMPOSSIBLE,
    LATE,
    NEW_SEGMENT,
    NO_POSITION,
    StaticFields,
    TrackPoint,
)
from tracks.state import Fix, VesselState

_NEW = (NEW_SEGMENT,)
_NEW_IDENTITY = (NEW_SEGMENT, IDENTITY_CHANGE)
_IMPOSSIBLE = (IMPOSSIBLE,)
_NO_POSITION = (NO_POSITION,)
_LATE = (LATE,)
_LATE_NO_POSITION = (LATE, NO_POSITION)
_IDENTITY = ("name", "callsign", "imo")
_new_tuple = tuple.__new__


def _point(
    report: PositionReport,
    state: VesselState,
    segment_id: int,
    flags: tuple[str, ...],
    dt_s: float | None = None,
    dist_m: float | None = None,
    implied_sog: float | None = None,
    turn_rate: float | None = None,
) -> TrackPoint:
    # A TrackPoint begins with exactly the fields of a PositionReport, in the same order.
    # Built as a tuple: calling the class goes through a 23-argument Python-level __new__.
    return _new_tuple(
        TrackPoint, (*report, segment_id, dt_s, dist_m, implied_sog, turn_rate, flags, state.static)
    )


class TrackBuilder:
    """Builds one vessel's track from its reports, a report at a time."""

    def __init__(self, settings: TrackSettings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self._window_ms = round(settings.reorder_window_s * 1000)
        self._gap_ms = round(settings.segment_gap_s * 1000)
        self._recent_ms = round(settings.recent_window_s * 1000)
        self._evict_ms = round(settings.evict_after_s * 1000)

    def advance(
        self, state: VesselState | None, report: PositionReport | StaticReport
    ) -> tuple[VesselState, list[TrackPoint]]:
        """Take one report of a vessel; return its state and the points now ready, in order."""
        if state is None:
            state = VesselState(report.mmsi)
        elif state.mmsi != report.mmsi:
            raise ValueError(f"report for MMSI {report.mmsi} given the state of {state.mmsi}")
        if isinstance(report, StaticReport):
            _merge_static(state, report)
            return state, []
        return state, self._place(state, report)

    def flush(self, state: VesselState) -> list[TrackPoint]:
        """Release everything the reorder buffer holds (end of input, eviction)."""
        return [self._clean(state, r) for r in state.pending.take_ready(state.mmsi, None, 0)]

    def release(self, state: VesselState, before_ts: int) -> list[TrackPoint]:
        """Release the held reports older than `before_ts` (the stream has moved on)."""
        ready = state.pending.take_ready(state.mmsi, before_ts, self.settings.max_pending)
        return [self._clean(state, r) for r in ready]

    def is_idle(self, state: VesselState, now_ms: int) -> bool:
        """Whether the vessel has been silent long enough to be evicted from memory."""
        return state.newest_ts is None or now_ms - state.newest_ts > self._evict_ms

    def _place(self, state: VesselState, report: PositionReport) -> list[TrackPoint]:
        if state.has_seen(report.ts, report.lat, report.lon):
            state.duplicates += 1
            return []
        if state.released_ts is not None and report.ts < state.released_ts:
            return [self._late(state, report)]
        pending = state.pending
        pending.hold(report)
        assert pending.newest_ts is not None  # hold() set it
        before = pending.newest_ts - self._window_ms
        ready = pending.take_ready(state.mmsi, before, self.settings.max_pending)
        return [self._clean(state, r) for r in ready]

    def _late(self, state: VesselState, report: PositionReport) -> TrackPoint:
        state.late += 1
        state.remember_key(report.ts, report.lat, report.lon, self.settings.max_seen_keys)
        no_position = report.lat is None or report.lon is None
        return _point(report, state, 0, _LATE_NO_POSITION if no_position else _LATE)

    def _clean(self, state: VesselState, report: PositionReport) -> TrackPoint:
        """Hygiene and kinematics for a report released in event-time order."""
        lat = report.lat
        lon = report.lon
        if lat is None or lon is None:
            state.no_position += 1
            state.remember_key(report.ts, lat, lon, self.settings.max_seen_keys)
            return _point(report, state, 0, _NO_POSITION)
        last = state.last_fix()
        if last is None:
            return self._restart(state, report, lat, lon)
        dt_ms = report.ts - last[0]
        dist = distance_m(last[1], last[2], lat, lon)
        implied = knots(dist, dt_ms / 1000) if dt_ms > 0 else None
        limit = speed_limit_knots(
            report.mmsi_class, report.ais_class, state.static.ship_type, self.settings
        )
        floor = self.settings.noise_floor_m
        if dist > floor and (implied is None or implied > limit):
            return self._reject(state, report, lat, lon, limit)
        new_segment = dt_ms > self._gap_ms or _identity_due(state, report.ts)
        # A leg shorter than the GPS scatter has no meaningful bearing.
        leg = None if new_segment or dist <= floor else initial_bearing(*last[1:], lat, lon)
        turn = _turn_rate(state, report.ts, leg)
        flags = self._join(state, report, lat, lon, new_segment, leg)
        return _point(report, state, state.segment_id, flags, dt_ms / 1000, dist, implied, turn)

    def _restart(
        self, state: VesselState, report: PositionReport, lat: float, lon: float
    ) -> TrackPoint:
        """A first fix, or one that proved the last good fix wrong: a segment with no past."""
        flags = self._join(state, report, lat, lon, True, None)
        return _point(report, state, state.segment_id, flags)

    def _join(
        self,
        state: VesselState,
        report: PositionReport,
        lat: float,
        lon: float,
        new_segment: bool,
        leg: float | None,
    ) -> tuple[str, ...]:
        """Put a fix on the track; the flags it carries."""
        flags: tuple[str, ...] = ()
        if new_segment:
            flags = _NEW
            if _identity_due(state, report.ts):
                flags = _NEW_IDENTITY
                state.identity_ts = None
            state.segment_id += 1
            state.segment_start = report.ts
        state.points += 1
        state.leg_bearing = leg
        state.rejected = None
        state.rejected_run = 0
        fix = (report.ts, lat, lon, report.sog, report.cog)
        state.remember_fix(fix, self.settings.max_recent, self._recent_ms)
        return flags

    def _reject(
        self, state: VesselState, report: PositionReport, lat: float, lon: float, limit: float
    ) -> TrackPoint:
        """An impossible jump from the last good fix: evidence, off the track.

        If it is consistent with the previous rejected fix, the run grows; a long enough run
        means the last good fix was the outlier, and the track restarts here."""
        previous = state.rejected
        consistent = previous is not None and self._possible(previous, report.ts, lat, lon, limit)
        state.rejected_run = state.rejected_run + 1 if consistent else 1
        state.rejected = (report.ts, lat, lon)
        recover_after = self.settings.recover_after
        if recover_after and state.rejected_run >= recover_after:
            return self._restart(state, report, lat, lon)
        state.impossible += 1
        state.remember_key(report.ts, lat, lon, self.settings.max_seen_keys)
        return _point(report, state, 0, _IMPOSSIBLE)

    def _possible(self, fix: Fix, ts: int, lat: float, lon: float, limit: float) -> bool:
        dist = distance_m(fix[1], fix[2], lat, lon)
        if dist <= self.settings.noise_floor_m:
            return True
        dt_ms = ts - fix[0]
        return dt_ms > 0 and knots(dist, dt_ms / 1000) <= limit


def _turn_rate(state: VesselState, ts: int, leg: float | None) -> float | None:
    """Degrees per minute from the bearing of the previous leg to this one's, over the time
    between the legs' midpoints; None unless both legs are on the segment and long enough."""
    previous = state.leg_bearing
    before = state.fix(2)  # where the previous leg started
    if leg is None or previous is None or before is None:
        return None
    minutes = (ts - before[0]) / 120_000  # half the span of the two legs
    return course_change(previous, leg) / minutes if minutes > 0 else None


def _identity_due(state: VesselState, ts: int) -> bool:
    return state.identity_ts is not None and ts >= state.identity_ts


def _merge_static(state: VesselState, report: StaticReport) -> None:
    """Known values are kept when the report lacks them; a changed name, callsign or IMO is an
    identity change that the next point on the track carries."""
    old = state.static
    incoming = StaticFields(
        report.name,
        report.callsign,
        report.imo,
        report.ship_type,
        report.to_bow,
        report.to_stern,
        report.to_port,
        report.to_starboard,
        report.draught,
        report.destination,
    )
    merged = StaticFields._make(
        new if new is not None else known for new, known in zip(incoming, old, strict=True)
    )
    if merged == old:
        return
    if any(_changed(getattr(old, name), getattr(incoming, name)) for name in _IDENTITY):
        due = state.identity_ts
        state.identity_ts = report.ts if due is None else min(due, report.ts)
    state.static = merged


def _changed(known: object, new: object) -> bool:
    return known is not None and new is not None and known != new
