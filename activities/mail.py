"""Mail activities: transactional emails over SMTP (`activities.smtp`), one per workflow and
notification.

An approval email (request, reminder, escalation) carries, for each approver it goes to, a pair
of signed, expiring, single-use links to approve or reject (`domain.approval_links`); opening
one asks for confirmation in the inbox, so a link preview or a mail scanner decides nothing.
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import idempotency_key
from activities.smtp import SmtpSender, message_id
from domain.approval_links import (
    SIGNING_KEY_PATH,
    LinkClaims,
    link_url,
    nonce_for,
    sign,
    signing_keys,
)
from domain.approvals import Decision
from domain.errors import ErrorCode
from domain.mail_text import body_text, header_text
from domain.records import (
    CompensationResult,
    NotifyRoleInput,
    NotifyRoleResult,
    SendEmailInput,
    SentEmail,
)
from runtime.vault import SecretStore, SecretUnavailable

log = logging.getLogger(__name__)

DIRECTORY_PATH = "directory/approvers"
# The approval gate names its notifications `approval/<approval id>/<kind>`.
APPROVAL_TEMPLATE_PREFIX = "approval-"
APPROVAL_NOTIFICATION_PREFIX = "approval/"


class ApprovalLinks:
    """Issues the approve/reject links of one approver: signed with the newest key in Vault,
    valid for `expiry` from when the notification was scheduled."""

    def __init__(self, secrets: SecretStore, base_url: str, expiry: timedelta) -> None:
        self._secrets = secrets
        self._base_url = base_url
        self._expiry = expiry

    async def signing_key(self) -> str | None:
        """The newest key; None (links left out, with a warning) when none is seeded. A Vault
        outage raises, so the activity retries before anything is sent."""
        try:
            return signing_keys(await self._secrets.read(SIGNING_KEY_PATH))[0]
        except SecretUnavailable as exc:
            if not str(exc).startswith("no secret at"):
                raise
            activity.logger.warning("no approval links: %s", exc)
        except ValueError as exc:
            activity.logger.warning("no approval links: %s", exc)
        return None

    def paragraph(
        self, key: str, approval_id: str, approver_id: str, notification: str, scheduled: datetime
    ) -> str:
        """The lines an approver's email ends with. Everything in them is derived from the
        notification and when it was scheduled, so a retried send is the same message under the
        same Message-ID."""
        info = activity.info()
        workflow_id = info.workflow_id or ""
        expires_at = int((scheduled + self._expiry).timestamp())
        urls = {}
        for decision in Decision:
            claims = LinkClaims(
                workflow_id=workflow_id,
                approval_id=approval_id,
                approver_id=approver_id,
                decision=decision,
                expires_at=expires_at,
                nonce=nonce_for(key, workflow_id, notification, approver_id, decision.value),
            )
            urls[decision] = link_url(self._base_url, sign(claims, key))
        until = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"\nApprove: {urls[Decision.APPROVE]}\nReject: {urls[Decision.REJECT]}\n"
            f"These links are for you only, work once, and expire {until}; each asks you to "
            f"confirm before anything is decided.\n"
            f"Or decide in the inbox: {self._base_url.rstrip('/')}/inbox\n"
        )


class MailActivities:
    def __init__(
        self, mail: SmtpSender, secrets: SecretStore, links: ApprovalLinks | None = None
    ) -> None:
        self._mail = mail
        self._secrets = secrets
        self._links = links

    @activity.defn(name="mail.send_email")
    async def send_email(self, inp: SendEmailInput) -> SentEmail:
        return await self._send(inp.notification, inp.to, inp)

    @activity.defn(name="mail.send_compensation_email")
    async def send_compensation_email(self, inp: SendEmailInput) -> CompensationResult:
        """An email that is itself a compensation (telling someone that a step was withdrawn)."""
        sent = await self._send(inp.notification, inp.to, inp)
        return CompensationResult(
            undone=True, description=f"sent {inp.notification} email {sent.id}"
        )

    @activity.defn(name="mail.notify_role")
    async def notify_role(self, inp: NotifyRoleInput) -> NotifyRoleResult:
        """One email to each approver holding the role, as the directory in Vault lists them;
        an approval email carries that approver's own approve/reject links."""
        directory = await self._secrets.read(DIRECTORY_PATH)
        approvers = directory.get("approvers", {})
        approval_id = _approval_id(inp)
        key = None
        if approval_id is not None and self._links is not None:
            key = await self._links.signing_key()
        scheduled = activity.info().scheduled_time
        recipients = [a for a in sorted(approvers) if inp.role in approvers[a].get("roles", [])]
        # A role can be many people: after each email but the last a heartbeat records who has
        # it, so an attempt after a worker shutdown or crash goes on with the next one. After the
        # last one the result says it: a heartbeat there could bring back a cancel of the run and
        # turn the finished call into a cancelled one, its emails unrecorded.
        done = _resumed(activity.info().heartbeat_details)
        if done:
            log.info("notify_role resumes after %d of %d recipients", len(done), len(recipients))
        for approver_id in recipients:
            if approver_id in done:
                continue
            person = approvers[approver_id]
            notification = f"{inp.notification}/{approver_id}"
            links = ""
            if self._links is not None and key is not None and approval_id is not None:
                links = self._links.paragraph(
                    key, approval_id, approver_id, inp.notification, scheduled
                )
            message = await self._send(notification, person["email"], inp, links)
            done[approver_id] = message.id
            if approver_id != recipients[-1]:
                activity.heartbeat({"sent": done})
        return NotifyRoleResult(message_ids=[done[a] for a in recipients if a in done])

    async def _send(
        self,
        notification: str,
        to: str,
        inp: SendEmailInput | NotifyRoleInput,
        links: str = "",
    ) -> SentEmail:
        """Send one email over SMTP; its Message-ID comes from the idempotency key, so every
        attempt sends the same message (see activities/smtp.py on retries). The subject and
        the body hold text from outside (names, reasons): one clean bounded line and a bounded
        text (`domain.mail_text`); the approval links are ours and go after the body."""
        relay = self._mail.relay
        headers = {
            "From": relay.sender,
            "To": to,
            "Subject": header_text(inp.subject),
            "Message-ID": message_id(idempotency_key(f"mail/{notification}"), relay.sender_domain),
            "Date": format_datetime(activity.info().scheduled_time),
            # Where a mailbox (and the tests) find a message: which email of which process.
            "X-Backoffice-Template": inp.template,
            "X-Backoffice-Business-Key": inp.business_key,
            "X-Backoffice-Notification": notification,
        }
        message = EmailMessage()
        for name, value in headers.items():
            try:
                message[name] = value
            except ValueError:  # a line break: a header injection, never sent
                raise ApplicationError(
                    f"mail {inp.template}: the {name} header holds a line break or is not valid",
                    type=ErrorCode.INVALID_EMAIL,
                    non_retryable=True,
                ) from None
        message.set_content(body_text(inp.body) + links)
        await self._mail.send(message)
        return SentEmail(id=str(message["Message-ID"]), status="sent")


def _resumed(details: Sequence[Any]) -> dict[str, str]:
    """Who already has the email, from the last heartbeat of an earlier attempt."""
    if not details or not isinstance(details[0], dict):
        return {}
    sent = details[0].get("sent")
    return {str(k): str(v) for k, v in sent.items()} if isinstance(sent, dict) else {}


def _approval_id(inp: NotifyRoleInput) -> str | None:
    """The approval an approval email is about (None for any other notification)."""
    if not inp.template.startswith(APPROVAL_TEMPLATE_PREFIX):
        return None
    if not inp.notification.startswith(APPROVAL_NOTIFICATION_PREFIX):
        return None
    approval_id, slash, _kind = inp.notification.removeprefix(
        APPROVAL_NOTIFICATION_PREFIX
    ).rpartition("/")
    return approval_id if slash and approval_id else None
