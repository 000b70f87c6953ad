"""Decoded CSV exports analysts receive from data providers, replayed as records.

Two column layouts are recognised from their header line: NOAA MarineCadastre
(`MMSI,BaseDateTime,LAT,LON,...`) and the Danish Maritime Authority (`# Timestamp,Type of
mobile,MMSI,...`). Columns are found by name, so reordered or extended exports still work.
A row gives a `position` record, plus a `static` record when its static columns changed for
that vessel since the last row.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.decode import check_lat_lon, check_mmsi
from ingest.errors import BadCsvRowError, ImpossibleValueError
from ingest.mmsi import classify
from ingest.records import AisClass, PositionReport, StaticReport

_MAX_STATIC_CACHE = 200_000
_AIS_CLASSES: dict[str, AisClass] = {"A": "A", "B": "B"}

DMA_NAV_STATUS = {
    "under way using engine": 0,
    "at anchor": 1,
    "not under command": 2,
    "restricted manoeuverability": 3,
    "restricted maneuverability": 3,
    "constrained by her draught": 4,
    "moored": 5,
    "aground": 6,
    "engaged in fishing": 7,
    "under way sailing": 8,
    "reserved for future amendment [hsc]": 9,
    "reserved for future amendment [wig]": 10,
    "power-driven vessel towing astern": 11,
    "power-driven vessel pushing ahead or towing alongside": 12,
    "reserved for future use": 13,
    "ais-sart": 14,
    "unknown value": 15,
}

# DMA exports name the ship type; these are the ITU-R M.1371 codes they stand for.
DMA_SHIP_TYPE = {
    "wig": 20,
    "fishing": 30,
    "towing": 31,
    "towing long/wide": 32,
    "dredging": 33,
    "diving": 34,
    "military": 35,
    "sailing": 36,
    "pleasure": 37,
    "hsc": 40,
    "pilot": 50,
    "sar": 51,
    "tug": 52,
    "port tender": 53,
    "anti-pollution": 54,
    "law enforcement": 55,
    "medical": 58,
    "not party to conflict": 59,
    "passenger": 60,
    "cargo": 70,
    "tanker": 80,
    "other": 90,
}


def _float(value: str) -> float | None:
    value = value.strip()
    if not value or value.lower() in ("unknown", "nan", "none"):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _coordinate(value: str, not_available: float) -> float | None:
    """Exports keep AIS's "not available" markers (latitude 91, longitude 181)."""
    text = value.strip()
    if not text or text.lower() in ("unknown", "nan", "none"):
        return None
    number = float(text)  # not a number at all: a bad row
    if not math.isfinite(number):
        raise ImpossibleValueError(f"coordinate {text!r}")
    return None if number == not_available else number


def _int(value: str) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _text(value: str) -> str | None:
    value = value.strip()
    return value if value and value.lower() not in ("unknown", "nan") else None


def _imo(value: str) -> int | None:
    digits = value.strip().upper().removeprefix("IMO")
    return int(digits) if digits.isdigit() and int(digits) > 0 else None


def _time_ms(text: str, formats: tuple[str, ...]) -> int:
    text = text.strip()
    for fmt in formats:
        try:
            stamp = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return round(stamp.timestamp() * 1000)
    raise BadCsvRowError(f"unreadable time {text!r}")


