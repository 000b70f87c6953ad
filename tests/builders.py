"""Small builders shared by the tests: NMEA sentences, tag blocks, encoded reports, a sink.

Every builder computes its own checksums, so a test states only what it is about:
`nmea("15M67FC000G?ufbE`FepT@3n00Sa")` is a valid one-part `!AIVDM` sentence,
`tag("s:rx1,c:1426032000") + nmea(...)` the same with an NMEA 4 tag block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyais.encode import encode_dict

from ingest.framing import checksum
from ingest.pipeline import Ingestor, IngestSettings, LineStats
from ingest.records import DeadLetter, PositionReport, StaticReport

# 2015-03-11T00:00:00Z, the time of many published AIS samples; any plausible receive time works.
RX_MS = 1_426_032_000_000
T0_S = RX_MS // 1000

# ITU-R M.1371 / pyais worked example: MMSI 366053209, 37.802118 N, 122.341618 W, COG 219.3.
KNOWN_TYPE1 = "!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C"
KNOWN_TYPE1_PAYLOAD = "15M67FC000G?ufbE`FepT@3n00Sa"


@dataclass
class CollectingSink:
    """An `ingest.pipeline.Sink` that keeps everything it is given, in order."""

    records: list[PositionReport | StaticReport] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)

    def record(self, report: PositionReport | StaticReport) -> None:
        self.records.append(report)

    def deadletter(self, letter: DeadLetter) -> None:
        self.deadletters.append(letter)

    @property
    def positions(self) -> list[PositionReport]:
        return [r for r in self.records if isinstance(r, PositionReport)]

    @property
    def statics(self) -> list[StaticReport]:
        return [r for r in self.records if isinstance(r, StaticReport)]

    @property
    def reasons(self) -> list[str]:
        return [letter.reason.value for letter in self.deadletters]


def sealed(body: str, opener: str = "!") -> str:
    """`opener + body + *hh` with the right checksum, whatever the body holds."""
    return f"{opener}{body}*{checksum(body.encode('latin-1')):02X}"


def nmea(
    payload: str,
    fill: int = 0,
    channel: str = "A",
    talker: str = "AI",
    count: int = 1,
    number: int = 1,
    seq: str = "",
) -> str:
    """One `!AIVDM` sentence with a valid checksum."""
    return sealed(f"{talker}VDM,{count},{number},{seq},{channel},{payload},{fill}")


def tag(fields: str) -> str:
    """An NMEA 4 tag block, `\\fields*hh\\`, with its checksum."""
    return f"\\{fields}*{checksum(fields.encode('latin-1')):02X}\\"


def encode(data: Mapping[str, Any], channel: str = "A", seq_id: int | None = None) -> list[str]:
    """Any AIS message through pyais's encoder, as `!AIVDM` sentence lines.

    pyais picks the message class from `type` but writes the type field from `msg_type`
    (types 2 and 3 would come out as 1), so both are set.
    """
    fields = dict(data)
    if "type" in fields:
        fields.setdefault("msg_type", fields["type"])
    lines: list[str] = encode_dict(
        fields, talker_id="AI", sentence_type="VDM", radio_channel=channel, seq_id=seq_id
    )
    return lines


def encode_position(
    mmsi: int = 366_053_209,
    lat: float = 37.802118,
    lon: float = -122.341618,
    speed: float = 0.0,
    course: float = 219.3,
    heading: int = 1,
    status: int = 3,
    turn: float = 0,
    msg_type: int = 1,
    accuracy: bool = False,
    second: int = 0,
    channel: str = "A",
) -> list[str]:
    """A position report (types 1, 2, 3, 18) as sentence lines; `turn` in pyais's deg/min."""
    data: dict[str, Any] = {
        "type": msg_type,
        "mmsi": mmsi,
        "lat": lat,
        "lon": lon,
        "speed": speed,
        "course": course,
        "heading": heading,
        "accuracy": accuracy,
        "second": second,
    }
    if msg_type != 18:
        data.update(status=status, turn=turn)
    return encode(data, channel=channel)


def payload_of(sentence: str) -> str:
    return sentence.split(",")[5]


def ingest_lines(
    lines: Iterable[bytes | str],
    source: str = "test",
    rx_ms: int = RX_MS,
    settings: IngestSettings | None = None,
    flush: bool = True,
) -> tuple[CollectingSink, LineStats]:
    """Push every line through a fresh `Ingestor` (then flush); the sink and the line counts."""
    sink = CollectingSink()
    ingestor = Ingestor(sink, settings)
    for line in lines:
        ingestor.push(line.encode("latin-1") if isinstance(line, str) else line, source, rx_ms)
    if flush:
        ingestor.flush()
    return sink, ingestor.stats
