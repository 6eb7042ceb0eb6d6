"""Imports every domain's models so that metadata and Alembic see the whole schema."""
from app.accounts.models import (  # noqa: F401
    OneTimeToken,
    RecoveryCode,
    StaffInvitation,  # noqa: F401
    User,
    UserSession,
)
from app.agencies.models import Agency, District, Membership  # noqa: F401
from app.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent  # noqa: F401
from app.cameras.models import Camera, camera_shares  # noqa: F401
from app.clips.models import Clip, ClipAccess, EvidenceHold  # noqa: F401
from app.districts.models import DistrictImport, DistrictImportRow, DistrictMember  # noqa: F401
from app.enrollment.models import EnrollmentCode, EnrollmentUse  # noqa: F401
from app.footage.models import AgencyPolicy, Ask, FootageRequest, OwnerFilter  # noqa: F401
from app.notifications.models import (  # noqa: F401
    MailMessage,
    Notification,
    PhoneVerification,
    PushSubscription,
    SmsMessage,
    SmsOptOut,
)
from app.oversight.models import Complaint  # noqa: F401
from app.reports.models import ReportEntry  # noqa: F401
