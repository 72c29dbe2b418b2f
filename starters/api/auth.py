"""Who is calling. Service clients send `Authorization: Bearer <client_id>.<secret>`, approvers
`Authorization: Basic <approver_id>:<password>`; both are checked against salted hashes in Vault
(`api-clients/<client_id>`, `approver-credentials/<approver_id>`), and an approver's roles come
from the directory. A verified caller is remembered briefly under a hash of the credential.
Nothing here logs a credential.
"""

import asyncio
import base64
import binascii
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from domain.credentials import CredentialKind, CredentialRecord
from runtime.credentials import hash_secret, needs_rehash, verify_secret
from runtime.vault import SecretStore, SecretUnavailable
from starters.api.errors import ApiError
from starters.api.lockout import Lockout
from starters.directory import Approver, Directory, UnknownApprover

log = logging.getLogger(__name__)

SERVICE_CLIENTS = "api-clients"
APPROVER_CREDENTIALS = "approver-credentials"
# Ids become Vault paths: no dots, slashes or anything else that could walk elsewhere.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CHALLENGE = 'Bearer realm="backoffice", Basic realm="backoffice"'
MAX_UNKNOWN_REMEMBERED = 10_000


# Who calls is the kind of credential they present.
CallerKind = CredentialKind


@dataclass(frozen=True)
class Caller:
    """A proven identity: a service client, or an approver with their directory entry."""

    kind: CallerKind
    id: str
    scopes: frozenset[str]
    approver: Approver | None = None


@dataclass(frozen=True)
class _Presented:
    kind: CallerKind
    id: str
    secret: str


def _unauthenticated(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": CHALLENGE})


def _invalid() -> ApiError:
    # One answer for an unknown id and a wrong secret: the caller learns nothing about which.
    return _unauthenticated("INVALID_CREDENTIALS", "the credential is not valid")


def parse_authorization(header: str) -> _Presented:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        client_id, dot, secret = value.partition(".")
        if dot and secret and _ID.match(client_id):
            return _Presented(CallerKind.SERVICE, client_id, secret)
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _invalid() from None
        approver_id, colon, password = decoded.partition(":")
        if colon and password and _ID.match(approver_id):
            return _Presented(CallerKind.APPROVER, approver_id, password)
    else:
        raise _unauthenticated(
            "UNAUTHENTICATED",
            "use `Authorization: Bearer <client_id>.<secret>` (services) or HTTP Basic (approvers)",
        )
    raise _invalid()


class Authenticator:
    """Verifies credentials against Vault; caches verified callers for `cache_seconds`."""

    def __init__(
        self,
        secrets_store: SecretStore,
        directory: Directory,
        *,
        cache_seconds: float,
        lockout: Lockout | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secrets = secrets_store
        self._lockout = lockout
        self._directory = directory
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._verified: dict[bytes, tuple[float, Caller]] = {}
        # Ids Vault has no credential for, remembered as briefly as verified callers: a flood of
        # made-up ids costs no Vault read each.
        self._unknown: dict[str, float] = {}
        # Checked when the id is unknown, so that answer takes as long as a wrong secret: the
        # same scheme and cost as the kind's real records (runtime/credentials.py).
        self._decoys = {
            kind: hash_secret(secrets.token_urlsafe(32), [], kind=kind) for kind in CredentialKind
        }

    async def authenticate(self, header: str | None, address: str | None = None) -> Caller:
        """The caller proven by `header`; `address` (the client's) is throttled on failures."""
        if not header:
            raise _unauthenticated(
                "UNAUTHENTICATED",
                "this operation needs a credential: `Authorization: Bearer "
                "<client_id>.<secret>` (services) or HTTP Basic (approvers)",
            )
        key = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        now = self._clock()
        cached = self._verified.get(key)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        presented = parse_authorization(header)
        # Approvers' passwords can be guessed: each attempt is counted before it is checked
        # (lockout.py), per id and per client address.
        lockout = self._lockout if presented.kind is CallerKind.APPROVER else None
        if lockout is not None:
            await lockout.reserve(presented.id, address)
        record = await self._record(presented, now)
        decoy = self._decoys[presented.kind]
        matches = await asyncio.to_thread(verify_secret, presented.secret, record or decoy)
        if record is None or not matches:
            log.info("refused a %s credential for '%s'", presented.kind.value, presented.id)
            raise _invalid()
        caller = await self._caller(presented, record)
        if lockout is not None:
            await lockout.succeeded(presented.id, address)
        if needs_rehash(record, presented.kind):
            await self._rehash(presented, record)
        self._forget_expired(now)
        self._verified[key] = (now, caller)
        return caller

    async def _record(self, presented: _Presented, now: float) -> CredentialRecord | None:
        path = f"{_folder(presented.kind)}/{presented.id}"
        unknown_since = self._unknown.get(path)
        if unknown_since is not None and now - unknown_since < self._cache_seconds:
            return None
        try:
            data = await self._secrets.read(path)
        except SecretUnavailable as exc:
            if str(exc).startswith("no secret at"):  # unknown id; anything else is an outage
                if len(self._unknown) > MAX_UNKNOWN_REMEMBERED:
                    self._unknown.clear()
                self._unknown[path] = now
                return None
            raise
        try:
            return CredentialRecord.model_validate(data)
        except ValidationError:
            log.error("the Vault record %s is not a credential record", path)
            return None

    async def _rehash(self, presented: _Presented, record: CredentialRecord) -> None:
        """A record of an older scheme or cost gets the current one, now that the secret is
        known to be right (a failure only means the next sign-in tries again)."""
        fresh = await asyncio.to_thread(
            hash_secret, presented.secret, record.scopes, kind=presented.kind
        )
        path = f"{_folder(presented.kind)}/{presented.id}"
        try:
            await self._secrets.write(path, fresh.model_dump(exclude_none=True))
        except SecretUnavailable as exc:
            log.warning("could not rehash %s: %s", path, exc)

    async def _caller(self, presented: _Presented, record: CredentialRecord) -> Caller:
        scopes = frozenset(record.scopes)
        if presented.kind is CallerKind.SERVICE:
            return Caller(CallerKind.SERVICE, presented.id, scopes)
        try:
            approver = await self._directory.get(presented.id)
        except UnknownApprover:
            log.warning("approver '%s' has a credential but no directory entry", presented.id)
            raise _invalid() from None
        return Caller(CallerKind.APPROVER, presented.id, scopes, approver)

    def _forget_expired(self, now: float) -> None:
        self._unknown = {p: at for p, at in self._unknown.items() if now - at < self._cache_seconds}
        expired = [k for k, (at, _) in self._verified.items() if now - at >= self._cache_seconds]
        for key in expired:
            del self._verified[key]


def _folder(kind: CredentialKind) -> str:
    return SERVICE_CLIENTS if kind is CredentialKind.SERVICE else APPROVER_CREDENTIALS
