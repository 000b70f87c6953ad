"""Decoding AIS payloads into `position` and `static` records.

Reference values are hand-checked worked examples, then pyais (an independent decoder) is the
oracle for the fast position path over random field values.
"""

from __future__ import annotations

import math
from typing import Any

import pyais
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decode import Decoder, _pyais_decode, decode_position_fast, rot_from_raw
from ingest.errors import ImpossibleValueError, IngestError, Reason
from ingest.records import PositionReport, StaticReport
from tests.builders import (
    KNOWN_TYPE1,
    KNOWN_TYPE1_PAYLOAD,
    RX_MS,
    encode,
    encode_position,
    ingest_lines,
    nmea,
    payload_of,
)

TYPE5_EVER_DIADEM = [
    "!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C",
    "!AIVDM,2,2,1,A,88888888880,2*25",
]
TYPE1_NOT_AVAILABLE = "!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23"  # heading 511, ROT -128
TYPE18_PAYLOAD = "B5NJ;PP005l4ot5Isbl03wsUkP06"  # MMSI 367430530, class B, heading 511


def fast(payload: str) -> PositionReport:
    report = decode_position_fast(payload.encode(), RX_MS, RX_MS, "test")
    assert report is not None
    return report


def decode_lines(lines: list[str]) -> list[PositionReport | StaticReport]:
    sink, stats = ingest_lines(lines)
    assert sink.deadletters == [], sink.deadletters
    assert stats.balanced
    return sink.records


def only(records: list[Any], kind: type) -> Any:
    found = [r for r in records if isinstance(r, kind)]
    assert len(found) == 1, records
    return found[0]


# -- worked examples ----------------------------------------------------------------------


def test_known_type1_by_hand() -> None:
    report = fast(KNOWN_TYPE1_PAYLOAD)
    assert report.mmsi == 366_053_209
    assert report.lat == pytest.approx(37.802118, abs=1e-6)
    assert report.lon == pytest.approx(-122.341618, abs=1e-6)
    assert report.sog == 0.0
    assert report.cog == pytest.approx(219.3)
    assert report.heading == 1
    assert report.nav_status == 3
    assert report.rot == 0.0
    assert report.accuracy is False
    assert (report.msg_type, report.ais_class) == (1, "A")
    assert (report.mmsi_class, report.flag) == ("ship", "US")


def test_known_type1_agrees_with_pyais() -> None:
    msg: dict[str, Any] = pyais.decode(KNOWN_TYPE1).asdict()
    report = fast(KNOWN_TYPE1_PAYLOAD)
    assert report.mmsi == msg["mmsi"]
    assert report.lat == pytest.approx(msg["lat"], abs=1e-6)
    assert report.lon == pytest.approx(msg["lon"], abs=1e-6)
    assert (report.sog, report.cog) == (msg["speed"], msg["course"])
    assert (report.heading, report.nav_status) == (msg["heading"], int(msg["status"]))


def test_known_type1_through_the_pipeline() -> None:
    (record,) = decode_lines([KNOWN_TYPE1])
    assert record == fast(KNOWN_TYPE1_PAYLOAD)._replace(source="test")


def test_known_type1_with_heading_and_rot_not_available() -> None:
    (report,) = decode_lines([TYPE1_NOT_AVAILABLE])
    assert isinstance(report, PositionReport)
    assert report.mmsi == 227_006_760
    assert report.lat == pytest.approx(49.475577, abs=1e-6)
    assert report.lon == pytest.approx(0.13138, abs=1e-6)
    assert report.cog == pytest.approx(36.7)
    assert report.heading is None
    assert report.rot is None
    assert report.flag == "FR"


def test_known_type18_class_b() -> None:
    (report,) = decode_lines([nmea(TYPE18_PAYLOAD, channel="B")])
    assert isinstance(report, PositionReport)
    assert report.mmsi == 367_430_530
    assert report.lat == pytest.approx(37.785035, abs=1e-6)
    assert report.lon == pytest.approx(-122.26732, abs=1e-6)
    assert (report.sog, report.cog, report.heading) == (0.0, 0.0, None)
    assert (report.nav_status, report.rot) == (None, None)
    assert (report.msg_type, report.ais_class, report.mmsi_class) == (18, "B", "ship")


