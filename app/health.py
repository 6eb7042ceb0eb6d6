"""Liveness and readiness: is the database (and Redis, when configured) reachable."""
import sqlalchemy as sa
from apiflask import APIBlueprint, Schema, fields
from flask import current_app

from app.extensions import db

bp = APIBlueprint("health", __name__, url_prefix="/api", tag="Health")


class HealthOut(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded"]})
    database = fields.String()
    redis = fields.String(metadata={"description": "'ok', 'unavailable', or 'not configured'."})


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
    ok = database == "ok" and redis_state in ("ok", "not configured")
    body = {"status": "ok" if ok else "degraded", "database": database, "redis": redis_state}
    return body, 200 if ok else 503
