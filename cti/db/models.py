"""Imports every domain's models so Base.metadata is complete (Alembic, tests)."""

from cti.auth.models import ApiToken
from cti.calls.models import CallEventRecord, CallRecord
from cti.db.base import Base

__all__ = ["ApiToken", "Base", "CallEventRecord", "CallRecord"]
