"""Error codes that cross layer boundaries (ApplicationError types, API error codes)."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Codes of our own; the external systems' codes (DUPLICATE_TAX_ID, ...) pass through as is."""

    MALFORMED_RESPONSE = "MALFORMED_RESPONSE"
    HTTP_ERROR = "HTTP_ERROR"
    # The system's circuit breaker is open (runtime/circuit.py): no request was sent.
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    # SMTP (the mail system): the relay refused the login, the connection failed or broke, or
    # the relay lacks what the settings ask for (STARTTLS, AUTH).
    SMTP_AUTH_FAILED = "SMTP_AUTH_FAILED"
    SMTP_CONNECTION_ERROR = "SMTP_CONNECTION_ERROR"
    SMTP_NOT_SUPPORTED = "SMTP_NOT_SUPPORTED"
    INVALID_EMAIL = "INVALID_EMAIL"
    UNAUTHORIZED = "UNAUTHORIZED"
    SECRET_UNAVAILABLE = "SECRET_UNAVAILABLE"  # noqa: S105 (a code, not a secret)
    APPROVAL_REJECTED = "APPROVAL_REJECTED"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    ENDED_BY_OPERATIONS = "ENDED_BY_OPERATIONS"  # the review queue's `compensate`
    ONBOARDING_FAILED = "ONBOARDING_FAILED"
    INVALID_ID = "INVALID_ID"
