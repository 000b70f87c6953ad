"""Framing: one raw line in, the AIS sentence and its receive time out.

Handles what real feeds wrap around `!AIVDM`: NMEA 4 tag blocks (`\\s:station,c:1426032000*hh\\`),
a leading UNIX or ISO timestamp (`1426032000.123 !AIVDM...`), fields after the checksum added by
satellite providers (`...*5C,raishub,1426032000`), and Gatehouse `$PGHP` header lines whose
time applies to the sentence that follows. Pure functions; bad input raises an `IngestError`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import reduce
from operator import xor
from typing import NamedTuple

from ingest.errors import (
    BadPayloadError,
    ChecksumError,
    GarbageError,
    MalformedSentenceError,
    TagBlockChecksumError,
)

# Epoch seconds from 2000-01-01 to 2100-01-01: anything else is not a plausible receive time.
_MIN_EPOCH_S = 946_684_800
_MAX_EPOCH_S = 4_102_444_800

AIS_CHARS = bytes(range(48, 88)) + bytes(range(96, 120))  # the 6-bit values 0..63 in order
NOT_AIS_CHARS = bytes(sorted(set(range(256)) - set(AIS_CHARS)))
_NMEA_LIKE = re.compile(rb"^[$!][A-Z0-9]{3,6},[ -~]*\*[0-9A-Fa-f]{2}")
_ISO_PREFIX = re.compile(
    rb"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
)


class Frame(NamedTuple):
    """An AIS sentence cut out of its line, with what the wrapper told about it."""

    sentence: bytes  # from `!` up to and including the two checksum digits
    time_ms: int | None  # receive time stated by the line (tag block, timestamp), if any
    group: bytes | None  # tag-block group id (`g:1-2-1234` -> b"1234"), for multipart
    station: bytes | None  # tag-block source station (`s:`), part of the multipart key


def checksum(body: bytes) -> int:
    """NMEA checksum: XOR of every byte between the `!`/`$`/`\\` and the `*`."""
    return reduce(xor, body, 0)


def has_valid_checksum(text: bytes, start: int, star: int) -> bool:
    """`text[start]` is `!`/`$`/`\\`, `text[star]` is `*` followed by two hex digits."""
    return reduce(xor, text[start + 1 : star], 0) == _hex_or_minus(text[star + 1 : star + 3])


def epoch_ms(value: bytes) -> int | None:
    """A UNIX time in seconds (10 digits, optional fraction) or milliseconds (13 digits)."""
    if len(value) == 10 and value.isdigit():
        seconds = int(value)
        return seconds * 1000 if _MIN_EPOCH_S <= seconds <= _MAX_EPOCH_S else None
    try:
        number = float(value)
    except ValueError:
        return None
    if _MIN_EPOCH_S <= number <= _MAX_EPOCH_S:
        return round(number * 1000)
    if _MIN_EPOCH_S * 1000 <= number <= _MAX_EPOCH_S * 1000:
        return round(number)
    return None


def iso_ms(value: bytes) -> int | None:
    try:
        text = value.decode("ascii").replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
    except (UnicodeDecodeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        seconds = parsed.timestamp()
    except (OverflowError, ValueError):
        return None
    return round(seconds * 1000) if _MIN_EPOCH_S <= seconds <= _MAX_EPOCH_S else None


def frame(line: bytes) -> Frame:
    """Cut the AIS sentence out of a line that contains one (`!..VDM`/`!..VDO`)."""
    start = _sentence_start(line)
    if start < 0:
        raise GarbageError("no AIS sentence in line")
    time_ms: int | None = None
    group = station = None
    if start > 0:
        prefix = line[:start]
        if prefix[:1] == b"\\":
            time_ms, group, station = _tag_block(prefix)
        else:
            time_ms = _leading_time(prefix)
    star = line.find(b"*", start)
    if star < 0:
        raise ChecksumError("no checksum")
    if not has_valid_checksum(line, start, star):
        raise ChecksumError("checksum mismatch")
    trailer = line[star + 3 :]
    if trailer and time_ms is None:
        time_ms = _trailing_time(trailer)
    return Frame(line[start : star + 3], time_ms, group, station)


def _sentence_start(line: bytes) -> int:
    """Index of the `!` (or `$`) that opens an AIS VDM/VDO sentence, or -1."""
    if line[:1] == b"!" and line[3:7] in (b"VDM,", b"VDO,"):
        return 0
    for marker in (b"VDM,", b"VDO,"):
        at = line.find(marker)
        while at >= 0:
            if at >= 3 and line[at - 3] in b"!$":
                return at - 3
            at = line.find(marker, at + 1)
    return -1


def _tag_block(prefix: bytes) -> tuple[int | None, bytes | None, bytes | None]:
    """Parse `\\s:x,c:123,g:1-2-99*hh\\` (possibly several blocks back to back)."""
    time_ms: int | None = None
    group = station = None
    for block in prefix.split(b"\\"):
        if block:
            block_ms, block_group, block_station = tag_fields(block)
            time_ms = block_ms if block_ms is not None else time_ms
            group = block_group or group
            station = block_station or station
    return time_ms, group, station


def tag_fields(block: bytes) -> tuple[int | None, bytes | None, bytes | None]:
    """One tag block's content `s:x,c:123,g:1-2-99*hh`: receive time, group id, station."""
    time_ms: int | None = None
    group = station = None
    star = block.rfind(b"*")
    if star >= 0:
        if reduce(xor, block[:star], 0) != _hex_or_minus(block[star + 1 : star + 3]):
            raise TagBlockChecksumError("tag block checksum mismatch")
        block = block[:star]
    for field in block.split(b","):
        key = field[:2]
        if key == b"c:":
            time_ms = epoch_ms(field[2:])
        elif key == b"g:" or key == b"G:":
            group = field.rsplit(b"-", 1)[-1] or None
        elif key == b"s:":
            station = field[2:]
    return time_ms, group, station


