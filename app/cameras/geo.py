"""Great-circle geometry and the latitude bands that index camera positions.

Cameras carry ``lat_band = floor(latitude / BAND_DEGREES)`` and are indexed on
``(lat_band, longitude, latitude)``. A radius query asks for the few bands its
bounding box crosses (an ``IN`` list) with a longitude range inside each, which
both SQLite and PostgreSQL answer with one B-tree range seek per band. The exact
great-circle distance then filters the small candidate set.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# IUGG mean Earth radius, the sphere that great-circle distance is measured on.
EARTH_RADIUS_M = 6_371_008.8
# About 222 m of latitude: a 500 m query reads 5-6 bands, each a short seek.
BAND_DEGREES = 0.002
# Past this many bands a range over lat_band is cheaper than a long IN list.
MAX_BAND_LIST = 64


def lat_band(latitude: float) -> int:
    return math.floor(latitude / BAND_DEGREES)


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres along the sphere (haversine, stable at short range)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((phi2 - phi1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h) if h < 1.0 else 1.0)


def points_within(
    lat: float, lon: float, radius_m: float, points: Iterable[tuple[int, float, float]]
) -> list[tuple[float, int, float, float]]:
    """``(distance_m, key, lat, lon)`` of each ``(key, lat, lon)`` at most ``radius_m`` away, nearest first.

    The arithmetic is ``great_circle_m``'s, step for step, so a distance here is the
    same float that function returns. A dense downtown sends thousands of candidates
    through this loop, hence the hoisted constants and the cheap test on the haversine
    term before the ``asin`` (``h`` grows with distance; its slack leaves the decision
    to the exact distance).
    """
    radians, sin, cos, asin, sqrt = math.radians, math.sin, math.cos, math.asin, math.sqrt
    diameter = 2 * EARTH_RADIUS_M
    phi1 = radians(lat)
    cos_phi1 = cos(phi1)
    half_angle = radius_m / diameter
    h_max = sin(half_angle) ** 2 * (1 + 1e-9) + 1e-15 if half_angle < math.pi / 2 else math.inf
    found = []
    for key, lat2, lon2 in points:
        phi2 = radians(lat2)
        h = sin((phi2 - phi1) / 2) ** 2 + cos_phi1 * cos(phi2) * sin(radians(lon2 - lon) / 2) ** 2
        if h <= h_max:
            distance = diameter * asin(sqrt(h) if h < 1.0 else 1.0)
            if distance <= radius_m:
                found.append((distance, key, lat2, lon2))
    found.sort()
    return found


@dataclass(frozen=True)
class BoundingBox:
    """A box that contains every point within the radius (conservatively)."""

    min_lat: float
    max_lat: float
    # One or two longitude ranges: two when the box crosses the antimeridian.
    lon_ranges: tuple[tuple[float, float], ...]

    @property
    def bands(self) -> range:
        return range(lat_band(self.min_lat), lat_band(self.max_lat) + 1)


@dataclass(frozen=True)
class FlatBound:
    """A plane test, in degrees, that every point within the radius passes.

    ``(lat - centre_lat)² + (lon - centre_lon)² · lon_scale ≤ limit`` is plain arithmetic
    a database evaluates on the index's columns, so about a fifth of a bounding box's
    candidates (its corners) never leave the database; the exact distance still decides.

    Why it never drops a point in reach: the haversine term is
    ``h = sin²(Δφ/2) + cos φ1 · cos φ2 · sin²(Δλ/2)`` and the distance is ``2R·asin(√h) ≥ 2R·√h``.
    Both latitudes lie in the box, so ``cos φ1 · cos φ2 ≥ c²`` with ``c`` the smallest cosine
    over the box; and ``sin x ≥ x (1 − x²/6)``. Hence, with ``s`` the box's largest half-span
    in radians, ``distance ≥ R (1 − s²/24) √(Δφ² + c² Δλ²)``: a point within ``radius_m``
    has ``√(Δφ² + c² Δλ²) ≤ (radius_m / R) / (1 − s²/24)``, which is the limit (with a hair
    of slack for rounding).
    """

    centre_lat: float
    centre_lon: float
    lon_scale: float
    limit: float


def flat_bound(lat: float, lon: float, radius_m: float, box: BoundingBox) -> FlatBound | None:
    """The box's plane test, or None where it does not apply: a box around a pole or across
    the antimeridian (longitudes wrap), or a radius past a few hundred kilometres."""
    if len(box.lon_ranges) != 1 or box.lon_ranges[0] == (-180.0, 180.0) or radius_m > 200_000:
        return None
    west, east = box.lon_ranges[0]
    half_span = math.radians(max(lat - box.min_lat, box.max_lat - lat, lon - west, east - lon))
    c = math.cos(math.radians(max(abs(box.min_lat), abs(box.max_lat))))
    reach = math.degrees(radius_m / EARTH_RADIUS_M) / (1 - half_span ** 2 / 24)
    return FlatBound(lat, lon, c * c, reach * reach * (1 + 1e-9) + 1e-18)


def bounding_box(lat: float, lon: float, radius_m: float) -> BoundingBox:
    angular = radius_m / EARTH_RADIUS_M
    dlat = math.degrees(angular)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        # The circle covers a pole: every longitude is in reach.
        return BoundingBox(max(min_lat, -90.0), min(max_lat, 90.0), ((-180.0, 180.0),))
    # The widest longitude span of a spherical cap (exact, not the cos(lat) approximation).
    dlon = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(math.radians(lat)))))
    # A hair of slack so float rounding never drops a point on the boundary.
    dlon += 1e-9
    min_lat, max_lat = min_lat - 1e-9, max_lat + 1e-9
    west, east = lon - dlon, lon + dlon
    if west < -180:
        ranges = ((west + 360, 180.0), (-180.0, east))
    elif east > 180:
        ranges = ((west, 180.0), (-180.0, east - 360))
    else:
        ranges = ((west, east),)
    return BoundingBox(min_lat, max_lat, ranges)
