"""Decoded CSV exports (NOAA MarineCadastre, Danish Maritime Authority) through the `Ingestor`."""

from __future__ import annotations

import pytest

from ingest.csv_formats import detect_csv_header
from ingest.pipeline import Ingestor, IngestSettings
from ingest.records import PositionReport, StaticReport
from tests.builders import KNOWN_TYPE1, RX_MS, CollectingSink, ingest_lines
from tests.strategies import DMA_HEADER, DMA_ROW, MARINECADASTRE_HEADER, MARINECADASTRE_ROW

MC_HEADER = MARINECADASTRE_HEADER.decode()
MC_ROW = MARINECADASTRE_ROW.decode()
DMA_HEAD = DMA_HEADER.decode()
DMA_FIRST = DMA_ROW.decode()

# 2023-01-01T00:00:01Z and 2024-03-01T00:00:00Z
MC_TS = 1_672_531_201_000
DMA_TS = 1_709_251_200_000


def mc_row(**changes: str) -> str:
    """The MarineCadastre row with some columns (by header name) replaced."""
    names = MC_HEADER.split(",")
    cells = MC_ROW.split(",")
    for name, value in changes.items():
        cells[names.index(name)] = value
    return ",".join(cells)


def dma_row(**changes: str) -> str:
    names = [n.strip() for n in DMA_HEAD.lstrip("#").split(",")]
    cells = DMA_FIRST.split(",")
    for name, value in changes.items():
        cells[names.index(name.replace("_", " "))] = value
    return ",".join(cells)


def test_headers_are_recognised() -> None:
    mc = detect_csv_header(MARINECADASTRE_HEADER)
    dma = detect_csv_header(DMA_HEADER)
    assert mc is not None and mc.name == "marinecadastre"
    assert dma is not None and dma.name == "dma"
    assert detect_csv_header(b"MMSI,Something,Else") is None
    assert detect_csv_header(KNOWN_TYPE1.encode()) is None


def test_header_with_byte_order_mark_is_recognised() -> None:
    found = detect_csv_header(b"\xef\xbb\xbf" + MARINECADASTRE_HEADER)
    assert found is not None and found.name == "marinecadastre"


# -- MarineCadastre -----------------------------------------------------------------------


def test_marinecadastre_position_and_static() -> None:
    sink, stats = ingest_lines([MC_HEADER, MC_ROW], source="mc")
    assert stats.non_ais_lines == 1  # the header
    assert stats.decoded_lines == 1
    assert stats.balanced
    position = sink.positions[0]
    assert position == PositionReport(
        mmsi=367_000_001,
        ts=MC_TS,
        lat=29.9,
        lon=-89.9,
        sog=10.2,
        cog=180.5,
        heading=179,
        nav_status=0,
        rot=None,
        accuracy=None,
        msg_type=None,
        ais_class="A",
        mmsi_class="ship",
        flag="US",
        source="mc",
        rx_ts=position.rx_ts,
    )
    (static,) = sink.statics
    assert (static.mmsi, static.ts, static.msg_type) == (367_000_001, MC_TS, None)
    assert (static.imo, static.callsign, static.name) == (1_234_567, "WDA1234", "TEST VESSEL")
    assert (static.ship_type, static.draught) == (70, 5.5)


def test_marinecadastre_time_with_a_space() -> None:
    sink, _ = ingest_lines([MC_HEADER, mc_row(BaseDateTime="2023-01-01 00:00:01")])
    assert sink.positions[0].ts == MC_TS


def test_marinecadastre_static_only_when_static_columns_change() -> None:
    rows = [
        mc_row(BaseDateTime="2023-01-01T00:00:01"),
        mc_row(BaseDateTime="2023-01-01T00:00:11", LAT="29.91"),  # same static columns
        mc_row(BaseDateTime="2023-01-01T00:00:21", Draft="5.8"),  # draught changed
        mc_row(BaseDateTime="2023-01-01T00:00:31", Draft="5.8"),
    ]
    sink, stats = ingest_lines([MC_HEADER, *rows])
    assert [type(r).__name__ for r in sink.records] == [
        "PositionReport",
        "StaticReport",
        "PositionReport",
        "PositionReport",
        "StaticReport",
        "PositionReport",
    ]
    assert [s.draught for s in sink.statics] == [5.5, 5.8]
    assert [p.ts for p in sink.positions] == [MC_TS + i * 10_000 for i in range(4)]
    assert stats.records == 6


