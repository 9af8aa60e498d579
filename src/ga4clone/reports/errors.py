"""The errors of the reports API, each carrying GA4's status for its HTTP code."""

from __future__ import annotations

from ga4clone.errors import Ga4cloneError


class ReportError(Ga4cloneError):
    """Base class of errors answered to a reports client."""

    http_code = 500
    status = "INTERNAL"


class InvalidArgument(ReportError):
    """Raised when a request names an unknown field or holds a bad value."""

    http_code = 400
    status = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class Unauthenticated(ReportError):
    """Raised when a request carries no key, or a key nobody knows."""

    http_code = 401
    status = "UNAUTHENTICATED"


class PermissionDenied(ReportError):
    """Raised when a key belongs to another project or may only write."""

    http_code = 403
    status = "PERMISSION_DENIED"


class BackendUnavailable(ReportError):
    """Raised when ClickHouse or PostgreSQL cannot answer a report."""

    http_code = 503
    status = "UNAVAILABLE"