def test_known_type5_static() -> None:
    static = only(decode_lines(TYPE5_EVER_DIADEM), StaticReport)
    assert static.mmsi == 351_759_000
    assert static.imo == 9_134_270
    assert static.callsign == "3FOF8"
    assert static.name == "EVER DIADEM"
    assert static.ship_type == 70
    assert (static.to_bow, static.to_stern, static.to_port, static.to_starboard) == (
        225,
        70,
        1,
        31,
    )
    assert static.draught == pytest.approx(12.2)
    assert static.destination == "NEW YORK"
    assert static.eta == "05-15T14:00"
    assert static.msg_type == 5


# -- "not available" and impossible values -----------------------------------------------


@pytest.mark.parametrize("msg_type", [1, 2, 3])
def test_not_available_values_become_none_class_a(msg_type: int) -> None:
    (line,) = encode_position(
        lat=91, lon=181, speed=102.3, course=360, heading=511, turn=-128, msg_type=msg_type
    )
    report = fast(payload_of(line))
    assert (report.lat, report.lon, report.sog, report.cog) == (None, None, None, None)
    assert (report.heading, report.rot) == (None, None)


def test_not_available_values_become_none_class_b() -> None:
    (line,) = encode_position(lat=91, lon=181, speed=102.3, course=360, heading=511, msg_type=18)
    report = fast(payload_of(line))
    assert (report.lat, report.lon, report.sog, report.cog, report.heading) == (None,) * 5


def test_rot_special_values() -> None:
    assert rot_from_raw(-128) is None
    assert rot_from_raw(127) == 720.0
    assert rot_from_raw(-127) == -720.0
    assert rot_from_raw(0) == 0.0
    assert rot_from_raw(10) == pytest.approx((10 / 4.733) ** 2, abs=0.05)
    assert rot_from_raw(-10) == pytest.approx(-((10 / 4.733) ** 2), abs=0.05)


@pytest.mark.parametrize(("lat", "lon"), [(95.0, 0.0), (-95.0, 0.0), (0.0, 185.0), (0.0, -185.0)])
def test_impossible_position_raises(lat: float, lon: float) -> None:
    (line,) = encode_position(lat=lat, lon=lon)
    with pytest.raises(ImpossibleValueError):
        fast(payload_of(line))
    sink, stats = ingest_lines([line])
    assert sink.reasons == ["impossible_value"]
    assert stats.balanced


@pytest.mark.parametrize("mmsi", [0, 1_000_000_000, (1 << 30) - 1])
def test_impossible_mmsi_raises(mmsi: int) -> None:
    (line,) = encode_position(mmsi=mmsi)
    with pytest.raises(ImpossibleValueError):
        fast(payload_of(line))


def test_impossible_position_in_a_base_station_report() -> None:
    (line,) = encode({"type": 4, "mmsi": 2_442_000, "lat": 95.0, "lon": 4.2})
    sink, _ = ingest_lines([line])
    assert sink.reasons == ["impossible_value"]


def test_invalid_mmsi_is_still_emitted_and_flagged() -> None:
    (line,) = encode_position(mmsi=123_456_789)
    report = fast(payload_of(line))
    assert report.mmsi_class == "invalid"


def test_payload_outside_the_ais_alphabet_is_bad_payload() -> None:
    sink, stats = ingest_lines([nmea("15M67FC000G?ufbE{FepT@3n00Sa")])
    assert sink.reasons == ["bad_payload"]
    assert stats.balanced