def test_marinecadastre_static_kept_per_vessel() -> None:
    rows = [mc_row(), mc_row(MMSI="367000002"), mc_row()]
    sink, _ = ingest_lines([MC_HEADER, *rows])
    assert [s.mmsi for s in sink.statics] == [367_000_001, 367_000_002]


def test_marinecadastre_row_without_static_columns_gives_no_static() -> None:
    row = mc_row(VesselName="", IMO="", CallSign="", VesselType="", Length="", Width="", Draft="")
    sink, _ = ingest_lines([MC_HEADER, row])
    assert len(sink.positions) == 1
    assert sink.statics == []


def test_marinecadastre_not_available_values_become_none() -> None:
    row = mc_row(SOG="102.3", COG="360.0", Heading="511", TransceiverClass="")
    sink, _ = ingest_lines([MC_HEADER, row])
    position = sink.positions[0]
    assert (position.sog, position.cog, position.heading, position.ais_class) == (None,) * 4


def test_csv_lat_91_and_lon_181_are_not_available_not_impossible() -> None:
    """DESIGN.md: "Not available" AIS values (lat 91, lon 181 ...) become null, never numbers.

    Exports carry the broadcast values; a row with lat 91 is a report without a position
    (its other fields are evidence), as it is for an NMEA sentence, not an impossible value.
    """
    sink, stats = ingest_lines([MC_HEADER, mc_row(LAT="91", LON="181")])
    assert sink.deadletters == []
    assert (sink.positions[0].lat, sink.positions[0].lon) == (None, None)
    assert stats.balanced


@pytest.mark.parametrize("lat", ["95.0", "-90.5", "180"])
def test_marinecadastre_bad_latitude_is_impossible_value(lat: str) -> None:
    sink, stats = ingest_lines([MC_HEADER, mc_row(LAT=lat), MC_ROW])
    assert sink.reasons == ["impossible_value"]
    assert sink.deadletters[0].raw == mc_row(LAT=lat).encode()
    assert len(sink.positions) == 1  # the stream goes on
    assert stats.balanced


@pytest.mark.parametrize("lat", ["1e999", "-inf"])
def test_non_finite_latitude_is_a_dead_letter(lat: str) -> None:
    sink, stats = ingest_lines([MC_HEADER, mc_row(LAT=lat)])
    assert sink.reasons in (["impossible_value"], ["bad_csv_row"])
    assert stats.balanced


def test_mmsi_zero_is_impossible_value() -> None:
    sink, _ = ingest_lines([MC_HEADER, mc_row(MMSI="0")])
    assert sink.reasons == ["impossible_value"]


@pytest.mark.parametrize(
    "row",
    [
        "367000001,2023-01-01T00:00:05,29.9",  # too few columns
        mc_row(BaseDateTime="yesterday"),
        mc_row(MMSI="abc"),
        mc_row(LAT="north"),
        mc_row(Heading="ten"),
        b"\xff\xfe".decode("latin-1") + MC_ROW,  # not UTF-8
    ],
)
def test_marinecadastre_bad_rows_are_bad_csv_row(row: str) -> None:
    sink, stats = ingest_lines([MC_HEADER, row])
    assert sink.reasons == ["bad_csv_row"]
    assert stats.balanced


@pytest.mark.parametrize(
    "row",
    [
        mc_row(Heading="inf"),
        mc_row(Heading="1e999"),
        mc_row(Length="inf"),
        mc_row(Status="-inf"),
        mc_row(LAT="29.9\r"),  # a carriage return inside a row
    ],
)
def test_unreadable_numbers_are_bad_csv_row_not_internal_error(row: str) -> None:
    """`int(float("inf"))` raises OverflowError and csv raises csv.Error on a bare CR.

    Both are bad input, so the row is `bad_csv_row`; `internal_error` means a bug in Lookout.
    """
    sink, stats = ingest_lines([MC_HEADER, row])
    assert sink.reasons == ["bad_csv_row"], sink.deadletters
    assert stats.balanced


# -- Danish Maritime Authority ------------------------------------------------------------


