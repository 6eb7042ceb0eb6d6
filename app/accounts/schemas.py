"""Request and response bodies of the accounts API."""
from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Regexp
from marshmallow import ValidationError

from app.accounts.models import CHANNELS
from app.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from app.common.fields import EmailAddress, PhoneNumber, StrictBool, StrictInteger, TrimmedString
from app.common.openapi import schema_keywords
from app.i18n import LANGUAGES


def new_password(**kwargs) -> fields.String:
    """A password being chosen: its length in the document; the service checks the rest
    (not the login itself, not a run of keys, not a common password)."""
    return fields.String(required=True, load_only=True, validate=[
        Length(min=MIN_LENGTH, error=f"Must be at least {MIN_LENGTH} characters."),
        Length(max=MAX_LENGTH, error=f"Must be at most {MAX_LENGTH} characters.")], **kwargs)


def language_field(**metadata) -> fields.String:
    return fields.String(allow_none=True, validate=OneOf(list(LANGUAGES)), metadata={
        "description": "The language texts, SMS and e-mails come in: " + ", ".join(
            f"`{code}` ({name})" for code, name in LANGUAGES.items()) + "; null follows the browser's "
        "Accept-Language (and English for messages).", **metadata})


@schema_keywords(anyOf=[{"required": ["email"], "properties": {"email": {"type": "string"}}},
                        {"required": ["phone"], "properties": {"phone": {"type": "string"}}}])
class SignUpIn(Schema):
    email = EmailAddress(allow_none=True, metadata={"description": "E-mail address; give it, a phone, or both."})
    phone = PhoneNumber(allow_none=True, metadata={"description": "Mobile number, E.164 or national form."})
    password = new_password(metadata={"description": f"At least {MIN_LENGTH} characters."})
    display_name = TrimmedString(allow_none=True, validate=Length(max=120))
    enrollment_code = fields.String(allow_none=True, validate=Length(max=32),
                                    metadata={"description": "A code from a QR sheet, e.g. ABCD-EFGH."})
    language = language_field()


class SignInIn(Schema):
    login = fields.String(required=True, validate=Length(min=1, max=254),
                          metadata={"description": "E-mail address or phone number."})
    password = fields.String(required=True, load_only=True, validate=Length(max=1024))
    code = fields.String(load_only=True, allow_none=True, validate=Length(max=32), metadata={
        "description": "Accounts with two-step sign-in: the authenticator app's 6-digit code or a recovery code."})
    account = fields.String(load_only=True, allow_none=True, validate=OneOf(["owner", "staff"]), metadata={
        "description": "Which account to sign in to when the login and password open both a resident "
                       "(owner-side) and a police staff account (after 409 `account_choice_required`)."})


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, load_only=True, validate=Length(max=1024))
    new_password = new_password()


def _each_channel_once(order: list[str]) -> None:
    if sorted(order) != sorted(CHANNELS):
        raise ValidationError(f"Give each of {', '.join(CHANNELS)} once, the one to try first first.")


@schema_keywords(minProperties=1)
class ProfileIn(Schema):
    display_name = TrimmedString(allow_none=True, validate=Length(max=120))
    language = language_field()
    notify_push = StrictBool(metadata={"description": "Owners: send requests as push notifications."})
    notify_sms = StrictBool(metadata={"description": "Owners: send requests by SMS (to a verified number)."})
    notify_email = StrictBool(metadata={"description": "Owners: send requests by e-mail (to a verified address)."})
    channel_order = fields.List(
        fields.String(validate=OneOf(CHANNELS)), validate=[Length(equal=len(CHANNELS)), _each_channel_once],
        # Each channel once: uniqueItems with the enum and the length says it in the document.
        metadata={"uniqueItems": True, "example": list(CHANNELS),
                  "description": f"Owners: the order channels are tried in, each of {', '.join(CHANNELS)} once. "
                                 "A request goes on the first one that reaches you; an unanswered one follows "
                                 "on the next."})


class MembershipOut(Schema):
    agency_id = fields.Integer()
    agency_name = fields.String(attribute="agency.name")
    district_id = fields.Integer(allow_none=True)
    district_name = fields.String(attribute="district.name", allow_none=True)
    joined_at = fields.DateTime()


