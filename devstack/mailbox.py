"""What mailpit received, read through its REST API: every email the stack sent, with the
headers the mail activities add (which email of which process), shaped like the sandbox's
ledger records so the demo's summary, the reliability suite and the tests read mail as they
read every other system."""

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx

PAGE = 500


@dataclass(frozen=True)
class Mail:
    """One delivered email."""

    message_id: str  # with its angle brackets, as the activity returned it
    to: str
    subject: str
    template: str
    business_key: str
    notification: str
    body: str

    def as_record(self) -> dict[str, Any]:
        """The shape of a ledger record (`system` mail, `kind` message)."""
        return {
            "system": "mail",
            "kind": "message",
            "id": self.message_id,
            "external_ref": None,
            "data": {
                "to": self.to,
                "subject": self.subject,
                "template": self.template,
                "body": self.body,
                "tags": {"business_key": self.business_key, "notification": self.notification},
            },
        }


# Messages never change once delivered: each is fetched once per process and mailbox.
_read: dict[tuple[str, str], Mail] = {}


class Mailbox:
    """Mailpit at `url` (its web UI and REST API)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def mails(self) -> list[Mail]:
        """Every email received, oldest first."""
        with httpx.Client(base_url=self.url, timeout=10.0, trust_env=False) as http:
            ids: list[str] = []
            while True:
                page = http.get("/api/v1/messages", params={"start": len(ids), "limit": PAGE})
                listed = page.raise_for_status().json()["messages"]
                ids.extend(m["ID"] for m in listed)
                if len(listed) < PAGE:
                    break
            return [self._mail(http, mid) for mid in reversed(ids)]

    def records(self) -> list[dict[str, Any]]:
        return [mail.as_record() for mail in self.mails()]

    def _mail(self, http: httpx.Client, mailpit_id: str) -> Mail:
        known = _read.get((self.url, mailpit_id))
        if known is None:
            raw = http.get(f"/api/v1/message/{mailpit_id}/raw").raise_for_status().content
            known = _read[(self.url, mailpit_id)] = parse(raw)
        return known


def parse(raw: bytes) -> Mail:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    return Mail(
        message_id=str(message.get("Message-ID", "")).strip(),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        template=str(message.get("X-Backoffice-Template", "")),
        business_key=str(message.get("X-Backoffice-Business-Key", "")),
        notification=str(message.get("X-Backoffice-Notification", "")),
        body=text.get_content() if isinstance(text, EmailMessage) else "",
    )
