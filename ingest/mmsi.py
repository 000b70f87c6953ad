"""What kind of station an MMSI names, and its flag state from the MID (ITU-R M.585).

An MMSI is read in its 9-digit zero-padded form. The Maritime Identification Digits (MID, 201-775)
sit where the format puts them:

    MIDxxxxxx   ship (first digit 2-7)          0MIDxxxxx  group call of ships -> "ship"
    00MIDxxxx   coast station                   111MIDxxx  SAR aircraft
    99MIDxxxx   AIS aid to navigation           98MIDxxxx  craft associated with a parent ship
    8MIDxxxxx   handheld VHF with DSC and GNSS -> "craft"
    970xxyyyy   AIS-SART   972xxyyyy  MOB   974xxyyyy  EPIRB-AIS   (xx: manufacturer, no MID)

Anything else, an unallocated MID, or a placeholder (see `is_placeholder`) is "invalid". An
invalid MMSI still yields the flag of its MID when the MID is allocated (412000000 -> CN), except
for the junk placeholders (123456789, repeated digits ...), whose digits say nothing about a flag.
Distress devices (970/972/974) are never demoted to "invalid": a beacon is a beacon.

`classify` is called for every AIS message, so it is memoised. The MID table is package data
(`ingest/data/mid.csv`), read once at import.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib.resources import files
from types import MappingProxyType
from typing import Final, NamedTuple

from ingest.records import MmsiClass

__all__ = [
    "MAX_MMSI",
    "MIDS",
    "Mid",
    "MmsiClass",
    "classify",
    "flag_of_mid",
    "is_placeholder",
    "mid_of",
]

MAX_MMSI: Final = 999_999_999


class Mid(NamedTuple):
    mid: int
    iso2: str
    country: str


def _load_mids() -> MappingProxyType[int, Mid]:
    text = files("ingest").joinpath("data/mid.csv").read_text(encoding="utf-8")
    reader = csv.reader(line for line in text.splitlines() if line and not line.startswith("#"))
    if next(reader, None) != ["mid", "iso2", "country"]:
        raise ValueError("ingest/data/mid.csv: expected the header 'mid,iso2,country'")
    table: dict[int, Mid] = {}
    for row in reader:
        if len(row) != 3:
            raise ValueError(f"ingest/data/mid.csv: bad row {row!r}")
        mid = int(row[0])
        if mid in table:
            raise ValueError(f"ingest/data/mid.csv: MID {mid} appears twice")
        table[mid] = Mid(mid, row[1], row[2])
    return MappingProxyType(table)


MIDS: Final = _load_mids()
"""Every allocated MID -> (mid, ISO 3166-1 alpha-2, country or territory)."""

_FLAGS: Final = {mid: entry.iso2 for mid, entry in MIDS.items()}

# Values that receivers see over and over from unconfigured or badly configured transponders.
_JUNK: Final = frozenset(
    {d * 111_111_111 for d in range(1, 10)} | {123_456_789, 12_345_678, 987_654_321}
)

_INVALID: Final[tuple[MmsiClass, str | None]] = ("invalid", None)
_DISTRESS: Final[dict[str, MmsiClass]] = {"0": "sart", "2": "mob", "4": "epirb"}


def flag_of_mid(mid: int) -> str | None:
    """The ISO 3166-1 alpha-2 code of an allocated MID, else None."""
    return _FLAGS.get(mid)


def is_placeholder(mmsi: int) -> bool:
    """True for the values transponders send when nobody programmed them.

    Repeated digits (000000000, 111111111 ... 999999999), counting sequences (123456789,
    012345678, 987654321) and "round" values whose last six digits are all zero (100000000,
    412000000): no administration assigns a serial of 000000.
    """
    return 0 <= mmsi <= MAX_MMSI and (mmsi % 1_000_000 == 0 or mmsi in _JUNK)


def _is_mid_lead(digit: str) -> bool:
    return "2" <= digit <= "7"


def _parse(mmsi: int) -> tuple[MmsiClass | None, int | None]:
    """(class by format, MID by format); (None, None) when no M.585 format fits."""
    if mmsi < 0 or mmsi > MAX_MMSI:
        return None, None
    s = f"{mmsi:09d}"
    head = s[0]
    if _is_mid_lead(head):
        return "ship", int(s[0:3])
    if head == "0":
        if s[1] == "0":
            return ("coast_station", int(s[2:5])) if _is_mid_lead(s[2]) else (None, None)
        return ("ship", int(s[1:4])) if _is_mid_lead(s[1]) else (None, None)
    if head == "1":
        if s[1] == "1" and s[2] == "1" and _is_mid_lead(s[3]):
            return "sar_aircraft", int(s[3:6])
        return None, None
    if head == "8":
        return ("craft", int(s[1:4])) if _is_mid_lead(s[1]) else (None, None)
    # head == "9"
    if s[1] == "9" and _is_mid_lead(s[2]):
        return "aton", int(s[2:5])
    if s[1] == "8" and _is_mid_lead(s[2]):
        return "craft", int(s[2:5])
    if s[1] == "7" and s[2] in _DISTRESS:
        return _DISTRESS[s[2]], None
    return None, None


def mid_of(mmsi: int) -> int | None:
    """The MID where the MMSI's format puts it, allocated or not (217123456 -> 217).

    None when no format fits or the format carries no MID (AIS-SART, MOB, EPIRB).
    """
    return _parse(mmsi)[1]


@lru_cache(maxsize=65536)
def classify(mmsi: int) -> tuple[MmsiClass, str | None]:
    """(mmsi_class, flag): flag is the ISO 3166-1 alpha-2 code of the MID, or None.

    >>> classify(405123456)
    ('ship', 'BD')
    >>> classify(2320001)
    ('coast_station', 'GB')
    >>> classify(412000000)
    ('invalid', 'CN')
    """
    if mmsi <= 0 or mmsi > MAX_MMSI or mmsi in _JUNK:
        return _INVALID
    kind, mid = _parse(mmsi)
    if kind is None:
        return _INVALID
    if mid is None:  # sart, mob, epirb: a manufacturer id, not a MID
        return kind, None
    flag = _FLAGS.get(mid)
    if flag is None or mmsi % 1_000_000 == 0:
        return "invalid", flag
    return kind, flag