class UserOut(Schema):
    id = fields.Integer()
    role = fields.String(attribute="role.value")
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    phone_verified = fields.Boolean()
    email_verified = fields.Boolean(metadata={
        "description": "Whether the holder of `email` proved it (a link sent to it); requests go only to "
                       "a verified address."})
    display_name = fields.String(allow_none=True)
    agency_id = fields.Integer(allow_none=True)
    district_id = fields.Integer(allow_none=True)
    active = fields.Boolean()
    notify_push = fields.Boolean()
    notify_sms = fields.Boolean()
    notify_email = fields.Boolean()
    language = fields.String(allow_none=True, metadata={
        "description": "The language chosen (en, es, hmn); null follows the browser."})
    channel_order = fields.List(fields.String(), attribute="channels_in_order", metadata={
        "description": "Owners: the order their channels are tried in (first message, then escalations)."})
    second_factor_enabled = fields.Boolean(attribute="totp_enabled", metadata={
        "description": "Whether the account signs in with an authenticator app's code too."})
    created_at = fields.DateTime()


class SecondFactorStatusOut(Schema):
    enabled = fields.Boolean()
    required = fields.Boolean(metadata={"description": "Officers and supervisors must use it."})
    setup_required = fields.Boolean(metadata={
        "description": "True: this account can do nothing but set it up (POST /api/auth/second-factor/setup)."})
    recovery_codes_left = fields.Integer()


class MeOut(UserOut):
    memberships = fields.List(fields.Nested(MembershipOut))
    second_factor = fields.Nested(SecondFactorStatusOut)
    time_zone = fields.String(allow_none=True, metadata={
        "description": "The IANA time zone of the account's agency (staff, a manager's district, an owner's "
                       "agencies) that the app shows dates and times in; null when there is none or an owner's "
                       "agencies are in several zones (the device's zone then)."})


class SecondFactorSetupOut(Schema):
    secret = fields.String(metadata={"description": "Base32 secret, for typing into the app by hand."})
    otpauth_uri = fields.String(metadata={"description": "otpauth://totp/... URI (what the QR code holds)."})
    qr_svg = fields.String(metadata={"description": "The QR code as a data: URI of an SVG image."})
    email_code_sent_to = fields.String(allow_none=True, metadata={
        "description": "After a reset of two-step sign-in: the address a 6-digit code was e-mailed to, which the "
                       "confirmation needs as `email_code` besides the app's code. Absent otherwise."})


class SecondFactorCodeIn(Schema):
    # Apps show it as "123456" or "123 456"; either is taken.
    code = fields.String(required=True, validate=Regexp(r"^\s*\d{3}\s?\d{3}\s*$", error="Type the 6 digits."),
                         metadata={"description": "The 6-digit code the authenticator app shows now."})


class SecondFactorConfirmIn(SecondFactorCodeIn):
    email_code = fields.String(validate=Regexp(r"^\s*\d{3}\s?\d{3}\s*$", error="Type the 6 digits."),
                               metadata={"description": "After a reset of two-step sign-in: the 6-digit code e-mailed "
                                                        "to the account (see the set-up's `email_code_sent_to`)."})


class PasswordConfirmIn(Schema):
    password = fields.String(required=True, load_only=True, validate=Length(max=1024))


# --- password recovery ---------------------------------------------------------------------

class PasswordResetIn(Schema):
    login = fields.String(required=True, validate=Length(min=1, max=254),
                          metadata={"description": "The account's e-mail address or mobile number."})


class PasswordResetAcceptedOut(Schema):
    message = fields.String(metadata={"description": "The same text whether or not the login has an account."})


class PasswordResetLinkQuery(Schema):
    # In the query string, which the logs redact (app/logs.py), as every query value.
    token = fields.String(required=True, validate=Length(min=1, max=200),
                          metadata={"description": "From the e-mailed link (the part after /#/reset/)."})


class PasswordResetLinkOut(Schema):
    account = fields.String(metadata={"description": "Which account the link resets, e.g. \"camera owner account\"."})
    email = fields.String(metadata={"description": "The address the link was sent to (the account's login)."})
    expires_at = fields.DateTime()


@schema_keywords(oneOf=[{"required": ["token"], "properties": {"token": {"type": "string"}}},
                        {"required": ["login", "code"], "properties": {"login": {"type": "string"}}}])
