"""Build the vendored geography and the default zones from Natural Earth (`world-atlas`).

    npm pack world-atlas && tar xzf world-atlas-*.tgz        # -> package/*.json
    python -m anomaly.geo.build package/                    # rewrites the files below

Writes `anomaly/geo/data/land.wkb` (Natural Earth 1:10m land over the Indian Ocean and
Southeast Asia, 1:50m land elsewhere, made valid), `anomaly/geo/data/countries.geojson`
(1:10m admin-0 countries, simplified, for naming the coast ahead) and the generated zone
files of `config/zones/` (territorial seas, destination coasts, ports and anchorages, and the
drawn areas below). The drawn areas are public geography traced by hand: approximate, for
alerting, not legal limits.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from anomaly.geo.geodesy import METRES_PER_NM, buffer_m, circle
from anomaly.geo.topojson import Topology

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ZONES = HERE.parent.parent / "config" / "zones"

# lon/lat window of the vendored land: the Indian Ocean and Southeast Asia, generously.
WINDOW = (40.0, -50.0, 150.0, 40.0)
# The region the default zones cover: the Bay of Bengal and the Andaman Sea.
REGION = (78.0, 0.0, 102.0, 24.5)

# ISO 3166-1 numeric -> alpha-2, for the countries inside WINDOW.
ISO_A2 = {
    "004": "AF",
    "031": "AZ",
    "036": "AU",
    "048": "BH",
    "050": "BD",
    "051": "AM",
    "064": "BT",
    "086": "IO",
    "096": "BN",
    "104": "MM",
    "116": "KH",
    "144": "LK",
    "156": "CN",
    "158": "TW",
    "174": "KM",
    "231": "ET",
    "232": "ER",
    "242": "FJ",
    "250": "FR",
    "260": "TF",
    "262": "DJ",
    "296": "KI",
    "316": "GU",
    "344": "HK",
    "356": "IN",
    "360": "ID",
    "364": "IR",
    "368": "IQ",
    "392": "JP",
    "404": "KE",
    "408": "KP",
    "410": "KR",
    "414": "KW",
    "417": "KG",
    "418": "LA",
    "446": "MO",
    "450": "MG",
    "458": "MY",
    "462": "MV",
    "480": "MU",
    "508": "MZ",
    "512": "OM",
    "524": "NP",
    "554": "NZ",
    "580": "MP",
    "581": "UM",
    "583": "FM",
    "585": "PW",
    "586": "PK",
    "598": "PG",
    "608": "PH",
    "626": "TL",
    "634": "QA",
    "682": "SA",
    "690": "SC",
    "702": "SG",
    "706": "SO",
    "760": "SY",
    "762": "TJ",
    "764": "TH",
    "784": "AE",
    "792": "TR",
    "795": "TM",
    "834": "TZ",
    "840": "US",
    "860": "UZ",
    "704": "VN",
    "887": "YE",
}

Ring = list[tuple[float, float]]

# -- drawn areas (lon, lat) ------------------------------------------------------------------
DRAWN: list[dict[str, Any]] = [
    {
        "id": "dep-coxs-bazar-teknaf",
        "name": "Cox's Bazar - Teknaf coast and St Martin's Island (departure area)",
        "kind": "departure_area",
        "country": "BD",
        "ring": [
            (91.85, 21.60),
            (92.05, 21.50),
            (92.15, 21.10),
            (92.30, 20.85),
            (92.36, 20.75),
            (92.35, 20.55),
            (92.15, 20.45),
            (91.90, 20.65),
            (91.70, 21.00),
            (91.68, 21.35),
        ],
    },
    {
        "id": "dep-rakhine-sittwe",
        "name": "Rakhine coast, Maungdaw to Myebon, around Sittwe (departure area)",
        "kind": "departure_area",
        "country": "MM",
        "ring": [
            (92.40, 20.78),
            (92.65, 20.55),
            (92.95, 20.30),
            (93.20, 20.05),
            (93.42, 19.85),
            (93.35, 19.62),
            (93.05, 19.60),
            (92.75, 19.85),
            (92.45, 20.20),
            (92.33, 20.55),
        ],
    },
    {
        "id": "bob-crossing-corridor",
        "name": "Bay of Bengal crossing corridor, off the Rakhine coast to the Preparis Channel",
        "kind": "watch_area",
        "country": None,
        "land": "minus",
        "ring": [
            (90.80, 21.30),
            (91.70, 21.00),
            (92.20, 20.40),
            (92.90, 19.60),
            (93.60, 18.60),
            (94.10, 17.60),
            (94.10, 16.40),
            (94.70, 15.60),
            (93.00, 15.60),
            (91.00, 17.50),
            (90.30, 19.50),
        ],
    },
    {
        "id": "preparis-coco-channels",
        "name": "Preparis and Coco Channels (approaches to the Andaman Sea)",
        "kind": "watch_area",
        "country": None,
        "land": "minus",
        "ring": [(93.00, 15.60), (94.70, 15.60), (94.70, 13.30), (93.00, 13.30)],
    },
    {
        "id": "ten-degree-channel",
        "name": "Ten Degree Channel (between Little Andaman and Car Nicobar)",
        "kind": "watch_area",
        "country": None,
        "land": "minus",
        "ring": [(92.00, 10.45), (93.30, 10.45), (93.30, 9.35), (92.00, 9.35)],
    },
    {
        "id": "great-channel",
        "name": "Great Channel (between Great Nicobar and Aceh)",
        "kind": "watch_area",
        "country": None,
        "land": "minus",
        "ring": [(93.20, 6.50), (95.60, 6.50), (95.60, 5.75), (93.20, 5.75)],
    },
    # Search-and-rescue regions: approximate outlines of the national SRRs in this region, for
    # routing alerts to the right rescue centre; NOT the IMO-published boundaries.
    {
        "id": "srr-bd",
        "name": "Bangladesh search-and-rescue region (approximate)",
        "kind": "sar_region",
        "country": "BD",
        "ring": [
            (89.10, 22.90),
            (92.50, 22.90),
            (92.35, 20.70),
            (91.50, 19.50),
            (89.90, 17.50),
            (89.10, 17.80),
        ],
    },
    {
        "id": "srr-mm",
        "name": "Myanmar search-and-rescue region (approximate)",
        "kind": "sar_region",
        "country": "MM",
        "ring": [
            (92.35, 20.70),
            (92.50, 22.90),
            (99.00, 22.90),
            (99.00, 10.00),
            (98.55, 9.95),
            (96.00, 9.60),
            (94.30, 11.00),
            (94.00, 13.40),
            (92.90, 13.90),
            (91.00, 15.50),
            (89.90, 17.50),
            (91.50, 19.50),
        ],
    },
    {
        "id": "srr-in",
        "name": "India search-and-rescue region, Bay of Bengal part (approximate)",
        "kind": "sar_region",
        "country": "IN",
        "ring": [
            (80.00, 23.00),
            (89.10, 22.90),
            (89.10, 17.80),
            (89.90, 17.50),
            (91.00, 15.50),
            (92.90, 13.90),
            (94.00, 13.40),
            (94.30, 11.00),
            (96.00, 9.60),
            (96.50, 7.20),
            (94.50, 6.30),
            (92.00, 5.00),
            (82.00, 5.00),
            (82.00, 10.20),
            (80.00, 10.20),
        ],
    },
    {
        "id": "srr-th",
        "name": "Thailand search-and-rescue region, Andaman Sea part (approximate)",
        "kind": "sar_region",
        "country": "TH",
        "ring": [
            (96.00, 9.60),
            (98.55, 9.95),
            (99.60, 9.90),
            (100.20, 6.45),
            (99.60, 6.50),
            (98.30, 6.30),
            (96.50, 7.20),
        ],
    },
    {
        "id": "srr-my",
        "name": "Malaysia search-and-rescue region, northern Strait of Malacca (approximate)",
        "kind": "sar_region",
        "country": "MY",
        "ring": [
            (98.30, 6.30),
            (99.60, 6.50),
            (100.20, 6.45),
            (101.60, 6.45),
            (101.60, 2.00),
            (101.20, 2.00),
            (100.40, 3.00),
            (99.60, 4.00),
            (98.90, 5.00),
        ],
    },
    {
        "id": "srr-id",
        "name": "Indonesia search-and-rescue region, northern Sumatra part (approximate)",
        "kind": "sar_region",
        "country": "ID",
        "ring": [
            (92.00, 5.00),
            (94.50, 6.30),
            (96.50, 7.20),
            (98.30, 6.30),
            (98.90, 5.00),
            (99.60, 4.00),
            (100.40, 3.00),
            (101.20, 2.00),
            (101.20, 0.00),
            (92.00, 0.00),
        ],
    },
]

# Destination coasts: the sea within `nm` of a country's land inside a clip outline.
DESTINATIONS: list[dict[str, Any]] = [
    {
        "id": "dest-th-andaman",
        "name": "Southern Thailand, Andaman coast (Ranong to Satun)",
        "country": "TH",
        "nm": 20.0,
        "clip": [
            (97.00, 10.35),
            (98.75, 10.35),
            (98.95, 9.30),
            (99.35, 8.50),
            (99.95, 7.50),
            (100.25, 6.80),
            (100.20, 6.45),
            (97.00, 6.45),
        ],
    },
    {
        "id": "dest-my-north",
        "name": "Northern Malaysia: Perlis, Kedah, Langkawi and Penang",
        "country": "MY",
        "nm": 20.0,
        "clip": [(99.20, 6.75), (100.60, 6.75), (100.60, 4.90), (99.20, 4.90)],
    },
    {
        "id": "dest-id-aceh",
        "name": "Aceh, Indonesia (Sabang and Banda Aceh to Langsa, and the west coast)",
        "country": "ID",
        "nm": 20.0,
        "clip": [
            (94.80, 6.30),
            (98.30, 6.30),
            (98.30, 4.10),
            (97.60, 3.00),
            (96.50, 3.00),
            (94.80, 4.50),
        ],
    },
]

# Ports and anchorages: (id, name, kind, country, lat, lon, radius km). Positions from public
# charts and port authority descriptions, rounded; radii cover the berths or anchorage area.
HARBOURS: list[tuple[str, str, str, str, float, float, float]] = [
    ("port-chittagong", "Chittagong (Chattogram) port", "port", "BD", 22.300, 91.805, 5.0),
    (
        "anch-chittagong",
        "Chittagong outer anchorage (Alpha, Bravo, Charlie)",
        "anchorage",
        "BD",
        22.120,
        91.720,
        9.0,
    ),
    ("anch-kutubdia", "Kutubdia anchorage", "anchorage", "BD", 21.820, 91.750, 8.0),
    ("port-mongla", "Mongla port", "port", "BD", 22.470, 89.600, 5.0),
    ("anch-mongla-harbaria", "Mongla / Harbaria anchorage", "anchorage", "BD", 22.000, 89.580, 7.0),
    ("port-payra", "Payra port", "port", "BD", 21.980, 90.280, 5.0),
    (
        "port-coxs-bazar",
        "Cox's Bazar landing (Bakkhali estuary)",
        "port",
        "BD",
        21.450,
        91.970,
        2.5,
    ),
    ("port-teknaf", "Teknaf landing (Naf river)", "port", "BD", 20.860, 92.300, 2.5),
    ("port-sittwe", "Sittwe port", "port", "MM", 20.135, 92.900, 5.0),
    ("port-kyaukphyu", "Kyaukphyu port and terminal", "port", "MM", 19.420, 93.550, 6.0),
    ("port-yangon", "Yangon port", "port", "MM", 16.770, 96.180, 6.0),
    ("port-thilawa", "Thilawa port", "port", "MM", 16.650, 96.270, 5.0),
    (
        "anch-yangon-river",
        "Yangon River outer anchorage (Elephant Point)",
        "anchorage",
        "MM",
        16.300,
        96.300,
        9.0,
    ),
    ("port-myeik", "Myeik (Mergui) port", "port", "MM", 12.440, 98.600, 4.0),
    ("port-kawthaung", "Kawthaung port", "port", "MM", 9.980, 98.550, 3.0),
    ("port-ranong", "Ranong port", "port", "TH", 9.940, 98.590, 4.0),
    ("port-phuket", "Phuket deep-sea port", "port", "TH", 7.830, 98.400, 4.0),
    ("anch-phuket-chalong", "Chalong Bay anchorage, Phuket", "anchorage", "TH", 7.810, 98.350, 4.0),
    ("anch-phuket-patong", "Patong Bay anchorage, Phuket", "anchorage", "TH", 7.895, 98.275, 3.0),
    ("port-krabi", "Krabi port", "port", "TH", 8.030, 98.910, 3.0),
    ("port-satun-tammalang", "Satun, Tammalang port", "port", "TH", 6.530, 100.060, 3.0),
    ("port-langkawi-kuah", "Langkawi, Kuah", "port", "MY", 6.310, 99.850, 4.0),
    ("port-penang", "Penang port (Butterworth and George Town)", "port", "MY", 5.400, 100.350, 6.0),
    ("anch-penang", "Penang southern anchorage", "anchorage", "MY", 5.250, 100.330, 5.0),
    ("port-klang", "Port Klang (Northport and Westport)", "port", "MY", 2.990, 101.340, 8.0),
    ("anch-port-klang", "Port Klang anchorage", "anchorage", "MY", 2.900, 101.200, 8.0),
    ("port-belawan", "Belawan port", "port", "ID", 3.790, 98.700, 5.0),
    ("anch-belawan", "Belawan anchorage", "anchorage", "ID", 3.880, 98.760, 6.0),
    ("port-sabang", "Sabang port and anchorage", "port", "ID", 5.890, 95.320, 4.0),
    ("port-malahayati", "Malahayati port, Banda Aceh", "port", "ID", 5.600, 95.510, 3.0),
    ("port-lhokseumawe", "Lhokseumawe and Krueng Geukueh port", "port", "ID", 5.210, 97.080, 6.0),
    ("port-kolkata-haldia", "Haldia dock (Kolkata port)", "port", "IN", 22.030, 88.100, 6.0),
    (
        "anch-sandheads",
        "Sandheads pilot anchorage (Hooghly approach)",
        "anchorage",
        "IN",
        21.050,
        88.200,
        9.0,
    ),
    ("port-paradip", "Paradip port", "port", "IN", 20.270, 86.680, 5.0),
    ("anch-paradip", "Paradip outer anchorage", "anchorage", "IN", 20.220, 86.780, 8.0),
    ("port-visakhapatnam", "Visakhapatnam port", "port", "IN", 17.690, 83.290, 6.0),
    ("anch-visakhapatnam", "Visakhapatnam outer anchorage", "anchorage", "IN", 17.640, 83.360, 7.0),
    ("port-chennai", "Chennai port", "port", "IN", 13.100, 80.300, 6.0),
    ("anch-chennai", "Chennai outer anchorage", "anchorage", "IN", 13.110, 80.390, 8.0),
    ("port-blair", "Port Blair", "port", "IN", 11.670, 92.740, 4.0),
    # ferry terminals: scheduled crossings end here, not on a beach
    ("port-phiphi-tonsai", "Koh Phi Phi, Ton Sai ferry pier", "port", "TH", 7.7385, 98.7745, 2.0),
    ("port-kuala-perlis", "Kuala Perlis ferry terminal", "port", "MY", 6.399, 100.129, 2.0),
    (
        "port-havelock",
        "Swaraj Dweep (Havelock Island) ferry jetty",
        "port",
        "IN",
        11.985,
        92.945,
        2.5,
    ),
    ("port-st-martins", "St Martin's Island jetty", "port", "BD", 20.628, 92.323, 1.5),
]

TERRITORIAL_SEA_COUNTRIES = ("IN", "BD", "MM", "TH", "MY", "ID", "LK")
TERRITORIAL_SEA_NM = 12.0
PRECISION = 1e-4  # degrees in the zone files (about 11 m)


def load(world_atlas: Path) -> tuple[BaseGeometry, list[tuple[str | None, str, BaseGeometry]]]:
    """Land (valid MultiPolygon) and (alpha-2, name, geometry) countries inside WINDOW."""
    land_topo = Topology(json.loads((world_atlas / "land-10m.json").read_bytes()))
    pieces = [
        shapely.make_valid(shapely.clip_by_rect(g, *WINDOW))
        for _, g in land_topo.features("land")
        if g is not None
    ]
    inside = _polygons(shapely.union_all([_polygons(p) for p in pieces]))
    # Elsewhere the 1:50m land, so the whole world has a coast (and no false one at the seam).
    world_topo = Topology(json.loads((world_atlas / "land-50m.json").read_bytes()))
    world = _polygons(
        shapely.union_all(
            [_polygons(shapely.make_valid(g)) for _, g in world_topo.features("land") if g]
        )
    )
    outside = shapely.difference(world, shapely.box(*WINDOW))
    land = _polygons(shapely.union_all([inside, _polygons(outside)]))
    countries_topo = Topology(json.loads((world_atlas / "countries-10m.json").read_bytes()))
    countries = []
    for meta, geometry in countries_topo.features("countries"):
        if geometry is None or geometry.bounds[2] - geometry.bounds[0] > 180.0:
            continue  # missing, or across the antimeridian (Fiji, Russia): outside WINDOW
        clipped = _polygons(shapely.make_valid(shapely.clip_by_rect(geometry, *WINDOW)))
        if not clipped.is_empty:
            code = ISO_A2.get(str(meta.get("id")))
            countries.append((code, str(meta.get("name")), clipped))
    return land, countries


def _polygons(geometry: BaseGeometry) -> BaseGeometry:
    """Only the polygonal parts (make_valid may leave lines and points behind)."""
    parts = [g for g in shapely.get_parts(geometry) if g.geom_type in ("Polygon", "MultiPolygon")]
    flat: list[shapely.Polygon] = []
    for part in parts:
        flat.extend(shapely.get_parts(part) if part.geom_type == "MultiPolygon" else [part])
    return shapely.MultiPolygon(flat)


def _tidy(geometry: BaseGeometry, simplify_deg: float = 0.0) -> BaseGeometry:
    if simplify_deg:
        geometry = shapely.simplify(geometry, simplify_deg, preserve_topology=True)
    return _polygons(shapely.make_valid(shapely.set_precision(geometry, PRECISION)))


def feature(
    zone_id: str, name: str, kind: str, country: str | None, geometry: BaseGeometry, **extra: Any
) -> dict[str, Any]:
    properties = {"id": zone_id, "name": name, "kind": kind, "country": country, **extra}
    geojson = json.loads(shapely.to_geojson(geometry))
    if geojson["type"] == "MultiPolygon" and len(geojson["coordinates"]) == 1:
        geojson = {"type": "Polygon", "coordinates": geojson["coordinates"][0]}
    return {"type": "Feature", "id": zone_id, "properties": properties, "geometry": geojson}


def drawn_zones(land: BaseGeometry) -> list[dict[str, Any]]:
    out = []
    for area in DRAWN:
        polygon: BaseGeometry = shapely.Polygon(area["ring"])
        if area.get("land") == "minus":
            polygon = shapely.difference(polygon, shapely.clip_by_rect(land, *polygon.bounds))
        out.append(feature(area["id"], area["name"], area["kind"], area["country"], _tidy(polygon)))
    return out


def destination_zones(
    land: BaseGeometry, countries: dict[str, BaseGeometry]
) -> list[dict[str, Any]]:
    out = []
    for dest in DESTINATIONS:
        clip = shapely.Polygon(dest["clip"])
        x0, y0, x1, y1 = clip.bounds
        country = shapely.clip_by_rect(countries[dest["country"]], x0 - 1, y0 - 1, x1 + 1, y1 + 1)
        near = buffer_m(country, dest["nm"] * METRES_PER_NM)
        local_land = shapely.clip_by_rect(land, x0 - 1, y0 - 1, x1 + 1, y1 + 1)
        strip = shapely.intersection(shapely.difference(near, local_land), clip)
        out.append(
            feature(
                dest["id"],
                dest["name"],
                "destination_coast",
                dest["country"],
                _tidy(strip, 0.002),
                distance_nm=dest["nm"],
            )
        )
    return out


def harbour_zones() -> list[dict[str, Any]]:
    return [
        feature(
            zone_id,
            name,
            kind,
            country,
            _tidy(circle(lat, lon, km * 1000.0)),
            centre=[lon, lat],
            radius_km=km,
        )
        for zone_id, name, kind, country, lat, lon, km in HARBOURS
    ]


def territorial_seas(
    land: BaseGeometry, countries: dict[str, BaseGeometry]
) -> list[dict[str, Any]]:
    """12 nm from each country's land, minus all land; where two overlap, the nearer wins."""
    x0, y0, x1, y1 = REGION
    local_land = shapely.clip_by_rect(land, x0 - 1, y0 - 1, x1 + 1, y1 + 1)
    seas: dict[str, BaseGeometry] = {}
    coasts: dict[str, BaseGeometry] = {}
    for code in TERRITORIAL_SEA_COUNTRIES:
        country = shapely.clip_by_rect(countries[code], x0 - 1, y0 - 1, x1 + 1, y1 + 1)
        coasts[code] = country
        sea = shapely.difference(buffer_m(country, TERRITORIAL_SEA_NM * METRES_PER_NM), local_land)
        seas[code] = shapely.clip_by_rect(sea, *REGION)
    for a in TERRITORIAL_SEA_COUNTRIES:
        for b in TERRITORIAL_SEA_COUNTRIES:
            if a >= b:
                continue
            overlap = shapely.intersection(seas[a], seas[b])
            if overlap.is_empty or overlap.area == 0:
                continue
            nearer_b = _nearer(overlap, coasts[a], coasts[b])
            seas[a] = shapely.difference(seas[a], nearer_b)
            seas[b] = shapely.difference(seas[b], shapely.difference(overlap, nearer_b))
    names = {
        "IN": "India",
        "BD": "Bangladesh",
        "MM": "Myanmar",
        "TH": "Thailand",
        "MY": "Malaysia",
        "ID": "Indonesia",
        "LK": "Sri Lanka",
    }
    return [
        feature(
            f"ts-{code.lower()}",
            f"{names[code]} territorial sea (approximate, 12 nm)",
            "territorial_sea",
            code,
            _tidy(seas[code], 0.003),
        )
        for code in TERRITORIAL_SEA_COUNTRIES
        if not seas[code].is_empty
    ]


