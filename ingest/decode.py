"""Decode: assembled AIS payloads into `position` and `static` records (ITU-R M.1371).

Position reports (types 1, 2, 3 and 18) are most of any feed, so they take a fast path: the
6-bit payload is turned into one integer through the standard base64 codec (the AIS alphabet is
base64 with another character order) and the fields are cut out with shifts. Static reports
(types 5 and 24) take one too when every field is present. Property tests cross-check both
against pyais. Every other type goes through `pyais.decode` and is normalised here. "Not
available" values become None; impossible ones raise an `IngestError`.
"""

from __future__ import annotations

import binascii
import math
from collections import OrderedDict
from typing import Any

import pyais
from pyais.exceptions import AISBaseException

from ingest.errors import BadPayloadError, DecodeError, ImpossibleValueError
from ingest.framing import AIS_CHARS, NOT_AIS_CHARS
from ingest.mmsi import classify
from ingest.records import AisClass, PositionReport, StaticReport

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TO_B64 = bytes.maketrans(AIS_CHARS, _B64)

_a2b_base64 = binascii.a2b_base64
# What NamedTuple._make does, minus its Python frame (the fields go in declaration order).
_new_tuple = tuple.__new__

_LAT_NA = 91 * 600_000
_LON_NA = 181 * 600_000


def payload_to_int(payload: bytes, checked: bool = False) -> tuple[int, int]:
    """The payload as one unsigned integer and its length in bits (before fill bits).

    `checked`: the caller already knows every character is in the AIS alphabet.
    """
    if not checked and (not payload or payload.translate(None, NOT_AIS_CHARS) != payload):
        raise BadPayloadError("payload has characters outside the AIS 6-bit alphabet")
    b64 = payload.translate(_TO_B64)
    pad = -len(b64) % 4
    if pad:
        b64 += b"A" * pad
    try:
        raw = binascii.a2b_base64(b64, strict_mode=True)
    except binascii.Error as exc:  # pragma: no cover - translate() made it valid base64
        raise BadPayloadError(str(exc)) from exc
    nbits = len(payload) * 6
    return int.from_bytes(raw, "big") >> (pad * 6), nbits


def message_type(payload: bytes) -> int:
    first = payload[0]
    return first - 48 if first < 88 else first - 56


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


def rot_from_raw(raw: int) -> float | None:
    """ROT_AIS to degrees per minute; -128 is "not available", +-127 "turning fast"."""
    if raw == -128:
        return None
    if raw in (127, -127):
        return math.copysign(720.0, raw)
    return round(math.copysign((raw / 4.733) ** 2, raw), 1)


def _lat_lon(lat_raw: int, lon_raw: int) -> tuple[float | None, float | None]:
    lat = None if lat_raw == _LAT_NA else round(lat_raw / 600_000, 6)
    lon = None if lon_raw == _LON_NA else round(lon_raw / 600_000, 6)
    check_lat_lon(lat, lon)
    return lat, lon


def check_lat_lon(lat: float | None, lon: float | None) -> None:
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise ImpossibleValueError(f"latitude {lat}")
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise ImpossibleValueError(f"longitude {lon}")


def check_mmsi(mmsi: int) -> None:
    if not 0 < mmsi <= 999_999_999:
        raise ImpossibleValueError(f"MMSI {mmsi}")


def _sog(raw: int) -> float | None:
    return None if raw == 1023 else raw / 10


def _cog(raw: int) -> float | None:
    return None if raw >= 3600 else raw / 10


def _heading(raw: int) -> int | None:
    return None if raw > 359 else raw