# imo, callsign, name, ship_type, to_bow, to_stern, to_port, to_starboard, draught, destination
StaticFields = tuple[
    int | None, str | None, str | None, int | None, int | None, int | None, int | None,
    int | None, float | None, str | None,
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Row:
    mmsi: int
    ts: int
    lat: float | None
    lon: float | None
    sog: float | None
    cog: float | None
    heading: int | None
    nav_status: int | None
    rot: float | None
    ais_class: str | None
    static: StaticFields


@dataclass
class CsvFormat:
    """One recognised export layout: a header's column positions and a row reader."""

    name: str
    columns: dict[str, int]
    read: Callable[[CsvFormat, list[str]], _Row]
    _last_static: dict[int, StaticFields] = field(default_factory=dict)

    def col(self, row: list[str], name: str) -> str:
        index = self.columns.get(name)
        return row[index] if index is not None and index < len(row) else ""

    def parse_row(
        self, line: bytes, source: str, rx_ms: int
    ) -> list[PositionReport | StaticReport]:
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
            if len(fields) < len(self.columns) - 4:
                raise BadCsvRowError(f"{len(fields)} columns, header has {len(self.columns)}")
            row = self.read(self, fields)
        except (ValueError, OverflowError, UnicodeDecodeError, StopIteration, csv.Error) as exc:
            raise BadCsvRowError(f"{type(exc).__name__}: {exc}") from exc
        check_mmsi(row.mmsi)
        check_lat_lon(row.lat, row.lon)
        return self._records(row, source, rx_ms)

    def _records(self, row: _Row, source: str, rx_ms: int) -> list[PositionReport | StaticReport]:
        mmsi_class, flag = classify(row.mmsi)
        ais_class: AisClass | None = (
            "A" if row.ais_class == "A" else "B" if row.ais_class == "B" else None
        )
        records: list[PositionReport | StaticReport] = [
            PositionReport(
                row.mmsi, row.ts, row.lat, row.lon, row.sog, row.cog, row.heading,
                row.nav_status, row.rot, None, None, ais_class,
                mmsi_class, flag, source, rx_ms,
            )
        ]  # fmt: skip
        if any(value is not None for value in row.static) and (
            self._last_static.get(row.mmsi) != row.static
        ):
            if len(self._last_static) > _MAX_STATIC_CACHE:
                self._last_static.clear()
            self._last_static[row.mmsi] = row.static
            imo, callsign, name, ship_type, bow, stern, port, stbd, draught, dest = row.static
            records.append(
                StaticReport(
                    row.mmsi, row.ts, imo, callsign, name, ship_type, bow, stern, port, stbd,
                    draught, dest, None, None, source,
                )
            )  # fmt: skip
        return records


def _read_marinecadastre(fmt: CsvFormat, row: list[str]) -> _Row:
    c = fmt.col
    length = _int(c(row, "length"))
    width = _int(c(row, "width"))
    heading = _int(c(row, "heading"))
    sog = _float(c(row, "sog"))
    cog = _float(c(row, "cog"))
    return _Row(
        mmsi=int(c(row, "mmsi")),
        ts=_time_ms(c(row, "basedatetime"), ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")),
        lat=_coordinate(c(row, "lat"), 91.0),
        lon=_coordinate(c(row, "lon"), 181.0),
        sog=None if sog is None or sog >= 102.3 or sog < 0 else sog,
        cog=None if cog is None or cog >= 360 or cog < 0 else cog,
        heading=None if heading is None or heading > 359 or heading < 0 else heading,
        nav_status=_int(c(row, "status")),
        rot=None,
        ais_class=_text(c(row, "transceiverclass")),
        static=(
            _imo(c(row, "imo")),
            _text(c(row, "callsign")),
            _text(c(row, "vesselname")),
            _int(c(row, "vesseltype")) or None,
            # MarineCadastre gives length and width, not the reference point: keep the sums
            # (length = to_bow + to_stern, width = to_port + to_starboard) right.
            length,
            0 if length is not None else None,
            width,
            0 if width is not None else None,
            _float(c(row, "draft")) or None,
            None,
        ),
    )


def _read_dma(fmt: CsvFormat, row: list[str]) -> _Row:
    c = fmt.col
    heading = _int(c(row, "heading"))
    sog = _float(c(row, "sog"))
    cog = _float(c(row, "cog"))
    mobile = c(row, "type of mobile").strip().lower()
    ship_type = c(row, "ship type").strip().lower()
    return _Row(
        mmsi=int(c(row, "mmsi")),
        ts=_time_ms(c(row, "timestamp"), ("%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")),
        lat=_coordinate(c(row, "latitude"), 91.0),
        lon=_coordinate(c(row, "longitude"), 181.0),
        sog=None if sog is None or sog >= 102.3 or sog < 0 else sog,
        cog=None if cog is None or cog >= 360 or cog < 0 else cog,
        heading=None if heading is None or heading > 359 or heading < 0 else heading,
        nav_status=DMA_NAV_STATUS.get(c(row, "navigational status").strip().lower()),
        rot=_float(c(row, "rot")),
        ais_class={"class a": "A", "class b": "B"}.get(mobile),
        static=(
            _imo(c(row, "imo")),
            _text(c(row, "callsign")),
            _text(c(row, "name")),
            DMA_SHIP_TYPE.get(ship_type),
            _int(c(row, "a")),
            _int(c(row, "b")),
            _int(c(row, "c")),
            _int(c(row, "d")),
            _float(c(row, "draught")),
            _text(c(row, "destination")),
        ),
    )


_LAYOUTS: tuple[tuple[str, frozenset[str], Callable[[CsvFormat, list[str]], _Row]], ...] = (
    ("marinecadastre", frozenset({"mmsi", "basedatetime", "lat", "lon"}), _read_marinecadastre),
    ("dma", frozenset({"timestamp", "type of mobile", "mmsi", "latitude"}), _read_dma),
)


def detect_csv_header(line: bytes) -> CsvFormat | None:
    """The export layout this header line announces, or None if it is not a known header."""
    if b"," not in line or b"MMSI" not in line.upper():
        return None
    try:
        names = next(csv.reader([line.decode("utf-8-sig")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None
    columns = {name.strip().lstrip("#").strip().lower(): i for i, name in enumerate(names)}
    for name, required, reader in _LAYOUTS:
        if required <= columns.keys():
            return CsvFormat(name, columns, reader)
    return None
