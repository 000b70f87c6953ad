"""Plausible identities: MMSIs from the flag's MIDs, IMO numbers with their check digit, call
signs with the flag's ITU prefix, names in the style of each fleet."""

from __future__ import annotations

import random
from typing import Final

from ingest.mmsi import flag_of_mid, is_placeholder
from lookout.sim.vessel import Identity

__all__ = ["IdentityFactory", "imo_check_digit", "valid_imo"]

_CALLSIGN_PREFIX: Final = {
    "BD": ("S2", "S3"),
    "MM": ("XY", "XZ"),
    "IN": ("AT", "AU", "VT", "VW"),
    "TH": ("HS", "E2"),
    "MY": ("9M", "9W"),
    "ID": ("PK", "PM", "YB", "YC"),
    "LK": ("4R",),
    "PA": ("3E", "3F", "H3"),
    "SG": ("9V", "S6"),
    "LR": ("A8", "D5", "5L"),
    "MH": ("V7",),
    "HK": ("VR", "VRS"),
    "CN": ("BO", "BP", "BR"),
    "KR": ("D7", "DS"),
    "JP": ("JD", "7J"),
    "CY": ("5B", "C4"),
    "MT": ("9H",),
}

_MERCHANT_WORDS: Final = (
    "OCEAN",
    "STAR",
    "GLORY",
    "PACIFIC",
    "BENGAL",
    "GRACE",
    "FORTUNE",
    "HARMONY",
    "PEARL",
    "EASTERN",
    "PROSPER",
    "LUCKY",
    "GOLDEN",
    "JADE",
    "ORIENT",
    "CROWN",
    "SUMMIT",
    "PHOENIX",
    "MERIDIAN",
    "ATLAS",
    "VICTORIA",
    "NOBLE",
    "BRIGHT",
    "SILVER",
    "ROYAL",
    "UNITY",
    "ZENITH",
    "HORIZON",
    "DIAMOND",
    "EVER",
    "GREAT",
    "ASIA",
    "MARINE",
    "SPIRIT",
    "PRIDE",
    "WISDOM",
)
_FISHING_NAMES: Final = {
    "BD": (
        "MAYER DOA",
        "SAGOR",
        "NOOR",
        "BISMILLAH",
        "AL MADINA",
        "SONAR BANGLA",
        "MOHONA",
        "NIRAPOD",
        "JOBA",
        "TAZKIA",
        "SAMUDRA",
        "ALIF",
    ),
    "MM": ("SHWE PYI", "AUNG MYAY", "MYAT NOE", "YADANAR", "THIRI", "NAGA", "SEIN LAN"),
    "IN": ("JAI MATA DI", "SAI RAM", "GANGA", "SAGAR KANYA", "MATSYA", "JALA DEVI"),
    "TH": ("SOMBOON", "CHOKE CHAI", "SIAM", "NAWA", "THANA", "KRUNG"),
    "MY": ("SRI PERLIS", "MUTIARA", "PUTRA", "BINTANG", "KEDAH JAYA"),
    "ID": ("KM SINAR", "KM BAHARI", "KM RIZKI", "KM SEJAHTERA", "KM ACEH JAYA"),
}


def imo_check_digit(six: int) -> int:
    digits = f"{six:06d}"
    return sum(int(d) * w for d, w in zip(digits, range(7, 1, -1), strict=True)) % 10


def valid_imo(six: int) -> int:
    return six * 10 + imo_check_digit(six)


class IdentityFactory:
    """Unique MMSIs and plausible static data; the same seed gives the same fleet."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[int] = set()
        self.names: set[str] = set()

    def mmsi(self, mids: tuple[int, ...]) -> int:
        rng = self.rng
        while True:
            mid = rng.choice(mids)
            serial = rng.randint(1, 999_999)
            if serial % 1000 == 0:  # round serials look like placeholders
                continue
            mmsi = mid * 1_000_000 + serial
            if mmsi not in self.used and not is_placeholder(mmsi):
                self.used.add(mmsi)
                return mmsi

    def claim(self, mmsi: int) -> int:
        self.used.add(mmsi)
        return mmsi

    def imo(self) -> int:
        first = self.rng.choice((9, 9, 9, 9, 9, 8, 7))
        return valid_imo(first * 100_000 + self.rng.randint(0, 99_999))

    def callsign(self, mmsi: int) -> str:
        flag = flag_of_mid(mmsi // 1_000_000) or "PA"
        prefix = self.rng.choice(_CALLSIGN_PREFIX.get(flag, ("XX",)))
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return prefix + "".join(self.rng.choice(letters) for _ in range(6 - len(prefix)))

    def _unique(self, name: str) -> str:
        base, number = name, 2
        while name in self.names:
            name = f"{base} {number}"
            number += 1
        self.names.add(name)
        return name[:20]

    def merchant(self, mmsi: int, ship_type: int, destination: str) -> Identity:
        rng = self.rng
        name = self._unique(f"{rng.choice(_MERCHANT_WORDS)} {rng.choice(_MERCHANT_WORDS)}")
        length = rng.choice((110, 140, 160, 180, 190, 200, 225, 230, 260, 300))
        if ship_type in (79, 71) or length < 130:
            length = rng.choice((90, 110, 120, 140))
        beam = max(16, round(length / 6.5))
        bow = round(length * rng.uniform(0.8, 0.9))
        port = beam // 2
        return Identity(
            name=name,
            callsign=self.callsign(mmsi),
            imo=self.imo(),
            ship_type=ship_type,
            to_bow=bow,
            to_stern=length - bow,
            to_port=port,
            to_starboard=beam - port,
            draught=round(rng.uniform(0.45, 0.8) * length / 20, 1),
            destination=destination,
        )

    def small(
        self, mmsi: int, ship_type: int, country: str, *, imo: bool = False, length: int = 0
    ) -> Identity:
        """A fishing boat, tug, ferry or small craft of a regional fleet."""
        rng = self.rng
        if ship_type == 30:
            base = rng.choice(_FISHING_NAMES.get(country, ("SEA HUNTER",)))
            name = self._unique(f"{'FV ' if country in ('BD', 'IN') else ''}{base}")
        else:
            name = self._unique(f"{rng.choice(_MERCHANT_WORDS)} {rng.randint(1, 99)}")
        length = length or rng.randint(14, 32)
        beam = max(4, round(length / 4))
        bow = round(length * 0.7)
        return Identity(
            name=name,
            callsign=self.callsign(mmsi),
            imo=self.imo() if imo else 0,
            ship_type=ship_type,
            to_bow=bow,
            to_stern=length - bow,
            to_port=beam // 2,
            to_starboard=beam - beam // 2,
            draught=round(length / 9, 1) if imo else 0.0,
        )
