"""Vendor onboarding: the application a vendor submits, the policy it runs under, its result."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.approvals import ApprovalTimeouts, AttentionPolicy
from domain.retries import RetryBudgets

BUSINESS_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


class VendorType(StrEnum):
    SUPPLIER = "supplier"
    CONTRACTOR = "contractor"
    SERVICE_PROVIDER = "service_provider"


class PaymentTerms(StrEnum):
    IMMEDIATE = "immediate"
    NET15 = "net15"
    NET30 = "net30"
    NET60 = "net60"


class BankAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: str = Field(min_length=15, max_length=34)
    bic: str = Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")

    @field_validator("iban")
    @classmethod
    def _iban_checksum(cls, value: str) -> str:
        iban = value.replace(" ", "").upper()
        if not iban[:2].isalpha() or not iban[2:].isalnum():
            raise ValueError("must be an IBAN: two letters, two digits, then letters and digits")
        digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
        if int(digits) % 97 != 1:
            raise ValueError("IBAN check digits do not match")
        return iban


class VendorApplication(BaseModel):
    """What a vendor (or the buyer on its behalf) submits; the body of a start request."""

    model_config = ConfigDict(extra="forbid")

    application_id: str = Field(
        pattern=BUSINESS_KEY_PATTERN,
        description="Business key: letters, digits, '-' and '_' (no personal data).",
    )
    legal_name: str = Field(min_length=1, max_length=200)
    tax_id: str = Field(pattern=r"^[A-Z0-9-]{4,20}$")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    vendor_type: VendorType
    payment_terms: PaymentTerms
    contact_name: str = Field(min_length=1, max_length=200)
    contact_email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    bank_account: BankAccount
    requested_by: str = Field(min_length=1, max_length=64, description="Requester's user id.")


class OnboardingPolicy(BaseModel):
    """Settings the starter copies into the input, so the workflow never reads configuration."""

    high_risk_countries: list[str] = []
    approver_role: str = "procurement"
    escalation_role: str = "procurement-lead"
    approval_timeouts: ApprovalTimeouts = ApprovalTimeouts()
    attention: AttentionPolicy = AttentionPolicy()  # the review queue: who resolves, when reminded
    compensation_attempts: int = Field(default=0, ge=0)
    retries: RetryBudgets = RetryBudgets()


class VendorOnboardingInput(BaseModel):
    application: VendorApplication
    policy: OnboardingPolicy = OnboardingPolicy()


class VendorOnboardingResult(BaseModel):
    application_id: str
    vendor_id: str
    portal_account_id: str
    welcome_message_id: str
    supplier_list_entry_id: str
    approval: str
