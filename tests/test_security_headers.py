"""Security headers and the Content-Security-Policy on every kind of response."""
from __future__ import annotations

import base64
import hashlib
import re

import pytest

from app.security import tile_origin


@pytest.fixture
def database():
    return "sqlite"


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
