"""API credentials as Vault keeps them: a salted hash of the secret (never the secret), how it
was hashed, and the scopes it grants. The dev stack writes these records; the API verifies them.
"""

from enum import StrEnum

from pydantic import BaseModel, Field

# OWASP's figure for PBKDF2-HMAC-SHA256; a record keeps its own count, so it can grow later.
PBKDF2_ITERATIONS = 600_000
# scrypt's interactive-login parameters (16 MiB of memory per hash).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16


class Scope(StrEnum):
    """What a credential may do: start workflows, read status and approvals, decide approvals."""

    START = "start"
    READ = "read"
    DECIDE = "decide"


class HashAlgorithm(StrEnum):
    ARGON2ID = "argon2id"  # approvers' passwords (people choose them: slow to guess)
    HMAC_SHA256 = "hmac_sha256"  # services' 256-bit random keys (nothing to guess: fast)
    PBKDF2_SHA256 = "pbkdf2_sha256"  # older records, rehashed at their next sign-in
    SCRYPT = "scrypt"


class CredentialKind(StrEnum):
    SERVICE = "service"
    APPROVER = "approver"


class CredentialRecord(BaseModel):
    """One credential in Vault (`api-clients/<client_id>`, `approver-credentials/<id>`)."""

    salt: str = Field(description="hex, random per credential (argon2id: inside `hash`)")
    hash: str = Field(description="hex digest of the secret, or argon2id's encoded hash")
    algorithm: HashAlgorithm
    iterations: int | None = Field(default=None, ge=1, description="PBKDF2 only")
    scopes: list[str] = []
