"""Liveness and readiness: is the database (and Redis, when configured) reachable, and does clip storage answer."""
import sqlalchemy as sa
from apiflask import APIBlueprint, Schema, fields
from flask import current_app

from app.extensions import db
from app.storage import StorageError, backend_name, get_storage

bp = APIBlueprint("health", __name__, url_prefix="/api", tag="Health")


class HealthOut(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded"]})
    database = fields.String()
    redis = fields.String(metadata={"description": "'ok', 'unavailable', or 'not configured'."})
    storage = fields.String(metadata={"description": "Clip storage: 'ok' or 'unavailable'."})
    storage_backend = fields.String(metadata={"description": "Where clips are kept: 'local' (disk) or 's3'."})


def redis_status() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "not configured"
    import redis  # only with REDIS_URL (see app/notifications/queue.py)

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return "ok" if client.ping() else "unavailable"
        finally:
            client.close()
    except redis.RedisError:
        return "unavailable"


def storage_status() -> tuple[str, str]:
    """(backend, 'ok' or 'unavailable'): an object store must answer for its bucket, a disk be writable."""
    try:
        storage = get_storage()
    except (RuntimeError, ValueError):
        return backend_name(current_app), "unavailable"
    try:
        storage.check()
    except StorageError as error:
        current_app.logger.warning("health: clip storage (%s) unavailable: %s", storage.name, error)
        return storage.name, "unavailable"
    return storage.name, "ok"


@bp.get("/health")
@bp.output(HealthOut)
@bp.doc(responses={503: "A dependency is unavailable"})
def health():
    """Whether the service and its dependencies answer"""
    try:
        db.session.execute(sa.text("SELECT 1"))
        database = "ok"
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        database = "unavailable"
    redis_state = redis_status()
    backend, storage = storage_status()
    ok = database == "ok" and redis_state in ("ok", "not configured") and storage == "ok"
    body = {"status": "ok" if ok else "degraded", "database": database, "redis": redis_state,
            "storage": storage, "storage_backend": backend}
    return body, 200 if ok else 503
