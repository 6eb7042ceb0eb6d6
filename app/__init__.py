"""Porchlight: the application factory.

create_app builds an app and does everything that happens at start-up: settings
checked, extensions bound, blueprints registered, the audit chain's commit hook and
the in-process worker's tick wired. Importing a module of the app does none of it.
The packages and the way their imports run are described in docs/ARCHITECTURE.md.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import swagger_ui_bundle
from apiflask import APIFlask
from flask import send_from_directory
from sqlalchemy.exc import IntegrityError
from werkzeug.middleware.proxy_fix import ProxyFix

from app import (
    crypto,
    health,
    i18n,
    jobs,
    links,
    logs,
    models,  # noqa: F401  (every model registered before mappers configure)
    pwa,
)
from app.accounts.routes import bp as accounts_bp
from app.agencies.routes import bp as agencies_bp
from app.audit import service as audit
from app.audit import signing
from app.audit.routes import bp as audit_bp
from app.auth import SECURITY_SCHEMES, init_login
from app.cameras.routes import bp as cameras_bp
from app.cli import register_cli
from app.clips.routes import bp as clips_bp
from app.common.openapi import apply_schema_keywords
from app.districts.routes import bp as districts_bp
from app.enrollment.routes import bp as enrollment_bp
from app.errors import ERROR_SCHEMA, error_body, register_error_handlers
from app.extensions import db, migrate
from app.footage.routes import bp as footage_bp
from app.logs import first_line
from app.notifications import mail, mail_log, push_endpoints, sms
from app.notifications.email_pages import bp as email_pages_bp
from app.notifications.routes import bp as notifications_bp
from app.oversight.routes import bp as oversight_bp
from app.privacy.routes import bp as privacy_bp
from app.ratelimits import configure as configure_rate_limits
from app.reports.routes import bp as reports_bp
from app.security import register_security_headers
from app.transparency.routes import bp as transparency_bp
from config import INSTANCE_DIR, config_for

__version__ = "0.1.0"


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> APIFlask:
    app = APIFlask(
        __name__,
        title="Porchlight API",
        version=__version__,
        spec_path="/api/openapi.json",
        docs_path="/api/docs",
        instance_path=str(INSTANCE_DIR),
    )
    app.config.from_object(config_for(config_name))
    if overrides:
        app.config.update(overrides)
    _ensure_secret_key(app)
    links.init_app(app)
    _trust_proxies(app)

    register_extensions(app)
    i18n.init_app(app)
    crypto.init_app(app)
    signing.init_app(app)
    logs.init_app(app)
    register_blueprints(app)
    jobs.init_app(app)
    # Push, mail and SMS provider settings are checked as the app is built, not at the first message.
    push_endpoints.check_config(app.config)
    mail.check_config(app.config)
    sms.check_config(app.config)
    register_errorhandlers(app)
    register_api_docs(app)
    register_security_headers(app)
    register_cli(app)
    return app


def _ensure_secret_key(app: APIFlask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if app.config["ENV_NAME"] == "production":
        raise RuntimeError("SECRET_KEY must be set in production (see docs/DEPLOY.md)")
    # Development keeps a generated key in instance/ so sessions survive restarts.
    key_file = Path(app.instance_path) / "secret_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


PROXY_HEADERS = ("for", "proto", "host", "port", "prefix")


def _trust_proxies(app: APIFlask) -> None:
    """Read the client's address and scheme from TRUSTED_PROXIES proxies' X-Forwarded-* headers.

    Only X-Forwarded-For and -Proto unless TRUSTED_PROXY_HEADERS names more: a proxy that
    passes on the client's X-Forwarded-Host or -Prefix would let the client choose them.
    """
    count = app.config["TRUSTED_PROXIES"]
    if not count:
        return
    setting = app.config["TRUSTED_PROXY_HEADERS"]
    names = {name.strip().lower() for name in (setting.split(",") if isinstance(setting, str) else setting)}
    names.discard("")
    unknown = names - set(PROXY_HEADERS)
    if unknown:
        raise RuntimeError(f"TRUSTED_PROXY_HEADERS may name {', '.join(PROXY_HEADERS)}; "
                           f"{', '.join(sorted(unknown))} is not one of them")
    app.wsgi_app = ProxyFix(app.wsgi_app, **{f"x_{name}": count if name in names else 0 for name in PROXY_HEADERS})


def register_extensions(app: APIFlask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////:memory:"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    audit.chain_on_commit()
    mail_log.send_after_commit()

    @app.teardown_appcontext
    def _release_session(_exc: BaseException | None = None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown (the last registered runs first). A
        # connection lost after the request's last query (the database restarting) fails the
        # closing rollback; the response is made by then and the pool has dropped that
        # connection, so log it rather than turn the answer into a 500.
        try:
            db.session.remove()
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            db.session.registry.clear()
            app.logger.warning("database connection lost at the end of a request: %s", first_line(exc.orig))

    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    init_login(app)
    configure_rate_limits(app)
    with app.app_context():
        _configure_sqlite(db.engine)


def _configure_sqlite(engine: sa.Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        # SQLite leaves foreign keys off unless asked; WAL lets readers and a writer overlap.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def register_blueprints(app: APIFlask) -> None:
    for bp in (health.bp, accounts_bp, agencies_bp, cameras_bp, enrollment_bp, footage_bp, notifications_bp,
               clips_bp, districts_bp, transparency_bp, pwa.bp, pwa.config_bp, privacy_bp, audit_bp, email_pages_bp,
               oversight_bp, reports_bp):
        app.register_blueprint(bp)


def register_errorhandlers(app: APIFlask) -> None:
    app.config["HTTP_ERROR_SCHEMA"] = ERROR_SCHEMA
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SCHEMA
    register_error_handlers(app)

    @app.errorhandler(IntegrityError)
    def conflict(exc: IntegrityError):
        db.session.rollback()
        # The first line only: PostgreSQL's DETAIL quotes the values ("Key (phone)=(+1414...)").
        app.logger.warning("integrity error: %s", first_line(exc.orig))
        return error_body(409, "conflict", "That conflicts with data changed at the same moment; try again."), 409


def _limits_from_config(node: Any, config: Any) -> None:
    """Give each schema marked ``x-maximum-from-config`` the configured bound as its maximum."""
    if isinstance(node, dict):
        name = node.get("x-maximum-from-config")
        if name is not None:
            node["maxItems" if node.get("type") == "array" else "maximum"] = int(config[name])
        for value in node.values():
            _limits_from_config(value, config)
    elif isinstance(node, list):
        for value in node:
            _limits_from_config(value, config)


def register_api_docs(app: APIFlask) -> None:
    """Interactive docs served from the swagger-ui-bundle package: no CDN at run time."""
    app.security_schemes = SECURITY_SCHEMES
    assets = Path(swagger_ui_bundle.swagger_ui_path)
    app.config.update(
        SWAGGER_UI_CSS="/api/docs/assets/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/api/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/api/docs/assets/swagger-ui-standalone-preset.js",
        DOCS_FAVICON="/api/docs/assets/favicon-32x32.png",
        SWAGGER_UI_CONFIG={"withCredentials": True, "persistAuthorization": True},
    )

    @app.spec_processor
    def bodies_are_required(spec: dict) -> dict:
        # apiflask leaves requestBody optional. A body with a required field is needed; one
        # whose fields are all optional (a PATCH) may be left out, as the API reads no body
        # as {}. Any JSON body can be malformed, which webargs refuses with 400.
        apply_schema_keywords(spec)
        schemas = spec.get("components", {}).get("schemas", {})
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                if not isinstance(operation, dict) or "requestBody" not in operation:
                    continue
                body = operation["requestBody"]
                json_body = body.get("content", {}).get("application/json")
                if json_body is None:
                    body["required"] = True
                    continue
                schema = json_body.get("schema", {})
                schema = schemas.get(schema.get("$ref", "").rpartition("/")[2], schema)
                body["required"] = bool(schema.get("required") or schema.get("minProperties"))
                operation["responses"].setdefault("400", {
                    "description": "The body is not valid JSON (malformed_json)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}},
                })
        _limits_from_config(spec, app.config)
        return spec

    @app.get("/api/docs/assets/<path:filename>")
    @app.doc(hide=True)
    def docs_asset(filename: str):
        return send_from_directory(assets, filename, max_age=86400)
