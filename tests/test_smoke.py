def test_health(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json["database"] == "ok"


def test_owner_creates_camera(as_owner, world):
    r = as_owner.post("/api/cameras", json={"label": "Porch", "latitude": 43.0, "longitude": -87.9,
                                           "retention_days": 7, "public_attestation": True})
    assert r.status_code == 201, r.json
    assert r.json["shared_agency_ids"] == [world.agency.id]