def decode_position_fast(
    payload: bytes, ts: int, rx_ts: int, source: str, checked: bool = False
) -> PositionReport | None:
    """Types 1, 2, 3 and 18 without pyais; None when the payload is not one of them.

    Written out flat on purpose: this runs for most messages of every feed.
    """
    if len(payload) < 28:
        return None
    first = payload[0]
    kind = first - 48 if first < 88 else first - 56
    if kind > 3 and kind != 18:
        return None
    head = payload[:28]  # the first 168 bits hold every field: 21 bytes of base64, no padding
    if not checked and head.translate(None, NOT_AIS_CHARS) != head:
        raise BadPayloadError("payload has characters outside the AIS 6-bit alphabet")
    value = int.from_bytes(_a2b_base64(head.translate(_TO_B64)), "big")
    mmsi = (value >> 130) & 0x3FFFFFFF
    if not 0 < mmsi <= 999_999_999:
        raise ImpossibleValueError(f"MMSI {mmsi}")
    if kind == 18:
        sog_raw = (value >> 112) & 0x3FF
        accuracy = bool((value >> 111) & 1)
        lon_raw = (value >> 83) & 0xFFFFFFF
        lat_raw = (value >> 56) & 0x7FFFFFF
        cog_raw = (value >> 44) & 0xFFF
        heading: int | None = (value >> 35) & 0x1FF
        nav_status: int | None = None
        rot: float | None = None
        ais_class: AisClass = "B"
    else:
        nav_status = (value >> 126) & 0xF
        rot_raw = (value >> 118) & 0xFF
        rot = 0.0 if rot_raw == 0 else rot_from_raw(rot_raw - 256 if rot_raw > 127 else rot_raw)
        sog_raw = (value >> 108) & 0x3FF
        accuracy = bool((value >> 107) & 1)
        lon_raw = (value >> 79) & 0xFFFFFFF
        lat_raw = (value >> 52) & 0x7FFFFFF
        cog_raw = (value >> 40) & 0xFFF
        heading = (value >> 31) & 0x1FF
        ais_class = "A"
    if lon_raw & 0x8000000:
        lon_raw -= 0x10000000
    if lat_raw & 0x4000000:
        lat_raw -= 0x8000000
    lat = None if lat_raw == _LAT_NA else round(lat_raw / 600_000, 6)
    lon = None if lon_raw == _LON_NA else round(lon_raw / 600_000, 6)
    if (lat is not None and not -90.0 <= lat <= 90.0) or (
        lon is not None and not -180.0 <= lon <= 180.0
    ):
        raise ImpossibleValueError(f"latitude {lat}, longitude {lon}")
    if heading is not None and heading > 359:
        heading = None
    mmsi_class, flag = classify(mmsi)
    return _new_tuple(PositionReport, (
        mmsi, ts, lat, lon,
        None if sog_raw == 1023 else sog_raw / 10,
        None if cog_raw >= 3600 else cog_raw / 10,
        heading, nav_status, rot, accuracy,
        kind, ais_class, mmsi_class, flag, source, rx_ts,
    ))  # fmt: skip


# Text fields: each 6-bit value v is the character v + 64 below 32, else v itself (ITU-R M.1371
# table 47). A text field re-aligned to whole bytes is base64 of those values, so the standard
# codec cuts it into characters and one translate() maps them.
_B64_TO_TEXT = bytes.maketrans(_B64, bytes(v + 64 if v < 32 else v for v in range(64)))
_PYAIS_MAX_PAYLOAD = 200  # pyais refuses longer sentence payloads: leave those to it
_TEXT_20 = (1 << 120) - 1  # a 20-character text field


