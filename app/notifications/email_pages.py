"""The pages an ask e-mail links to: the ask with its answer buttons (``/m/<token>``) and
one-click unsubscribe (``/unsubscribe/<token>``); and the yearly re-confirmation's link that
confirms an owner's cameras (``/confirm/<token>``, app/cameras/confirmation.py).

Server-rendered HTML rather than a PWA screen, on purpose: the link is opened in
whatever browser the mail client hands it to, often an in-app view without the service
worker, without a session and sometimes without JavaScript. A page that is one GET
(showing) and one form POST per button (acting) works in all of them, needs no sign-in
(the signed token is the authority, as for a notification's button) and never acts on a
GET, which mail scanners send for every link. It uses the PWA's stylesheets, so it looks
like the app, and has no inline script or style, so the app's Content-Security-Policy
(app/security.py: ``'self'`` everywhere, ``form-action 'self'``) covers it unchanged.

Errors are pages with the error's status (403 altered link, 409, 410 ended); a client
asking for JSON gets the API's one JSON error shape instead.
"""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from app import links
from app.accounts.models import User
from app.cameras import confirmation, recorder_clock
from app.errors import ApiError
from app.extensions import db
from app.footage import asks, email_answers
from app.footage.models import AskState
from app.i18n import in_language
from app.notifications import ask_mail, messages, unsubscribe

bp = Blueprint("email_pages", __name__)


def _page(template: str, status: int = 200, **context) -> Response:
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    # The token in the URL is the authority for one ask or one address: keep it out of
    # Referers, caches and search engines.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _wants_json() -> bool:
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json" and not accept.accept_html


def _problem(error: ApiError) -> Response:
    if _wants_json():
        raise error
    return _page("email/page_problem.html", error.status_code, message=error.message)


def _recorder_facts(ask, footage_request) -> dict:
    """The window on the camera's recorder clock, and the days before the recorder records over it, as text."""
    camera = ask.camera
    times = recorder_clock.ask_times(footage_request.window_start, footage_request.window_end,
                                     camera.recorder_offset_s if camera else None,
                                     camera.retention_days if camera else None)
    window = times["recorder_window"]
    return {"recorder_window": messages.span_text(window["start"], window["end"], footage_request.agency)
            if window else None,
            "recorder_offset": messages.offset_text(window["offset_s"]) if window else None,
            "overwrite": messages.overwrite_text(times["overwrite_days_left"])}


def _ask_page(page: email_answers.AskPage, status: int = 200, *, just_answered: bool = False) -> Response:
    # The link was e-mailed to the ask's owner: their language, else the browser's.
    owner = db.session.get(User, page.ask.owner_id) if page.ask.owner_id is not None else None
    with in_language(owner.language if owner else None):
        return _ask_page_in_language(page, status, just_answered=just_answered)


def _ask_page_in_language(page: email_answers.AskPage, status: int, *, just_answered: bool) -> Response:
    ask = page.ask
    footage_request = ask.request
    buttons = []
    if page.standing == email_answers.OPEN:
        # The chosen answer (the e-mail's link for it) first; the others after it.
        order = sorted(ask_mail.ANSWER_WORDS, key=lambda action: action != page.chosen)
        buttons = [(action, ask_mail.ANSWER_WORDS[action], links.ASK_PAGE + links.action_token(ask, action))
                   for action in order]
    approved = ask.state in asks.APPROVED_STATES
    # How long the recorder keeps it matters while the owner may still answer or upload.
    pending = page.standing == email_answers.OPEN or ask.state in (AskState.APPROVED, AskState.UPLOADING)
    recorder = _recorder_facts(ask, footage_request)
    if not pending:
        recorder["overwrite"] = None
    return _page("email/page_ask.html", status, recorder=recorder,
                 facts=ask_mail.ask_facts(ask, footage_request, footage_request.agency), page=page,
                 buttons=buttons, just_answered=just_answered, state=ask.state.value,
                 upload_link=links.upload_link(ask) if approved and page.standing == email_answers.ANSWERED else None,
                 app_link=messages.ask_url(ask))


@bp.get("/m/<string:token>")
def ask_page(token: str):
    try:
        page = email_answers.read_page(token)
    except ApiError as error:
        return _problem(error)
    ended = page.standing in (email_answers.EXPIRED, email_answers.WITHDRAWN)
    return _ask_page(page, 410 if ended else 200)


@bp.post("/m/<string:token>")
def answer(token: str):
    try:
        page = email_answers.answer_from_page(token)
    except ApiError as error:
        if error.status_code == 409 and not _wants_json():
            # Answered already (another way, or another answer), or just expired: the page says how it stands.
            page = email_answers.read_page(token)
            ended = page.standing in (email_answers.EXPIRED, email_answers.WITHDRAWN)
            return _ask_page(page, 410 if ended else 409)
        return _problem(error)
    return _ask_page(page, just_answered=True)


@bp.get("/unsubscribe/<string:token>")
def unsubscribe_page(token: str):
    try:
        user = unsubscribe.owner_for_link(token)
    except ApiError as error:
        return _problem(error)
    with in_language(user.language):
        return _page("email/page_unsubscribe.html", done=not user.notify_email, action=request.path)


@bp.post("/unsubscribe/<string:token>")
def unsubscribe_now(token: str):
    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click"; the page's button sends the same.
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    try:
        user = unsubscribe.unsubscribe(token, one_click=one_click and "page" not in request.form)
    except ApiError as error:
        return _problem(error)
    with in_language(user.language):
        return _page("email/page_unsubscribe.html", done=True, action=request.path)


@bp.get("/confirm/<string:token>")
def confirm_page(token: str):
    try:
        owner, cameras = confirmation.cameras_for_link(token)
    except ApiError as error:
        return _problem(error)
    with in_language(owner.language):
        return _page("email/page_confirm.html", cameras=[c.label for c in cameras], done=False, action=request.path)


@bp.post("/confirm/<string:token>")
def confirm_now(token: str):
    try:
        owner, cameras = confirmation.confirm_from_link(token)
    except ApiError as error:
        return _problem(error)
    with in_language(owner.language):
        return _page("email/page_confirm.html", cameras=[c.label for c in cameras], done=True, action=request.path)