def _hex_or_minus(digits: bytes) -> int:
    if len(digits) != 2:
        return -1
    try:
        return int(digits, 16)
    except ValueError:
        return -1


def _leading_time(prefix: bytes) -> int | None:
    """`1426032000.123 `, `2015-03-11T00:00:00Z,` or a logger's `[2024-07-19 08:45:27.141] `."""
    text = prefix.strip(b" \t,;|[]")
    if not text:
        return None
    found = epoch_ms(text.split()[0])
    if found is not None:
        return found
    match = _ISO_PREFIX.match(text)
    return iso_ms(match.group(1)) if match else None


def _trailing_time(trailer: bytes) -> int | None:
    """Satellite and logger formats append fields after the checksum; the first time there is
    the receive time (exactEarth adds a later processing time after it)."""
    for field in trailer.replace(b"\t", b",").replace(b" ", b",").split(b","):
        if len(field) >= 10:
            found = epoch_ms(field)
            if found is None and field[:2] in (b"19", b"20"):
                found = iso_ms(field)
            if found is not None:
                return found
    return None


class Sentence(NamedTuple):
    """The fields of one `!AIVDM` sentence."""

    talker: bytes
    total: int  # how many sentences the message spans
    number: int
    seq_id: bytes
    channel: bytes
    payload: bytes
    fill_bits: int


def split_sentence(sentence: bytes) -> Sentence:
    parts = sentence[: len(sentence) - 3].split(b",")
    if len(parts) != 7:
        raise MalformedSentenceError(f"expected 7 fields, got {len(parts)}")
    try:
        count = int(parts[1])
        number = int(parts[2])
        fill_bits = int(parts[6]) if parts[6] else 0
    except ValueError as exc:
        raise MalformedSentenceError("fragment count, number or fill bits not a number") from exc
    if not (1 <= number <= count <= 9) or not 0 <= fill_bits <= 5:
        raise MalformedSentenceError(f"fragment {number} of {count}, fill {fill_bits}")
    payload = parts[5]
    if not payload or payload.translate(None, NOT_AIS_CHARS) != payload:
        raise BadPayloadError("payload has characters outside the AIS 6-bit alphabet")
    return Sentence(parts[0][1:3], count, number, parts[3], parts[4], payload, fill_bits)


def gatehouse_time(line: bytes) -> int | None:
    """Time of a `$PGHP,1,yyyy,mm,dd,hh,mm,ss,ms,...*hh` header line, or None if it is not one."""
    if not line.startswith(b"$PGHP,"):
        return None
    star = line.find(b"*")
    if star < 0 or not has_valid_checksum(line, 0, star):
        raise ChecksumError("PGHP checksum mismatch")
    fields = line[:star].split(b",")
    try:
        year, month, day, hour, minute, second, millis = (int(f) for f in fields[2:9])
        stamp = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except (ValueError, TypeError) as exc:
        raise MalformedSentenceError("PGHP time fields") from exc
    return round(stamp.timestamp() * 1000)


# The usual line: an optional tag block, then a well-formed `!xxVDM` sentence and nothing else.
# One regex match replaces half a dozen find/split calls on the hot path.
_USUAL_LINE = re.compile(
    rb"(?:\\([^\\]*)\\)?(![A-Z]{2}VD[MO],([1-9]),([1-9]),([0-9]?),([A-Z0-9]?),([0-W`-w]+),([0-5])\*[0-9A-F]{2})"
)


def parse_line(line: bytes) -> tuple[Frame, Sentence]:
    """Frame and split a line holding an AIS sentence; raises an `IngestError` if it is bad."""
    usual = _USUAL_LINE.fullmatch(line)
    if usual is None:
        framed = frame(line)
        return framed, split_sentence(framed.sentence)
    tags, sentence, total, number, seq, channel, payload, fill = usual.groups()
    if number > total:
        raise MalformedSentenceError(f"fragment {number!r} of {total!r}")
    if reduce(xor, sentence[1:-3], 0) != int(sentence[-2:], 16):
        raise ChecksumError("checksum mismatch")
    if tags is None:
        time_ms = group = station = None
    else:
        time_ms, group, station = cached_tag_fields(tags)
    # _make builds the tuples in C: a third of the cost of calling the classes.
    return (
        Frame._make((sentence, time_ms, group, station)),
        Sentence._make((sentence[1:3], int(total), int(number), seq, channel, payload, int(fill))),
    )


# Lines from one receiver within one second share their tag block (`s:` and `c:`): identical
# bytes parse to the same result, so the last few are kept (checksum already verified).
_TAG_CACHE_SIZE = 256
_tag_cache: dict[bytes, tuple[int | None, bytes | None, bytes | None]] = {}


def cached_tag_fields(tags: bytes) -> tuple[int | None, bytes | None, bytes | None]:
    """`tag_fields`, remembered for the last few distinct tag blocks."""
    known = _tag_cache.get(tags)
    if known is None:
        known = tag_fields(tags)
        if len(_tag_cache) >= _TAG_CACHE_SIZE:
            _tag_cache.clear()
        _tag_cache[tags] = known
    return known


def match_usual(line: bytes) -> re.Match[bytes] | None:
    """The usual line's groups (tags, sentence, total, number, seq, channel, payload, fill),
    or None for anything else, which `parse_line` handles in full."""
    return _USUAL_LINE.fullmatch(line)


def is_nmea_like(line: bytes) -> bool:
    """A well-formed NMEA sentence of another kind ($GPGGA, $AIALR ...): not AIS, not noise."""
    return _NMEA_LIKE.match(line) is not None
