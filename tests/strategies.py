"""Hypothesis strategies for ingest: valid lines, and mutations of them that reach every stage.

A mutation that breaks the checksum stops at framing; `reseal` and the `payload` operation
recompute it, so that broken fields and payloads also reach sentence splitting, assembly and
decoding.
"""

from __future__ import annotations

from itertools import islice

from hypothesis import strategies as st

from ingest.framing import checksum
from lookout.simulate import simulate
from tests.builders import KNOWN_TYPE1, T0_S, encode, encode_position, tag

AIS_ALPHABET = "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW`abcdefghijklmnopqrstuvw"
TYPE5 = encode(
    {"type": 5, "mmsi": 244_123_456, "callsign": "PD1234", "shipname": "TEST SHIP",
     "destination": "ROTTERDAM", "month": 5, "day": 14, "hour": 6, "minute": 30},
    seq_id=1,
)  # fmt: skip
VALID_LINES: list[bytes] = [
    line.encode()
    for line in [
        KNOWN_TYPE1,
        *encode_position(mmsi=244_000_002, msg_type=18, lat=52.1, lon=4.2),
        *TYPE5,
        tag(f"s:rx1,c:{T0_S}") + KNOWN_TYPE1,
        tag(f"g:1-2-77,s:rx1,c:{T0_S}") + TYPE5[0],
        tag("g:2-2-77") + TYPE5[1],
        f"{T0_S}.250 " + KNOWN_TYPE1,
        "2015-03-11T00:00:01Z " + KNOWN_TYPE1,
        KNOWN_TYPE1 + f",raishub,{T0_S}",
        "$PGHP,1,2013,3,18,9,19,9,499,219,,2190048,1,28*23",
        "$GPGGA,120000.00,2130.000,N,09130.000,E,1,08,1.0,10.0,M,0.0,M,,*5C",
        "# a comment",
        *encode({"type": 24, "mmsi": 244_000_001, "partno": 0, "shipname": "SAILOR"}),
        *encode({"type": 21, "mmsi": 992_441_234, "lat": 52.1, "lon": 4.2, "name": "BUOY"}),
        *encode({"type": 4, "mmsi": 2_442_000, "lat": 52.1, "lon": 4.2}),
        *encode({"type": 27, "mmsi": 244_000_004, "lat": 52.1, "lon": 4.2, "speed": 12}),
        *list(islice(simulate(vessels=3, hours=0.05, seed=3), 12)),
    ]
]


def reseal(line: bytes) -> bytes:
    """Recompute the NMEA checksum so that a mutated sentence gets past framing."""
    start = max(line.rfind(b"!"), line.rfind(b"$"))
    star = line.find(b"*", start + 1) if start >= 0 else -1
    if start < 0 or star < 0:
        return line
    body = line[start + 1 : star]
    return line[: start + 1] + body + b"*" + f"{checksum(body):02X}".encode() + line[star + 3 :]


def swap_payload(line: bytes, payload: str, fill: int) -> bytes:
    """Put another payload (and fill bits) into the sentence, then reseal it."""
    head, sep, rest = line.partition(b"VDM,")
    if not sep:
        return line
    fields = rest.split(b",")
    if len(fields) < 6:
        return line
    fields[4] = payload.encode()
    fields[5] = str(fill).encode() + fields[5][1:]
    return reseal(head + sep + b",".join(fields))


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    line = draw(st.sampled_from(VALID_LINES))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(line) - 1, 0)))
        op = draw(
            st.sampled_from(
                ["truncate", "flip", "insert", "tag", "reseal", "payload", "delete", "field"]
            )
        )
        if op == "truncate":
            line = line[:at]
        elif op == "flip":
            line = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1 :]
        elif op == "insert":
            char = draw(st.sampled_from([b"\\", b"*", b",", b"!", b"$", b" ", b"\t", b"VDM,"]))
            line = line[:at] + char + line[at:]
        elif op == "delete":
            line = line[:at] + line[at + 1 :]
        elif op == "tag":
            fields = draw(
                st.lists(
                    st.sampled_from(
                        [f"c:{T0_S}", f"c:{T0_S * 1000}", "c:99", "c:", "s:rx9", "s:", "g:1-2-5",
                         "g:2-2-5", "g:1-1-", "g:x", "G:3-3-9", "n:12", "d:x", "z", ""]
                    ),
                    max_size=4,
                )
            )  # fmt: skip
            block = ",".join(fields)
            if draw(st.booleans()):
                line = tag(block).encode() + line
            else:
                line = b"\\" + block.encode() + draw(st.sampled_from([b"\\", b"*", b"*0\\"])) + line
        elif op == "reseal":
            line = reseal(line)
        elif op == "payload":
            payload = draw(st.text(alphabet=AIS_ALPHABET, min_size=0, max_size=90))
            line = swap_payload(line, payload, draw(st.integers(0, 6)))
        elif op == "field":
            parts = line.split(b",")
            index = draw(st.integers(0, len(parts) - 1))
            parts[index] = draw(st.sampled_from([b"", b"0", b"9", b"10", b"-1", b"x", b"A"]))
            line = b",".join(parts)
            if draw(st.booleans()):
                line = reseal(line)
    return line


# -- decoded CSV exports ------------------------------------------------------------------

MARINECADASTRE_HEADER = (
    b"MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,"
    b"Length,Width,Draft,Cargo,TransceiverClass"
)
MARINECADASTRE_ROW = (
    b"367000001,2023-01-01T00:00:01,29.9,-89.9,10.2,180.5,179,TEST VESSEL,IMO1234567,WDA1234,"
    b"70,0,100,20,5.5,70,A"
)
DMA_HEADER = (
    b"# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,"
    b"Heading,IMO,Callsign,Name,Ship type,Cargo type,Width,Length,"
    b"Type of position fixing device,Draught,Destination,ETA,Data source type,A,B,C,D"
)
DMA_ROW = (
    b"01/03/2024 00:00:00,Class A,219000123,55.123,12.456,Under way using engine,0.0,12.3,"
    b"45.6,44,9123456,OXAB2,TEST SHIP,Cargo,,20,100,GPS,6.5,AARHUS,01/03/2024 12:00:00,AIS,"
    b"80,20,10,10"
)
ODD_CELLS = [
    b"", b"nan", b"NaN", b"+nan", b"inf", b"-inf", b"1e999", b"-1", b"0", b"x", b'"',
    b"unknown", b"999999999999", b"1.5", b"\xff", b"IMO", b"IMO0", b"\r",
    b"2023-13-01T00:00:00", b"31/02/2024 00:00:00",
]  # fmt: skip


@st.composite
def csv_rows(draw: st.DrawFn, row: bytes) -> bytes:
    """A row of an export with a few cells replaced by odd values, maybe cut short."""
    cells = row.split(b",")
    for _ in range(draw(st.integers(0, 4))):
        index = draw(st.integers(0, len(cells) - 1))
        cells[index] = draw(st.one_of(st.sampled_from(ODD_CELLS), st.binary(max_size=8)))
    if draw(st.booleans()):
        cells = cells[: draw(st.integers(0, len(cells)))]
    return b",".join(cells)


csv_streams = st.sampled_from(
    [(MARINECADASTRE_HEADER, MARINECADASTRE_ROW), (DMA_HEADER, DMA_ROW)]
).flatmap(
    lambda pair: st.lists(csv_rows(pair[1]), min_size=1, max_size=8).map(
        lambda rows: [pair[0], *rows]
    )
)
