"""What tracks remembers about one vessel between two reports, and its compact encoding.

A consumer holds one `VesselState` per active vessel (100,000 of them on a busy feed), so the
state is slotted and keeps its numbers in flat `array('d')` buffers, 8 bytes a number, rather
than in tuples of boxed floats and ints (a held `PositionReport` costs about 330 bytes, its
numbers here 88). "Not available" (None) is stored there as NaN: ingest never emits NaN.

The state only stores and bounds; `tracks.builder` decides what goes in.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from typing import Any

import orjson

from ingest.records import AisClass, MmsiClass, PositionReport
from tracks.records import StaticFields

Fix = tuple[int, float, float]  # ts (epoch ms), lat, lon
RecentPoint = tuple[int, float, float, float | None, float | None]  # + sog, cog
Tags = tuple[AisClass | None, MmsiClass, str | None, str]  # ais_class, mmsi_class, flag, source

_FIX_WIDTH = 5  # numbers per recent point: ts, lat, lon, sog, cog
_KEY_WIDTH = 3  # numbers per remembered key: ts, lat, lon
# numbers per held report: ts, lat, lon, sog, cog, heading, nav_status, rot, accuracy,
# msg_type, rx_ts (a PositionReport's numeric fields, in its order)
_HELD_WIDTH = 11
_NAN = float("nan")
_new_tuple = tuple.__new__
_NO_STATIC = StaticFields()

_FORMAT_VERSION = 1
_HEADER = struct.Struct("<BIII")  # version, then the byte length of each of the three arrays


class StateFormatError(ValueError):
    """Bytes that are not a `VesselState` this code can read."""


def _num(value: float | None) -> float:
    return _NAN if value is None else value


def _opt(value: float) -> float | None:
    return None if value != value else value  # NaN is the only value unequal to itself


def _opt_int(value: float) -> int | None:
    return None if value != value else int(value)


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _find(
    buffer: array[float],
    width: int,
    ts: int,
    lat: float | None,
    lon: float | None,
    in_time_order: bool = True,
) -> bool:
    """Whether a (ts, lat, lon, ...) row of a flat buffer has this key; newest rows first."""
    lat_n = _NAN if lat is None else lat
    lon_n = _NAN if lon is None else lon
    for i in range(len(buffer) - width, -1, -width):
        row_ts = buffer[i]
        if row_ts == ts and _same(buffer[i + 1], lat_n) and _same(buffer[i + 2], lon_n):
            return True
        if in_time_order and row_ts < ts:
            return False
    return False


class ReorderBuffer:
    """Position reports waiting to be released in event-time order."""

    __slots__ = ("newest_ts", "numbers", "released_ts", "tags")

    def __init__(self) -> None:
        self.numbers = array("d")  # _HELD_WIDTH numbers per report, in event-time order
        self.tags: list[Tags] = []  # one per report; consecutive equal tags share one tuple
        self.newest_ts: int | None = None  # newest report ever held
        self.released_ts: int | None = None  # newest report released

    def __len__(self) -> int:
        return len(self.tags)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReorderBuffer):
            return NotImplemented
        mine = (self.numbers.tobytes(), self.tags, self.newest_ts, self.released_ts)
        return mine == (other.numbers.tobytes(), other.tags, other.newest_ts, other.released_ts)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def hold(self, r: PositionReport) -> None:
        """Add a report, after any held report of the same time."""
        numbers: tuple[Any, ...] | list[float] = r[1:11]  # ts ... msg_type
        if None in numbers:
            numbers = [_NAN if value is None else value for value in numbers]
        tags: Tags = (r.ais_class, r.mmsi_class, r.flag, r.source)
        held = self.tags
        buffer = self.numbers
        ts = r.ts
        i = len(held)
        while i and buffer[(i - 1) * _HELD_WIDTH] > ts:
            i -= 1
        if i and held[i - 1] == tags:
            tags = held[i - 1]
        if i == len(held):  # in order: the usual case
            buffer.fromlist([*numbers, r.rx_ts])  # from a list: twice as fast as extend()
            held.append(tags)
        else:
            buffer[i * _HELD_WIDTH : i * _HELD_WIDTH] = array("d", [*numbers, r.rx_ts])
            held.insert(i, tags)
        if self.newest_ts is None or ts > self.newest_ts:
            self.newest_ts = ts

    def holds(self, ts: int, lat: float | None, lon: float | None) -> bool:
        return _find(self.numbers, _HELD_WIDTH, ts, lat, lon)

    def holds_before(self, before_ts: int) -> bool:
        """Whether the oldest held report is older than `before_ts`."""
        return bool(self.tags) and self.numbers[0] < before_ts

    def take_ready(self, mmsi: int, before_ts: int | None, keep: int) -> list[PositionReport]:
        """Remove and return, oldest first, the reports older than `before_ts` (all when None)
        and, beyond those, the oldest ones that leave at most `keep` held."""
        held = len(self.tags)
        count = held
        if before_ts is not None:
            count = 0
            while count < held and self.numbers[count * _HELD_WIDTH] < before_ts:
                count += 1
            count = max(count, held - keep)
        if not count:
            return []
        if count == 1:  # the usual case: a report held, the oldest released
            ready = [_as_report(mmsi, self.numbers[:_HELD_WIDTH].tolist(), self.tags[0])]
        else:
            ready = self._reports(mmsi, count)
        del self.numbers[: count * _HELD_WIDTH]
        del self.tags[:count]
        self.released_ts = ready[-1].ts
        return ready

    def reports(self, mmsi: int) -> list[PositionReport]:
        """What is held, for inspection."""
        return self._reports(mmsi, len(self.tags))

    def _reports(self, mmsi: int, count: int) -> list[PositionReport]:
        """The oldest `count` held reports: numbers unboxed in one call, cut into rows by zip
        (in C)."""
        numbers = iter(self.numbers[: count * _HELD_WIDTH].tolist())
        rows = zip(*[numbers] * _HELD_WIDTH, strict=False)
        # tags: count is at most their number
        return [_as_report(mmsi, row, tags) for row, tags in zip(rows, self.tags, strict=False)]


def _as_report(mmsi: int, row: Sequence[float], tags: Tags) -> PositionReport:
    """A held report's numbers and tags as the report. NaN (the only value unequal to itself)
    is None; built as a tuple, as the class call costs a Python frame."""
    ts, lat, lon, sog, cog, heading, status, rot, accuracy, msg_type, rx_ts = row
    ais_class, mmsi_class, flag, source = tags
    return _new_tuple(PositionReport, (
        mmsi, int(ts),
        None if lat != lat else lat,
        None if lon != lon else lon,
        None if sog != sog else sog,
        None if cog != cog else cog,
        None if heading != heading else int(heading),
        None if status != status else int(status),
        None if rot != rot else rot,
        None if accuracy != accuracy else accuracy != 0.0,
        None if msg_type != msg_type else int(msg_type),
        ais_class, mmsi_class, flag, source, int(rx_ts),
    ))  # fmt: skip


class VesselState:
    """One vessel's track state: last fixes, segment, static data, counters, reorder buffer."""

    __slots__ = (
        "duplicates",
        "identity_ts",
        "impossible",
        "late",
        "leg_bearing",
        "mmsi",
        "no_position",
        "pending",
        "points",
        "recent",
        "rejected",
        "rejected_run",
        "seen",
        "segment_id",
        "segment_start",
        "static",
    )

    def __init__(self, mmsi: int) -> None:
        self.mmsi = mmsi
        self.segment_id = 0  # 0 until the first fix; then 1, 2, ...
        self.segment_start: int | None = None  # ts of the current segment's first fix
        self.leg_bearing: float | None = None  # of the leg to the last good fix, if meaningful
        self.recent = array("d")  # on-track points, oldest first, _FIX_WIDTH numbers each
        self.static = _NO_STATIC
        self.identity_ts: int | None = None  # an identity change waiting for its first point
        self.points = 0  # on the track
        self.impossible = 0
        self.late = 0
        self.duplicates = 0
        self.no_position = 0
        self.seen = array("d")  # keys of recent off-track reports, _KEY_WIDTH numbers each
        self.pending = ReorderBuffer()
        self.rejected: Fix | None = None  # the last impossible fix since the last good one
        self.rejected_run = 0  # consecutive impossible fixes, each consistent with the previous

    @property
    def newest_ts(self) -> int | None:
        """Event time of the vessel's newest position report."""
        return self.pending.newest_ts

    def holds_before(self, before_ts: int) -> bool:
        """Whether a report older than `before_ts` waits in the reorder buffer."""
        return self.pending.holds_before(before_ts)

    @property
    def released_ts(self) -> int | None:
        return self.pending.released_ts

    # Recent on-track points: the last one is the last good fix.

    def last_fix(self) -> Fix | None:
        return self.fix(1)

    def fix(self, back: int) -> Fix | None:
        """The `back`-th newest on-track point (1 = the last good fix), if still remembered."""
        i = len(self.recent) - back * _FIX_WIDTH
        if i < 0:
            return None
        r = self.recent
        return int(r[i]), r[i + 1], r[i + 2]

    def recent_points(self) -> list[RecentPoint]:
        r = self.recent
        return [
            (int(r[i]), r[i + 1], r[i + 2], _opt(r[i + 3]), _opt(r[i + 4]))
            for i in range(0, len(r), _FIX_WIDTH)
        ]

    def remember_fix(self, fix: RecentPoint, max_count: int, window_ms: int) -> None:
        """Append an on-track point; forget the oldest beyond `max_count` or `window_ms`."""
        ts, lat, lon, sog, cog = fix
        r = self.recent
        r.fromlist([ts, lat, lon, _NAN if sog is None else sog, _NAN if cog is None else cog])
        oldest = ts - window_ms
        drop = max(0, len(r) // _FIX_WIDTH - max_count)
        while drop * _FIX_WIDTH < len(r) - _FIX_WIDTH and r[drop * _FIX_WIDTH] < oldest:
            drop += 1
        if drop:
            del r[: drop * _FIX_WIDTH]

    # Duplicate detection.

    def remember_key(self, ts: int, lat: float | None, lon: float | None, max_keys: int) -> None:
        """Remember an off-track report (late, impossible, no position) to spot its copies."""
        s = self.seen
        s.fromlist([ts, _num(lat), _num(lon)])
        if len(s) > max_keys * _KEY_WIDTH:
            del s[:_KEY_WIDTH]

    def has_seen(self, ts: int, lat: float | None, lon: float | None) -> bool:
        """Whether a report with this key is held, on the recent track or remembered."""
        released = self.pending.released_ts
        if released is None or ts > released:  # released reports are all older: skip them
            return self.pending.holds(ts, lat, lon)
        return (
            self.pending.holds(ts, lat, lon)
            or _find(self.recent, _FIX_WIDTH, ts, lat, lon)
            or _find(self.seen, _KEY_WIDTH, ts, lat, lon, in_time_order=False)
        )

    # Encoding.

    def to_bytes(self) -> bytes:
        arrays = [_little_endian(a).tobytes() for a in (self.recent, self.seen)]
        arrays.append(_little_endian(self.pending.numbers).tobytes())
        body = orjson.dumps(
            [
                *(self.mmsi, self.segment_id, self.segment_start, self.identity_ts),
                *(self.points, self.impossible, self.late, self.duplicates, self.no_position),
                *(self.leg_bearing, self.rejected, self.rejected_run),
                None if self.static is _NO_STATIC else list(self.static),
                *(self.pending.newest_ts, self.pending.released_ts, self.pending.tags),
            ]
        )
        header = _HEADER.pack(_FORMAT_VERSION, *(len(a) for a in arrays))
        return b"".join((header, *arrays, body))

    @classmethod
    def from_bytes(cls, data: bytes) -> VesselState:
        if len(data) < _HEADER.size or data[0] != _FORMAT_VERSION:
            raise StateFormatError("not a vessel state of a known format")
        try:
            offset = _HEADER.size
            arrays = []
            for length in _HEADER.unpack_from(data)[1:]:
                arrays.append(_array_from(data[offset : offset + length]))
                offset += length
            return cls._from_fields(orjson.loads(data[offset:]), *arrays)
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise StateFormatError(f"unreadable vessel state: {exc}") from exc

    @classmethod
    def _from_fields(
        cls, fields: list[Any], recent: array[float], seen: array[float], held: array[float]
    ) -> VesselState:
        (
            mmsi,
            segment_id,
            segment_start,
            identity_ts,
            points,
            impossible,
            late,
            duplicates,
            no_position,
            leg_bearing,
            rejected,
            rejected_run,
            static,
            newest_ts,
            released_ts,
            tags,
        ) = fields
        state = cls(mmsi)
        state.segment_id = segment_id
        state.segment_start = segment_start
        state.identity_ts = identity_ts
        state.points = points
        state.impossible = impossible
        state.late = late
        state.duplicates = duplicates
        state.no_position = no_position
        state.leg_bearing = leg_bearing
        state.rejected = None if rejected is None else (rejected[0], rejected[1], rejected[2])
        state.rejected_run = rejected_run
        state.static = _NO_STATIC if static is None else StaticFields(*static)
        state.recent = recent
        state.seen = seen
        pending = state.pending
        pending.numbers = held
        pending.newest_ts = newest_ts
        pending.released_ts = released_ts
        for t in tags:
            same = pending.tags and list(pending.tags[-1]) == t
            pending.tags.append(pending.tags[-1] if same else (t[0], t[1], t[2], t[3]))
        if len(held) != len(pending.tags) * _HELD_WIDTH:
            raise StateFormatError("held reports and their tags do not match")
        return state

    def _key(self) -> tuple[Any, ...]:
        return (
            *(getattr(self, name) for name in self.__slots__ if name not in ("recent", "seen")),
            self.recent.tobytes(),
            self.seen.tobytes(),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VesselState):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"VesselState(mmsi={self.mmsi}, segment_id={self.segment_id}, "
            f"recent={len(self.recent) // _FIX_WIDTH}, pending={len(self.pending)}, "
            f"points={self.points}, impossible={self.impossible}, late={self.late}, "
            f"duplicates={self.duplicates}, no_position={self.no_position})"
        )


def _little_endian(values: array[float]) -> array[float]:
    if sys.byteorder == "little":
        return values
    swapped = array("d", values)
    swapped.byteswap()
    return swapped


def _array_from(data: bytes) -> array[float]:
    values = array("d")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values
