"""The radius search: exact great-circle results, checked against geopy as an
independent reference, and answered from the ``ix_cameras_geo`` index on both databases."""
from __future__ import annotations

import math
import random
import re

import pytest
import sqlalchemy as sa
from geopy.distance import great_circle

from app.accounts.models import Role
from app.cameras import geo
from app.cameras.models import Camera, CameraStatus
from app.cameras.service import cameras_within
from app.extensions import db
from tests import factories

# Milwaukee City Hall; Fiji straddles the antimeridian.
MKE = (43.0389, -87.9065)
FIJI = (-16.8, 179.9995)


def reference_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return great_circle(a, b).meters


def destination(origin: tuple[float, float], bearing: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from ``origin`` on ``bearing``, by geopy on our sphere (longitude in [-180, 180])."""
    point = great_circle(meters=metres, radius=geo.EARTH_RADIUS_M / 1000).destination(origin, bearing)
    return point.latitude, point.longitude


def random_on_sphere(rng: random.Random) -> tuple[float, float]:
    return math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)


def in_box(box: geo.BoundingBox, lat: float, lon: float) -> bool:
    return (box.min_lat <= lat <= box.max_lat and geo.lat_band(lat) in box.bands
            and any(west <= lon <= east for west, east in box.lon_ranges))


# --- the geometry alone ---------------------------------------------------------------

def test_great_circle_agrees_with_geopy_within_a_metre():
    rng = random.Random(1)
    pairs = [(random_on_sphere(rng), random_on_sphere(rng)) for _ in range(3000)]
    for _ in range(1000):  # short range, where the radius search lives
        a = random_on_sphere(rng)
        pairs.append((a, destination(a, rng.uniform(0, 360), rng.uniform(0, 5000))))
    for _ in range(500):  # nearly antipodal, where haversine is least well conditioned
        a = random_on_sphere(rng)
        b = (-a[0] + rng.uniform(-1e-3, 1e-3), a[1] + 180 + rng.uniform(-1e-3, 1e-3))
        pairs.append((a, (max(-90.0, min(90.0, b[0])), b[1] - 360 if b[1] > 180 else b[1])))
    worst = max(abs(geo.great_circle_m(*a, *b) - reference_m(a, b)) for a, b in pairs)
    assert worst < 1.0


def test_great_circle_is_exact_at_short_range():
    # Same sphere as geopy's reference: only the formula differs, by far less than a millimetre.
    rng = random.Random(2)
    sphere_km = geo.EARTH_RADIUS_M / 1000
    for _ in range(1000):
        a = random_on_sphere(rng)
        b = destination(a, rng.uniform(0, 360), rng.uniform(0, 2000))
        assert geo.great_circle_m(*a, *b) == pytest.approx(great_circle(a, b, radius=sphere_km).meters, abs=1e-3)


def test_great_circle_across_the_antimeridian_and_the_pole():
    assert geo.great_circle_m(0, 179.9999, 0, -179.9999) == pytest.approx(reference_m((0, 179.9999), (0, -179.9999)))
    assert geo.great_circle_m(89.9999, 0, 89.9999, 180) == pytest.approx(reference_m((89.9999, 0), (89.9999, 180)))
    assert geo.great_circle_m(*MKE, *MKE) == 0


@pytest.mark.parametrize("region", ["anywhere", "near a pole", "across the antimeridian"])
def test_bounding_box_holds_every_point_within_the_radius(region):
    rng = random.Random(region)
    for _ in range(300):
        lat, lon = random_on_sphere(rng)
        if region == "near a pole":
            lat = rng.choice([-1, 1]) * rng.uniform(89.9, 90.0)
        elif region == "across the antimeridian":
            lon = rng.choice([-1, 1]) * rng.uniform(179.9, 180.0)
        radius = rng.choice([1.0, 50.0, 500.0, 5000.0, rng.uniform(1, 50_000)])
        box = geo.bounding_box(lat, lon, radius)
        for _ in range(40):
            point = destination((lat, lon), rng.uniform(0, 360), radius * rng.choice([1.0, rng.random()]))
            if geo.great_circle_m(lat, lon, *point) <= radius:
                assert in_box(box, *point), (lat, lon, radius, point)
        if abs(lat) < 80:
            # Not a box so large the index stops helping: 2r of latitude, give or take the slack.
            assert box.max_lat - box.min_lat == pytest.approx(2 * math.degrees(radius / geo.EARTH_RADIUS_M), abs=1e-8)


def passes_flat(flat: geo.FlatBound, lat: float, lon: float) -> bool:
    """The plane test as the candidates' SQL writes it, operation for operation."""
    return ((lat - flat.centre_lat) * (lat - flat.centre_lat)
            + (lon - flat.centre_lon) * (lon - flat.centre_lon) * flat.lon_scale) <= flat.limit


@pytest.mark.parametrize("latitudes", [(-60, 60), (60, 89.5), (-89.5, -60)], ids=["mid", "north", "south"])
def test_the_flat_bound_keeps_every_point_within_the_radius_and_drops_the_box_s_corners(latitudes):
    rng = random.Random(str(latitudes))
    applied = 0
    for _ in range(300):
        lat, lon = rng.uniform(*latitudes), rng.uniform(-179.5, 179.5)
        radius = rng.choice([1.0, 35.0, 500.0, 5000.0, rng.uniform(1, 200_000)])
        box = geo.bounding_box(lat, lon, radius)
        flat = geo.flat_bound(lat, lon, radius, box)
        if flat is None:
            assert len(box.lon_ranges) != 1 or box.lon_ranges[0] == (-180.0, 180.0)
            continue
        applied += 1
        for _ in range(40):
            # On the circle (or a hair inside it) and anywhere inside it.
            point = destination((lat, lon), rng.uniform(0, 360), radius * rng.choice([1.0, 1 - 1e-9, rng.random()]))
            if geo.great_circle_m(lat, lon, *point) <= radius and in_box(box, *point):
                assert passes_flat(flat, *point), (lat, lon, radius, point)
        if abs(lat) < 80:
            (west, east), = box.lon_ranges
            for corner in [(box.min_lat, west), (box.min_lat, east), (box.max_lat, west), (box.max_lat, east)]:
                assert not passes_flat(flat, *corner), (lat, lon, radius, corner)
    assert applied > 200
    assert geo.flat_bound(*FIJI, 500.0, geo.bounding_box(*FIJI, 500.0)) is None  # longitudes wrap
    assert geo.flat_bound(89.999, 0.0, 500.0, geo.bounding_box(89.999, 0.0, 500.0)) is None  # around the pole


def test_bounding_box_reaches_the_widest_point_of_the_circle():
    # At high latitude the circle is widest poleward of its centre, not due east of it.
    lat, lon, radius = 80.0, 10.0, 50_000.0
    box = geo.bounding_box(lat, lon, radius)
    widest = max((destination((lat, lon), b / 10, radius) for b in range(0, 1800)), key=lambda p: p[1])
    assert widest[0] > lat
    assert in_box(box, *widest)
    assert box.lon_ranges[0][1] - widest[1] < 1e-6


def test_points_within_is_great_circle_m_exactly():
    rng = random.Random(3)
    points = [(i, MKE[0] + rng.uniform(-0.01, 0.01), MKE[1] + rng.uniform(-0.01, 0.01)) for i in range(2000)]
    found = geo.points_within(*MKE, 500.0, points)
    expected = sorted((geo.great_circle_m(*MKE, la, lo), i, la, lo) for i, la, lo in points
                      if geo.great_circle_m(*MKE, la, lo) <= 500.0)
    assert found == expected
    assert 0 < len(found) < len(points)


# --- the search on the database -------------------------------------------------------

def _insert_cameras(owner_id: int, points: list[tuple[float, float]], **columns) -> list[int]:
    """Cameras in bulk, ids in the order of ``points``."""
    rows = [{"owner_id": owner_id, "label": f"Camera {i}", "latitude": lat, "longitude": lon,
             "lat_band": geo.lat_band(lat), "retention_days": 30, "public_attestation": True, **columns}
            for i, (lat, lon) in enumerate(points)]
    first = (db.session.scalar(sa.select(sa.func.max(Camera.id))) or 0) + 1
    db.session.execute(sa.insert(Camera), rows)
    db.session.commit()
    ids = list(db.session.scalars(sa.select(Camera.id).where(Camera.id >= first).order_by(Camera.id)))
    assert len(ids) == len(points)
    return ids


def _scatter(rng: random.Random, centre: tuple[float, float], radius: float, n: int) -> list[tuple[float, float]]:
    """Points inside, outside and half a metre either side of the circle."""
    points = [destination(centre, rng.uniform(0, 360), radius * 2 * math.sqrt(rng.random())) for _ in range(n)]
    for _ in range(n // 4):
        bearing = rng.uniform(0, 360)
        points.append(destination(centre, bearing, radius - 0.5))
        points.append(destination(centre, bearing, radius + 0.5))
    points.append(centre)
    return points


@pytest.mark.parametrize(("centre", "radius"), [
    (MKE, 500.0), (MKE, 35.0), (FIJI, 500.0), ((89.9985, 30.0), 300.0), ((-33.9, 18.4), 12_000.0),
], ids=["milwaukee", "small radius", "antimeridian", "near the pole", "wide radius"])
def test_cameras_within_matches_a_brute_force_reference(app, centre, radius):
    rng = random.Random(f"{centre}{radius}")
    owner = factories.user(Role.OWNER)
    points = _scatter(rng, centre, radius, 200)
    ids = _insert_cameras(owner.id, points)

    hits = cameras_within(*centre, radius)

    expected = {i for i, p in zip(ids, points, strict=True) if reference_m(centre, p) <= radius}
    assert {h.camera_id for h in hits} == expected
    assert len(expected) > 50
    by_id = dict(zip(ids, points, strict=True))
    for hit in hits:
        assert (hit.latitude, hit.longitude) == by_id[hit.camera_id]
        assert hit.distance_m == pytest.approx(reference_m(centre, by_id[hit.camera_id]), abs=0.01)
    assert [h.distance_m for h in hits] == sorted(h.distance_m for h in hits)


def test_cameras_either_side_of_the_antimeridian_are_found_nearest_first(app):
    owner = factories.user(Role.OWNER)
    east, west, far = _insert_cameras(owner.id, [(0.0, 179.9999), (0.0, -179.9997), (0.0, 179.99)])
    hits = cameras_within(0.0, 180.0, 100)
    assert [h.camera_id for h in hits] == [east, west]
    assert [round(h.distance_m, 1) for h in hits] == [11.1, 33.4]
    assert far not in {h.camera_id for h in cameras_within(0.0, -180.0, 100)}


def test_ties_in_distance_are_ordered_by_id(app):
    owner = factories.user(Role.OWNER)
    ids = _insert_cameras(owner.id, [destination(MKE, bearing, 200) for bearing in (0, 180, 0)] + [MKE])
    assert [h.camera_id for h in cameras_within(*MKE, 500)][0] == ids[3]
    north_a, north_b = ids[0], ids[2]
    order = [h.camera_id for h in cameras_within(*MKE, 500)]
    assert order.index(north_a) < order.index(north_b)


def test_agency_and_active_filters(app, world):
    near = destination(MKE, 45, 100)
    shared = factories.camera(world.owner, *near, shared_with=[world.agency])
    both = factories.camera(world.owner, *near, shared_with=[world.agency, world.other_agency])
    other = factories.camera(world.other_owner, *near, shared_with=[world.other_agency])
    private = factories.camera(world.owner, *near)
    paused = factories.camera(world.owner, *near, shared_with=[world.agency], status=CameraStatus.PAUSED)
    factories.camera(world.owner, *destination(MKE, 45, 900), shared_with=[world.agency])  # too far
    db.session.commit()

    def found(**filters) -> set[int]:
        return {h.camera_id for h in cameras_within(*MKE, 500, **filters)}

    assert found() == {shared.id, both.id, other.id, private.id, paused.id}
    assert found(agency_id=world.agency.id) == {shared.id, both.id, paused.id}
    assert found(agency_id=world.other_agency.id) == {both.id, other.id}
    assert found(active_only=True) == {shared.id, both.id, other.id, private.id}
    assert found(agency_id=world.agency.id, active_only=True) == {shared.id, both.id}


def test_nothing_nearby_is_an_empty_list(app):
    owner = factories.user(Role.OWNER)
    _insert_cameras(owner.id, [destination(MKE, 90, 2000)])
    assert cameras_within(*MKE, 500) == []


# --- the index ------------------------------------------------------------------------

QUERIES = {
    "plain": (MKE, 500.0, {}),
    "officer": (MKE, 500.0, {"agency_id": 1, "active_only": True}),
    "antimeridian": (FIJI, 500.0, {}),
    "near the pole": ((89.999, 0.0), 500.0, {}),
    "wide": (MKE, 10_000.0, {}),  # more bands than an IN list takes: a range over lat_band
}


def _emitted_sql(*args, **kwargs) -> tuple[str, object]:
    """The SELECT on cameras that one ``cameras_within`` call sends to the database."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM cameras" in statement:
            seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        cameras_within(*args, **kwargs)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert len(seen) == 1
    return seen[0]


def _plan(statement: str, parameters) -> list[str]:
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            return [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        return [row[0] for row in conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, parameters)]


def test_the_search_is_answered_from_the_geo_index(app, world):
    # Enough rows, spread like a city, for PostgreSQL's planner to prefer an index when it can.
    rng = random.Random(4)
    points = [(MKE[0] + rng.uniform(-0.5, 0.5), MKE[1] + rng.uniform(-0.7, 0.7)) for _ in range(20_000)]
    ids = _insert_cameras(world.owner.id, points)
    shares = sa.table("camera_shares", sa.column("camera_id"), sa.column("agency_id"))
    db.session.execute(sa.insert(shares).from_select(
        ["camera_id", "agency_id"], sa.select(Camera.id, sa.literal(world.agency.id)).where(Camera.id.in_(ids[::2]))))
    db.session.commit()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")

    for name, (centre, radius, filters) in QUERIES.items():
        filters = {**filters, "agency_id": world.agency.id} if "agency_id" in filters else filters
        plan = _plan(*_emitted_sql(*centre, radius, **filters))
        text = "\n".join(plan)
        if db.engine.dialect.name == "sqlite":
            # SEARCH is a seek; "SCAN cameras" (even "USING COVERING INDEX") reads every row.
            assert any(re.match(r"SEARCH cameras USING (COVERING )?INDEX ix_cameras_geo \(lat_band", line)
                       for line in plan), (name, text)
            assert not any(line.startswith("SCAN cameras") for line in plan), (name, text)
        else:
            assert re.search(r"Index (Only )?Scan using ix_cameras_geo|Bitmap Index Scan on ix_cameras_geo",
                             text), (name, text)
            assert "Seq Scan on cameras" not in text, (name, text)
        assert "Seq Scan on camera_shares" not in text and "SCAN camera_shares" not in text, (name, text)

    # The index holds everything the plain search reads (PostgreSQL: INCLUDE (id, status);
    # SQLite: the rowid is the id), so no table row is fetched once the visibility map is
    # set, as autovacuum keeps it.
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE cameras")
    plan = "\n".join(_plan(*_emitted_sql(*MKE, 500.0)))
    assert re.search(r"Index Only Scan using ix_cameras_geo|USING COVERING INDEX ix_cameras_geo", plan), plan