@pytest.mark.parametrize(
    "payload",
    [
        "1",  # one character of a type 1
        KNOWN_TYPE1_PAYLOAD[:20],  # a type 1 cut short
        "B5NJ;PP005",  # a type 18 cut short
        "H52N>",  # a type 24 too short to hold its part number
        "402E341s8@",  # a type 4 cut short
        "91b5jpA;1p",  # a type 9 cut short
        "K3`dU1009n",  # a type 27 cut short
        "E>jMkTP1:Wdh7W2P0000000000009W",  # a type 21 cut short
    ],
)
def test_truncated_payload_is_a_dead_letter_not_an_internal_error(payload: str) -> None:
    """pyais decodes a short payload with missing fields as None; that is bad input.

    The line must be dead-lettered as decode_error (or bad_payload), never internal_error,
    which means a bug in Lookout.
    """
    sink, stats = ingest_lines([nmea(payload)])
    assert sink.reasons in (["decode_error"], ["bad_payload"]), sink.deadletters
    assert stats.balanced


# -- static data --------------------------------------------------------------------------

SHIP5 = {
    "type": 5,
    "mmsi": 244_123_456,
    "imo": 9_123_456,
    "callsign": "PD1234@",
    "shipname": "TEST SHIP@@@@",
    "ship_type": 70,
    "to_bow": 100,
    "to_stern": 20,
    "to_port": 8,
    "to_starboard": 12,
    "draught": 6.4,
    "destination": "ROTTERDAM@@",
    "month": 5,
    "day": 14,
    "hour": 6,
    "minute": 30,
}


def test_type5_static_text_stripped_of_at_signs() -> None:
    static = only(decode_lines(encode(SHIP5)), StaticReport)
    assert static.name == "TEST SHIP"
    assert static.callsign == "PD1234"
    assert static.destination == "ROTTERDAM"
    assert static.eta == "05-14T06:30"
    assert static.imo == 9_123_456
    assert static.draught == pytest.approx(6.4)


@pytest.mark.parametrize(
    ("month", "day", "hour", "minute", "eta"),
    [
        (5, 14, 6, 30, "05-14T06:30"),
        (12, 31, 23, 59, "12-31T23:59"),
        (5, 14, 24, 60, "05-14"),  # time not available
        (0, 0, 24, 60, None),  # not available at all
        (0, 14, 6, 30, None),
    ],
)
def test_type5_eta(month: int, day: int, hour: int, minute: int, eta: str | None) -> None:
    data = {**SHIP5, "month": month, "day": day, "hour": hour, "minute": minute}
    static = only(decode_lines(encode(data)), StaticReport)
    assert static.eta == eta


def test_type5_not_available_fields_become_none() -> None:
    data = {"type": 5, "mmsi": 244_123_456, "month": 0, "day": 0, "hour": 24, "minute": 60}
    static = only(decode_lines(encode(data)), StaticReport)
    assert static.mmsi == 244_123_456
    assert (static.imo, static.callsign, static.name, static.ship_type) == (None,) * 4
    assert (static.to_bow, static.to_stern, static.to_port, static.to_starboard) == (None,) * 4
    assert (static.draught, static.destination, static.eta) == (None, None, None)


TYPE24_A = {"type": 24, "mmsi": 244_000_001, "partno": 0, "shipname": "SAILOR"}
TYPE24_B = {
    "type": 24,
    "mmsi": 244_000_001,
    "partno": 1,
    "ship_type": 37,
    "callsign": "PE1234",
    "to_bow": 5,
    "to_stern": 3,
    "to_port": 1,
    "to_starboard": 2,
}


def test_type24_part_a_then_b_merged() -> None:
    first, second = decode_lines(encode(TYPE24_A) + encode(TYPE24_B))
    assert isinstance(first, StaticReport) and isinstance(second, StaticReport)
    assert (first.name, first.callsign, first.ship_type) == ("SAILOR", None, None)
    assert second.name == "SAILOR"  # carried over from part A
    assert (second.callsign, second.ship_type) == ("PE1234", 37)
    assert (second.to_bow, second.to_stern, second.to_port, second.to_starboard) == (5, 3, 1, 2)
    assert second.msg_type == 24


def test_type24_part_b_then_a_merged() -> None:
    _, second = decode_lines(encode(TYPE24_B) + encode(TYPE24_A))
    assert isinstance(second, StaticReport)
    assert (second.name, second.callsign, second.ship_type) == ("SAILOR", "PE1234", 37)


