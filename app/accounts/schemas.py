"""Request and response bodies of the accounts API."""
from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Regexp

from app.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from app.common.fields import EmailAddress, PhoneNumber, StrictBool, StrictInteger, TrimmedString
from app.common.openapi import schema_keywords


def new_password(**kwargs) -> fields.String:
    """A password being chosen: its length in the document; the service checks the rest
    (not the login itself, not a run of keys, not a common password)."""
    return fields.String(required=True, load_only=True, validate=[
        Length(min=MIN_LENGTH, error=f"Must be at least {MIN_LENGTH} characters."),
        Length(max=MAX_LENGTH, error=f"Must be at most {MAX_LENGTH} characters.")], **kwargs)


@schema_keywords(anyOf=[{"required": ["email"], "properties": {"email": {"type": "string"}}},
                        {"required": ["phone"], "properties": {"phone": {"type": "string"}}}])
class SignUpIn(Schema):
    email = EmailAddress(allow_none=True, metadata={"description": "E-mail address; give it, a phone, or both."})
    phone = PhoneNumber(allow_none=True, metadata={"description": "Mobile number, E.164 or national form."})
    password = new_password(metadata={"description": f"At least {MIN_LENGTH} characters."})
    display_name = TrimmedString(allow_none=True, validate=Length(max=120))
    enrollment_code = fields.String(allow_none=True, validate=Length(max=32),
                                    metadata={"description": "A code from a QR sheet, e.g. ABCD-EFGH."})


class SignInIn(Schema):
    login = fields.String(required=True, validate=Length(min=1, max=254),
                          metadata={"description": "E-mail address or phone number."})
    password = fields.String(required=True, load_only=True, validate=Length(max=1024))
    code = fields.String(load_only=True, allow_none=True, validate=Length(max=32), metadata={
        "description": "Accounts with two-step sign-in: the authenticator app's 6-digit code or a recovery code."})


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, load_only=True, validate=Length(max=1024))
    new_password = new_password()


@schema_keywords(minProperties=1)
class ProfileIn(Schema):
    display_name = TrimmedString(allow_none=True, validate=Length(max=120))
    notify_push = StrictBool(metadata={"description": "Owners: send requests as push notifications."})
    notify_sms = StrictBool(metadata={"description": "Owners: send requests by SMS (to a verified number)."})


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
    display_name = fields.String(allow_none=True)
    agency_id = fields.Integer(allow_none=True)
    district_id = fields.Integer(allow_none=True)
    active = fields.Boolean()
    notify_push = fields.Boolean()
    notify_sms = fields.Boolean()
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


class SecondFactorSetupOut(Schema):
    secret = fields.String(metadata={"description": "Base32 secret, for typing into the app by hand."})
    otpauth_uri = fields.String(metadata={"description": "otpauth://totp/... URI (what the QR code holds)."})
    qr_svg = fields.String(metadata={"description": "The QR code as a data: URI of an SVG image."})


class SecondFactorCodeIn(Schema):
    # Apps show it as "123456" or "123 456"; either is taken.
    code = fields.String(required=True, validate=Regexp(r"^\s*\d{3}\s?\d{3}\s*$", error="Type the 6 digits."),
                         metadata={"description": "The 6-digit code the authenticator app shows now."})


class PasswordConfirmIn(Schema):
    password = fields.String(required=True, load_only=True, validate=Length(max=1024))


class RecoveryCodesOut(Schema):
    recovery_codes = fields.List(fields.String(), metadata={
        "description": "One-time codes, shown only now: each signs in once in place of the app's code."})
    second_factor = fields.Nested(SecondFactorStatusOut)


class StaffIn(Schema):
    email = EmailAddress(required=True)
    password = new_password(metadata={"description": f"Initial password; at least {MIN_LENGTH} characters."})
    role = fields.String(required=True, validate=OneOf(["officer", "supervisor", "manager"]))
    display_name = TrimmedString(allow_none=True, validate=Length(max=120))
    district_id = StrictInteger(allow_none=True, metadata={"description": "Required for managers."})


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
