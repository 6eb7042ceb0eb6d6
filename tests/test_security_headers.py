"""Security headers and the Content-Security-Policy on every kind of response."""
from __future__ import annotations

import base64
import hashlib
import re

import pytest

from app.security import tile_origin

pytestmark = pytest.mark.one_database  # nothing here is about the database


def policy(response) -> dict[str, list[str]]:
    return {name: sources for name, *sources in
            (directive.split() for directive in response.headers["Content-Security-Policy"].split(";"))}


@pytest.mark.parametrize("path", ["/", "/app/js/app.js", "/api/health", "/api/auth/me", "/e/ABCD-EFGH",
                                  "/u/some-token", "/nowhere", "/manifest.webmanifest", "/sw.js"])
def test_every_response_carries_the_headers(client, path):
    with client.get(path) as response:
        response.get_data()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=(self)" in response.headers["Permissions-Policy"]
    assert "microphone=()" in response.headers["Permissions-Policy"]
    csp = policy(response)
    # No inline script, no eval, nothing from elsewhere: everything is the app's own.
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]


def test_map_tiles_are_the_only_other_origin(make_app):
    app = make_app(MAP_TILE_URL="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    with app.test_client().get("/") as response:
        csp = policy(response)
    assert csp["img-src"] == ["'self'", "data:", "blob:", "https://*.tiles.example.org"]
    assert csp["connect-src"] == ["'self'"]


def test_tile_origin():
    assert tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://tile.openstreetmap.org"
    assert tile_origin("") is None and tile_origin("javascript:alert(1)") is None


def test_the_api_docs_may_run_exactly_their_own_inline_blocks(client):
    response = client.get("/api/docs")
    html = response.get_data(as_text=True)
    csp = policy(response)
    blocks = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    assert blocks, "Swagger UI's page has its inline start-up script"
    for block in blocks:
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"]
    assert "'unsafe-inline'" not in csp["script-src"]
    # Other pages do not inherit the docs' allowance.
    with client.get("/") as page:
        assert policy(page)["script-src"] == ["'self'"]


def test_hsts_only_over_https_when_cookies_are_secure(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    assert "Strict-Transport-Security" not in app.test_client().get("/api/health").headers
    secure = app.test_client().get("/api/health", base_url="https://porchlight.test")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


# --- cross-site request forgery ----------------------------------------------------------------

def test_a_write_from_another_site_is_refused(as_owner):
    body = {"display_name": "Changed"}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null"}, {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.porchlight.test"}):
        response = as_owner.patch("/api/auth/me", json=body, headers=headers)
        assert response.status_code == 403 and response.json["error"]["code"] == "cross_site_request", headers
    assert as_owner.get("/api/auth/me").json["display_name"] != "Changed"
    # From the app itself (what browsers send for its own fetches) it goes through.
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert as_owner.patch("/api/auth/me", json=body, headers=same).status_code == 200
    public = {"Origin": "http://porchlight.test"}  # PUBLIC_BASE_URL, as seen behind a proxy
    assert as_owner.patch("/api/auth/me", json=body, headers=public).status_code == 200


def test_reads_and_cookie_less_writes_are_not_checked(as_owner, client):
    # A link opened from another site (a GET) still works.
    assert as_owner.get("/api/auth/me", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
    # Without the session cookie there is nothing to forge: the call stands on its own credentials.
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    response = client.post("/api/ask-actions/not-a-token", headers=evil)
    assert response.status_code == 403 and response.json["error"]["code"] == "invalid_token"
    # ...except signing in or up, which would put the browser in someone else's account.
    response = client.post("/api/auth/signin", json={"login": "nobody@example.org", "password": "x" * 12},
                           headers=evil)
    assert response.status_code == 403 and response.json["error"]["code"] == "cross_site_request"
    response = client.post("/api/auth/signin", json={"login": "nobody@example.org", "password": "x" * 12})
    assert response.status_code == 401