def test_type24_halves_of_different_vessels_do_not_mix() -> None:
    other_b = {**TYPE24_B, "mmsi": 244_000_002, "callsign": "OTHER"}
    _, second = decode_lines(encode(TYPE24_A) + encode(other_b))
    assert isinstance(second, StaticReport)
    assert (second.mmsi, second.name, second.callsign) == (244_000_002, None, "OTHER")


def test_decoder_keeps_type24_halves_per_decoder() -> None:
    decoder = Decoder()
    (part_a,) = encode(TYPE24_A)
    (part_b,) = encode(TYPE24_B)
    decoder.decode([part_a.encode()], payload_of(part_a).encode(), 0, 0, "t")
    (merged,) = decoder.decode([part_b.encode()], payload_of(part_b).encode(), 0, 0, "t")
    assert isinstance(merged, StaticReport)
    assert merged.name == "SAILOR"
    (alone,) = Decoder().decode([part_b.encode()], payload_of(part_b).encode(), 0, 0, "t")
    assert isinstance(alone, StaticReport)
    assert alone.name is None


# -- other message types ------------------------------------------------------------------


def test_type18_is_class_b() -> None:
    (line,) = encode_position(mmsi=244_000_002, lat=52.1, lon=4.2, speed=5.5, course=90.1,
                              heading=91, msg_type=18)  # fmt: skip
    report = only(decode_lines([line]), PositionReport)
    assert (report.msg_type, report.ais_class, report.mmsi_class, report.flag) == (
        18,
        "B",
        "ship",
        "NL",
    )
    assert (report.lat, report.lon, report.sog, report.cog, report.heading) == (
        pytest.approx(52.1),
        pytest.approx(4.2),
        5.5,
        90.1,
        91,
    )
    assert (report.nav_status, report.rot) == (None, None)


def test_type19_extended_class_b_gives_position_and_static() -> None:
    data = {
        "type": 19, "mmsi": 244_000_003, "lat": 52.1, "lon": 4.2, "speed": 5.5,
        "course": 90.1, "heading": 91, "shipname": "NINETEEN", "ship_type": 36,
        "to_bow": 5, "to_stern": 3, "to_port": 1, "to_starboard": 2,
    }  # fmt: skip
    records = decode_lines(encode(data))
    position = only(records, PositionReport)
    static = only(records, StaticReport)
    assert (position.msg_type, position.ais_class, position.mmsi_class) == (19, "B", "ship")
    assert (position.sog, position.cog, position.heading) == (5.5, 90.1, 91)
    assert position.lat == pytest.approx(52.1)
    assert (static.name, static.ship_type, static.to_bow, static.msg_type) == (
        "NINETEEN",
        36,
        5,
        19,
    )


def test_type21_aid_to_navigation() -> None:
    data = {"type": 21, "mmsi": 992_441_234, "lat": 52.1, "lon": 4.2, "name": "BUOY ONE"}
    records = decode_lines(encode(data))
    position = only(records, PositionReport)
    static = only(records, StaticReport)
    assert (position.msg_type, position.ais_class, position.mmsi_class) == (21, None, "aton")
    assert position.flag == "NL"
    assert (position.lat, position.lon) == (pytest.approx(52.1), pytest.approx(4.2))
    assert (position.sog, position.cog, position.heading) == (None, None, None)
    assert static.name == "BUOY ONE"


def test_type27_long_range() -> None:
    data = {"type": 27, "mmsi": 244_000_004, "lat": 52.1, "lon": 4.2, "speed": 12,
            "course": 45, "status": 0}  # fmt: skip
    position = only(decode_lines(encode(data)), PositionReport)
    assert (position.msg_type, position.ais_class, position.mmsi_class) == (27, "A", "ship")
    assert (position.sog, position.cog, position.nav_status) == (12.0, 45.0, 0)
    assert position.lat == pytest.approx(52.1, abs=0.001)  # 1/10 minute resolution
    assert position.lon == pytest.approx(4.2, abs=0.001)


