"""Approve by link, on the client side: check a link (signed with a key in Vault, not expired, not
used yet) and use it once, deciding through `starters.approvals.decide` as the approver the link
was issued to (roles as the directory says now). Used links are kept as hashes in the database.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.client import Client

from domain.approval_links import (
    SIGNING_KEY_PATH,
    LinkClaims,
    LinkProblem,
    LinkRefused,
    digest,
    signing_keys,
    verify,
)
from runtime.db import UsedApprovalLink
from runtime.vault import SecretStore
from starters.approvals import DecisionOutcome, decide
from starters.directory import Approver, Directory, UnknownApprover

log = logging.getLogger(__name__)

UNKNOWN_APPROVER = "UNKNOWN_APPROVER"


def _now() -> datetime:
    return datetime.now(UTC)


class LinkDesk:
    """Where emailed approve/reject links are checked and used."""

    def __init__(
        self,
        secrets: SecretStore,
        engine: Engine,
        temporal: Client,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._secrets = secrets
        self._engine = engine
        self._temporal = temporal
        self._directory = Directory(secrets)
        self._clock = clock

    async def check(self, token: str) -> LinkClaims:
        """The claims of a link that may still be used; raises LinkRefused. Decides nothing."""
        try:
            keys = signing_keys(await self._secrets.read(SIGNING_KEY_PATH))
        except ValueError:
            log.error("the Vault record %s holds no signing key", SIGNING_KEY_PATH)
            raise LinkRefused(LinkProblem.INVALID) from None
        claims = verify(token, keys, self._clock())
        if await asyncio.to_thread(self._was_used, digest(token)):
            raise LinkRefused(LinkProblem.USED)
        return claims

    async def approver(self, claims: LinkClaims) -> Approver | None:
        try:
            return await self._directory.get(claims.approver_id)
        except UnknownApprover:
            return None

    async def use(self, token: str, comment: str) -> tuple[LinkClaims, DecisionOutcome]:
        """Decide what the link says, once. Raises LinkRefused (nothing changes then)."""
        claims = await self.check(token)
        approver = await self.approver(claims)
        if approver is None:
            return claims, DecisionOutcome(
                accepted=False,
                code=UNKNOWN_APPROVER,
                reason=f"'{claims.approver_id}' is no longer in the approver directory",
            )
        token_hash = digest(token)
        # Claimed before deciding: of two uses at once, one inserts the row, the other is refused.
        if not await asyncio.to_thread(self._claim, token_hash, claims):
            raise LinkRefused(LinkProblem.USED)
        try:
            outcome = await decide(
                self._temporal,
                approver,
                claims.workflow_id,
                claims.decision,
                comment,
                claims.approval_id,
            )
        except BaseException:
            # Temporal did not answer: nothing was decided, so the link stays usable.
            await asyncio.to_thread(self._release, token_hash)
            raise
        summary = "accepted" if outcome.accepted else f"refused: {outcome.code}"
        await asyncio.to_thread(self._record, token_hash, summary)
        log.info(
            "link of %s used on %s/%s: %s",
            claims.approver_id,
            claims.workflow_id,
            claims.approval_id,
            summary,
        )
        return claims, outcome

    def _was_used(self, token_hash: str) -> bool:
        with Session(self._engine) as session:
            return session.get(UsedApprovalLink, token_hash) is not None

    def _claim(self, token_hash: str, claims: LinkClaims) -> bool:
        row = UsedApprovalLink(
            token_hash=token_hash,
            workflow_id=claims.workflow_id,
            approval_id=claims.approval_id,
            approver_id=claims.approver_id,
            decision=claims.decision.value,
            used_at=self._clock(),
            outcome=None,
        )
        try:
            with Session(self._engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            return False
        return True

    def _release(self, token_hash: str) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(
                delete(UsedApprovalLink).where(UsedApprovalLink.token_hash == token_hash)
            )

    def _record(self, token_hash: str, outcome: str) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(UsedApprovalLink)
                .where(UsedApprovalLink.token_hash == token_hash)
                .values(outcome=outcome[:500])
            )
