"""`ais_gap`: a vessel that was reporting regularly falls silent: it may have gone dark.

The alert opens when a vessel has been silent `watch_area_h` inside a watch area (or a
departure area, where crossings start), `open_sea_h` elsewhere (Global Fishing Watch's
AIS-disabling events use 6 h; 12 h more than 50 nm offshore with satellite AIS), and is revised
and ended when it reappears: the gap's duration, and the distance and implied speed from where
it vanished to where it came back.

Silence alone is not enough, because most silences are reception, not the vessel:

- **a vessel**: AIS-SART, MOB and EPIRB devices, aids to navigation, base stations and SAR
  aircraft are not followed, nor the ship types of `ignore_ship_types` (military, search and
  rescue, law enforcement: on duty they switch off as a matter of course, and the partners
  know where their own ships are);
- **it must have been reporting regularly**: `min_reports` reports over `min_history_min` at most
  none of them but one more than `max_gap_share` of the threshold apart, and on average at most
  `max_interval_share` of the threshold apart (a vessel glimpsed now and then says nothing by
  falling silent; one heard in every satellite pass, every 20 to 60 minutes, does when it misses
  hours of them; and a silence says something only when it is long against the vessel's own
  usual interval: a class B set heard every 20 minutes on average, its 2 W at the edge of a
  receiver's range, misses two hours of reports now and then). In a watch area a vessel heard
  too patchily for the shorter threshold is judged at the open-sea one;
- **not at its berth**: moored (status 5), or stationary in an anchorage or port zone or within
  `port_shore_nm` of shore, or where it went silent before and came back from (a ferry
  that switches off at night on the same berth);
- **not a coverage hole**: the detector keeps, for every vessel, the last few cells of
  `cell_deg` degrees it was heard in and when. If of the vessels heard near its last position in
  the `peer_window_h` before it fell silent most (`hole_share`, at least `min_silent_peers`) were
  not heard anywhere since either, a receiver failed or the area is out of reach: no alert;
- **not sailing out of reception**: a vessel making way (`moving_kn` or more) is looked for where
  it should be now (dead reckoning along its last course) and along the way: if no other vessel
  was heard there meanwhile and nobody has been heard there in the `coverage_history_h` before,
  it most likely left the area of reception (the edge of a receiver's range or of a recording),
  unless the feed has satellite reception (someone heard `far_offshore_nm` from shore in the
  last day: then the open sea has no such edge) and it was heading for waters inside the extent
  of what was heard in the day before (else it sailed off the edge of the data: a recording
  clipped to a region, or the end of a feed's area);
- **not making port**: a vessel whose course would have run ashore before the threshold most
  likely arrived and switched off (a landing on a beach is `coastal_approach`'s business);

The decision about a silence is taken as of the event time it becomes due (`start + threshold`)
from what was heard up to then, whether the detector learns of it by `advance` (the vessel is
still silent) or because the vessel reappears first: so replays and restarts give the same
alerts. Per point the work is a dictionary move and, when the vessel changes cell, a set insert.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from math import asin, atan2, cos, degrees, floor, radians, sin
from typing import Any, ClassVar, Final

from pydantic import Field, model_validator

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
    fmt_position,
    fmt_utc,
)
from anomaly.records import Alert, AlertType, Severity
from tracks.hygiene import EARTH_RADIUS_M, MS_PER_KNOT, distance_m, knots
from tracks.records import StaticFields, TrackPoint

__all__ = ["GapDetector", "GapParams"]

MOORED: Final = 5
HOUR_MS: Final = 3_600_000
_VISITS: Final = 12  # cells remembered per vessel
_VISIT_BREAK_MS: Final = 30 * 60_000  # a silence this long inside a cell starts a new visit
_VISIT_STEP_MS: Final = 60_000  # a vessel's visits are brought up to date once a minute
_PLACES: Final = 3  # switch-off places remembered per vessel
_EVIDENCE_MS: Final = 3 * HOUR_MS
_ROW: Final = 100_000  # cell key = row * _ROW + col
_SQUARES: Final = 8  # one-degree squares remembered per vessel (where it has been heard)
_SQUARE_MEMORY_MS: Final = 24 * 3_600_000
_BUCKET_MS: Final = 5 * 60_000  # vessels wait for a threshold in buckets of last report time
# Tracks holds a vessel's newest reports for its reorder window and releases them only when a
# newer one comes, or when it evicts the silent vessel hours later: a report that comes this far
# behind event time for a silence already decided is that silence's tail, not the vessel back.
_TAIL_MS: Final = 10 * 60_000

# Verdicts on reception
RECEIVED: Final = "received"  # others were heard where it should have been
HOLE: Final = "hole"  # most of those near it fell silent too
UNKNOWN: Final = "unknown"

# Queue positions of a vessel: waiting for the first threshold, for the second, or decided.
_Q_FIRST, _Q_SECOND, _DECIDED = 0, 1, 2

# A silence: where and how it began, and the reporting history before it.
_S_START, _S_LAT, _S_LON, _S_SOG, _S_COG, _S_NAV, _S_N, _S_RUN, _S_WATCH, _S_GAP, _S_TYPE = range(
    11
)
_S_VERDICT = 11  # then the judgement: verdict, vessels heard, vessels silent


class GapParams(Params):
    watch_area_h: float = Field(2.0, gt=0)
    open_sea_h: float = Field(6.0, gt=0)
    min_reports: int = Field(10, ge=2)
    min_history_min: float = Field(30.0, ge=0)
    max_gap_share: float = Field(0.5, gt=0, le=1)
    max_interval_share: float = Field(0.1, gt=0, le=1)
    cell_deg: float = Field(0.1, gt=0, le=5)
    peer_window_h: float = Field(1.0, gt=0)
    grace_min: float = Field(20.0, ge=0)
    hole_share: float = Field(0.5, ge=0, lt=1)
    min_silent_peers: int = Field(2, ge=1)
    coverage_history_h: float = Field(6.0, gt=0)
    moving_kn: float = Field(3.0, ge=0)
    stationary_kn: float = Field(1.0, ge=0)
    port_shore_nm: float = Field(2.0, ge=0)
    same_place_km: float = Field(3.0, ge=0)
    far_offshore_nm: float = Field(100.0, gt=0)
    ignore_ship_types: list[int] = Field(default_factory=lambda: [35, 51, 55])

    @model_validator(mode="after")
    def _coherent(self) -> GapParams:
        if self.coverage_history_h < self.peer_window_h:
            raise ValueError("coverage_history_h must be at least peer_window_h")
        return self


class _State(VesselState):
    __slots__ = (
        "bucket",
        "far_ts",
        "fix",
        "gaps",
        "n",
        "pending",
        "places",
        "queue",
        "run_start",
        "sil",
        "squares",
        "visits",
        "watch",
    )

    def __init__(self) -> None:
        super().__init__()
        self.fix: TrackPoint | None = None  # the last point on the track
        self.far_ts = 0  # when it was last heard beyond the reach of coastal stations
        self.gaps = [0, 0]  # the run's two longest intervals between reports, longest first
        self.n = 0  # reports since the run began (after the last long silence)
        self.run_start = 0
        self.queue = _Q_FIRST
        self.bucket = 0  # last_ts // _BUCKET_MS while queued (not saved: derived)
        self.watch = -1  # whether the last position is in a watch area; -1 not known yet
        self.visits = array("q")  # (cell, first ts, last ts) of the last cells heard in
        self.squares = array("q")  # (one-degree square, ts) of the last squares heard in
        self.places: list[list[float]] = []  # where it switched off and came back from
        self.sil: list[Any] | None = None  # the silence of the open episode
        # A silence the vessel came back from before it was due for a decision:
        # [silence, due, reappeared ts, lat, lon, evidence coordinates, same place]
        self.pending: list[Any] | None = None

    @property
    def lat(self) -> float | None:
        return self.fix.lat if self.fix is not None else None

    @property
    def lon(self) -> float | None:
        return self.fix.lon if self.fix is not None else None

    def to_json(self) -> list[Any]:
        fix = self.fix
        if fix is not None:
            self.static, self.flag = fix.static, fix.flag
        return [
            *super().to_json(),
            _fix_json(fix),
            self.n,
            self.run_start,
            self.queue,
            self.watch,
            list(self.visits),
            self.places,
            self.sil,
            self.pending,
            self.far_ts,
            list(self.squares),
            self.gaps,
        ]

    def load_json(self, data: list[Any]) -> None:
        super().load_json(data)
        (
            fix,
            self.n,
            self.run_start,
            self.queue,
            self.watch,
            visits,
            self.places,
            self.sil,
            self.pending,
            self.far_ts,
            squares,
            self.gaps,
        ) = data[4:16]
        self.squares = array("q", squares)
        self.visits = array("q", visits)
        self.fix = _fix_load(fix, self.static, self.flag)

    def silence(self) -> list[Any]:
        fix = self.fix
        assert fix is not None
        return [
            self.last_ts,
            fix.lat,
            fix.lon,
            fix.sog,
            fix.cog,
            fix.nav_status,
            self.n,
            self.run_start,
            self.watch,
            self.gaps[1],  # the second longest: one reception dropout is forgiven
            fix.static.ship_type,
        ]


class GapDetector(VesselDetector[_State]):
    alert_type: ClassVar[AlertType] = AlertType.AIS_GAP
    Params: ClassVar[type[Params]] = GapParams

    def __init__(
        self, config: RuleConfig | None = None, context: DetectContext | None = None
    ) -> None:
        super().__init__(config, context)
        p: GapParams = self.params  # type: ignore[assignment]
        self.p = p
        self._watch_ms = round(p.watch_area_h * HOUR_MS)
        self._sea_ms = round(p.open_sea_h * HOUR_MS)
        self._first_ms = min(self._watch_ms, self._sea_ms)
        self._second_ms = max(self._watch_ms, self._sea_ms)
        self._inv_cell = 1.0 / p.cell_deg
        self._cols = round(360.0 * self._inv_cell)
        self._peer_ms = round(p.peer_window_h * HOUR_MS)
        self._grace_ms = round(p.grace_min * 60_000)
        self._history_ms = round(p.coverage_history_h * HOUR_MS)
        self._min_history_ms = round(p.min_history_min * 60_000)
        self._ignore_types = frozenset(p.ignore_ship_types)
        # Vessels waiting for the first threshold, and for the second, by bucket of their last
        # report's time: the partitions of a stage are read unevenly, so arrival order is not
        # time order.
        self._waiting: tuple[dict[int, set[int]], dict[int, set[int]]] = ({}, {})
        self._due: dict[int, int] = {}  # vessels with a pending silence -> decision time
        # cell -> vessels with a remembered visit; one-degree square -> vessels heard there
        # (lists: a set costs four times the memory, and a cell holds few vessels)
        self._index: dict[int, list[int]] = {}
        self._squares: dict[int, list[int]] = {}
        self._far_squares: dict[int, bool] = {}  # one-degree square -> beyond coastal reach
        self._now = 0  # event time of the last `advance`
        self._extent_cache: tuple[int, tuple[int, int, int, int] | None] = (-1, None)

    def _new_state(self) -> _State:
        return _State()

    # -- per point ------------------------------------------------------------------------
    def _update(self, point: TrackPoint) -> list[Alert]:
        mmsi = point.mmsi
        ts = point.ts
        st = self._vessels.get(mmsi)
        out = None
        if st is None:
            if point.mmsi_class in NOT_VESSELS:
                return []
            st = self._vessels[mmsi] = _State()
            st.run_start = ts
            st.queue = _DECIDED  # queued below
        elif ts <= st.last_ts:
            return []
        elif st.queue == _DECIDED and ts < self._now - _TAIL_MS:
            return self._tail(st, point)
        elif ts - st.last_ts >= self._first_ms:
            out = self._reappeared(mmsi, st, point)
        gap = ts - st.last_ts
        if gap > st.gaps[1] and st.n:
            gaps = st.gaps
            if gap > gaps[0]:
                gaps[0], gaps[1] = gap, gaps[0]
            else:
                gaps[1] = gap
        st.last_ts = ts
        st.n += 1
        if point.segment_id:
            st.fix = point
            visits = st.visits
            if not visits or ts - visits[-1] >= _VISIT_STEP_MS:
                self._heard_at(mmsi, st, visits, point, ts)
        bucket = ts // _BUCKET_MS
        if st.queue != _Q_FIRST or bucket != st.bucket:
            self._unqueue(mmsi, st)
            self._queue(mmsi, st, _Q_FIRST, bucket)
        return out or []

    def _heard_at(
        self, mmsi: int, st: _State, visits: array[int], point: TrackPoint, ts: int
    ) -> None:
        """Where and when it was heard: its cell visits, squares, and whether far offshore."""
        lat: float = point.lat  # type: ignore[assignment]  # on track: never None
        lon: float = point.lon  # type: ignore[assignment]
        cell = int((lat + 90.0) * self._inv_cell) * _ROW + int((lon + 180.0) * self._inv_cell)
        if (
            visits
            and ts - visits[-1] <= _VISIT_BREAK_MS
            and (visits[-3] == cell or self._close_to(visits[-3], lat, lon))
        ):
            visits[-1] = ts
        else:
            self._visit(mmsi, visits, cell, ts)
            square = _square_of(lat, lon)
            squares = st.squares
            if squares and squares[-2] == square:
                squares[-1] = ts
            else:
                self._square(mmsi, squares, square, ts)
                if self._far_offshore(square, lat, lon):
                    st.far_ts = ts

    def _tail(self, st: _State, point: TrackPoint) -> list[Alert]:
        """A report of a silence already decided, released late: it moves the vessel's last
        report on (for the figures when it comes back) without reopening the question."""
        st.last_ts = point.ts
        st.n += 1
        if point.segment_id:
            st.fix = point
        return []

    def _queue(self, mmsi: int, st: _State, queue: int, bucket: int) -> None:
        st.queue = queue
        st.bucket = bucket
        members = self._waiting[queue].get(bucket)
        if members is None:
            self._waiting[queue][bucket] = {mmsi}
        else:
            members.add(mmsi)

    def _unqueue(self, mmsi: int, st: _State) -> None:
        if st.queue == _DECIDED:
            return
        waiting = self._waiting[st.queue]
        members = waiting.get(st.bucket)
        if members is not None:
            members.discard(mmsi)
            if not members:
                del waiting[st.bucket]
        st.queue = _DECIDED

    def _close_to(self, cell: int, lat: float, lon: float) -> bool:
        """Within a fifth of a cell of `cell`: along a cell border, or scattered across it, a
        vessel stays in its cell rather than flipping between two (and losing its history)."""
        row, col = divmod(cell, _ROW)
        y = (lat + 90.0) * self._inv_cell - row
        x = (lon + 180.0) * self._inv_cell - col
        return -0.2 <= y <= 1.2 and -0.2 <= x <= 1.2

    def _visit(self, mmsi: int, visits: array[int], cell: int, ts: int) -> None:
        visits.extend((cell, ts, ts))
        _add(self._index, cell, mmsi)
        if len(visits) > 3 * _VISITS:
            old = visits[0]
            del visits[:3]
            if old not in visits[0::3]:
                self._unindex(mmsi, old)

    def _far_offshore(self, square: int, lat: float, lon: float) -> bool:
        """Whether a square is beyond coastal stations' reach (judged once, where first heard)."""
        far = self._far_squares.get(square)
        if far is None:
            far = self.context.distance_to_shore_nm(lat, lon) >= self.p.far_offshore_nm
            self._far_squares[square] = far
        return far

    def _square(self, mmsi: int, squares: array[int], square: int, ts: int) -> None:
        squares.extend((square, ts))
        _add(self._squares, square, mmsi)
        if len(squares) > 2 * _SQUARES:
            old = squares[0]
            del squares[:2]
            if old not in squares[0::2]:
                _remove(self._squares, old, mmsi)

    def _unindex(self, mmsi: int, cell: int) -> None:
        _remove(self._index, cell, mmsi)

    def _reappeared(self, mmsi: int, st: _State, point: TrackPoint) -> list[Alert]:
        """The first report after a silence of at least the first threshold."""
        out: list[Alert] = []
        if st.pending is not None:  # cannot happen with a sane watermark: decide it now
            out.extend(self._decide_pending(mmsi, st))
        lat, lon = point.lat, point.lon
        fix = st.fix
        same_place = False
        if fix is not None and lat is not None and lon is not None:
            same_place = distance_m(fix.lat, fix.lon, lat, lon) <= self.p.same_place_km * 1000  # type: ignore[arg-type]
        if st.ep is not None:
            out.append(self._close(mmsi, st, point.ts, lat, lon))
        elif st.queue != _DECIDED and fix is not None:
            sil = st.silence()
            threshold = self._threshold(sil)
            if threshold is not None and point.ts - st.last_ts >= threshold:
                due = st.last_ts + threshold
                evidence = self._evidence(mmsi, st.last_ts - _EVIDENCE_MS, st.last_ts)
                coords = evidence["coordinates"] if evidence else []
                st.pending = [sil, due, point.ts, lat, lon, coords, same_place]
                self._due[mmsi] = due
                same_place = False  # remembered once the pending silence is decided
        if same_place and fix is not None:
            self._remember_place(st, fix.lat, fix.lon)  # type: ignore[arg-type]
        st.n = 0
        st.gaps = [0, 0]
        st.run_start = point.ts
        st.watch = -1
        self.touched.add(mmsi)
        return out

    def _remember_place(self, st: _State, lat: float, lon: float) -> None:
        st.places.append([lat, lon])
        del st.places[:-_PLACES]

    # -- time -----------------------------------------------------------------------------
    def advance(self, now_ms: int) -> list[Alert]:
        self._now = max(self._now, now_ms)
        out: list[Alert] = []
        if self._due:
            for mmsi in [m for m, due in self._due.items() if due <= now_ms]:
                out.extend(self._decide_pending(mmsi, self._vessels[mmsi]))
        for mmsi, st in self._silent(_Q_FIRST, now_ms - self._first_ms):
            if st.fix is None:
                continue
            sil = st.silence()
            threshold = self._threshold(sil)
            st.watch = sil[_S_WATCH]
            if threshold is None:
                continue  # not reporting regularly enough for its silence to mean anything
            if threshold == self._first_ms:
                out.extend(self._decide_live(mmsi, st, sil))
            else:
                self._queue(mmsi, st, _Q_SECOND, st.bucket)
        for mmsi, st in self._silent(_Q_SECOND, now_ms - self._second_ms):
            out.extend(self._decide_live(mmsi, st, st.silence()))
        return out

    def _silent(self, queue: int, since: int) -> list[tuple[int, _State]]:
        """Take the vessels of a queue silent since `since` or longer off it, oldest first."""
        waiting = self._waiting[queue]
        due = sorted(b for b in waiting if b * _BUCKET_MS <= since)
        out = []
        vessels = self._vessels
        for bucket in due:
            members = waiting[bucket]
            taken = [(m, vessels[m]) for m in sorted(members) if vessels[m].last_ts <= since]
            members.difference_update(m for m, _ in taken)
            if not members:
                del waiting[bucket]
            out.extend(taken)
        for mmsi, st in out:
            st.queue = _DECIDED
            self.touched.add(mmsi)
        return out

    def _threshold(self, sil: list[Any]) -> int | None:
        """How long this silence must last to be alerted: the watch-area threshold in a watch
        area, the open-sea one elsewhere or when the vessel's reception was too patchy for the
        shorter one; None when it was too patchy for both (or it is a kind not followed)."""
        if sil[_S_TYPE] in self._ignore_types:
            return None
        if sil[_S_WATCH] < 0:
            lat, lon = sil[_S_LAT], sil[_S_LON]
            ctx = self.context
            sil[_S_WATCH] = int(ctx.in_watch_area(lat, lon) or ctx.in_departure_area(lat, lon))
        candidates = (self._watch_ms, self._sea_ms) if sil[_S_WATCH] else (self._sea_ms,)
        for threshold in sorted(candidates):
            if self._regular(sil, threshold):
                return threshold
        return None

    def _regular(self, sil: list[Any], threshold: int) -> bool:
        n: int = sil[_S_N]
        span: int = sil[_S_START] - sil[_S_RUN]
        return bool(
            n >= self.p.min_reports
            and span >= self._min_history_ms
            and sil[_S_GAP] <= self.p.max_gap_share * threshold
            and _mean_interval(sil) <= self.p.max_interval_share * threshold
        )

    # -- decisions ------------------------------------------------------------------------
    def _decide_live(self, mmsi: int, st: _State, sil: list[Any]) -> list[Alert]:
        st.watch = sil[_S_WATCH]
        judged = self._judge(mmsi, st, sil)
        if judged is None:
            return []
        evidence = self._evidence(mmsi, sil[_S_START] - _EVIDENCE_MS, sil[_S_START])
        coords = evidence["coordinates"] if evidence else []
        return [self._open_alert(mmsi, st, sil, judged, coords)]

    def _decide_pending(self, mmsi: int, st: _State) -> list[Alert]:
        self._due.pop(mmsi, None)
        pending = st.pending
        st.pending = None
        self.touched.add(mmsi)
        if pending is None:
            return []
        sil, _due, re_ts, re_lat, re_lon, coords, same_place = pending
        judged = self._judge(mmsi, st, sil)
        out = []
        if judged is not None:
            # The vessel is reporting again: the episode opens and closes at once.
            live_ep, live_sil = st.ep, st.sil
            out.append(self._open_alert(mmsi, st, sil, judged, coords))
            out.append(self._close(mmsi, st, re_ts, re_lat, re_lon, coords))
            st.ep, st.sil = live_ep, live_sil
        if same_place:
            self._remember_place(st, sil[_S_LAT], sil[_S_LON])
        return out

    def _judge(self, mmsi: int, st: _State, sil: list[Any]) -> tuple[str, int, int] | None:
        """(verdict, vessels heard, vessels silent) if the silence is alerted, else None."""
        p = self.p
        lat, lon, sog, nav = sil[_S_LAT], sil[_S_LON], sil[_S_SOG], sil[_S_NAV]
        stationary = sog is None or sog < p.stationary_kn
        if nav == MOORED:
            return None
        if stationary:
            if self.context.in_anchorage(lat, lon):
                return None
            if self.context.distance_to_shore_nm(lat, lon) < p.port_shore_nm:
                return None
            same_km = p.same_place_km * 1000
            if any(distance_m(a, b, lat, lon) <= same_km for a, b in st.places):
                return None
        verdict, heard, silent = self._reception(mmsi, sil)
        if verdict == HOLE:
            return None
        moving = sog is not None and sog >= p.moving_kn
        if moving and self._reaches_land(sil):
            return None  # its course ran ashore before the threshold: it made port
        if verdict == UNKNOWN and moving and not self._covered(mmsi, sil):
            if not self._satellite_feed(self._due_at(sil)):
                return None  # sailed out of the coastal stations' reach
            if self._off_the_edge(mmsi, sil):
                return None  # sailed off the edge of the data: nobody is heard where it went
        return verdict, heard, silent

    def _off_the_edge(self, mmsi: int, sil: list[Any]) -> bool:
        """Whether its likely position lies beyond every one-degree square where anyone else was
        heard in the day before: off the edge of the data (a recording clipped to a region, the
        end of a feed's area)."""
        extent = self._extent(self._due_at(sil))
        if extent is None:
            return True
        lat, lon = self._track_points(sil)[-1][:2]
        row, col = divmod(_square_of(lat, lon), 1000)
        south, north, west, east = extent
        return not (south <= row <= north and west <= col <= east)

    def _extent(self, due: int) -> tuple[int, int, int, int] | None:
        """(south, north, west, east) one-degree rows and columns heard in the day before `due`,
        computed once an hour (a scan of every vessel)."""
        hour = due // HOUR_MS
        if self._extent_cache[0] == hour:
            return self._extent_cache[1]
        end = (hour + 1) * HOUR_MS
        since = end - _SQUARE_MEMORY_MS
        rows: set[int] = set()
        cols: set[int] = set()
        for st in self._vessels.values():
            if st.last_ts < since:
                continue
            squares = st.squares
            for i in range(0, len(squares), 2):
                if since <= squares[i + 1] <= end:
                    row, col = divmod(squares[i], 1000)
                    rows.add(row)
                    cols.add(col)
        extent = (min(rows), max(rows), min(cols), max(cols)) if rows else None
        self._extent_cache = (hour, extent)
        return extent

    def _reaches_land(self, sil: list[Any]) -> bool:
        shore = self.context.distance_to_shore_nm
        return any(shore(lat, lon) <= 0.0 for lat, lon, _, _ in self._track_points(sil))

    def _satellite_feed(self, due: int) -> bool:
        """Whether anyone was heard far beyond the reach of coastal stations in the day before:
        then the feed has satellite reception, and the open sea has no edge to sail out of."""
        since = due - 24 * HOUR_MS
        return any(since <= st.far_ts <= due for st in self._vessels.values())

    def _due_at(self, sil: list[Any]) -> int:
        threshold = self._threshold(sil)
        assert threshold is not None, "a silence that is not judged has no due time"
        return int(sil[_S_START]) + threshold

    def _track_points(self, sil: list[Any]) -> list[tuple[float, float, int, int]]:
        """Where to look for the vessel: (lat, lon, from ts, to ts)."""
        start, lat, lon, sog, cog = sil[_S_START : _S_COG + 1]
        due = self._due_at(sil)
        after = start + self._grace_ms
        if sog is None or cog is None or sog < self.p.moving_kn:
            return [(lat, lon, after, due)]
        metres = sog * MS_PER_KNOT * (due - start) / 1000
        looks = []
        for share in (0.5, 0.75, 1.0):  # where it went: off the edge of reception, or not
            at_lat, at_lon = _destination(lat, lon, cog, metres * share)
            when = start + round((due - start) * share)
            looks.append((at_lat, at_lon, max(after, when - HOUR_MS), min(due, when + HOUR_MS)))
        return looks

    def _reception(self, mmsi: int, sil: list[Any]) -> tuple[str, int, int]:
        """(verdict, vessels heard where it should have been, vessels silent with it)."""
        p = self.p
        start = sil[_S_START]
        due = self._due_at(sil)
        near = set(self._near(sil[_S_LAT], sil[_S_LON], 1))
        wide = set(self._near(sil[_S_LAT], sil[_S_LON], 2))
        before = start - self._peer_ms
        after = start + self._grace_ms
        together_from = start - self._grace_ms
        vessels = self._vessels
        heard: set[int] = set()
        silent = together = 0
        for m in self._members(wide, mmsi):
            visits = vessels[m].visits
            near_before = heard_near = heard_after = around = False
            for i in range(0, len(visits), 3):
                first = visits[i + 1]
                if first > due:
                    continue  # after the decision: not known then
                cell, last = visits[i], min(visits[i + 2], due)
                if last >= after:
                    heard_after = True
                    if cell in near:
                        heard_near = True
                if cell in near and last >= before and first <= start:
                    near_before = True
                if last >= together_from:
                    around = True
            if heard_near:
                heard.add(m)
            elif not heard_after:  # not heard since it fell silent (give or take the grace)
                if near_before:
                    silent += 1
                if around:
                    together += 1  # fell silent at the same time, close by
        if together >= p.min_silent_peers or (
            silent >= p.min_silent_peers and silent > p.hole_share * (len(heard) + silent)
        ):
            return HOLE, len(heard), max(silent, together)
        looks = self._track_points(sil)
        for lat, lon, lo, hi in looks if len(looks) > 1 else ():  # moving: where it went
            cells = set(self._near(lat, lon, 2))  # dead reckoning drifts: look wider
            for m in self._members(cells, mmsi):
                visits = vessels[m].visits
                for i in range(0, len(visits), 3):
                    if visits[i] in cells and visits[i + 2] >= lo and visits[i + 1] <= hi:
                        heard.add(m)
                        break
        return (RECEIVED if heard else UNKNOWN), len(heard), silent

    def _covered(self, mmsi: int, sil: list[Any]) -> bool:
        """Whether anyone was heard along the vessel's likely track in the recent past."""
        since = sil[_S_START] - self._history_ms
        due = self._due_at(sil)
        for lat, lon, _lo, _hi in self._track_points(sil):
            cells = set(self._near(lat, lon, 2))
            for m in self._members(cells, mmsi):
                visits = self._vessels[m].visits
                for i in range(0, len(visits), 3):
                    if visits[i] in cells and visits[i + 2] >= since and visits[i + 1] <= due:
                        return True
        return False

    def _near(self, lat: float, lon: float, reach: int) -> list[int]:
        """The cell of (lat, lon) and its neighbours `reach` cells around."""
        row = floor((lat + 90.0) * self._inv_cell)
        col = floor((lon + 180.0) * self._inv_cell)
        cols = self._cols
        span = range(-reach, reach + 1)
        return [(row + dr) * _ROW + ((col + dc) % cols) for dr in span for dc in span]

    def _members(self, cells: Iterable[int], mmsi: int) -> set[int]:
        found: set[int] = set()
        for cell in cells:
            members = self._index.get(cell)
            if members:
                found.update(members)
        found.discard(mmsi)
        return found

    # -- alerts ---------------------------------------------------------------------------
    def _open_alert(
        self,
        mmsi: int,
        st: _State,
        sil: list[Any],
        judged: tuple[str, int, int],
        coords: list[list[float]],
    ) -> Alert:
        if st.fix is not None:
            st.static, st.flag = st.fix.static, st.fix.flag
        start = sil[_S_START]
        due = self._due_at(sil)
        self._open_episode(mmsi, st, start, due)
        st.sil = [*sil, *judged]
        return self._alert(mmsi, st, due, None, None, None, coords)

    def _close(
        self,
        mmsi: int,
        st: _State,
        re_ts: int,
        re_lat: float | None,
        re_lon: float | None,
        coords: list[list[float]] | None = None,
    ) -> Alert:
        if coords is None:
            sil = st.sil
            assert sil is not None
            evidence = self._evidence(mmsi, sil[_S_START] - _EVIDENCE_MS, sil[_S_START])
            coords = evidence["coordinates"] if evidence else []
        alert = self._alert(mmsi, st, re_ts, re_ts, re_lat, re_lon, coords)
        st.sil = None
        return alert

    def _alert(
        self,
        mmsi: int,
        st: _State,
        ts: int,
        end: int | None,
        re_lat: float | None,
        re_lon: float | None,
        coords: list[list[float]],
    ) -> Alert:
        ep = st.ep
        sil = st.sil
        assert ep is not None and sil is not None
        start, lat, lon, sog, cog = sil[_S_START : _S_COG + 1]
        n, watch = sil[_S_N], sil[_S_WATCH]
        verdict, heard, silent = sil[_S_VERDICT : _S_VERDICT + 3]
        interval = _mean_interval(sil)
        cadence = f"{interval / 1000:.0f} s" if interval < 90_000 else fmt_hours(interval)
        silence = (end if end is not None else ep.detected_at) - start
        extra: dict[str, Any] = {
            "silence_h": round(silence / HOUR_MS, 2),
            "mean_interval_s": round(interval / 1000, 1),
            "reception": verdict,
            "vessels_heard": heard,
            "vessels_silent": silent,
        }
        if end is None:
            first = (
                f"Silent for {fmt_hours(silence)} since {fmt_utc(start)} after reporting every "
                f"{cadence} on average ({n} reports)."
            )
        else:
            first = f"Silent for {fmt_hours(silence)} after reporting every {cadence} on average"
            if re_lat is not None and re_lon is not None:
                moved = distance_m(lat, lon, re_lat, re_lon)
                implied = knots(moved, silence / 1000) if silence > 0 else 0.0
                first += f"; reappeared {fmt_km(moved)} away (implied {fmt_kn(implied)})."
                extra.update(distance_km=round(moved / 1000, 2), implied_kn=round(implied, 2))
            else:
                first += f"; reporting again at {fmt_utc(end)}."
        reasons = [first]
        if verdict == RECEIVED:
            reasons.append(
                f"{heard} other vessel{'s' if heard != 1 else ''} near its last position or its "
                "likely track kept being heard meanwhile, so reception there was good."
            )
        elif sog is not None and sog >= self.p.moving_kn:
            reasons.append(
                "No other vessel was heard along its likely track meanwhile, but vessels were "
                "received there in the hours before."
            )
        else:
            reasons.append(
                "No other vessel nearby to confirm reception; it had been received there until "
                "it fell silent."
            )
        making = f"making {fmt_kn(sog)}" if sog is not None else "speed unknown"
        course = f" on {cog:03.0f}°" if cog is not None and sog is not None and sog >= 0.5 else ""
        where = " in a watch area" if watch else ""
        reasons.append(f"Last seen at {fmt_position(lat, lon)}{where}, {making}{course}.")
        if verdict == RECEIVED:
            score = 0.8 + 0.05 * min(heard, 3)
        elif sog is not None and sog >= self.p.moving_kn:
            score = 0.45
        else:
            score = 0.55
        tail = [(re_lat, re_lon)] if re_lat is not None and re_lon is not None else []
        evidence = _linestring(coords, tail) if coords or tail else None
        return self._emit(
            mmsi,
            st,
            ts,
            lat=re_lat if re_lat is not None else lat,
            lon=re_lon if re_lon is not None else lon,
            severity=Severity.HIGH if watch else Severity.MEDIUM,
            score=score + (0.05 if watch else 0.0),
            reasons=reasons,
            evidence=evidence,
            end=end,
            extra=extra,
        )

    def _close_stale(self, mmsi: int, st: _State) -> list[Alert]:
        return []  # a gap closes when the vessel reappears, not by silence

    # -- state ----------------------------------------------------------------------------
    def _restored(self, mmsi: int, st: _State) -> None:
        self._open.pop(mmsi, None)
        visits = st.visits
        for i in range(0, len(visits), 3):
            _add(self._index, visits[i], mmsi)
        squares = st.squares
        for i in range(0, len(squares), 2):
            _add(self._squares, squares[i], mmsi)
        if st.queue != _DECIDED:
            self._queue(mmsi, st, st.queue, st.last_ts // _BUCKET_MS)
        if st.pending is not None:
            self._due[mmsi] = st.pending[1]

    def _forgotten(self, mmsi: int, st: _State) -> None:
        visits = st.visits
        for i in range(0, len(visits), 3):
            self._unindex(mmsi, visits[i])
        squares = st.squares
        for i in range(0, len(squares), 2):
            _remove(self._squares, squares[i], mmsi)
        self._unqueue(mmsi, st)
        self._due.pop(mmsi, None)


def _square_of(lat: float, lon: float) -> int:
    return floor(lat + 90.0) * 1000 + floor(lon + 180.0) % 360


def _destination(lat: float, lon: float, bearing: float, metres: float) -> tuple[float, float]:
    delta = metres / EARTH_RADIUS_M
    phi1, theta = radians(lat), radians(bearing)
    phi2 = asin(sin(phi1) * cos(delta) + cos(phi1) * sin(delta) * cos(theta))
    lam = atan2(sin(theta) * sin(delta) * cos(phi1), cos(delta) - sin(phi1) * sin(phi2))
    return degrees(phi2), (lon + degrees(lam) + 540.0) % 360.0 - 180.0


def _linestring(coords: list[list[float]], tail: list[tuple[float, float]]) -> dict[str, Any]:
    out = [list(c) for c in coords]
    for lat, lon in tail:
        position = [round(lon, 5), round(lat, 5)]
        if not out or out[-1] != position:
            out.append(position)
    if len(out) == 1:
        out.append(list(out[0]))
    return {"type": "LineString", "coordinates": out}


def _fix_json(fix: TrackPoint | None) -> list[Any] | None:
    if fix is None:
        return None
    return [fix.mmsi, fix.ts, fix.lat, fix.lon, fix.sog, fix.cog, fix.nav_status, fix.mmsi_class]


def _fix_load(data: list[Any] | None, static: StaticFields, flag: str | None) -> TrackPoint | None:
    """The last point, as much of it as the detector uses."""
    if data is None:
        return None
    mmsi, ts, lat, lon, sog, cog, nav, mmsi_class = data
    return TrackPoint(
        mmsi, ts, lat, lon, sog, cog, None, nav, None, None, None, None, mmsi_class, flag,
        "", 0, 1, None, None, None, None, (), static,
    )  # fmt: skip


def _add(index: dict[int, list[int]], key: int, mmsi: int) -> None:
    members = index.get(key)
    if members is None:
        index[key] = [mmsi]
    elif mmsi not in members:
        members.append(mmsi)


def _remove(index: dict[int, list[int]], key: int, mmsi: int) -> None:
    members = index.get(key)
    if members is not None and mmsi in members:
        members.remove(mmsi)
        if not members:
            del index[key]


def _mean_interval(sil: list[Any]) -> float:
    """Milliseconds between the vessel's reports, on average, before it fell silent."""
    span: int = sil[_S_START] - sil[_S_RUN]
    reports: int = sil[_S_N]
    return span / max(reports - 1, 1)
