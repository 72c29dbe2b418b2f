"""Hashing and checking API credentials (the records are in domain/credentials.py): one scheme
and cost per kind of credential, for real records and decoys alike."""

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.credentials import (
    PBKDF2_ITERATIONS,
    SALT_BYTES,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    CredentialKind,
    CredentialRecord,
    HashAlgorithm,
)

# One scheme and cost per kind, for real records and the decoy an unknown id is checked against
# alike, so the time an answer takes says nothing about whether the id exists. Argon2id at
# OWASP's figures (19 MiB, 2 passes, 1 lane).
ARGON2 = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
SCHEME = {
    CredentialKind.SERVICE: HashAlgorithm.HMAC_SHA256,
    CredentialKind.APPROVER: HashAlgorithm.ARGON2ID,
}


def hash_secret(
    secret: str,
    scopes: list[str],
    *,
    kind: CredentialKind = CredentialKind.APPROVER,
    algorithm: HashAlgorithm | None = None,
    iterations: int = PBKDF2_ITERATIONS,
) -> CredentialRecord:
    """The record to store for `secret`, with a fresh random salt, in the kind's scheme."""
    algorithm = algorithm or SCHEME[kind]
    if algorithm is HashAlgorithm.ARGON2ID:
        return CredentialRecord(
            salt="", hash=ARGON2.hash(secret), algorithm=algorithm, scopes=scopes
        )
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
    if record.algorithm is HashAlgorithm.ARGON2ID:
        try:
            return ARGON2.verify(record.hash, secret)
        except (VerificationError, InvalidHashError):
            return False
    try:
        salt, expected = bytes.fromhex(record.salt), bytes.fromhex(record.hash)
    except ValueError:
        return False
    return hmac.compare_digest(_digest(secret, salt, record), expected)


def needs_rehash(record: CredentialRecord, kind: CredentialKind) -> bool:
    """The record is in another scheme than its kind's, or with other argon2 parameters."""
    if record.algorithm is not SCHEME[kind]:
        return True
    return record.algorithm is HashAlgorithm.ARGON2ID and ARGON2.check_needs_rehash(record.hash)


def _digest(secret: str, salt: bytes, record: CredentialRecord) -> bytes:
    if record.algorithm is HashAlgorithm.HMAC_SHA256:
        return hmac.digest(salt, secret.encode(), "sha256")
    if record.algorithm is HashAlgorithm.SCRYPT:
        return hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return hashlib.pbkdf2_hmac(
        "sha256", secret.encode(), salt, record.iterations or PBKDF2_ITERATIONS
    )