def _sixbit_text(value: int, chars: int) -> str | None:
    """The text of `chars` characters held in the low bits of `value`, as `_text(pyais)`."""
    pad = -chars % 4
    raw = (value << (6 * pad)).to_bytes((chars + pad) * 3 // 4, "big")
    text = binascii.b2a_base64(raw, newline=False)[:chars].translate(_B64_TO_TEXT)
    # pyais strips trailing `@` then spaces; _text() then turns the other `@` into spaces.
    return text.rstrip(b"@").replace(b"@", b" ").strip().decode("ascii") or None


def _fill_bits(sentence: bytes) -> int:
    """The fill-bit digit of a framed sentence (`...,2*hh`); an empty field means 0."""
    digit = sentence[-4]
    return digit - 48 if 48 <= digit <= 53 else 0


def _static_type5_fast(value: int, nbits: int, ts: int, source: str) -> StaticReport:
    """Type 5 fields by bit position (ITU-R M.1371 table 52); `value` holds `nbits` >= 422."""
    v = value >> (nbits - 422)  # bit 421 (the destination's last) is now bit 0
    mmsi = (v >> 384) & 0x3FFFFFFF
    check_mmsi(mmsi)
    draught = (v >> 120) & 0xFF
    return StaticReport._make((
        mmsi, ts,
        ((v >> 352) & 0x3FFFFFFF) or None,
        _sixbit_text((v >> 310) & 0x3FFFFFFFFFF, 7),
        _sixbit_text((v >> 190) & _TEXT_20, 20),
        ((v >> 182) & 0xFF) or None,
        ((v >> 173) & 0x1FF) or None,
        ((v >> 164) & 0x1FF) or None,
        ((v >> 158) & 0x3F) or None,
        ((v >> 152) & 0x3F) or None,
        draught / 10 if draught else None,
        _sixbit_text(v & _TEXT_20, 20),
        _eta((v >> 144) & 0xF, (v >> 139) & 0x1F, (v >> 134) & 0x1F, (v >> 128) & 0x3F),
        5, source,
    ))  # fmt: skip


class Decoder:
    """Decodes assembled messages; keeps the type 24 halves of each vessel to merge them."""

    def __init__(self, max_type24_vessels: int = 100_000) -> None:
        self._type24: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._max_type24 = max_type24_vessels

    def decode(
        self,
        sentences: list[bytes],
        payload: bytes,
        ts: int,
        rx_ts: int,
        source: str,
        checked: bool = False,
    ) -> list[PositionReport | StaticReport]:
        fast = decode_position_fast(payload, ts, rx_ts, source, checked)
        if fast is not None:
            return [fast]
        static = self._static_fast(sentences, payload, ts, source, checked)
        if static is not None:
            return [static]
        message = _pyais_decode(sentences)
        try:
            return self._normalise(message, ts, rx_ts, source)
        except (TypeError, ValueError, AttributeError) as exc:
            # pyais leaves the fields a short payload lacks as None
            kind = getattr(message, "msg_type", "?")
            raise DecodeError(f"type {kind}: missing or invalid fields ({exc})") from exc

    def _normalise(
        self, msg: Any, ts: int, rx_ts: int, source: str
    ) -> list[PositionReport | StaticReport]:
        kind: int = msg.msg_type
        mmsi: int = int(msg.mmsi)
        check_mmsi(mmsi)
        if kind in (1, 2, 3, 18, 19):
            records: list[PositionReport | StaticReport] = [
                _position_from_msg(msg, kind, ts, rx_ts, source)
            ]
            if kind == 19:
                records.append(_static(msg, kind, ts, source, name=msg.shipname))
            return records
        if kind == 5:
            return [_static_type5(msg, ts, source)]
        if kind == 24:
            return [self._type24_from_msg(msg, ts, source)]
        if kind == 27:
            return [_position_type27(msg, ts, rx_ts, source)]
        if kind in (4, 9, 21):
            records = [_position_other(msg, kind, ts, rx_ts, source)]
            if kind == 21:
                name = (_text(msg.name) or "") + (_text(getattr(msg, "name_ext", "")) or "")
                records.append(_static(msg, kind, ts, source, name=name))
            return records
        return []  # valid AIS that carries no vessel position or identity (types 6-8, 10-17...)

    def _static_fast(
        self, sentences: list[bytes], payload: bytes, ts: int, source: str, checked: bool
    ) -> StaticReport | None:
        """Types 5 and 24 without pyais when every field is present; None to ask pyais."""
        first = payload[0]
        kind = first - 48 if first < 88 else first - 56
        if (kind != 5 and kind != 24) or len(payload) > _PYAIS_MAX_PAYLOAD:
            return None
        value, nbits = payload_to_int(payload, checked)
        usable = nbits - _fill_bits(sentences[-1])  # pyais reads no field beyond this
        if kind == 5:
            return _static_type5_fast(value, nbits, ts, source) if usable >= 422 else None
        return self._type24_fast(value, nbits, usable, ts, source)

    def _type24_fast(
        self, value: int, nbits: int, usable: int, ts: int, source: str
    ) -> StaticReport | None:
        """Type 24 fields by bit position (ITU-R M.1371 tables 76-77), merged with the
        vessel's other half; None when pyais must judge it (short, or parts 2 and 3)."""
        if usable < 160:
            return None
        v = value >> (nbits - 160)  # the first 160 bits: part A whole, part B up to the dims
        partno = (v >> 120) & 0x3
        mmsi = (v >> 122) & 0x3FFFFFFF
        if partno == 0:
            check_mmsi(mmsi)
            return self._merge_type24(mmsi, {"name": _sixbit_text(v & _TEXT_20, 20)}, ts, source)
        if partno != 1 or usable < 162:
            return None  # pyais raises for parts 2 and 3
        check_mmsi(mmsi)
        v = value >> (nbits - 162)
        auxiliary = 980_000_000 <= mmsi <= 989_999_999  # dimensions replaced by a mother ship
        part_b = {
            "ship_type": ((v >> 114) & 0xFF) or None,
            "callsign": _sixbit_text((v >> 30) & 0x3FFFFFFFFFF, 7),
            "to_bow": None if auxiliary else ((v >> 21) & 0x1FF) or None,
            "to_stern": None if auxiliary else ((v >> 12) & 0x1FF) or None,
            "to_port": None if auxiliary else ((v >> 6) & 0x3F) or None,
            "to_starboard": None if auxiliary else (v & 0x3F) or None,
        }
        return self._merge_type24(mmsi, part_b, ts, source)

    def _type24_from_msg(self, msg: Any, ts: int, source: str) -> StaticReport:
        mmsi = int(msg.mmsi)
        if msg.partno == 0:
            return self._merge_type24(mmsi, {"name": _text(msg.shipname)}, ts, source)
        part_b = {
            "ship_type": _ship_type(msg.ship_type),
            "callsign": _text(msg.callsign),
            "to_bow": _dim(getattr(msg, "to_bow", 0)),
            "to_stern": _dim(getattr(msg, "to_stern", 0)),
            "to_port": _dim(getattr(msg, "to_port", 0)),
            "to_starboard": _dim(getattr(msg, "to_starboard", 0)),
        }
        return self._merge_type24(mmsi, part_b, ts, source)

    def _merge_type24(self, mmsi: int, part: dict[str, Any], ts: int, source: str) -> StaticReport:
        known = self._type24.pop(mmsi, {})
        known.update(part)
        self._type24[mmsi] = known
        if len(self._type24) > self._max_type24:
            self._type24.popitem(last=False)
        return StaticReport(
            mmsi=mmsi,
            ts=ts,
            imo=None,
            callsign=known.get("callsign"),
            name=known.get("name"),
            ship_type=known.get("ship_type"),
            to_bow=known.get("to_bow"),
            to_stern=known.get("to_stern"),
            to_port=known.get("to_port"),
            to_starboard=known.get("to_starboard"),
            draught=None,
            destination=None,
            eta=None,
            msg_type=24,
            source=source,
        )


def _pyais_decode(sentences: list[bytes]) -> Any:
    try:
        return pyais.decode(*sentences, error_if_checksum_invalid=True)
    except (AISBaseException, ValueError, IndexError, KeyError, TypeError) as exc:
        raise DecodeError(f"{type(exc).__name__}: {exc}") from exc


def _text(value: Any) -> str | None:
    if not value:
        return None
    text = str(value).replace("@", " ").strip()
    return text or None


def _dim(value: Any) -> int | None:
    return int(value) or None


def _ship_type(value: Any) -> int | None:
    return int(value) or None


def _num_or_none(value: Any, not_available: float) -> float | None:
    return None if value is None or float(value) == not_available else float(value)


def _position_from_msg(msg: Any, kind: int, ts: int, rx_ts: int, source: str) -> PositionReport:
    lat = None if float(msg.lat) == 91.0 else round(float(msg.lat), 6)
    lon = None if float(msg.lon) == 181.0 else round(float(msg.lon), 6)
    check_lat_lon(lat, lon)
    class_a = kind in (1, 2, 3)
    speed = float(msg.speed)
    course = float(msg.course)
    mmsi = int(msg.mmsi)
    mmsi_class, flag = classify(mmsi)
    return PositionReport(
        mmsi=mmsi,
        ts=ts,
        lat=lat,
        lon=lon,
        sog=None if speed >= 102.3 else speed,
        cog=None if course >= 360.0 else course,
        heading=_heading(int(msg.heading)),
        nav_status=int(msg.status) if class_a else None,
        rot=rot_from_raw(_raw_turn(msg.turn)) if class_a else None,
        accuracy=bool(msg.accuracy),
        msg_type=kind,
        ais_class="A" if class_a else "B",
        mmsi_class=mmsi_class,
        flag=flag,
        source=source,
        rx_ts=rx_ts,
    )


def _raw_turn(turn: Any) -> int:
    """pyais gives ROT in deg/min (or a TurnRate enum for the special values); back to raw."""
    value = float(turn)
    if value in (127.0, -127.0, -128.0, 128.0):
        return -128 if abs(value) == 128 else int(value)
    return int(math.copysign(round(4.733 * math.sqrt(abs(value))), value))


def _position_type27(msg: Any, ts: int, rx_ts: int, source: str) -> PositionReport:
    lat = None if float(msg.lat) == 91.0 else round(float(msg.lat), 6)
    lon = None if float(msg.lon) == 181.0 else round(float(msg.lon), 6)
    check_lat_lon(lat, lon)
    mmsi = int(msg.mmsi)
    mmsi_class, flag = classify(mmsi)
    speed = float(msg.speed)
    course = float(msg.course)
    return PositionReport(
        mmsi=mmsi,
        ts=ts,
        lat=lat,
        lon=lon,
        sog=None if speed >= 63 else speed,
        cog=None if course >= 360 else course,
        heading=None,
        nav_status=int(msg.status),
        rot=None,
        accuracy=bool(msg.accuracy),
        msg_type=27,
        ais_class="A",
        mmsi_class=mmsi_class,
        flag=flag,
        source=source,
        rx_ts=rx_ts,
    )


def _position_other(msg: Any, kind: int, ts: int, rx_ts: int, source: str) -> PositionReport:
    """Base stations (4), SAR aircraft (9) and aids to navigation (21)."""
    lat = None if float(msg.lat) == 91.0 else round(float(msg.lat), 6)
    lon = None if float(msg.lon) == 181.0 else round(float(msg.lon), 6)
    check_lat_lon(lat, lon)
    mmsi = int(msg.mmsi)
    mmsi_class, flag = classify(mmsi)
    sog: float | None = None
    cog: float | None = None
    if kind == 9:
        speed = float(msg.speed)
        sog = None if speed >= 1023 else speed
        course = float(msg.course)
        cog = None if course >= 360 else course
    return PositionReport(
        mmsi=mmsi,
        ts=ts,
        lat=lat,
        lon=lon,
        sog=sog,
        cog=cog,
        heading=None,
        nav_status=None,
        rot=None,
        accuracy=bool(msg.accuracy),
        msg_type=kind,
        ais_class=None,
        mmsi_class=mmsi_class,
        flag=flag,
        source=source,
        rx_ts=rx_ts,
    )


def _static(msg: Any, kind: int, ts: int, source: str, *, name: str | None) -> StaticReport:
    return StaticReport(
        mmsi=int(msg.mmsi),
        ts=ts,
        imo=None,
        callsign=None,
        name=_text(name),
        ship_type=_ship_type(getattr(msg, "ship_type", 0)),
        to_bow=_dim(msg.to_bow),
        to_stern=_dim(msg.to_stern),
        to_port=_dim(msg.to_port),
        to_starboard=_dim(msg.to_starboard),
        draught=None,
        destination=None,
        eta=None,
        msg_type=kind,
        source=source,
    )


def _static_type5(msg: Any, ts: int, source: str) -> StaticReport:
    return StaticReport(
        mmsi=int(msg.mmsi),
        ts=ts,
        imo=int(msg.imo) or None,
        callsign=_text(msg.callsign),
        name=_text(msg.shipname),
        ship_type=_ship_type(msg.ship_type),
        to_bow=_dim(msg.to_bow),
        to_stern=_dim(msg.to_stern),
        to_port=_dim(msg.to_port),
        to_starboard=_dim(msg.to_starboard),
        draught=float(msg.draught) or None,
        destination=_text(msg.destination),
        eta=_eta(int(msg.month), int(msg.day), int(msg.hour), int(msg.minute)),
        msg_type=5,
        source=source,
    )


def _eta(month: int, day: int, hour: int, minute: int) -> str | None:
    """AIS ETA has no year; month 0 / day 0 mean "not available", hour 24 / minute 60 too."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if hour > 23 or minute > 59:
        return f"{month:02d}-{day:02d}"
    return f"{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"