def test_type27_speed_not_available() -> None:
    data = {"type": 27, "mmsi": 244_000_004, "lat": 52.1, "lon": 4.2, "speed": 63,
            "course": 511, "status": 0}  # fmt: skip
    position = only(decode_lines(encode(data)), PositionReport)
    assert (position.sog, position.cog) == (None, None)


def test_type4_base_station() -> None:
    data = {"type": 4, "mmsi": 2_442_000, "lat": 52.1, "lon": 4.2, "year": 2024, "month": 5,
            "day": 1}  # fmt: skip
    position = only(decode_lines(encode(data)), PositionReport)
    assert (position.msg_type, position.ais_class, position.mmsi_class) == (
        4,
        None,
        "coast_station",
    )
    assert position.flag == "NL"
    assert position.lat == pytest.approx(52.1)


def test_type9_sar_aircraft() -> None:
    data = {"type": 9, "mmsi": 111_244_001, "lat": 52.1, "lon": 4.2, "speed": 120,
            "course": 45, "alt": 300}  # fmt: skip
    position = only(decode_lines(encode(data)), PositionReport)
    assert (position.msg_type, position.ais_class, position.mmsi_class) == (
        9,
        None,
        "sar_aircraft",
    )
    assert (position.sog, position.cog) == (120.0, 45.0)


def test_type8_binary_broadcast_is_decoded_without_a_record() -> None:
    data = {"type": 8, "mmsi": 244_000_005, "dac": 1, "fid": 31, "data": b"\x01\x02\x03"}
    sink, stats = ingest_lines(encode(data))
    assert sink.records == []
    assert sink.deadletters == []
    assert stats.decoded_lines == 1
    assert stats.records == 0
    assert stats.summary()["msg_types"] == {"8": 1}
    assert stats.balanced


def test_msg_types_are_counted_by_type() -> None:
    lines = [KNOWN_TYPE1, nmea(TYPE18_PAYLOAD), *TYPE5_EVER_DIADEM, *encode(TYPE24_A)]
    _, stats = ingest_lines(lines)
    assert stats.summary()["msg_types"] == {"1": 1, "5": 1, "18": 1, "24": 1}


# -- cross-check against pyais ------------------------------------------------------------

LAT_NA, LON_NA, SOG_NA, COG_NA, HEADING_NA = 91.0, 181.0, 102.3, 360.0, 511


def _raw_bits(payload: str) -> str:
    """The payload as a bit string, written out independently of ingest.decode."""
    values = (ord(c) - 48 for c in payload)
    return "".join(f"{v - 8 if v > 40 else v:06b}" for v in values)


def _signed(bits: str) -> int:
    value = int(bits, 2)
    return value - (1 << len(bits)) if bits[0] == "1" else value


def _turn_for_raw(raw: int) -> float:
    """The deg/min value pyais's encoder turns back into the raw ROT_AIS value `raw`."""
    if raw in (-128, 127, -127):
        return float(raw)
    return math.copysign((raw / 4.733) ** 2, raw)


coordinates = st.integers(-90 * 600_000, 90 * 600_000).map(lambda v: v / 600_000)
longitudes = st.integers(-180 * 600_000, 180 * 600_000).map(lambda v: v / 600_000)


