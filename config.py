"""Configuration classes, read from the environment.

Every setting a deployment may change is an environment variable (docs/DEPLOY.md
lists them). Development generates what it needs into instance/; production refuses
to start without its secrets.
"""
from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("PORCHLIGHT_INSTANCE_DIR", BASE_DIR / "instance"))


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise RuntimeError(f"environment variable {name} must be true or false, got {raw!r}")


def _sqlalchemy_url(url: str) -> str:
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants the driver named.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _coordinates(text: str) -> tuple[float, float]:
    """"lat,lon" → (lat, lon); a setting that is not two numbers in range stops start-up."""
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise RuntimeError(f"MAP_DEFAULT_CENTER must be 'latitude,longitude', not {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RuntimeError(f"MAP_DEFAULT_CENTER is out of range: {text!r}")
    return lat, lon


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env_str(name, default) or default).lower()
    if value not in choices:
        raise RuntimeError(f"environment variable {name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _storage_url(text: str) -> str:
    text = text.strip()
    if text and (not text.startswith("s3://") or len(text) <= len("s3://") or text[5] == "/"):
        raise RuntimeError(f"environment variable STORAGE_URL must look like s3://bucket/prefix, got {text!r}")
    return text


def _sse(text: str) -> str:
    value = {"aes256": "AES256", "aws:kms": "aws:kms", "": ""}.get(text.strip().lower())
    if value is None:
        raise RuntimeError(f"environment variable S3_SERVER_SIDE_ENCRYPTION must be AES256 or aws:kms, got {text!r}")
    return value


def _tile_url(text: str) -> str:
    return "" if text.strip().lower() in ("none", "off") else text


class Config:
    ENV_NAME = "base"
    SECRET_KEY = env_str("SECRET_KEY")
    # Fernet keys (comma-separated, newest first) encrypting the secrets kept in the
    # database (app/crypto.py); development generates one into instance/.
    ENCRYPTION_KEYS = env_str("ENCRYPTION_KEYS")
    # The installation's Ed25519 key signing audit checkpoints and clip receipts (app/audit/signing.py):
    # base64 of the 32 raw bytes, or a file's path; development generates one into instance/.
    # Public halves of earlier keys (base64, comma-separated) that still verify what they signed.
    AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY")
    AUDIT_RETIRED_PUBLIC_KEYS = env_str("AUDIT_RETIRED_PUBLIC_KEYS", "")
    # How often the scheduler signs a checkpoint of every audit chain's head (app/audit/checkpoints.py).
    AUDIT_CHECKPOINT_INTERVAL_HOURS = env_int("AUDIT_CHECKPOINT_INTERVAL_HOURS", 24)
    SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(
        env_str("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'porchlight.sqlite3'}")
    )
    # hide_parameters: a database error in the log never carries the values of its statement.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True, "hide_parameters": True}
    REDIS_URL = env_str("REDIS_URL")

    # Absolute base URL of every link, QR code and SMS (app/links.py); required in production.
    # Development without it uses http://HOST:PORT, the address `make run` serves on.
    PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL")
    HOST = env_str("HOST", "127.0.0.1")
    PORT = env_int("PORT", 5000)
    # Number of proxies in front of the app whose X-Forwarded-* headers are trusted, and
    # which of those headers (for, proto, host, port, prefix); links never follow them.
    TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
    TRUSTED_PROXY_HEADERS = env_str("TRUSTED_PROXY_HEADERS", "for,proto")

    SESSION_COOKIE_NAME = "porchlight_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    # Sessions are records on the server (app/accounts/sessions.py); the cookie holds only
    # a random key. Owners and district managers: signed out after this long without a
    # request, and after this long in all, however active.
    SESSION_IDLE_TIMEOUT_DAYS = env_int("SESSION_IDLE_TIMEOUT_DAYS", 30)
    SESSION_LIFETIME_DAYS = env_int("SESSION_LIFETIME_DAYS", 90)
    # Officers and supervisors: the same, counted in minutes and hours.
    STAFF_IDLE_TIMEOUT_MINUTES = env_int("STAFF_IDLE_TIMEOUT_MINUTES", 30)
    STAFF_SESSION_LIFETIME_HOURS = env_int("STAFF_SESSION_LIFETIME_HOURS", 12)
    # The cookie outlives no session: it expires with the longest lifetime above, and is
    # not re-sent on every request (the server record is what ends a session).
    PERMANENT_SESSION_LIFETIME = max(SESSION_LIFETIME_DAYS * 86400, STAFF_SESSION_LIFETIME_HOURS * 3600)
    SESSION_REFRESH_EACH_REQUEST = False
    # Device cookies (OWASP): a browser that signed in to a login with every factor gets a
    # signed cookie for it; sign-ins from that browser have their own failure budget and
    # are not locked out by the per-login limit that strangers' guesses use up.
    DEVICE_COOKIE_NAME = "porchlight_device"
    DEVICE_COOKIE_LIFETIME_DAYS = env_int("DEVICE_COOKIE_LIFETIME_DAYS", 180)
    # A new account's unproved e-mail address or phone number ends after this many days: the
    # account loses it, or is deleted when it proved no address at all (app/privacy/claims.py).
    UNVERIFIED_CLAIM_DAYS = env_int("UNVERIFIED_CLAIM_DAYS", 7)
    # Yearly re-confirmation (app/cameras/confirmation.py): a camera last confirmed this many
    # days ago is asked for a confirmation, and pauses when none comes within the grace days.
    CAMERA_CONFIRM_DAYS = env_int("CAMERA_CONFIRM_DAYS", 365)
    CAMERA_CONFIRM_GRACE_DAYS = env_int("CAMERA_CONFIRM_GRACE_DAYS", 30)
    # The name authenticator apps show beside a Porchlight two-step sign-in code.
    TOTP_ISSUER = env_str("TOTP_ISSUER", "Porchlight")

    # Argon2id cost. RFC 9106's second recommended option (64 MiB, t=3) by default.
    ARGON2_TIME_COST = env_int("ARGON2_TIME_COST", 3)
    ARGON2_MEMORY_KIB = env_int("ARGON2_MEMORY_KIB", 64 * 1024)
    ARGON2_PARALLELISM = env_int("ARGON2_PARALLELISM", 2)

    # Region assumed for phone numbers typed without a +country prefix.
    DEFAULT_PHONE_REGION = env_str("DEFAULT_PHONE_REGION", "US")
    DEFAULT_TIMEZONE = env_str("DEFAULT_TIMEZONE", "America/Chicago")

    # --- footage requests: notifications, SMS, uploads ---
    # Web Push VAPID keys: generated into instance/ on first run unless given here
    # (VAPID_PRIVATE_KEY as PEM or base64url raw key, VAPID_PUBLIC_KEY base64url).
    VAPID_PRIVATE_KEY = env_str("VAPID_PRIVATE_KEY")
    VAPID_PUBLIC_KEY = env_str("VAPID_PUBLIC_KEY")
    VAPID_SUBJECT = env_str("VAPID_SUBJECT", "mailto:porchlight@localhost")
    # E-mail: smtp://user:pass@host:587 (STARTTLS) or smtps://...:465; without it, e-mails
    # go to the local outbox (the mail_messages table; `flask mail outbox`).
    MAIL_URL = env_str("MAIL_URL")
    MAIL_FROM = env_str("MAIL_FROM")
    MAIL_TLS_CA_FILE = env_str("MAIL_TLS_CA_FILE")
    MAIL_TIMEOUT_SECONDS = env_int("MAIL_TIMEOUT_SECONDS", 20)
    # Twilio: without an account SID and token, SMS go to the local outbox (table + log).
    TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
    TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")
    TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
    # Where the Twilio client sends its API requests: Twilio's own API, a Twilio-compatible
    # provider's, or a local gateway (scheme, host and an optional path prefix; checked at start-up).
    TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "https://api.twilio.com")
    # How long one request to that API may take before it counts as failed and is retried.
    TWILIO_TIMEOUT_SECONDS = env_int("TWILIO_TIMEOUT_SECONDS", 10)
    # Job queue: RQ on REDIS_URL when set, else a worker thread inside the app process.
    JOB_QUEUE_NAME = env_str("JOB_QUEUE_NAME", "porchlight")
    RUN_IN_PROCESS_WORKER = env_bool("RUN_IN_PROCESS_WORKER", True)
    SCHEDULER_INTERVAL_SECONDS = env_int("SCHEDULER_INTERVAL_SECONDS", 30)
    # Notification delivery: retries double from the base up to the cap, a claimed row
    # whose worker died is retried after the claim timeout; fan-out tuning below.
    NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 6)
    NOTIFICATION_RETRY_BASE_SECONDS = env_int("NOTIFICATION_RETRY_BASE_SECONDS", 30)
    NOTIFICATION_RETRY_MAX_SECONDS = env_int("NOTIFICATION_RETRY_MAX_SECONDS", 3600)
    NOTIFICATION_CLAIM_TIMEOUT_SECONDS = env_int("NOTIFICATION_CLAIM_TIMEOUT_SECONDS", 300)
    NOTIFICATION_BATCH_SIZE = env_int("NOTIFICATION_BATCH_SIZE", 50)  # rows claimed and sent together
    # Rows per queued job: small enough that RQ workers share a fan-out evenly (1,000 rows as 5 jobs
    # split 3:2 at best between two workers, as 10 jobs 5:5), large enough for two overlapping batches.
    NOTIFICATION_JOB_SIZE = env_int("NOTIFICATION_JOB_SIZE", 100)
    NOTIFICATION_CONCURRENCY = env_int("NOTIFICATION_CONCURRENCY", 16)  # sending threads per worker
    # Web Push endpoints the server POSTs to: host suffixes, each matching the host
    # or a subdomain of it. By default the browser vendors' push services: FCM (Chrome, Android,
    # Opera, Samsung), Mozilla's (Firefox), Apple's (Safari), WNS (Edge).
    PUSH_SERVICE_HOSTS = env_str("PUSH_SERVICE_HOSTS", "fcm.googleapis.com,android.googleapis.com,"
                                 "push.services.mozilla.com,push.apple.com,notify.windows.com")
    # Exact origins (http://127.0.0.1:PORT) exempt from every endpoint rule: the tests' local push
    # services. Production refuses to start with any.
    PUSH_TEST_ORIGINS = env_str("PUSH_TEST_ORIGINS", "")
    # Clip storage: "local" keeps clips under CLIP_STORAGE_ROOT.
    CLIP_STORAGE_BACKEND = env_str("CLIP_STORAGE_BACKEND", "local")
    CLIP_STORAGE_ROOT = env_str("CLIP_STORAGE_ROOT", str(INSTANCE_DIR / "clips"))
    # STORAGE_URL=s3://bucket/prefix keeps clips in an S3-compatible object store instead
    # (app/storage/s3.py; unset: local disk as above). S3_ENDPOINT_URL names a server other than
    # AWS (MinIO, Ceph, moto: http://127.0.0.1:9000); S3_REGION its region. S3_ACCESS_KEY_ID and
    # S3_SECRET_ACCESS_KEY, when unset, leave credentials to boto3's own chain (AWS_* variables,
    # ~/.aws, an instance role). S3_SERVER_SIDE_ENCRYPTION: AES256 or aws:kms (with
    # S3_SSE_KMS_KEY_ID, else the bucket's default KMS key). S3_PART_SIZE_MIB: the multipart
    # part size (at least 5, S3's smallest part; 10,000 parts make the largest clip).
    STORAGE_URL = _storage_url(env_str("STORAGE_URL", "") or "")
    S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
    S3_REGION = env_str("S3_REGION")
    S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
    S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")
    S3_SERVER_SIDE_ENCRYPTION = _sse(env_str("S3_SERVER_SIDE_ENCRYPTION", "") or "")
    S3_SSE_KMS_KEY_ID = env_str("S3_SSE_KMS_KEY_ID")
    S3_PART_SIZE = max(5, env_int("S3_PART_SIZE_MIB", 8)) * 1024 * 1024
    # boto3's attempts per call and its connect/read timeout: a bucket that does not answer
    # fails the request (503, nothing lost) within about attempts × timeout.
    S3_MAX_ATTEMPTS = env_int("S3_MAX_ATTEMPTS", 3)
    S3_TIMEOUT_SECONDS = env_int("S3_TIMEOUT_SECONDS", 10)
    # The media job (app/clips/processing.py): each clip's probe and working copy run in a
    # child process under a time limit and an address-space cap; at most MEDIA_CONCURRENCY
    # run at once across the installation; a claim whose worker died is retried up to
    # MEDIA_MAX_ATTEMPTS times. MEDIA_WORK_DIR (default: the system's temporary directory)
    # holds a copy of the master when the storage backend has no local file, and the copy.
    MEDIA_TIME_LIMIT_SECONDS = env_int("MEDIA_TIME_LIMIT_SECONDS", 3600)
    MEDIA_MEMORY_LIMIT_MIB = env_int("MEDIA_MEMORY_LIMIT_MIB", 1536)
    MEDIA_CONCURRENCY = env_int("MEDIA_CONCURRENCY", 1)
    MEDIA_MAX_ATTEMPTS = env_int("MEDIA_MAX_ATTEMPTS", 3)
    MEDIA_WORK_DIR = env_str("MEDIA_WORK_DIR")
    # Unfinished uploads are cleaned up this long after their last byte.
    UPLOAD_EXPIRY_HOURS = env_int("UPLOAD_EXPIRY_HOURS", 24)
    # Containers accepted by their leading bytes (comma-separated). A "zip" (a recorder's export
    # with its player) must also hold a video entry, within app.clips.bundles' limits.
    ALLOWED_VIDEO_CONTAINERS = env_str("ALLOWED_VIDEO_CONTAINERS",
                                       "mp4,matroska,avi,mpegts,h264,hevc,mpegps,dhav,asf,zip")

    # --- bulk enrollment for business improvement districts ---
    # A member spreadsheet larger than this is refused with 413 before it is read.
    DISTRICT_IMPORT_MAX_BYTES = env_int("DISTRICT_IMPORT_MAX_BYTES", 20 * 1024 * 1024)
    # More member rows than this (header not counted) is refused with 422.
    DISTRICT_IMPORT_MAX_ROWS = env_int("DISTRICT_IMPORT_MAX_ROWS", 100_000)
    # A checked file waits this long for its commit; then its rows are deleted.
    DISTRICT_IMPORT_TTL_HOURS = env_int("DISTRICT_IMPORT_TTL_HOURS", 24)
    # Checked, uncommitted imports kept per district; an upload beyond it expires the oldest.
    DISTRICT_IMPORT_MAX_PENDING = env_int("DISTRICT_IMPORT_MAX_PENDING", 5)
    # Lifetime of the single-use enrollment code each imported member gets (renewed when invited again).
    DISTRICT_CODE_LIFETIME_DAYS = env_int("DISTRICT_CODE_LIFETIME_DAYS", 90)
    # SMS invitations a district may queue per rolling hour.
    DISTRICT_SMS_PER_HOUR = env_int("DISTRICT_SMS_PER_HOUR", 500)
    # Members on one printed invitation sheet (PDF); more are asked for in pages (offset/limit).
    DISTRICT_PDF_MAX_MEMBERS = env_int("DISTRICT_PDF_MAX_MEMBERS", 600)
    # Paper of the printed sheets: letter or a4.
    DISTRICT_PDF_PAGE_SIZE = _choice("DISTRICT_PDF_PAGE_SIZE", "letter", ("letter", "a4"))

    # --- rate limits: limits-library strings, ";" between several ---
    # Counted in Redis when REDIS_URL is set, else in memory per process (per gunicorn worker).
    RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
    # Sign-in attempts per client address, and per login typed (whatever the address).
    RATELIMIT_SIGN_IN = env_str("RATELIMIT_SIGN_IN", "10 per minute; 50 per hour")
    RATELIMIT_SIGN_IN_LOGIN = env_str("RATELIMIT_SIGN_IN_LOGIN", "10 per 10 minutes; 30 per hour")
    # Failed sign-ins per device cookie: a browser holding one for the login typed is
    # exempt from the two limits above and spends this budget instead (a stolen device
    # cookie buys an attacker no more guesses than this).
    RATELIMIT_SIGN_IN_DEVICE = env_str("RATELIMIT_SIGN_IN_DEVICE", "5 per 10 minutes; 20 per day")
    # Verification codes asked for per account, and texted per destination number; and all texted
    # together per instance (the guard against SMS pumping to premium numbers).
    RATELIMIT_PHONE_VERIFICATION = env_str("RATELIMIT_PHONE_VERIFICATION", "3 per 10 minutes; 10 per day")
    # Links to prove an e-mail address (Settings' add, change, resend), per account: counted on
    # every request, so the limit says nothing of whether an address is someone else's.
    RATELIMIT_EMAIL_VERIFICATION = env_str("RATELIMIT_EMAIL_VERIFICATION", "5 per hour; 10 per day")
    RATELIMIT_VERIFICATION_SMS_TOTAL = env_str("RATELIMIT_VERIFICATION_SMS_TOTAL", "200 per hour")
    # Attempts at typing the texted code, per account.
    RATELIMIT_PHONE_VERIFY = env_str("RATELIMIT_PHONE_VERIFY", "10 per 10 minutes")
    # Enrollment codes tried (lookup, redeem, sign-up with a code) per client address.
    RATELIMIT_ENROLLMENT_LOOKUP = env_str("RATELIMIT_ENROLLMENT_LOOKUP", "30 per minute")
    # Annual reports generated per client address (JSON, CSV and PDF share it): each one walks
    # the agency's whole audit chain to verify it, so it is the public endpoint worth abusing.
    RATELIMIT_ANNUAL_REPORT = env_str("RATELIMIT_ANNUAL_REPORT", "20 per minute; 200 per hour")
    # Sign-ups per client address. A taken e-mail or number is answered 409 (people must
    # learn to sign in instead), so this is also what slows anyone testing which
    # addresses have accounts. Generous enough for a sign-up table on shared Wi-Fi.
    RATELIMIT_SIGN_UP = env_str("RATELIMIT_SIGN_UP", "30 per hour; 100 per day")
    # Uploads started per upload link, else per signed-in owner.
    RATELIMIT_UPLOAD_CREATION = env_str("RATELIMIT_UPLOAD_CREATION", "30 per hour")
    # Wrong two-step codes per account (only wrong ones count): with three codes valid at
    # a time, 20 guesses a day give an attacker holding the password about 2 % a year.
    RATELIMIT_SECOND_FACTOR = env_str("RATELIMIT_SECOND_FACTOR", "5 per 10 minutes; 20 per day")
    # Staff invitations sent (and resent) per supervisor: each is an e-mail from the agency.
    RATELIMIT_INVITATIONS = env_str("RATELIMIT_INVITATIONS", "30 per hour; 100 per day")
    # Steps of joining by invitation (password + QR, then the code) per client address.
    RATELIMIT_INVITATION_JOIN = env_str("RATELIMIT_INVITATION_JOIN", "20 per 10 minutes")
    # Password-reset requests per client address (each answers 202 whatever the login), and
    # reset attempts (link or code) per client address.
    RATELIMIT_PASSWORD_RESET = env_str("RATELIMIT_PASSWORD_RESET", "5 per 10 minutes; 20 per day")
    RATELIMIT_PASSWORD_RESET_CONFIRM = env_str("RATELIMIT_PASSWORD_RESET_CONFIRM", "20 per 10 minutes")
    # Reset links and codes sent per account, and per address (an owner and a staff account
    # sharing an address get one each per request), in any hour. Beyond them a request is
    # still answered 202 and sends nothing.
    PASSWORD_RESET_PER_ACCOUNT_PER_HOUR = env_int("PASSWORD_RESET_PER_ACCOUNT_PER_HOUR", 3)
    PASSWORD_RESET_PER_ADDRESS_PER_HOUR = env_int("PASSWORD_RESET_PER_ADDRESS_PER_HOUR", 6)
    # A reset request takes at least this long, sent or not, so its timing does not tell
    # whether the login has an account (sending an e-mail or SMS takes time).
    PASSWORD_RESET_MIN_RESPONSE_MS = env_int("PASSWORD_RESET_MIN_RESPONSE_MS", 800)

    # Maps in the PWA (Leaflet). MAP_TILE_URL=none shows pins on a plain grid, no tiles;
    # the tile server's usage policy applies (OpenStreetMap's asks for light use only).
    MAP_TILE_URL = _tile_url(env_str("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"))
    MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors")
    MAP_DEFAULT_CENTER = _coordinates(env_str("MAP_DEFAULT_CENTER", "43.0417,-87.9095"))
    MAP_DEFAULT_ZOOM = env_int("MAP_DEFAULT_ZOOM", 15)
    MAP_MAX_ZOOM = env_int("MAP_MAX_ZOOM", 19)

    # The OpenAPI document: Swagger UI 4 (shipped by swagger-ui-bundle) reads 3.0.
    OPENAPI_VERSION = "3.0.3"
    INFO = {
        "description": (
            "Porchlight: an owner-controlled community camera registry. "
            "Authenticate with POST /api/auth/signin; the session cookie then "
            "authorizes every call made from these docs."
        ),
        "license": {"name": "AGPL-3.0-or-later"},
    }
    AUTO_404_RESPONSE = True
    SYNC_LOCAL_SPEC = False


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    # The embedded default serves plain http on 127.0.0.1.
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105 (tests only)
    # base64 of "test-encryption-key-not-for-prod": every app of a test run, and the worker
    # processes the tests start, read each other's rows.
    ENCRYPTION_KEYS = "dGVzdC1lbmNyeXB0aW9uLWtleS1ub3QtZm9yLXByb2Q="
    # A fixed signing key: receipts and checkpoints made by one app of a test verify in another.
    AUDIT_SIGNING_KEY = "gCccqF9TAOylEcPvw87lTAOdY288ONAMZ5ywFNlqExA="
    # The scheduler signs no checkpoints in tests (a tick would add an event to the installation
    # chain); the checkpoint tests turn it on.
    AUDIT_CHECKPOINT_INTERVAL_HOURS = 0
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    REDIS_URL = None
    PUBLIC_BASE_URL = "http://porchlight.test"
    # Cheap hashing keeps the suite fast; production keeps the defaults above.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_KIB = 8
    ARGON2_PARALLELISM = 1
    # Tests run jobs explicitly; a background thread would race them.
    RUN_IN_PROCESS_WORKER = False
    # No tile server is reachable from the tests.
    MAP_TILE_URL = ""
    # Rate-limit tests turn limits on with make_app(RATELIMIT_ENABLED=True).
    RATELIMIT_ENABLED = False
    # Reset requests answer at once; tests of the floor set it.
    PASSWORD_RESET_MIN_RESPONSE_MS = 0


class ProductionConfig(Config):
    ENV_NAME = "production"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None) -> type[Config]:
    name = name or env_str("PORCHLIGHT_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"PORCHLIGHT_ENV must be one of {sorted(CONFIGS)}, got {name!r}") from None
