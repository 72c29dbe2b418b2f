"""Mail activities: transactional emails, each sent once per workflow and notification."""

from temporalio import activity

from activities.http import SystemClient, idempotency_key
from domain.records import (
    CompensationResult,
    NotifyRoleInput,
    NotifyRoleResult,
    SendEmailInput,
    SentEmail,
)
from runtime.vault import SecretStore

DIRECTORY_PATH = "directory/approvers"


class MailActivities:
    def __init__(self, mail: SystemClient, secrets: SecretStore) -> None:
        self._mail = mail
        self._secrets = secrets

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
        """One email to each approver holding the role, as the directory in Vault lists them."""
        directory = await self._secrets.read(DIRECTORY_PATH)
        approvers = directory.get("approvers", {})
        sent = []
        for approver_id in sorted(approvers):
            person = approvers[approver_id]
            if inp.role in person.get("roles", []):
                message = await self._send(
                    f"{inp.notification}/{approver_id}", person["email"], inp
                )
                sent.append(message.id)
        return NotifyRoleResult(message_ids=sent)

    async def _send(
        self, notification: str, to: str, inp: SendEmailInput | NotifyRoleInput
    ) -> SentEmail:
        return await self._mail.call(
            "POST",
            "/messages",
            SentEmail,
            json={
                "to": to,
                "subject": inp.subject,
                "body": inp.body,
                "template": inp.template,
                "tags": {"business_key": inp.business_key, "notification": notification},
            },
            idempotency_key=idempotency_key(f"mail/{notification}"),
        )
