"""The mail system over SMTP: one connection per message, TLS and AUTH as the settings say, the
login from Vault, an audit row per attempt and every failure through the one classifier.

SMTP has no idempotency key: a connection that breaks after the message's data went out leaves
it unknown whether the relay took it, and the retry may deliver it twice. Each message carries a
`Message-ID` derived from its idempotency key, so the retry is the same message and a receiver
(or a mailbox) that drops repeated Message-IDs shows it once.
"""

import hashlib
import json
import time
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import aiosmtplib
from opentelemetry import trace
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audit import AuditLog, attempt
from activities.errors import classify_smtp, count_failed_attempt, smtp_failure
from activities.http import admitted, answered
from domain.errors import ErrorCode
from domain.systems import System
from runtime.circuit import Circuit
from runtime.settings import Settings
from runtime.telemetry import BUSINESS_KEY_ATTRIBUTE, SYSTEM_ATTRIBUTE, business_key
from runtime.vault import SecretStore, SecretUnavailable

SYSTEM = System.MAIL
# What the audit rows of SMTP attempts say instead of an HTTP method.
AUDIT_METHOD = "SMTP"
SENT = 250


def message_id(key: str, domain: str) -> str:
    """The same for every attempt of one idempotency key, and says nothing of what it holds."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


@dataclass(frozen=True)
class Relay:
    """Where and how to reach the SMTP relay (from the settings)."""

    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    timeout_seconds: float
    sender: str
    ca_file: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> "Relay":
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            timeout_seconds=settings.smtp_timeout_seconds,
            sender=settings.mail_from,
            ca_file=settings.smtp_ca_file,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]


class SmtpSender:
    """Sends one message per call; a refused login re-reads Vault and tries once more."""

    def __init__(
        self,
        relay: Relay,
        secrets: SecretStore,
        audit: AuditLog,
        tracer: trace.Tracer | None = None,
        circuit: Circuit | None = None,
    ) -> None:
        self.relay = relay
        self._circuit = circuit
        self._secrets = secrets
        self._audit = audit
        self._tracer = tracer or trace.get_tracer("backoffice")
        self._path = SYSTEM.credentials_path

    async def send(self, message: EmailMessage) -> None:
        login = await self._login()
        try:
            await self._attempt(message, login)
        except aiosmtplib.SMTPAuthenticationError:
            self._secrets.forget(self._path)  # rotated since it was cached?
            try:
                await self._attempt(message, await self._login())
            except aiosmtplib.SMTPAuthenticationError as exc:
                raise classify_smtp(SYSTEM.value, self.relay.address, exc) from None

    async def _login(self) -> tuple[str, str] | None:
        """`username` and `password` from Vault; None (no AUTH) when the entry has none."""
        try:
            creds = await self._secrets.read(self._path)
        except SecretUnavailable as exc:
            raise ApplicationError(str(exc), type=ErrorCode.SECRET_UNAVAILABLE) from None
        username, password = creds.get("username"), creds.get("password")
        if isinstance(username, str) and isinstance(password, str) and username:
            return username, password
        return None

    async def _attempt(self, message: EmailMessage, login: tuple[str, str] | None) -> None:
        relay = self.relay
        fields = {"to": None, "subject": None, "message_id": None}  # the audit names fields only
        admission = await admitted(
            self._circuit, self._audit, SYSTEM, AUDIT_METHOD, relay.address, fields
        )
        started = time.perf_counter()
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            use_tls=relay.security == "tls",
            start_tls=relay.security == "starttls",
            timeout=relay.timeout_seconds,
            cert_bundle=str(relay.ca_file) if relay.ca_file else None,
        )
        with self._tracer.start_as_current_span("SMTP send", kind=trace.SpanKind.CLIENT) as span:
            # A span per attempt, as each HTTP call has: the system, the relay, the business key.
            span.set_attribute(SYSTEM_ATTRIBUTE, SYSTEM.value)
            span.set_attribute("network.protocol.name", "smtp")
            span.set_attribute("server.address", relay.host)
            span.set_attribute("server.port", relay.port)
            if activity.in_activity() and activity.info().workflow_id:
                key = business_key(activity.info().workflow_id or "")
                span.set_attribute(BUSINESS_KEY_ATTRIBUTE, key)
            try:
                await client.connect()
                if login is not None:
                    await client.login(*login)
                await client.send_message(message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                status, code = smtp_failure(exc)
                span.set_attribute("smtp.reply_code", status or 0)
                reply = json.dumps({"status": status, "code": code}).encode()
                row = attempt(
                    SYSTEM, AUDIT_METHOD, relay.address, status, started, code, fields, reply
                )
                await self._audit.record(row)
                count_failed_attempt(SYSTEM.value, code)
                # No answer, or "try later" (4xx): the relay is unwell; a 5xx refuses the message.
                await answered(self._circuit, admission, unwell=status is None or status < 500)
                if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                    raise
                raise classify_smtp(SYSTEM.value, relay.address, exc) from None
            span.set_attribute("smtp.reply_code", SENT)
        await answered(self._circuit, admission, unwell=False)
        with suppress(aiosmtplib.SMTPException, OSError):
            await client.quit()
        client.close()
        reply = json.dumps({"status": SENT}).encode()
        await self._audit.record(
            attempt(SYSTEM, AUDIT_METHOD, relay.address, SENT, started, None, fields, reply)
        )
