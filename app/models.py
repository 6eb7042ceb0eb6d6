"""Imports every domain's models so that metadata and Alembic see the whole schema."""
from app.accounts.models import User  # noqa: F401
from app.agencies.models import Agency, District, Membership  # noqa: F401
from app.audit.models import AuditChainHead, AuditEvent  # noqa: F401
from app.cameras.models import Camera, camera_shares  # noqa: F401
from app.enrollment.models import EnrollmentCode, EnrollmentUse  # noqa: F401
