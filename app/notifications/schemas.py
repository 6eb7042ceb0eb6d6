"""Request and response bodies of the push, phone-verification and SMS API."""
from apiflask import Schema, fields
from apiflask.validators import Length, Regexp
from marshmallow import INCLUDE

from app.common.fields import NO_NUL_PATTERN, PhoneNumber

# PostgreSQL text cannot hold NUL: refused as input, and said so by the pattern.
_NO_NUL = Regexp(NO_NUL_PATTERN, error="Must not contain NUL characters.")


class VapidKeyOut(Schema):
    public_key = fields.String(metadata={
        "description": "The VAPID public key: pass it as `applicationServerKey` to `pushManager.subscribe()` "
                       "(uncompressed P-256 point, base64url)."})


class SubscriptionKeysIn(Schema):
    p256dh = fields.String(required=True, validate=[Length(min=1, max=256), _NO_NUL],
                           metadata={"description": "The subscription's P-256 public key, base64url."})
    auth = fields.String(required=True, validate=[Length(min=1, max=64), _NO_NUL],
                         metadata={"description": "The subscription's 16-byte auth secret, base64url."})


class SubscriptionIn(Schema):
    """A PushSubscription as the browser's `subscription.toJSON()` gives it."""

    class Meta:
        unknown = INCLUDE  # e.g. expirationTime, which the push service enforces on its own

    endpoint = fields.String(required=True, validate=[Length(min=1, max=2048), _NO_NUL],
                             metadata={"description": "The push service URL of this subscription."})
    keys = fields.Nested(SubscriptionKeysIn, required=True)


class SubscriptionDeleteIn(Schema):
    endpoint = fields.String(required=True, validate=[Length(min=1, max=2048), _NO_NUL])


class SubscriptionOut(Schema):
    id = fields.Integer()
    endpoint = fields.String()
    created_at = fields.DateTime()
    last_success_at = fields.DateTime(allow_none=True)


class MailStatusOut(Schema):
    mode = fields.String(metadata={"enum": ["smtp", "outbox"],
                                   "description": "'outbox': e-mails are not sent, only kept on the server."})
    sending = fields.Boolean()
    message = fields.String()


class SmsStatusOut(Schema):
    mode = fields.String(metadata={"enum": ["twilio", "outbox"],
                                   "description": "'outbox': SMS are not sent, only kept on the server."})
    sending = fields.Boolean()
    message = fields.String()


class PhoneVerificationIn(Schema):
    phone = PhoneNumber(allow_none=True, metadata={
        "description": "The mobile number to verify; the account's number when left out."})


class PhoneVerificationOut(Schema):
    phone = fields.String()
    expires_at = fields.DateTime()
    delivery = fields.String(metadata={"enum": ["twilio", "outbox"]})
    message = fields.String()


class PhoneVerifyIn(Schema):
    code = fields.String(required=True, validate=Regexp(r"^\d{6}$", error="Must be the 6-digit code."))


class PhoneOut(Schema):
    phone = fields.String(allow_none=True)
    phone_verified = fields.Boolean()


class TwilioWebhookForm(Schema):
    """The form Twilio posts (only the fields used are listed; all others are accepted)."""

    class Meta:
        unknown = INCLUDE

    MessageSid = fields.String()
    From = fields.String()
    To = fields.String()
    Body = fields.String()
    MessageStatus = fields.String()
    ErrorCode = fields.String()


class StatusCallbackQuery(Schema):
    m = fields.String(metadata={"description": "Our message id, set in the callback URL we gave Twilio."})
