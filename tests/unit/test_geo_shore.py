"""Distance to shore and land/sea from the vendored Natural Earth land, at known places."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import shapely

from anomaly.geo.geodesy import destination
from anomaly.geo.shore import Shore, distance_to_shore_nm, is_on_land, shore
from tests.geo_builders import (
    BANGKOK,
    CHITTAGONG_PORT,
    DHAKA,
    MALACCA_STRAIT,
    OFF_KHAO_LAK,
    OPEN_BAY,
    SOUTH_ANDAMAN,
    WEST_OF_ANDAMANS,
)


@pytest.fixture(scope="module")
def coast() -> Shore:
    return shore()


@pytest.mark.parametrize(
    ("place", "low", "high"),
    [
        (OPEN_BAY, 250.0, 330.0),  # the open Bay of Bengal: far from any coast
        (CHITTAGONG_PORT, 0.0, 1.0),  # in the port, on the river
        (WEST_OF_ANDAMANS, 35.0, 60.0),  # west of North Andaman
        (MALACCA_STRAIT, 20.0, 45.0),  # the Strait of Malacca, mid-channel
        (OFF_KHAO_LAK, 30.0, 45.0),
    ],
)
def test_known_places(place: tuple[float, float], low: float, high: float) -> None:
    assert low <= distance_to_shore_nm(*place) <= high
    assert not is_on_land(*place)


@pytest.mark.parametrize("place", [DHAKA, BANGKOK, SOUTH_ANDAMAN])
def test_land_is_land_and_zero_from_shore(place: tuple[float, float]) -> None:
    assert is_on_land(*place)
    assert distance_to_shore_nm(*place) == 0.0


def test_fast_lookup_agrees_with_the_exact_distance(coast: Shore) -> None:
    rng = random.Random(7)
    lats = np.array([rng.uniform(2.0, 23.0) for _ in range(600)])
    lons = np.array([rng.uniform(80.0, 100.0) for _ in range(600)])
    exact = np.maximum(coast.signed_distance_m(lats, lons), 0.0) / 1852.0
    fast = np.array([coast.distance_to_shore_nm(a, b) for a, b in zip(lats, lons, strict=True)])
    error = np.abs(fast - exact)
    # a few hundred metres near the coast, about a percent far out
    assert np.all(error <= np.maximum(0.35, 0.02 * exact))
    on_land = coast.signed_distance_m(lats, lons) < 0
    assert [coast.is_on_land(a, b) for a, b in zip(lats, lons, strict=True)] == list(on_land)


def test_fast_lookup_within_its_bound_at_sea(coast: Shore) -> None:
    """The accuracy the module states, against the exact distance, on vessel-like tracks
    across the Bay and the Andaman Sea (long runs through coarse cells, across medial axes, up
    to the coast) and scattered points at sea: within 0.5 nm, within 3 % beyond 5 nm, 99 %
    within 0.2 nm."""
    rng = random.Random(11)
    lats: list[float] = []
    lons: list[float] = []
    while len(lats) < 3000:  # 12 kn, a point every 5 minutes, until the track meets land
        lat, lon = rng.uniform(5.0, 23.0), rng.uniform(80.0, 99.0)
        course = rng.uniform(0.0, 360.0)
        for step in range(288):
            here = destination(lat, lon, course, step * 1852.0)
            if coast.is_on_land_exact(*here):
                break
            lats.append(here[0])
            lons.append(here[1])
    while len(lats) < 5000:
        lat, lon = rng.uniform(5.0, 23.0), rng.uniform(80.0, 99.0)
        if not coast.is_on_land_exact(lat, lon):
            lats.append(lat)
            lons.append(lon)
    exact = coast.coast_distance_m(lats, lons) / 1852.0
    fast = np.array([coast.distance_to_shore_nm(a, b) for a, b in zip(lats, lons, strict=True)])
    error = np.abs(fast - exact)
    assert error.max() <= 0.5, (error.max(), lats[int(error.argmax())], lons[int(error.argmax())])
    far = exact > 5.0
    assert np.all(error[far] <= 0.03 * exact[far])
    assert np.percentile(error, 99) <= 0.2
    assert not any(coast.is_on_land(a, b) for a, b in zip(lats, lons, strict=True))


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(-55.2, -133.4), (44.9, -140.0), (-45.0, -20.0), (62.0, 170.0), OPEN_BAY],
)
def test_exact_distance_is_to_the_nearest_coast_on_the_earth(
    coast: Shore, lat: float, lon: float
) -> None:
    # far out at high latitudes the piece nearest in Mercator can be far from the nearest on
    # the earth (70 % farther at the first place); the nearest coast vertex on the earth is
    # within a percent of the nearest coast point there
    rings = shapely.get_rings(shapely.get_parts(coast.land))
    vertices = shapely.get_coordinates(rings)
    p1, p2 = np.radians(lat), np.radians(vertices[:, 1])
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(vertices[:, 0] - lon) / 2) ** 2
    )
    nearest_vertex = float(2 * 6_371_008.8 * np.arcsin(np.sqrt(a)).min())
    exact = float(coast.coast_distance_m([lat], [lon])[0])
    assert abs(exact - nearest_vertex) <= 0.01 * nearest_vertex


def test_microseconds_per_point_once_warm(coast: Shore) -> None:
    rng = random.Random(3)
    # a vessel-like walk: consecutive points in nearby cells
    lat, lon = 15.0, 90.0
    points = []
    for _ in range(20_000):
        lat += rng.uniform(-0.003, 0.003)
        lon += rng.uniform(-0.003, 0.003)
        points.append((lat, lon))
    for lat, lon in points:
        coast.distance_to_shore_nm(lat, lon)
    started = time.perf_counter()
    for lat, lon in points:
        coast.distance_to_shore_nm(lat, lon)
        coast.is_on_land(lat, lon)
    per_point_us = (time.perf_counter() - started) / len(points) * 1e6
    assert per_point_us < 20.0, per_point_us  # about 1.5 us on the development machine


def test_landfall_along_a_course(coast: Shore) -> None:
    ahead = coast.landfall(*OFF_KHAO_LAK, course=90.0, horizon_nm=60.0)
    assert ahead is not None
    assert 30.0 <= ahead.distance_nm <= 45.0
    assert 98.1 <= ahead.lon <= 98.4 and abs(ahead.lat - OFF_KHAO_LAK[0]) < 0.01
    assert coast.landfall(*OFF_KHAO_LAK, course=270.0, horizon_nm=60.0) is None
    assert coast.landfall(*OPEN_BAY, course=0.0, horizon_nm=24.0) is None
    on_land = coast.landfall(*DHAKA, course=0.0, horizon_nm=24.0)
    assert on_land is not None and on_land.distance_nm == 0.0


def test_country_of_the_coast(coast: Shore) -> None:
    thai = coast.country_near(8.6, 98.25, within_nm=5.0)
    assert thai is not None and thai.code == "TH"
    bangladesh = coast.country_near(*CHITTAGONG_PORT, within_nm=5.0)
    assert bangladesh is not None and bangladesh.code == "BD"
    assert coast.country_near(*OPEN_BAY, within_nm=5.0) is None


def test_outside_the_detailed_window_the_coarser_land_still_answers() -> None:
    # the Mediterranean off Monaco (the track builder tests' home): 1:50m land there
    assert 1.0 <= distance_to_shore_nm(43.70, 7.45) <= 6.0
    assert is_on_land(48.85, 2.35)  # Paris