class PasswordResetConfirmIn(Schema):
    token = fields.String(validate=Length(min=1, max=200),
                          metadata={"description": "From the e-mailed link (the part after /#/reset/)."})
    login = fields.String(validate=Length(min=1, max=254),
                          metadata={"description": "With `code`: the mobile number the code was texted to."})
    code = fields.String(validate=Regexp(r"^\s*\d{3}\s?\d{3}\s*$", error="Type the 6 digits."),
                         metadata={"description": "With `login`: the 6-digit code from the text message."})
    password = new_password(metadata={"description": f"The new password; at least {MIN_LENGTH} characters."})


class RecoveryCodesOut(Schema):
    recovery_codes = fields.List(fields.String(), metadata={
        "description": "One-time codes, shown only now: each signs in once in place of the app's code."})
    second_factor = fields.Nested(SecondFactorStatusOut)


class StaffPatchIn(Schema):
    role = fields.String(validate=OneOf(["officer", "supervisor"]))
    active = StrictBool()


class SessionOut(Schema):
    id = fields.Integer()
    created_at = fields.DateTime(metadata={"description": "When this device signed in."})
    last_seen_at = fields.DateTime(metadata={"description": "Its last request (to within a minute)."})
    user_agent = fields.String(allow_none=True, metadata={"description": "The browser and system, e.g. "
                                                                         "\"Firefox on Android\"."})
    ip_address = fields.String(allow_none=True, metadata={"description": "The address it signed in from."})
    current = fields.Boolean(metadata={"description": "True for the session making this request."})


class SessionsEndedOut(Schema):
    ended = fields.Integer(metadata={"description": "How many other sessions were signed out."})


# --- staff invitations (app/accounts/invitations.py) ---------------------------------------------


class InvitationIn(Schema):
    email = EmailAddress(required=True, metadata={"description": "Where the invitation link is sent."})
    role = fields.String(required=True, validate=OneOf(["officer", "supervisor", "manager", "oversight"]))
    display_name = TrimmedString(allow_none=True, validate=Length(max=120))
    district_id = StrictInteger(allow_none=True, metadata={"description": "Required for managers."})


class InvitationOut(Schema):
    id = fields.Integer()
    email = fields.String()
    role = fields.String(attribute="role.value")
    display_name = fields.String(allow_none=True)
    district_id = fields.Integer(allow_none=True)
    state = fields.String(metadata={"description": "pending | expired | accepted | revoked"})
    invited_by = fields.String(attribute="invited_by_name", allow_none=True,
                               metadata={"description": "The inviting supervisor's name or address."})
    created_at = fields.DateTime()
    sent_at = fields.DateTime(metadata={"description": "When the current link was sent."})
    expires_at = fields.DateTime(metadata={"description": "When the current link stops working."})


class InvitationPreviewOut(Schema):
    agency_name = fields.String()
    role = fields.String()
    email = fields.String(metadata={"description": "The address the account will sign in with."})
    display_name = fields.String(allow_none=True)
    expires_at = fields.DateTime()


class JoinSetupIn(Schema):
    password = new_password(metadata={"description": f"The password being chosen; at least {MIN_LENGTH} characters."})


class JoinIn(Schema):
    password = new_password(metadata={"description": "The same password as at the set-up step."})
    code = fields.String(required=True, validate=Regexp(r"^\s*\d{3}\s?\d{3}\s*$", error="Type the 6 digits."),
                         metadata={"description": "The 6-digit code the authenticator app shows now."})


class JoinedOut(MeOut):
    recovery_codes = fields.List(fields.String(), attribute="new_recovery_codes", metadata={
        "description": "One-time codes, shown only now: each signs in once in place of the app's code."})
# --- proving an e-mail address (app/accounts/verification.py) ---------------------------

class EmailVerifyIn(Schema):
    token = fields.String(required=True, validate=Length(min=1, max=200),
                          metadata={"description": "The token of the e-mail's link (the part after /verify-email/)."})


class VerifiedOut(Schema):
    email = fields.String()
    email_verified = fields.Boolean()


class EmailVerificationIn(Schema):
    email = EmailAddress(allow_none=True, metadata={
        "description": "An address to add or to change to; the account's own unproved address when left out. "
                       "The account keeps its address until the link sent to the new one is confirmed."})


class EmailVerificationSentOut(Schema):
    email = fields.String()
    message = fields.String()
