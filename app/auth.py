"""Session authentication: the flask-login wiring and the role guard for routes."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, request, session
from flask_login import current_user, login_user

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

# The attribute require_role leaves on a view; functools.wraps carries it up through
# apiflask's input/output wrappers to the function the URL map calls.
_ROLES_ATTR = "_porchlight_roles"


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(identity: str) -> User | None:
        user_id, _, token = identity.partition(":")
        if not user_id.isdigit() or not token:
            return None
        user = db.session.get(User, int(user_id))
        # A rotated token (password change, deactivation) ends old sessions.
        if user is None or user.session_token != token or not user.active:
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        return error_body(401, "unauthenticated", "Sign in first: this needs a session."), 401

    @app.before_request
    def guard_roles():
        # Runs before the request body is parsed, whatever order a route stacks its
        # decorators in: a caller without the right session learns 401/403, never the
        # body schema's 422.
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        roles = getattr(view, _ROLES_ATTR, None)
        if roles is not None:
            _check_roles(roles)


def _check_roles(roles: tuple[Role, ...]) -> None:
    if not current_user.is_authenticated:
        raise ApiError(401, "unauthenticated", "Sign in first: this needs a session.")
    if current_user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise ApiError(403, "forbidden",
                       f"This is for {allowed} accounts; you are signed in as {current_user.role.value}.")


def require_role(*roles: Role) -> Callable:
    """Let the route run only for a signed-in user holding one of ``roles``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            _check_roles(roles)
            return view(*args, **kwargs)

        setattr(wrapped, _ROLES_ATTR, roles)
        return wrapped

    return decorator


def require_login(view: Callable) -> Callable:
    return require_role(*Role)(view)


def start_session(user: User) -> None:
    """Sign ``user`` in on this client with a fresh session that lasts PERMANENT_SESSION_LIFETIME."""
    # Nothing from an earlier session (another account's, say) carries over.
    session.clear()
    # Permanent: the cookie gets an expiry, so a phone keeps it across browser restarts,
    # and the server rejects it once the lifetime has passed since the last request.
    session.permanent = True
    login_user(user)


def me() -> User:
    return current_user._get_current_object()