def _nearer(area: BaseGeometry, a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    """The part of `area` nearer to `b` than to `a` (Voronoi of their coast points)."""
    x0, y0, x1, y1 = area.bounds
    pad = 0.5
    samples: list[tuple[float, float, int]] = []
    for label, geometry in ((0, a), (1, b)):
        boundary = shapely.clip_by_rect(geometry.boundary, x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        if boundary.is_empty:
            continue
        dense = shapely.segmentize(boundary, 0.01)
        for x, y in shapely.get_coordinates(dense):
            samples.append((float(x), float(y), label))
    if not any(s[2] == 1 for s in samples):
        return shapely.Polygon()
    if not any(s[2] == 0 for s in samples):
        return area
    unique = {(round(x, 6), round(y, 6)): label for x, y, label in samples}
    points = shapely.MultiPoint(list(unique))
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=area.envelope.buffer(1)))
    tree = shapely.STRtree(shapely.points(list(unique)))
    labels = np.array(list(unique.values()))
    mine = []
    for cell in cells:
        inside = tree.query(cell, predicate="contains_properly")
        if len(inside) and labels[inside[0]] == 1:
            mine.append(cell)
    return shapely.intersection(area, shapely.union_all(mine))


def write_collection(path: Path, features: list[dict[str, Any]], note: str) -> None:
    document = {"type": "FeatureCollection", "note": note, "features": features}
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "world_atlas", type=Path, help="folder with land-10m.json and countries-10m.json"
    )
    args = parser.parse_args(argv)
    land, countries = load(args.world_atlas)
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "land.wkb").write_bytes(shapely.to_wkb(land))
    country_features = [
        {
            "type": "Feature",
            "properties": {"iso_a2": code, "name": name},
            "geometry": json.loads(shapely.to_geojson(_tidy(geometry, 0.01))),
        }
        for code, name, geometry in sorted(countries, key=lambda c: c[1])
    ]
    write_collection(
        DATA / "countries.geojson",
        country_features,
        "Natural Earth 1:10m admin-0 countries via world-atlas 2.0.2, simplified",
    )
    by_code = {code: geometry for code, _, geometry in countries if code}
    ZONES.mkdir(parents=True, exist_ok=True)
    source = "Generated by anomaly/geo/build.py from Natural Earth 1:10m (world-atlas 2.0.2)"
    write_collection(
        ZONES / "bay-of-bengal.geojson",
        drawn_zones(land),
        "Drawn from public geography: approximate, for alerting, not legal limits",
    )
    write_collection(ZONES / "destination-coasts.geojson", destination_zones(land, by_code), source)
    write_collection(ZONES / "ports-anchorages.geojson", harbour_zones(), source)
    write_collection(
        ZONES / "territorial-seas.geojson",
        territorial_seas(land, by_code),
        source + ": 12 nm from the land, nearer country wins; not legal baselines",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
