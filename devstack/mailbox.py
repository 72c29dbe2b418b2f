"""What mailpit received, read through its REST API: every email the stack sent, with the
headers the mail activities add (which email of which process), shaped like the sandbox's
ledger records so the demo's summary, the reliability suite and the tests read mail as they
read every other system."""

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Literal

import httpx

PAGE = 500
# The SMTP commands mailpit can refuse on purpose.
SmtpStage = Literal["Sender", "Recipient", "Authentication"]


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
    created_at: str  # when mailpit received it (ISO 8601)

    def as_record(self) -> dict[str, Any]:
        """The shape of a ledger record (`system` mail, `kind` message)."""
        return {
            "system": "mail",
            "kind": "message",
            "id": self.message_id,
            "external_ref": None,
            "created_at": self.created_at,
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
            received: list[tuple[str, str]] = []
            while True:
                page = http.get("/api/v1/messages", params={"start": len(received), "limit": PAGE})
                listed = page.raise_for_status().json()["messages"]
                # Normalized: Go trims trailing zeros of the fraction, which breaks ordering.
                received.extend(
                    (m["ID"], datetime.fromisoformat(m["Created"]).isoformat()) for m in listed
                )
                if len(listed) < PAGE:
                    break
            return [self._mail(http, *message) for message in reversed(received)]

    def records(self, *, drop_repeats: bool = False) -> list[dict[str, Any]]:
        """Ledger records of the emails; `drop_repeats` keeps the first of each Message-ID, as
        a receiver that drops repeated Message-IDs shows them."""
        kept: dict[str, Mail] = {}
        mails = self.mails()
        for mail in mails:
            kept.setdefault(mail.message_id, mail)
        return [mail.as_record() for mail in (kept.values() if drop_repeats else mails)]

    def refuse(self, stage: SmtpStage, code: int, percent: int = 100) -> None:
        """Answer `code` to that SMTP command in `percent` % of the sessions from now on
        (mailpit's chaos triggers; a 535 at Authentication is a refused login)."""
        self._chaos({stage: {"ErrorCode": code, "Probability": percent}})

    def clear_faults(self) -> None:
        self._chaos({})

    def _chaos(self, triggers: dict[str, dict[str, int]]) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0, trust_env=False) as http:
            http.put("/api/v1/chaos", json=triggers).raise_for_status()

    def _mail(self, http: httpx.Client, mailpit_id: str, created_at: str) -> Mail:
        known = _read.get((self.url, mailpit_id))
        if known is None:
            raw = http.get(f"/api/v1/message/{mailpit_id}/raw").raise_for_status().content
            known = _read[(self.url, mailpit_id)] = parse(raw, created_at)
        return known


def parse(raw: bytes, created_at: str) -> Mail:
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
        # Lines as the activity wrote them (SMTP carries them with CRLF).
        body=text.get_content().replace("\r\n", "\n") if isinstance(text, EmailMessage) else "",
        created_at=created_at,
    )
