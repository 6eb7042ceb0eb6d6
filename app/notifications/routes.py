"""Push subscriptions, the VAPID key, phone verification and the Twilio webhooks."""
from apiflask import APIBlueprint
from flask import current_app, request

from app import links
from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.errors import ApiError
from app.notifications import mail_log, service, sms, webpush
from app.notifications.schemas import (
    MailStatusOut,
    PhoneOut,
    PhoneVerificationIn,
    PhoneVerificationOut,
    PhoneVerifyIn,
    SmsStatusOut,
    StatusCallbackQuery,
    SubscriptionDeleteIn,
    SubscriptionIn,
    SubscriptionOut,
    TwilioWebhookForm,
    VapidKeyOut,
)
from app.ratelimits import RATE_LIMITED, destination_phone, everyone, limited, user_or_ip

bp = APIBlueprint("notifications", __name__, url_prefix="/api", tag="Notifications")

TWIML = {"description": "TwiML: the reply text, if any",
         "content": {"application/xml": {"schema": {"type": "string"}}}}
FORBIDDEN_SIGNATURE = "X-Twilio-Signature is missing or does not sign this request"


# --- Web Push ----------------------------------------------------------------------------------

@bp.get("/push/vapid-public-key")
@bp.output(VapidKeyOut)
def vapid_public_key():
    """The server's Web Push key (`applicationServerKey`)"""
    return {"public_key": webpush.public_key(current_app._get_current_object())}


@bp.post("/push/subscriptions")
@bp.input(SubscriptionIn, arg_name="data")
@bp.output(SubscriptionOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.OWNER)
def subscribe(data):
    """Register this device for push notifications

    Send the browser's `PushSubscription.toJSON()`. Registering the same endpoint
    again updates it (and moves it to your account if another account had it).
    """
    return service.subscribe(me(), data["endpoint"], data["keys"]["p256dh"], data["keys"]["auth"],
                             request.user_agent.string)


@bp.get("/push/subscriptions")
@bp.output(SubscriptionOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(Role.OWNER)
def list_subscriptions():
    """Your devices registered for push notifications"""
    return service.push_subscriptions_of(me())


@bp.delete("/push/subscriptions")
@bp.input(SubscriptionDeleteIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 422])
@require_role(Role.OWNER)
def unsubscribe(data):
    """Stop push notifications to this device (by its endpoint)"""
    service.unsubscribe(me(), data["endpoint"])
    return ""


# --- phone verification ------------------------------------------------------------------------

@bp.post("/auth/phone/verification")
@limited("RATELIMIT_PHONE_VERIFICATION", user_or_ip, "verification codes sent to your account")
@limited("RATELIMIT_PHONE_VERIFICATION", destination_phone, "verification codes sent to this number",
         only_when_sent=True)
@limited("RATELIMIT_VERIFICATION_SMS_TOTAL", everyone, "verification texts sent by this server just now",
         shared_scope="verification-sms", only_when_sent=True)
@bp.input(PhoneVerificationIn, arg_name="data")
@bp.output(PhoneVerificationOut, status_code=202)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Forbidden", 409: "Conflict",
                                      422: "Validation error", 429: RATE_LIMITED, 503: "Service unavailable"})
@require_role(Role.OWNER)
def start_phone_verification(data):
    """Text a 6-digit code to your mobile number

    The code expires after 10 minutes. `delivery` is `outbox` when the server sends
    no SMS (no Twilio credentials): the code is then only in the server's outbox.
    """
    return service.start_phone_verification(me(), data.get("phone"))


# 429 here is also the code's own attempt limit (`too_many_attempts`): no wait helps, a
# new code does, so that answer carries no Retry-After.
_CODE_ATTEMPTS_SPENT = {
    **RATE_LIMITED,
    "description": "Rate limited (`rate_limited`, retry after Retry-After seconds), or five wrong tries "
                   "spent this code (`too_many_attempts`, no Retry-After: request a new code)",
    "headers": {"Retry-After": {**RATE_LIMITED["headers"]["Retry-After"], "required": False}},
}


@bp.post("/auth/phone/verify")
@limited("RATELIMIT_PHONE_VERIFY", user_or_ip, "attempts at the texted code")
@bp.input(PhoneVerifyIn, arg_name="data")
@bp.output(PhoneOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Forbidden", 409: "Conflict", 410: "Gone",
                                      422: "Validation error", 429: _CODE_ATTEMPTS_SPENT})
@require_role(Role.OWNER)
def verify_phone(data):
    """Confirm the texted code: the number becomes your verified SMS channel"""
    return service.verify_phone(me(), data["code"])


# --- e-mail ----------------------------------------------------------------------------------------

@bp.get("/mail/status")
@bp.output(MailStatusOut)
def mail_status():
    """Whether e-mails are really sent, or kept in the server's outbox"""
    return mail_log.status()


# --- SMS -------------------------------------------------------------------------------------------

@bp.get("/sms/status")
@bp.output(SmsStatusOut)
def sms_status():
    """Whether SMS are really sent, or kept in the server's outbox"""
    return service.sms_status()


def _require_twilio_signature() -> None:
    # Twilio signs the URL it called: the public one, whatever Host the proxy passes on.
    query = request.query_string.decode()
    url = links.absolute_url(request.path + (f"?{query}" if query else ""))
    if not sms.signature_valid(current_app, url, request.form, request.headers.get("X-Twilio-Signature")):
        raise ApiError(403, "invalid_signature", FORBIDDEN_SIGNATURE + ".")


@bp.post("/sms/inbound")
@bp.input(TwilioWebhookForm, location="form", arg_name="form")
@bp.doc(responses={200: TWIML, 403: FORBIDDEN_SIGNATURE})
def sms_inbound(form):
    """Twilio's webhook for SMS replies (YES/NO/NONE <code>, STOP, START, HELP)"""
    _require_twilio_signature()
    reply = service.inbound_sms(request.form)
    return sms.twiml(reply), 200, {"Content-Type": "application/xml"}


@bp.post("/sms/status-callback")
@bp.input(StatusCallbackQuery, location="query", arg_name="query")
@bp.input(TwilioWebhookForm, location="form", arg_name="form")
@bp.output({}, status_code=204)
@bp.doc(responses={403: FORBIDDEN_SIGNATURE})
def sms_status_callback(query, form):
    """Twilio's delivery status callback for a message we sent"""
    _require_twilio_signature()
    service.status_callback(request.form, query.get("m"))
    return ""
