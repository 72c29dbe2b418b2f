"""API credentials as Vault keeps them: a salted hash of the secret (never the secret), how it
was hashed, and the scopes it grants. The dev stack writes these records; the API verifies them.
"""

import hashlib
import hmac
import secrets
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
    PBKDF2_SHA256 = "pbkdf2_sha256"
    SCRYPT = "scrypt"


class CredentialRecord(BaseModel):
    """One credential in Vault (`api-clients/<client_id>`, `approver-credentials/<id>`)."""

    salt: str = Field(description="hex, random per credential")
    hash: str = Field(description="hex digest of the secret")
    algorithm: HashAlgorithm
    iterations: int | None = Field(default=None, ge=1, description="PBKDF2 only")
    scopes: list[str] = []


def hash_secret(
    secret: str,
    scopes: list[str],
    *,
    algorithm: HashAlgorithm = HashAlgorithm.PBKDF2_SHA256,
    iterations: int = PBKDF2_ITERATIONS,
) -> CredentialRecord:
    """The record to store for `secret`, with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    record = CredentialRecord(
        salt=salt.hex(),
        hash="",
        algorithm=algorithm,
        iterations=iterations if algorithm is HashAlgorithm.PBKDF2_SHA256 else None,
        scopes=scopes,
    )
    record.hash = _digest(secret, salt, record).hex()
    return record


def verify_secret(secret: str, record: CredentialRecord) -> bool:
    """True when `secret` hashes to the record's hash (compared in constant time)."""
    try:
        salt, expected = bytes.fromhex(record.salt), bytes.fromhex(record.hash)
    except ValueError:
        return False
    return hmac.compare_digest(_digest(secret, salt, record), expected)


def _digest(secret: str, salt: bytes, record: CredentialRecord) -> bytes:
    if record.algorithm is HashAlgorithm.SCRYPT:
        return hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return hashlib.pbkdf2_hmac(
        "sha256", secret.encode(), salt, record.iterations or PBKDF2_ITERATIONS
    )
