"""The Bay of Bengal and Andaman Sea as the simulator sees them: public geography only.

Coordinates are (lat, lon), decimal degrees, drawn from charts and port information in the
public domain; lanes follow the usual routes between the region's ports (the east-west trunk
from Dondra Head through the Great Channel into the Strait of Malacca, the Preparis and Ten
Degree Channels into the Andaman Sea, the coastal routes of India, Bangladesh and Myanmar) and
keep to open water (`tests/unit/test_simulate_region.py` samples every lane against the
vendored Natural Earth land). Fishing grounds are the shelf grounds of each coast with their
usual towing direction (along the depth contours, so parallel to the coast). AIS receivers are
the coastal stations of the national networks, approximately placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

LatLon = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Port:
    id: str
    name: str
    country: str  # ISO alpha-2
    berth: LatLon  # inside the port zone
    anchorage: LatLon | None  # an anchorage or roads where ships wait, if any
    approach: LatLon  # the sea-side end of the approach, where lanes start


@dataclass(frozen=True, slots=True)
class Lane:
    id: str
    waypoints: tuple[LatLon, ...]
    weight: float  # share of merchant traffic
    ship_types: tuple[int, ...] = (70, 70, 70, 79, 80, 80, 71, 89)
    speed_kn: tuple[float, float] = (10.0, 15.5)


@dataclass(frozen=True, slots=True)
class Ground:
    """A fishing ground: vessels tow along `tow_course` (and back) within `radius_km`."""

    id: str
    country: str
    centre: LatLon
    radius_km: float
    tow_course: float  # degrees true; the reverse tow is the reciprocal
    home: str  # the port id boats of this ground belong to
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class FerryRoute:
    id: str
    country: str
    legs: tuple[LatLon, ...]  # terminal, waypoints ..., terminal
    departures_h: tuple[float, ...]  # local departure hours from the first terminal
    speed_kn: float
    dwell_h: float  # turnaround at the far terminal
    utc_offset_h: float


@dataclass(frozen=True, slots=True)
class Receiver:
    id: str  # the tag block's `s:` station
    at: LatLon
    range_nm: float  # class A; class B reaches about 70 % of it


@dataclass(frozen=True, slots=True)
class Landing:
    """A beach or creek mouth just off the coast: where migrant boats leave or land."""

    id: str
    country: str
    at: LatLon
    zone: str  # the config zone it belongs to (departure area or destination coast)


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    bbox: tuple[float, float, float, float]  # west, south, east, north
    ports: dict[str, Port]
    lanes: tuple[Lane, ...]
    grounds: tuple[Ground, ...]
    ferries: tuple[FerryRoute, ...]
    receivers: tuple[Receiver, ...]
    departures: tuple[Landing, ...]
    destinations: tuple[Landing, ...]
    # Routes migrant boats take from the departure areas, by destination country.
    crossing_routes: dict[str, tuple[LatLon, ...]] = field(default_factory=dict)
    # Open-water boxes (west, south, east, north) far from lanes, for behaviours at sea.
    open_sea: tuple[tuple[float, float, float, float], ...] = ()
    mids: dict[str, tuple[int, ...]] = field(default_factory=dict)  # country -> MIDs


_PORTS: Final = (
    Port("chittagong", "CHITTAGONG", "BD", (22.30, 91.81), (22.12, 91.72), (21.95, 91.62)),
    Port("kutubdia", "KUTUBDIA", "BD", (21.82, 91.75), (21.82, 91.75), (21.70, 91.62)),
    Port("mongla", "MONGLA", "BD", (22.47, 89.60), (22.00, 89.58), (21.45, 89.62)),
    Port("payra", "PAYRA", "BD", (21.97, 90.28), None, (21.55, 90.30)),
    Port("coxs_bazar", "COXS BAZAR", "BD", (21.45, 91.97), None, (21.40, 91.88)),
    Port("teknaf", "TEKNAF", "BD", (20.86, 92.30), None, (20.70, 92.22)),
    Port("sittwe", "SITTWE", "MM", (20.13, 92.90), None, (19.92, 92.80)),
    Port("kyaukphyu", "KYAUKPHYU", "MM", (19.42, 93.55), None, (19.25, 93.42)),
    Port("yangon", "YANGON", "MM", (16.77, 96.18), (16.30, 96.30), (16.00, 96.30)),
    Port("myeik", "MYEIK", "MM", (12.44, 98.60), None, (12.40, 98.45)),
    Port("kawthaung", "KAWTHAUNG", "MM", (9.98, 98.55), None, (9.80, 98.45)),
    Port("ranong", "RANONG", "TH", (9.94, 98.59), None, (9.80, 98.45)),
    Port("phuket", "PHUKET", "TH", (7.83, 98.40), (7.81, 98.35), (7.70, 98.45)),
    Port("krabi", "KRABI", "TH", (8.03, 98.91), None, (7.85, 98.80)),
    Port("satun", "SATUN", "TH", (6.53, 100.06), None, (6.45, 99.95)),
    Port("langkawi", "LANGKAWI", "MY", (6.29, 99.85), None, (6.24, 99.86)),
    Port("penang", "PENANG", "MY", (5.40, 100.35), (5.25, 100.33), (5.20, 100.20)),
    Port("port_klang", "PORT KLANG", "MY", (3.00, 101.35), (2.90, 101.20), (2.85, 101.05)),
    Port("belawan", "BELAWAN", "ID", (3.79, 98.70), (3.88, 98.76), (3.98, 98.80)),
    Port("sabang", "SABANG", "ID", (5.89, 95.32), (5.89, 95.32), (5.95, 95.40)),
    Port("malahayati", "MALAHAYATI", "ID", (5.60, 95.51), None, (5.70, 95.55)),
    Port("lhokseumawe", "LHOKSEUMAWE", "ID", (5.21, 97.08), None, (5.35, 97.12)),
    Port("haldia", "HALDIA", "IN", (22.03, 88.10), (21.05, 88.20), (20.90, 88.25)),
    Port("paradip", "PARADIP", "IN", (20.27, 86.68), None, (20.15, 86.85)),
    Port("visakhapatnam", "VISAKHAPATNAM", "IN", (17.69, 83.29), None, (17.60, 83.40)),
    Port("chennai", "CHENNAI", "IN", (13.10, 80.30), None, (13.10, 80.45)),
    Port("port_blair", "PORT BLAIR", "IN", (11.67, 92.74), None, (11.62, 92.82)),
)

# Lanes run on beyond the region (through Singapore into the South China Sea; west past the
# Eight Degree Channel), far enough that no ship reaches their end within a simulated day:
# a ship leaving the region keeps transmitting, as it would in a real recording.
_MALACCA_SOUTH: Final = (
    (2.45, 101.30),
    (2.05, 101.90),
    (1.60, 102.60),
    (1.22, 103.45),
    (1.17, 103.80),
    (1.25, 104.25),
    (1.60, 104.60),
    (3.00, 105.30),
    (5.50, 106.80),
    (8.00, 108.50),
    (11.00, 110.50),
)
_DONDRA: Final = ((5.70, 80.90), (5.75, 80.40))
_WEST: Final = (
    (5.85, 79.80),
    (6.50, 77.50),
    (7.50, 75.00),
    (7.80, 73.30),
    (8.50, 71.00),
    (10.00, 68.00),
    (12.00, 64.00),
)

_LANES: Final = (
    # The east-west trunk: Sri Lanka to the Strait of Malacca through the Great Channel.
    Lane(
        "trunk-dondra-malacca",
        (
            *_WEST[::-1],
            *_DONDRA[::-1],
            (5.85, 84.0),
            (6.00, 88.5),
            (6.10, 92.0),
            (6.30, 94.30),
            (6.05, 96.6),
            (5.45, 98.10),
            (4.30, 99.40),
            (3.40, 100.40),
            *_MALACCA_SOUTH,
        ),
        weight=5.0,
        ship_types=(70, 70, 70, 70, 71, 79, 80, 80, 81, 84, 89),
        speed_kn=(11.0, 19.0),
    ),
    Lane(
        "chittagong-malacca",
        (
            (21.95, 91.62),
            (20.60, 91.40),
            (17.20, 92.55),
            (14.50, 93.52),
            (12.00, 95.60),
            (8.50, 97.20),
            (6.40, 97.70),
            (5.45, 98.10),
            (4.30, 99.40),
            (3.40, 100.40),
            *_MALACCA_SOUTH,
        ),
        weight=2.0,
    ),
    Lane(
        "chittagong-colombo",
        (
            (21.95, 91.62),
            (20.60, 91.40),
            (15.00, 87.50),
            (10.00, 83.50),
            (7.00, 82.40),
            *_DONDRA,
            *_WEST,
        ),
        weight=1.2,
    ),
    Lane(
        "chittagong-haldia",
        ((21.95, 91.62), (21.45, 91.20), (21.20, 90.30), (21.10, 89.40), (20.90, 88.25)),
        weight=1.0,
        ship_types=(70, 70, 80, 89, 79),
    ),
    Lane(
        "chittagong-yangon",
        (
            (21.95, 91.62),
            (20.60, 91.55),
            (18.50, 92.95),
            (16.60, 93.75),
            (15.75, 94.20),
            (15.45, 95.10),
            (15.70, 95.90),
            (16.00, 96.30),
        ),
        weight=0.8,
        ship_types=(70, 70, 79, 80),
    ),
    Lane(
        "chittagong-mongla",
        ((21.95, 91.62), (21.45, 91.20), (21.30, 90.30), (21.45, 89.62)),
        weight=0.5,
        ship_types=(70, 70, 79),
    ),
    Lane(
        "haldia-malacca",
        (
            (20.90, 88.25),
            (17.00, 90.00),
            (11.00, 91.90),
            (10.00, 92.30),
            (9.90, 93.20),
            (8.40, 95.20),
            (6.40, 97.70),
            (5.45, 98.10),
            (4.30, 99.40),
            (3.40, 100.40),
            *_MALACCA_SOUTH,
        ),
        weight=1.5,
    ),
    Lane(
        "haldia-colombo",
        (
            (20.90, 88.25),
            (19.70, 87.40),
            (17.20, 84.30),
            (14.00, 81.40),
            (10.50, 81.20),
            (6.90, 82.45),
            (5.80, 81.60),
            *_DONDRA,
            *_WEST,
        ),
        weight=1.5,
    ),
    Lane(
        "paradip-malacca",
        (
            (20.15, 86.85),
            (16.00, 89.00),
            (11.00, 91.90),
            (10.00, 92.30),
            (9.90, 93.20),
            (8.40, 95.20),
            (6.40, 97.70),
            (5.45, 98.10),
            (4.30, 99.40),
            (3.40, 100.40),
            *_MALACCA_SOUTH,
        ),
        weight=1.0,
        ship_types=(70, 80, 80, 81),
    ),
    Lane(
        "visakhapatnam-colombo",
        (
            (17.60, 83.40),
            (16.20, 82.60),
            (14.00, 81.40),
            (10.50, 81.20),
            (6.90, 82.45),
            (5.80, 81.60),
            *_DONDRA,
            *_WEST,
        ),
        weight=0.8,
    ),
    Lane(
        "chennai-malacca",
        (
            (13.10, 80.45),
            (11.50, 86.00),
            (10.05, 92.70),
            (8.40, 95.20),
            (6.40, 97.70),
            (5.45, 98.10),
            (4.30, 99.40),
            (3.40, 100.40),
            *_MALACCA_SOUTH,
        ),
        weight=1.2,
    ),
    Lane(
        "chennai-portblair",
        ((13.10, 80.45), (11.80, 86.00), (11.10, 92.45), (11.25, 92.85), (11.62, 92.82)),
        weight=0.4,
        ship_types=(60, 70, 70, 80),
    ),
    Lane(
        "yangon-malacca",
        (
            (16.00, 96.30),
            (14.80, 96.80),
            (12.00, 96.90),
            (9.00, 97.40),
            (6.40, 97.70),
            (5.45, 98.10),
            (4.30, 99.40),
            (3.40, 100.40),
            *_MALACCA_SOUTH,
        ),
        weight=0.8,
    ),
    Lane(
        "yangon-penang",
        (
            (16.00, 96.30),
            (14.80, 96.80),
            (12.00, 96.90),
            (8.00, 97.60),
            (6.40, 98.60),
            (5.60, 99.90),
            (5.20, 100.20),
        ),
        weight=0.5,
        ship_types=(70, 70, 79),
    ),
    Lane(
        "phuket-penang",
        ((7.70, 98.45), (7.00, 98.55), (6.00, 99.45), (5.60, 99.90), (5.20, 100.20)),
        weight=0.4,
        ship_types=(70, 79, 52, 60),
        speed_kn=(8.0, 13.0),
    ),
    Lane(
        "belawan-penang",
        ((3.98, 98.80), (4.60, 99.50), (5.20, 100.20)),
        weight=0.4,
        ship_types=(70, 79, 80),
    ),
    Lane(
        "sittwe-chittagong",
        ((19.92, 92.80), (20.30, 92.45), (20.65, 92.10), (21.40, 91.70), (21.95, 91.62)),
        weight=0.3,
        ship_types=(70, 79, 52),
        speed_kn=(7.0, 11.0),
    ),
    Lane(
        "kyaukphyu-malacca",
        (
            (19.25, 93.42),
            (18.50, 93.10),
            (17.20, 92.55),
            (14.50, 93.52),
            (12.00, 95.60),
            (8.50, 97.20),
            (6.40, 97.70),
            (5.45, 98.10),
            (4.30, 99.40),
            (3.40, 100.40),
            *_MALACCA_SOUTH,
        ),
        weight=0.6,
        ship_types=(80, 80, 84, 89),
    ),
)

_GROUNDS: Final = (
    Ground("bd-coxs", "BD", (21.05, 91.72), 12.0, 160.0, "coxs_bazar", 2.0),
    Ground("bd-teknaf", "BD", (20.55, 92.05), 10.0, 150.0, "teknaf", 1.5),
    Ground("bd-middle", "BD", (21.20, 90.40), 25.0, 90.0, "payra", 2.0),
    Ground("bd-swatch", "BD", (21.25, 89.45), 15.0, 75.0, "mongla", 1.0),
    Ground("mm-rakhine", "MM", (19.55, 92.85), 15.0, 140.0, "sittwe", 1.5),
    Ground("mm-ramree", "MM", (18.70, 93.20), 15.0, 150.0, "kyaukphyu", 1.0),
    Ground("mm-martaban", "MM", (15.90, 97.00), 20.0, 0.0, "yangon", 1.0),
    Ground("mm-mergui", "MM", (11.90, 97.80), 20.0, 170.0, "myeik", 1.0),
    Ground("th-ranong", "TH", (9.45, 98.10), 12.0, 160.0, "ranong", 1.0),
    Ground("th-phuket", "TH", (7.95, 98.10), 10.0, 0.0, "phuket", 1.0),
    Ground("th-satun", "TH", (6.80, 99.40), 12.0, 130.0, "satun", 0.8),
    Ground("my-kedah", "MY", (5.85, 100.05), 10.0, 170.0, "penang", 1.0),
    Ground("id-aceh-north", "ID", (5.80, 96.20), 12.0, 100.0, "malahayati", 1.0),
    Ground("id-lhokseumawe", "ID", (5.45, 97.40), 12.0, 120.0, "lhokseumawe", 1.0),
    Ground("in-sandheads", "IN", (20.75, 88.70), 15.0, 80.0, "haldia", 1.0),
    Ground("in-paradip", "IN", (19.95, 86.95), 12.0, 45.0, "paradip", 1.0),
    Ground("in-vizag", "IN", (17.45, 83.55), 10.0, 45.0, "visakhapatnam", 0.8),
    Ground("in-andaman", "IN", (11.95, 93.15), 8.0, 0.0, "port_blair", 0.5),
)

_FERRIES: Final = (
    FerryRoute(
        "teknaf-stmartin",
        "BD",
        ((20.70, 92.24), (20.66, 92.30), (20.63, 92.32)),
        departures_h=(9.5, 10.0),
        speed_kn=11.0,
        dwell_h=5.5,
        utc_offset_h=6.0,
    ),
    FerryRoute(
        "phuket-phiphi",
        "TH",
        ((7.84, 98.41), (7.80, 98.55), (7.74, 98.77)),
        departures_h=(8.5, 11.0, 13.5),
        speed_kn=14.0,
        dwell_h=1.5,
        utc_offset_h=7.0,
    ),
    FerryRoute(
        "langkawi-perlis",
        "MY",
        ((6.28, 99.86), (6.30, 99.90), (6.35, 100.05), (6.385, 100.12)),
        departures_h=(7.0, 9.0, 11.0, 13.0, 15.0, 17.0),
        speed_kn=18.0,
        dwell_h=0.8,
        utc_offset_h=8.0,
    ),
    FerryRoute(
        "penang-langkawi",
        "MY",
        (
            (5.41, 100.355),
            (5.47, 100.36),
            (5.55, 100.30),
            (5.60, 100.10),
            (6.05, 99.85),
            (6.22, 99.90),
            (6.28, 99.86),
        ),
        departures_h=(8.25, 14.0),
        speed_kn=20.0,
        dwell_h=1.5,
        utc_offset_h=8.0,
    ),
    FerryRoute(
        "portblair-havelock",
        "IN",
        ((11.66, 92.77), (11.75, 92.85), (11.95, 92.92), (11.99, 92.94)),
        departures_h=(6.5, 11.0, 14.0),
        speed_kn=16.0,
        dwell_h=1.0,
        utc_offset_h=5.5,
    ),
    FerryRoute(
        "sabang-banda",
        "ID",
        ((5.89, 95.30), (5.92, 95.32), (5.90, 95.38), (5.75, 95.42), (5.62, 95.52)),
        departures_h=(8.0, 16.0),
        speed_kn=15.0,
        dwell_h=2.0,
        utc_offset_h=7.0,
    ),
)

_RECEIVERS: Final = (
    Receiver("bd-chittagong", (22.27, 91.80), 45.0),
    Receiver("bd-coxsbazar", (21.43, 92.00), 40.0),
    Receiver("bd-mongla", (22.00, 89.60), 35.0),
    Receiver("mm-sittwe", (20.14, 92.89), 35.0),
    Receiver("mm-kyaukphyu", (19.43, 93.54), 35.0),
    Receiver("mm-yangon", (16.30, 96.28), 40.0),
    Receiver("mm-myeik", (12.44, 98.55), 35.0),
    Receiver("in-haldia", (21.60, 88.05), 40.0),
    Receiver("in-paradip", (20.27, 86.68), 40.0),
    Receiver("in-vizag", (17.69, 83.29), 40.0),
    Receiver("in-chennai", (13.10, 80.30), 40.0),
    Receiver("in-portblair", (11.67, 92.74), 45.0),
    Receiver("in-carnicobar", (9.17, 92.82), 40.0),
    Receiver("in-campbellbay", (7.00, 93.93), 40.0),
    Receiver("lk-trincomalee", (8.57, 81.23), 40.0),
    Receiver("lk-dondra", (5.92, 80.59), 40.0),
    Receiver("th-ranong", (9.95, 98.60), 35.0),
    Receiver("th-phuket", (7.88, 98.30), 45.0),
    Receiver("th-satun", (6.62, 99.90), 35.0),
    Receiver("my-langkawi", (6.40, 99.75), 40.0),
    Receiver("my-penang", (5.40, 100.30), 45.0),
    Receiver("my-klang", (3.00, 101.30), 45.0),
    Receiver("id-sabang", (5.88, 95.30), 45.0),
    Receiver("id-lhokseumawe", (5.20, 97.10), 40.0),
    Receiver("id-belawan", (3.79, 98.70), 40.0),
    Receiver("my-malacca", (2.20, 102.25), 40.0),
    Receiver("sg-singapore", (1.26, 103.80), 45.0),
    Receiver("lk-galle", (6.03, 80.22), 40.0),
    Receiver("lk-colombo", (6.95, 79.85), 40.0),
)

_DEPARTURES: Final = (
    Landing("shamlapur", "BD", (21.04, 92.09), "dep-coxs-bazar-teknaf"),
    Landing("teknaf-beach", "BD", (20.86, 92.22), "dep-coxs-bazar-teknaf"),
    Landing("shah-porir-dwip", "BD", (20.73, 92.28), "dep-coxs-bazar-teknaf"),
    Landing("st-martins", "BD", (20.61, 92.29), "dep-coxs-bazar-teknaf"),
    Landing("sittwe-west", "MM", (20.05, 92.80), "dep-rakhine-sittwe"),
    Landing("maungdaw-coast", "MM", (20.55, 92.38), "dep-rakhine-sittwe"),
    Landing("myebon-mouth", "MM", (19.80, 92.95), "dep-rakhine-sittwe"),
)

_DESTINATIONS: Final = (
    Landing("ranong-coast", "TH", (9.55, 98.36), "dest-th-andaman"),
    Landing("takua-pa", "TH", (8.80, 98.20), "dest-th-andaman"),
    Landing("satun-coast", "TH", (6.78, 99.70), "dest-th-andaman"),
    Landing("langkawi-west", "MY", (6.33, 99.62), "dest-my-north"),
    Landing("kedah-coast", "MY", (6.05, 100.25), "dest-my-north"),
    Landing("aceh-pidie", "ID", (5.45, 96.05), "dest-id-aceh"),
    Landing("aceh-bireuen", "ID", (5.27, 96.70), "dest-id-aceh"),
    Landing("aceh-east", "ID", (5.25, 97.60), "dest-id-aceh"),
    Landing("aceh-lhoknga", "ID", (5.47, 95.20), "dest-id-aceh"),
)

# Where a crossing leaves the coast behind and which way it goes, by destination country.
_CROSSINGS: Final = {
    "ID": (
        (19.60, 91.90),
        (16.00, 91.60),
        (12.00, 91.60),
        (8.30, 92.30),
        (6.30, 93.60),
        (6.20, 94.60),
    ),
    "TH": ((19.60, 92.20), (17.00, 92.80), (14.55, 93.52), (12.00, 96.40), (10.00, 97.60)),
    "MY": ((19.60, 92.20), (17.00, 92.80), (14.55, 93.52), (11.00, 96.60), (7.20, 98.50)),
}

_OPEN_SEA: Final = (
    (88.0, 14.0, 90.5, 18.5),  # western central Bay
    (85.0, 9.0, 89.5, 13.0),  # south-western Bay
    (89.5, 11.5, 91.3, 15.0),  # west of the Andamans
    (94.5, 9.5, 96.5, 13.0),  # central Andaman Sea
    (91.0, 17.5, 92.2, 19.5),  # off the Rakhine coast
    (86.0, 15.5, 88.5, 18.0),  # off Odisha and Andhra
    (96.0, 6.8, 97.2, 8.8),  # southern Andaman Sea
)

_MIDS: Final = {
    "BD": (405,),
    "MM": (506,),
    "IN": (419,),
    "TH": (567,),
    "MY": (533,),
    "ID": (525,),
    "LK": (417,),
    # open registers and the big Asian fleets seen on the lanes
    "XX": (
        351,
        352,
        353,
        354,
        355,
        370,
        371,
        372,
        373,
        477,
        563,
        564,
        565,
        566,
        636,
        538,
        412,
        413,
        414,
        440,
        431,
        209,
        212,
        249,
        256,
        215,
        229,
        248,
    ),
}

BAY_OF_BENGAL: Final = Region(
    name="bay-of-bengal",
    bbox=(78.0, 0.0, 101.5, 23.0),
    ports={port.id: port for port in _PORTS},
    lanes=_LANES,
    grounds=_GROUNDS,
    ferries=_FERRIES,
    receivers=_RECEIVERS,
    departures=_DEPARTURES,
    destinations=_DESTINATIONS,
    crossing_routes=_CROSSINGS,
    open_sea=_OPEN_SEA,
    mids=_MIDS,
)

REGIONS: Final = {BAY_OF_BENGAL.name: BAY_OF_BENGAL}
