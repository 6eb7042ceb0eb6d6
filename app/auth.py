"""Session authentication: the flask-login wiring and the role guard for routes."""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, g, request, session
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

# The attributes require_role leaves on a view; functools.wraps carries them up through
# apiflask's input/output wrappers to the function the URL map calls.
_ROLES_ATTR = "_porchlight_roles"
_DURING_SETUP_ATTR = "_porchlight_during_setup"


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
        if user.role in TIMED_ROLES and not _staff_session_current():
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
            _check_roles(roles, during_setup=getattr(view, _DURING_SETUP_ATTR, False))


# Police sessions end after a quiet spell and after a working day, whatever the cookie
# lifetime: a phone left on a desk or a shared patrol laptop does not stay signed in.
TIMED_ROLES = (Role.OFFICER, Role.SUPERVISOR)
_TOUCH_EVERY_SECONDS = 30  # how stale "last seen" may get before the cookie is rewritten
BACKGROUND_HEADER = "X-Porchlight-Background"


def _staff_session_current() -> bool:
    """True while an officer's or supervisor's session is within its idle and absolute limits."""
    now = time.time()
    started, seen = session.get("started_at"), session.get("seen_at")
    idle = current_app.config["STAFF_IDLE_TIMEOUT_MINUTES"] * 60
    lifetime = current_app.config["STAFF_SESSION_LIFETIME_HOURS"] * 3600
    if not isinstance(started, (int, float)) or not isinstance(seen, (int, float)):
        reason = "This session has no start time; sign in again."
    elif now - seen > idle:
        reason = (f"Your session ended after {current_app.config['STAFF_IDLE_TIMEOUT_MINUTES']} minutes "
                  "without activity; sign in again.")
    elif now - started > lifetime:
        reason = (f"Your session ended: staff sessions last at most "
                  f"{current_app.config['STAFF_SESSION_LIFETIME_HOURS']} hours; sign in again.")
    else:
        # A screen refreshing itself on a timer is not someone at the keyboard: the PWA
        # marks those requests, and they do not keep a session from going idle.
        if now - seen > _TOUCH_EVERY_SECONDS and request.headers.get(BACKGROUND_HEADER) != "1":
            session["seen_at"] = now
        return True
    g.session_expired = reason
    session.clear()
    return False


def setup_pending() -> bool:
    """Whether the signed-in account must still set up two-step sign-in before anything else.

    Read from the account, not the session: a session opened before the rule existed,
    or before a supervisor reset the account's authenticator, is held to it as well.
    """
    from app.accounts.second_factor import needs_setup

    return current_user.is_authenticated and needs_setup(current_user)


def _check_roles(roles: tuple[Role, ...], *, during_setup: bool = False) -> None:
    if not current_user.is_authenticated:
        expired = g.get("session_expired")
        if expired:
            raise ApiError(401, "session_expired", expired)
        raise ApiError(401, "unauthenticated", "Sign in first: this needs a session.")
    if setup_pending() and not during_setup:
        raise ApiError(403, "second_factor_setup_required",
                       "Set up two-step sign-in first: officers and supervisors need an authenticator app "
                       "(POST /api/auth/second-factor/setup).")
    if current_user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise ApiError(403, "forbidden",
                       f"This is for {allowed} accounts; you are signed in as {current_user.role.value}.")


def require_role(*roles: Role, during_setup: bool = False) -> Callable:
    """Let the route run only for a signed-in user holding one of ``roles``.

    ``during_setup`` lets a session that still owes its two-step set-up through too
    (only the routes that set it up, show the account or sign out).
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            _check_roles(roles, during_setup=during_setup)
            return view(*args, **kwargs)

        setattr(wrapped, _ROLES_ATTR, roles)
        setattr(wrapped, _DURING_SETUP_ATTR, during_setup)
        return wrapped

    return decorator


def require_login(view: Callable) -> Callable:
    return require_role(*Role)(view)


def require_login_during_setup(view: Callable) -> Callable:
    return require_role(*Role, during_setup=True)(view)


def start_session(user: User) -> None:
    """Sign ``user`` in on this client with a fresh session that lasts PERMANENT_SESSION_LIFETIME."""
    # Nothing from an earlier session (another account's, say) carries over.
    session.clear()
    # Permanent: the cookie gets an expiry, so a phone keeps it across browser restarts,
    # and the server rejects it once the lifetime has passed since the last request.
    session.permanent = True
    session["started_at"] = session["seen_at"] = time.time()
    login_user(user)


def me() -> User:
    return current_user._get_current_object()
