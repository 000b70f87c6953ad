"""MMSI classes and flags (ITU-R M.585) and the MID table they rest on."""

from __future__ import annotations

import csv
import re
from importlib.resources import files
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.mmsi import MAX_MMSI, MIDS, MmsiClass, classify, flag_of_mid, is_placeholder, mid_of

CLASSES = set(get_args(MmsiClass))


@pytest.mark.parametrize(
    ("mmsi", "expected"),
    [
        # ships: MIDxxxxxx
        (405123456, ("ship", "BD")),  # Bangladesh
        (419000123, ("ship", "IN")),  # India
        (506012345, ("ship", "MM")),  # Myanmar
        (567001234, ("ship", "TH")),  # Thailand
        (525016789, ("ship", "ID")),  # Indonesia
        (417222333, ("ship", "LK")),  # Sri Lanka
        (503456789, ("ship", "AU")),  # Australia
        (235012345, ("ship", "GB")),
        (636019876, ("ship", "LR")),
        (775123456, ("ship", "VE")),  # highest MID
        (201123456, ("ship", "AL")),  # lowest MID
        # Serial 000001 is a real serial, not a placeholder: only six trailing zeros are.
        (533000001, ("ship", "MY")),
        # Three trailing zeros (the old Inmarsat B/C/M convention) are valid ship identities.
        (533123000, ("ship", "MY")),
        # Territories with their own MID
        (204123456, ("ship", "PT")),  # Azores
        (255123456, ("ship", "PT")),  # Madeira
        (477123456, ("ship", "HK")),
        (501123456, ("ship", "FR")),  # Adelie Land
        (618123456, ("ship", "TF")),  # Crozet
        # group call of ships: 0MIDxxxxx
        (40512345, ("ship", "BD")),
        # coast stations: 00MIDxxxx
        (2320001, ("coast_station", "GB")),
        (4050123, ("coast_station", "BD")),
        (2320000, ("coast_station", "GB")),  # 002320000: serial 0000, not a "round" value
        # SAR aircraft: 111MIDxxx
        (111405100, ("sar_aircraft", "BD")),
        (111232501, ("sar_aircraft", "GB")),
        # AtoN: 99MIDxxxx
        (992351234, ("aton", "GB")),
        (995671001, ("aton", "TH")),
        # craft associated with a parent ship: 98MIDxxxx; handheld VHF/DSC/GNSS: 8MIDxxxxx
        (984191234, ("craft", "IN")),
        (841912345, ("craft", "IN")),
        # distress devices carry a manufacturer id, not a MID
        (970123456, ("sart", None)),
        (972011234, ("mob", None)),
        (974990001, ("epirb", None)),
        # a beacon is never demoted, even with an implausible serial
        (970000000, ("sart", None)),
    ],
)
def test_classify(mmsi: int, expected: tuple[str, str | None]) -> None:
    assert classify(mmsi) == expected


@pytest.mark.parametrize(
    ("mmsi", "flag"),
    [
        (0, None),
        (-1, None),
        (1_000_000_000, None),
        (2**30 - 1, None),  # largest 30-bit AIS value, beyond nine digits
        (123456789, None),
        (12345678, None),  # 012345678
        (987654321, None),
        (111111111, None),
        (222222222, None),
        (555555555, None),  # MID 555 is Pitcairn, but these digits say nothing about a flag
        (999999999, None),
        (100000000, None),
        (200000000, None),
        (412000000, "CN"),  # round value: a Chinese unit that kept its default serial
        (217123456, None),  # MID 217 is not allocated
        (260123456, None),
        (821712345, None),  # handheld with the unallocated MID 217
        (1234567, None),  # 001234567: coast-station form with MID 123
        (123456, None),  # 000123456: no format has three leading zeros
        (12345679, None),  # 012345679: group form with MID 123
        (112405100, None),  # 1xx other than 111
        (971123456, None),  # 971 is not a device class
        (990123456, None),  # AtoN form with MID 012
    ],
)
def test_invalid(mmsi: int, flag: str | None) -> None:
    assert classify(mmsi) == ("invalid", flag)


@pytest.mark.parametrize(
    ("mmsi", "expected"),
    [
        (405123456, False),
        (412000000, True),
        (0, True),
        (123456789, True),
        (12345678, True),
        (987654321, True),
        (777777777, True),
        (533000001, False),
        (970123456, False),
        (-5, False),
        (1_000_000_000, False),
    ],
)
def test_is_placeholder(mmsi: int, expected: bool) -> None:
    assert is_placeholder(mmsi) is expected


@pytest.mark.parametrize(
    ("mmsi", "mid"),
    [
        (405123456, 405),
        (40512345, 405),
        (4050123, 405),
        (111405100, 405),
        (992351234, 235),
        (984191234, 419),
        (841912345, 419),
        (217123456, 217),  # where the format puts it, allocated or not
        (970123456, None),
        (123456789, None),
        (0, None),
        (-1, None),
        (1_000_000_000, None),
    ],
)
def test_mid_of(mmsi: int, mid: int | None) -> None:
    assert mid_of(mmsi) == mid


def test_flag_of_mid() -> None:
    assert flag_of_mid(405) == "BD"
    assert flag_of_mid(217) is None


def test_bay_of_bengal_and_andaman_sea_states() -> None:
    expected = {
        405: "BD",
        419: "IN",
        506: "MM",
        567: "TH",
        533: "MY",
        525: "ID",
        417: "LK",
        503: "AU",
        563: "SG",
        455: "MV",
        463: "PK",
    }
    assert {mid: MIDS[mid].iso2 for mid in expected} == expected


def _csv_rows() -> list[list[str]]:
    text = files("ingest").joinpath("data/mid.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("# source: ITU Maritime Identification Digits table (ITU-R M.585)")
    rows = list(csv.reader(line for line in lines if line and not line.startswith("#")))
    assert rows[0] == ["mid", "iso2", "country"]
    return rows[1:]


def test_mid_csv_is_well_formed() -> None:
    rows = _csv_rows()
    assert len(rows) >= 280
    mids = [row[0] for row in rows]
    assert len(mids) == len(set(mids)), "duplicate MID"
    for row in rows:
        assert len(row) == 3, row
        mid, iso2, country = row
        assert re.fullmatch(r"[2-7]\d\d", mid), row
        assert 201 <= int(mid) <= 775, row
        assert re.fullmatch(r"[A-Z]{2}", iso2), row
        assert country.strip() == country and country, row
    assert len(MIDS) == len(rows)


# Any int in range(-10, 2**31), with extra weight on the nine-digit range where the formats live.
@given(st.one_of(st.integers(min_value=-10, max_value=2**31 - 1), st.integers(0, MAX_MMSI)))
def test_classify_never_raises(mmsi: int) -> None:
    kind, flag = classify(mmsi)
    assert kind in CLASSES
    if is_placeholder(mmsi) and not 970_000_000 <= mmsi < 975_000_000:
        assert kind == "invalid"
    assert flag is None or (len(flag) == 2 and flag.isupper())
    if kind in ("sart", "mob", "epirb"):
        assert flag is None
    elif kind != "invalid":
        assert flag is not None
        assert flag == flag_of_mid(mid_of(mmsi) or 0)
