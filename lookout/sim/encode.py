"""AIS sentences for the simulator: position reports packed by hand, statics through pyais.

Position reports are most of the output (millions of lines a simulated day), and pyais's
general encoder costs about 100 microseconds a message; `position_payload` packs the 168 bits of
a type 1/2/3 or 18 report into its 28-character payload directly (ITU-R M.1371-5, annex 8,
tables 45 and 49), about twenty times faster. `tests/unit/test_simulate_scenario.py` checks it
against pyais. Static reports (type 5 every 6 min, type 24) are rare and go through pyais.
"""

from __future__ import annotations

from math import copysign, sqrt
from typing import Any, Final

from pyais.encode import encode_dict

from ingest.framing import checksum

__all__ = [
    "NOT_AVAILABLE_HEADING",
    "TAIL_1",
    "TAIL_18",
    "aivdm",
    "packed_position",
    "position_payload",
    "raw_rot",
    "static_sentences",
    "tag_block",
    "with_tags",
]

NOT_AVAILABLE_HEADING: Final = 511
_ARMOUR: Final = tuple(chr(v + 48) if v < 40 else chr(v + 56) for v in range(64))


def raw_rot(degrees_per_min: float | None) -> int:
    """The ROT field: 4.733 * sqrt(ROT) signed, -128 when no turn indicator is fitted."""
    if degrees_per_min is None:
        return -128
    value = round(4.733 * sqrt(abs(degrees_per_min)))
    return int(copysign(min(value, 126), degrees_per_min)) if value else 0


def position_payload(
    msg_type: int,
    mmsi: int,
    lat: float,
    lon: float,
    sog: float | None,
    cog: float | None,
    heading: int | None,
    second: int,
    nav_status: int = 15,
    rot_raw: int = -128,
    accuracy: bool = False,
) -> str:
    """The six-bit armoured payload of a type 1, 2, 3 or 18 position report (168 bits)."""
    return packed_position(
        msg_type,
        mmsi,
        lat_raw=round(lat * 600_000),
        lon_raw=round(lon * 600_000),
        sog_raw=1023 if sog is None else min(round(sog * 10), 1022),
        cog_raw=3600 if cog is None else round(cog * 10) % 3600,
        heading=NOT_AVAILABLE_HEADING if heading is None else heading % 360,
        second=second,
        nav_status=nav_status,
        rot_raw=rot_raw,
        accuracy=accuracy,
    )


# After the time stamp, type 1-3: manoeuvre indicator not available, spare, RAIM 0, and a
# SOTDMA radio status (25 bits); type 18: reserved 2, CS unit 1, display 0, DSC 1, band 1,
# message 22 1, assigned 0, RAIM 0, and a SOTDMA-style communication state (29 bits).
TAIL_1: Final = 0b0000000000000000110
TAIL_18: Final = 0b00_1_0_1_1_1_0_0 << 20 | 0b1100000000000000110


def packed_position(
    msg_type: int,
    mmsi: int,
    *,
    lat_raw: int,
    lon_raw: int,
    sog_raw: int,
    cog_raw: int,
    heading: int,
    second: int,
    nav_status: int = 15,
    rot_raw: int = -128,
    accuracy: bool = False,
    tail: int | None = None,
) -> str:
    """`position_payload` from the fields' raw values (ITU-R M.1371-5, annex 8, tables 45 and
    49; out of range ones are cut to their width); `tail`: the bits after the time stamp,
    None: `TAIL_1` or `TAIL_18`."""
    v = msg_type
    v = (v << 2) << 30 | mmsi  # repeat indicator 0
    if msg_type == 18:
        v = (v << 8) << 10 | sog_raw & 0x3FF  # 8 reserved bits
    else:
        v = v << 4 | nav_status
        v = v << 8 | (rot_raw & 0xFF)
        v = v << 10 | sog_raw & 0x3FF
    v = v << 1 | (1 if accuracy else 0)
    v = v << 28 | lon_raw & 0xFFFFFFF
    v = v << 27 | lat_raw & 0x7FFFFFF
    v = v << 12 | cog_raw & 0xFFF
    v = v << 9 | heading & 0x1FF
    v = v << 6 | second
    if msg_type == 18:
        v = v << 29 | (TAIL_18 if tail is None else tail)
    else:
        v = v << 25 | (TAIL_1 if tail is None else tail)
    return "".join([_ARMOUR[(v >> shift) & 0x3F] for shift in range(162, -1, -6)])


def aivdm(payload: str, channel: str = "A", fill: int = 0) -> str:
    """A one-part `!AIVDM` sentence around a payload, with its checksum."""
    body = f"AIVDM,1,1,,{channel},{payload},{fill}"
    return f"!{body}*{checksum(body.encode()):02X}"


def tag_block(fields: str) -> str:
    return f"\\{fields}*{checksum(fields.encode()):02X}\\"


def with_tags(sentences: list[str], seconds: int, group: int, station: str) -> list[str]:
    """Tag-block lines: `s:` station and `c:` receive time on the first (or only) sentence,
    a `g:` sentence group on every part of a multipart message."""
    if len(sentences) == 1:
        return [tag_block(f"s:{station},c:{seconds}") + sentences[0]]
    count = len(sentences)
    lines = []
    for number, sentence in enumerate(sentences, start=1):
        fields = f"g:{number}-{count}-{group}"
        if number == 1:
            fields += f",s:{station},c:{seconds}"
        lines.append(tag_block(fields) + sentence)
    return lines


def static_sentences(data: dict[str, Any], channel: str = "B") -> list[str]:
    """A type 5, 19 or 24 message (any pyais field names) as `!AIVDM` sentences."""
    return list(encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel=channel))
