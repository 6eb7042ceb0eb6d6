"""Session authentication: the flask-login wiring and the role guard for routes."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import Flask
from flask_login import current_user

from app.accounts.models import Role, User
from app.errors import ApiError, error_body
from app.extensions import db, login_manager

# Named in the OpenAPI document so the docs show which routes need a session.
SECURITY = "session"
SECURITY_SCHEMES = {
    SECURITY: {
        "type": "apiKey",
        "in": "cookie",
        "name": "porchlight_session",
        "description": "The session cookie set by POST /api/auth/signin or /api/auth/signup.",
    }
}


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(identity: str) -> User | None:
        user_id, _, token = identity.partition(":")
        if not user_id.isdigit() or not token:
            return None
        user = db.session.get(User, int(user_id))
        # A rotated token (password change, sign-out everywhere) ends old sessions.
        if user is None or user.session_token != token or not user.active:
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        return error_body(401, "unauthenticated", "Sign in first: this needs a session."), 401


def require_role(*roles: Role) -> Callable:
    """Let the route run only for a signed-in user holding one of ``roles``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                raise ApiError(401, "unauthenticated", "Sign in first: this needs a session.")
            if current_user.role not in roles:
                allowed = ", ".join(r.value for r in roles)
                raise ApiError(403, "forbidden", f"This is for {allowed} accounts; you are signed in as {current_user.role.value}.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_login(view: Callable) -> Callable:
    return require_role(*Role)(view)


def me() -> User:
    return current_user._get_current_object()
