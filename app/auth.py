"""Session authentication: the flask-login wiring and the role guard for routes."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, request, session
from flask_login import current_user

from app.accounts import sessions
from app.accounts.models import Role, User
from app.accounts.second_factor import needs_setup
from app.errors import ApiError, error_body
from app.extensions import login_manager

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
        return sessions.user_for_request(identity)

    @login_manager.unauthorized_handler
    def unauthorized():
        return error_body(401, "unauthenticated", "Sign in first: this needs a session."), 401

    @app.before_request
    def load_session():
        # An API call's session record is checked (and "last seen" written) first thing,
        # before the route has changed anything, so what that commits is its own. Pages,
        # scripts and icons never read the session: they neither end it nor count as use.
        if sessions.SESSION_KEY in session and request.path.startswith("/api/"):
            sessions.check_now()
            current_user._get_current_object()

    @app.before_request
    def guard_roles():
        # Runs before the request body is parsed, whatever order a route stacks its
        # decorators in: a caller without the right session learns 401/403, never the
        # body schema's 422.
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        roles = getattr(view, _ROLES_ATTR, None)
        if roles is not None:
            _check_roles(roles, during_setup=getattr(view, _DURING_SETUP_ATTR, False))


def setup_pending() -> bool:
    """Whether the signed-in account must still set up two-step sign-in before anything else.

    Read from the account, not the session: a session opened before the rule existed,
    or before a supervisor reset the account's authenticator, is held to it as well.
    """
    return current_user.is_authenticated and needs_setup(current_user)


def _check_roles(roles: tuple[Role, ...], *, during_setup: bool = False) -> None:
    if not current_user.is_authenticated:
        refused = sessions.refusal()
        if refused:
            raise ApiError(401, *refused)
        raise ApiError(401, "unauthenticated", "Sign in first: this needs a session.")
    if setup_pending() and not during_setup:
        raise ApiError(403, "second_factor_setup_required",
                       "Set up two-step sign-in first: officers, supervisors and oversight need an authenticator app "
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
    """Sign ``user`` in on this client with a new server-side session (app/accounts/sessions.py)."""
    sessions.begin(user)


def me() -> User:
    return current_user._get_current_object()
