"""Health, the error shape, and the Redis connection when one is configured."""
import pytest


def test_health_reports_database(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "database": "ok", "redis": "not configured", "storage": "ok",
                      "storage_backend": "local"}


def test_health_with_redis(make_app, redis_url):
    app = make_app(REDIS_URL=redis_url)
    r = app.test_client().get("/api/health")
    assert r.status_code == 200
    assert r.json["redis"] == "ok"


def test_health_when_redis_is_down(make_app):
    # Nothing listens on port 1: the app says so instead of failing.
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    r = app.test_client().get("/api/health")
    assert r.status_code == 503
    assert r.json == {"status": "degraded", "database": "ok", "redis": "unavailable", "storage": "ok",
                      "storage_backend": "local"}


@pytest.mark.one_database
@pytest.mark.parametrize("method,path", [("GET", "/api/no-such-thing"), ("DELETE", "/api/health")])
def test_errors_share_one_shape(client, method, path):
    r = client.open(path, method=method)
    assert r.status_code in (404, 405)
    assert r.is_json
    assert set(r.json) == {"error"}
    assert r.json["error"]["status"] == r.status_code
    assert r.json["error"]["code"] in ("not_found", "method_not_allowed")
    assert r.json["error"]["message"]


@pytest.mark.one_database
def test_malformed_json_is_a_clear_400(client):
    r = client.post("/api/auth/signin", data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert r.json["error"] == {"status": 400, "code": "malformed_json",
                               "message": "The request body is not valid JSON."}


@pytest.mark.one_database
def test_a_json_array_instead_of_an_object_is_named(client):
    r = client.post("/api/auth/signin", json=[1, 2])
    assert r.status_code == 422
    assert r.json["error"]["fields"] == {"body": ["Expected a JSON object."]}


@pytest.mark.one_database
def test_a_form_body_is_told_to_send_json(client):
    r = client.post("/api/auth/signin", data={"login": "x", "password": "y"})
    assert r.status_code == 422
    assert "Content-Type: application/json" in r.json["error"]["fields"]["body"][0]


@pytest.mark.one_database
def test_unexpected_errors_are_json_500_without_traceback(app, client):
    @app.get("/api/boom")
    def boom():
        raise RuntimeError("secret internals")

    r = client.get("/api/boom")
    assert r.status_code == 500
    assert r.json["error"]["code"] == "internal_error"
    assert "secret internals" not in r.get_data(as_text=True)