def test_dma_position_and_static() -> None:
    sink, stats = ingest_lines([DMA_HEAD, DMA_FIRST], source="dma")
    assert stats.non_ais_lines == 1  # the header, even though it opens with '#'
    assert stats.decoded_lines == 1
    assert stats.balanced
    position = sink.positions[0]
    assert position == PositionReport(
        mmsi=219_000_123,
        ts=DMA_TS,
        lat=55.123,
        lon=12.456,
        sog=12.3,
        cog=45.6,
        heading=44,
        nav_status=0,
        rot=0.0,
        accuracy=None,
        msg_type=None,
        ais_class="A",
        mmsi_class="ship",
        flag="DK",
        source="dma",
        rx_ts=position.rx_ts,
    )
    (static,) = sink.statics
    assert static == StaticReport(
        mmsi=219_000_123,
        ts=DMA_TS,
        imo=9_123_456,
        callsign="OXAB2",
        name="TEST SHIP",
        ship_type=70,
        to_bow=80,
        to_stern=20,
        to_port=10,
        to_starboard=10,
        draught=6.5,
        destination="AARHUS",
        eta=None,
        msg_type=None,
        source="dma",
    )


def test_dma_class_b_unknown_status_and_missing_values() -> None:
    row = dma_row(
        Type_of_mobile="Class B",
        Navigational_status="Unknown value",
        Heading="",
        ROT="",
        SOG="",
        COG="",
    )
    sink, _ = ingest_lines([DMA_HEAD, row])
    position = sink.positions[0]
    assert position.ais_class == "B"
    assert position.nav_status == 15
    assert (position.heading, position.rot, position.sog, position.cog) == (None,) * 4


def test_dma_static_only_when_static_columns_change() -> None:
    rows = [
        dma_row(Timestamp="01/03/2024 00:00:00"),
        dma_row(Timestamp="01/03/2024 00:00:10"),
        dma_row(Timestamp="01/03/2024 00:00:20", Destination="COPENHAGEN"),
    ]
    sink, _ = ingest_lines([DMA_HEAD, *rows])
    assert [p.ts for p in sink.positions] == [DMA_TS, DMA_TS + 10_000, DMA_TS + 20_000]
    assert [s.destination for s in sink.statics] == ["AARHUS", "COPENHAGEN"]
    assert [s.ts for s in sink.statics] == [DMA_TS, DMA_TS + 20_000]


def test_dma_bad_latitude_and_short_row() -> None:
    rows = [dma_row(Latitude="95.5"), "01/03/2024 00:00:00,Class A,219000123", DMA_FIRST]
    sink, stats = ingest_lines([DMA_HEAD, *rows])
    assert sink.reasons == ["impossible_value", "bad_csv_row"]
    assert len(sink.positions) == 1
    assert stats.non_ais_lines == 1
    assert stats.deadletter_lines == 2
    assert stats.decoded_lines == 1
    assert stats.balanced


# -- format switching ---------------------------------------------------------------------


def test_stream_switching_back_to_nmea() -> None:
    sink, stats = ingest_lines([MC_HEADER, MC_ROW, KNOWN_TYPE1, MC_ROW])
    assert [r.msg_type for r in sink.positions] == [None, 1]
    assert sink.reasons == ["garbage"]  # a row without its header after the switch
    assert stats.balanced


def test_csv_sources_are_kept_apart() -> None:
    sink = CollectingSink()
    ingestor = Ingestor(sink)
    ingestor.push(MARINECADASTRE_HEADER, "a", RX_MS)
    ingestor.push(MARINECADASTRE_ROW, "b", RX_MS)  # b has sent no header
    ingestor.push(MARINECADASTRE_ROW, "a", RX_MS)
    assert sink.reasons == ["garbage"]
    assert [p.source for p in sink.positions] == ["a"]


def test_csv_only_mode_without_a_header() -> None:
    sink, stats = ingest_lines([MC_ROW], settings=IngestSettings(input_format="csv"))
    assert len(sink.deadletters) == 1
    assert stats.balanced


def test_csv_only_mode_with_a_header() -> None:
    sink, stats = ingest_lines([MC_HEADER, MC_ROW], settings=IngestSettings(input_format="csv"))
    assert len(sink.positions) == 1
    assert stats.balanced


def test_nmea_only_mode_does_not_read_csv() -> None:
    sink, stats = ingest_lines([MC_HEADER, MC_ROW], settings=IngestSettings(input_format="nmea"))
    assert sink.records == []
    assert stats.deadletter_lines == 2
    assert stats.balanced