@given(
    mmsi=st.integers(1, 999_999_999),
    lat=st.one_of(coordinates, st.just(LAT_NA)),
    lon=st.one_of(longitudes, st.just(LON_NA)),
    speed_raw=st.integers(0, 1023),
    course_raw=st.integers(0, 3600),
    heading=st.one_of(st.integers(0, 359), st.just(HEADING_NA)),
    status=st.integers(0, 15),
    turn_raw=st.integers(-128, 127),
    accuracy=st.booleans(),
    msg_type=st.sampled_from([1, 2, 3, 18]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_position_path_agrees_with_pyais(
    mmsi: int,
    lat: float,
    lon: float,
    speed_raw: int,
    course_raw: int,
    heading: int,
    status: int,
    turn_raw: int,
    accuracy: bool,
    msg_type: int,
) -> None:
    (line,) = encode_position(
        mmsi=mmsi, lat=lat, lon=lon, speed=speed_raw / 10, course=course_raw / 10,
        heading=heading, status=status, turn=_turn_for_raw(turn_raw), msg_type=msg_type,
        accuracy=accuracy,
    )  # fmt: skip
    payload = payload_of(line)
    msg: dict[str, Any] = pyais.decode(line).asdict()
    report = fast(payload)

    assert report.mmsi == msg["mmsi"] == mmsi
    assert report.msg_type == msg["msg_type"] == msg_type
    if msg["lat"] == LAT_NA:
        assert report.lat is None
    else:
        assert report.lat == pytest.approx(msg["lat"], abs=1e-6)
    if msg["lon"] == LON_NA:
        assert report.lon is None
    else:
        assert report.lon == pytest.approx(msg["lon"], abs=1e-6)
    assert report.sog == (None if msg["speed"] == SOG_NA else msg["speed"])
    assert report.cog == (None if msg["course"] == COG_NA else msg["course"])
    assert report.heading == (None if msg["heading"] == HEADING_NA else msg["heading"])
    assert report.accuracy == msg["accuracy"]
    if msg_type == 18:
        assert (report.ais_class, report.nav_status, report.rot) == ("B", None, None)
    else:
        assert report.ais_class == "A"
        assert report.nav_status == int(msg["status"]) == status
        raw = _signed(_raw_bits(payload)[42:50])
        assert raw == turn_raw  # the encoder wrote the raw value asked for
        assert report.rot == rot_from_raw(raw)
        pyais_turn = float(msg["turn"])
        if raw == -128:
            assert report.rot is None
        elif abs(raw) == 127:
            assert report.rot == math.copysign(720.0, raw)
            assert pyais_turn == raw
        else:
            assert report.rot is not None
            assert abs(report.rot - pyais_turn) <= 0.55  # pyais rounds to whole deg/min

    # The pipeline gives the same record as the fast path called directly.
    sink, stats = ingest_lines([line])
    assert sink.records == [report._replace(source="test")]
    assert stats.balanced


# -- the fast static path (types 5 and 24) against pyais -----------------------------------

SIXBIT_TEXT = "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_ !\"#$%&'()*+,-./0123456789:;<=>?"


def _sixbit(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=SIXBIT_TEXT, max_size=max_size)


def _by_pyais(lines: list[str], decoder: Decoder) -> list[Any]:
    """What the decoder makes of these sentences through pyais, or the reason it refuses."""
    try:
        message = _pyais_decode([line.encode() for line in lines])
        return decoder._normalise(message, 0, 0, "t")
    except IngestError as exc:
        return [exc.reason]
    except (TypeError, ValueError, AttributeError):
        return [Reason.DECODE_ERROR]  # as Decoder.decode translates them


def _by_decoder(lines: list[str], payload: str, decoder: Decoder) -> list[Any]:
    try:
        return decoder.decode([line.encode() for line in lines], payload.encode(), 0, 0, "t")
    except IngestError as exc:
        return [exc.reason]


def _payload_from_bits(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    values = (int(bits[i : i + 6], 2) for i in range(0, len(bits), 6))
    return "".join(chr(v + 48 if v < 40 else v + 56) for v in values)


def _cut(lines: list[str], keep: int, fill: int) -> tuple[list[str], str]:
    """The message with its payload cut to `keep` characters, as one sentence with `fill`."""
    payload = "".join(payload_of(line) for line in lines)[:keep]
    return [nmea(payload, fill=fill)], payload


@given(
    mmsi=st.integers(0, 999_999_999),
    imo=st.integers(0, (1 << 30) - 1),
    callsign=_sixbit(7),
    shipname=_sixbit(20),
    destination=_sixbit(20),
    ship_type=st.integers(0, 255),
    dims=st.tuples(
        st.integers(0, 511), st.integers(0, 511), st.integers(0, 63), st.integers(0, 63)
    ),
    eta=st.tuples(st.integers(0, 15), st.integers(0, 31), st.integers(0, 31), st.integers(0, 63)),
    draught=st.integers(0, 255),
    keep=st.integers(60, 80),
    fill=st.integers(0, 5),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_type5_agrees_with_pyais(
    mmsi: int,
    imo: int,
    callsign: str,
    shipname: str,
    destination: str,
    ship_type: int,
    dims: tuple[int, int, int, int],
    eta: tuple[int, int, int, int],
    draught: int,
    keep: int,
    fill: int,
) -> None:
    data = {
        "type": 5, "mmsi": mmsi, "imo": imo, "callsign": callsign, "shipname": shipname,
        "ship_type": ship_type, "to_bow": dims[0], "to_stern": dims[1], "to_port": dims[2],
        "to_starboard": dims[3], "month": eta[0], "day": eta[1], "hour": eta[2],
        "minute": eta[3], "draught": draught / 10, "destination": destination,
    }  # fmt: skip
    lines = encode(data)
    whole = "".join(payload_of(line) for line in lines)
    sentences = [line.encode() for line in lines]
    if mmsi:  # the fast path is taken (MMSI 0 is refused by either)
        assert Decoder()._static_fast(sentences, whole.encode(), 0, "t", False) is not None
    assert _by_decoder(lines, whole, Decoder()) == _by_pyais(lines, Decoder())
    cut, payload = _cut(lines, keep, fill)
    assert _by_decoder(cut, payload, Decoder()) == _by_pyais(cut, Decoder())


@given(
    mmsi=st.one_of(st.integers(0, 999_999_999), st.integers(980_000_000, 989_999_999)),
    partno=st.integers(0, 3),
    shipname=_sixbit(20),
    callsign=_sixbit(7),
    ship_type=st.integers(0, 255),
    dims=st.tuples(
        st.integers(0, 511), st.integers(0, 511), st.integers(0, 63), st.integers(0, 63)
    ),
    keep=st.integers(20, 30),
    fill=st.integers(0, 5),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_type24_agrees_with_pyais(
    mmsi: int,
    partno: int,
    shipname: str,
    callsign: str,
    ship_type: int,
    dims: tuple[int, int, int, int],
    keep: int,
    fill: int,
) -> None:
    if partno == 0:
        data: dict[str, Any] = {"type": 24, "mmsi": mmsi, "partno": 0, "shipname": shipname}
    else:
        data = {
            "type": 24, "mmsi": mmsi, "partno": 1, "ship_type": ship_type, "callsign": callsign,
            "to_bow": dims[0], "to_stern": dims[1], "to_port": dims[2], "to_starboard": dims[3],
            "mothership_mmsi": dims[0] * 1000,  # auxiliary craft carry it instead of dims
        }  # fmt: skip
    lines = encode(data)
    payload = payload_of(lines[0])
    if partno > 1:  # parts 2 and 3 do not exist: pyais refuses them, so must the fast path
        bits = _raw_bits(payload)
        payload = _payload_from_bits(bits[:38] + f"{partno:02b}" + bits[40:])
        lines = [nmea(payload, fill=int(lines[0].split(",")[6][0]))]
    if mmsi:  # the fast path is taken for parts A and B (MMSI 0 is refused by either)
        fast = Decoder()._static_fast([lines[0].encode()], payload.encode(), 0, "t", False)
        assert (fast is not None) == (partno <= 1)
    # Part A then part B of the same vessel: the merged halves agree too.
    other = encode({"type": 24, "mmsi": mmsi, "partno": 0, "shipname": "FIRST HALF"})
    fast_decoder, pyais_decoder = Decoder(), Decoder()
    _by_decoder(other, payload_of(other[0]), fast_decoder)
    _by_pyais(other, pyais_decoder)
    assert _by_decoder(lines, payload, fast_decoder) == _by_pyais(lines, pyais_decoder)
    cut, short = _cut(lines, keep, fill)
    assert _by_decoder(cut, short, Decoder()) == _by_pyais(cut, Decoder())
