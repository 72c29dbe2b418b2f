"""Mail over SMTP to the test stack's mailpit: the Message-ID, a refused login, a relay that is
down, a 4xx and a 5xx reply, and how each failure is classified."""

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import aiosmtplib
import httpx
import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.audit import AuditLog
from activities.errors import classify_smtp
from activities.mail import MailActivities
from activities.smtp import Relay, SmtpSender
from chaos import evidence
from domain.errors import ErrorCode
from domain.records import SendEmailInput
from runtime.circuit import Circuit, CircuitPolicy, CircuitState, read_all, view
from runtime.db import AuditRow, make_engine
from runtime.schema import upgrade_schema
from runtime.vault import SecretStore
from tests.helpers import Ledger, audit_rows, start, wait_for


class WrongPassword(SecretStore):
    """Vault's mail entry with a password the SMTP server does not take (counts the reads)."""

    def __init__(self) -> None:
        self.reads = 0

    async def read(self, path: str) -> dict[str, Any]:
        self.reads += 1
        return {"username": "backoffice", "password": "not-the-password"}

    def forget(self, path: str) -> None:
        pass


def _worker_secrets(stack) -> SecretStore:
    env = stack.worker_env()
    return SecretStore(
        env["BACKOFFICE_VAULT_ADDR"],
        env["BACKOFFICE_VAULT_ROLE_ID"],
        env["BACKOFFICE_VAULT_SECRET_ID"],
    )


def _activities(settings, secrets: SecretStore) -> MailActivities:
    audit = AuditLog(make_engine(settings.resolved_database_url))
    return MailActivities(SmtpSender(Relay.of(settings), secrets, audit), secrets)


def _in_run(workflow_id: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=workflow_id, activity_type="mail.send_email"
    )
    return env


def _email(key: str, notification: str = "welcome") -> SendEmailInput:
    return SendEmailInput(
        notification=notification,
        to="dana@acme.example",
        subject=f"Welcome {key}",
        body="Hello",
        template="smtp-test",
        business_key=key,
    )


async def test_the_message_id_comes_from_the_idempotency_key(stack, settings, admin):
    key = f"SMTP-{uuid.uuid4().hex[:8]}"
    mail = _activities(settings, _worker_secrets(stack))
    run = _in_run(f"smtp-test-{key}")

    first = await run.run(mail.send_email, _email(key))
    again = await run.run(mail.send_email, _email(key))
    other = await run.run(mail.send_email, _email(key, "reminder"))

    assert first.id == again.id != other.id
    assert first.id.startswith("<") and first.id.endswith("@company.example>")
    assert key not in first.id  # it says nothing of what the message holds
    # SMTP has no idempotency: the relay took the repeat too, under the same Message-ID.
    delivered = Ledger(admin).emails(key, "smtp-test")
    assert [m["id"] for m in delivered] == [first.id, first.id, other.id]
    assert {m["data"]["to"] for m in delivered} == {"dana@acme.example"}
    assert {m["data"]["subject"] for m in delivered} == {f"Welcome {key}"}
    rows = audit_rows(settings, f"smtp-test-{key}")
    assert [(r.system, r.method, r.status) for r in rows] == [("mail", "SMTP", 250)] * 3


async def test_a_wrong_smtp_password_fails_permanently_naming_the_system(settings, admin):
    key = f"SMTP-{uuid.uuid4().hex[:8]}"
    wrong = WrongPassword()
    mail = _activities(settings, wrong)

    with pytest.raises(ApplicationError) as failed:
        await _in_run(f"smtp-test-{key}").run(mail.send_email, _email(key))

    assert failed.value.non_retryable and failed.value.type == "SMTP_AUTH_FAILED"
    assert "mail SMTP" in failed.value.message and "secret/backoffice/systems/mail" in (
        failed.value.message
    )
    assert "not-the-password" not in failed.value.message
    # Vault read once more after the refusal (a rotated password), then no more attempts.
    assert wrong.reads == 2
    rows = audit_rows(settings, f"smtp-test-{key}")
    assert [(r.status, r.error_code) for r in rows] == [(535, "SMTP_535")] * 2
    assert Ledger(admin).emails(key) == []


async def test_a_refused_login_through_a_run_is_not_retried(stack, settings, admin, mailbox):
    """The relay refuses the login (535) with the right password: permanent, two attempts."""
    key = f"SMTP-{uuid.uuid4().hex[:8]}"
    mail = _activities(settings, _worker_secrets(stack))
    mailbox.refuse("Authentication", 535)
    with pytest.raises(ApplicationError) as failed:
        await _in_run(f"smtp-test-{key}").run(mail.send_email, _email(key))
    assert failed.value.non_retryable and failed.value.type == "SMTP_AUTH_FAILED"
    assert len(audit_rows(settings, f"smtp-test-{key}")) == 2


async def test_a_stopped_smtp_server_means_retries_then_one_email(stack, client, settings, admin):
    stack.stop_mailpit()
    try:
        handle = await start(client, settings)
        await wait_for(
            lambda: len([r for r in audit_rows(settings, handle.id) if r.system == "mail"]) >= 2,
            what="two failed SMTP attempts",
        )
    finally:
        stack.start_mailpit()
    result = await asyncio.wait_for(handle.result(), 120)

    mails = [r for r in audit_rows(settings, handle.id) if r.system == "mail"]
    assert [r.status for r in mails[:-1]] == [None] * (len(mails) - 1)
    # Refused at once (straight to mailpit), or closed by the test stack's SMTP proxy.
    failed = {"SMTPConnectError", "SMTPConnectTimeoutError", "SMTPServerDisconnected"}
    assert {r.error_code for r in mails[:-1]} <= failed
    assert mails[-1].status == 250
    [welcome] = Ledger(admin).emails(result.application_id, "vendor-welcome")
    assert welcome["id"] == result.welcome_message_id


@pytest.mark.parametrize(
    ("exc", "code", "retried"),
    [
        (aiosmtplib.SMTPRecipientRefused(451, "try later", "a@b.example"), "SMTP_451", True),
        (aiosmtplib.SMTPResponseException(421, "closing"), "SMTP_421", True),
        (aiosmtplib.SMTPDataError(554, "rejected"), "SMTP_554", False),
        (aiosmtplib.SMTPSenderRefused(550, "no", "x@y.example"), "SMTP_550", False),
        (aiosmtplib.SMTPServerDisconnected("gone"), "SMTP_CONNECTION_ERROR", True),
        (aiosmtplib.SMTPConnectError("refused"), "SMTP_CONNECTION_ERROR", True),
        (aiosmtplib.SMTPReadTimeoutError("slow"), "SMTP_CONNECTION_ERROR", True),
        (aiosmtplib.SMTPAuthenticationError(535, "bad"), "SMTP_AUTH_FAILED", False),
        (aiosmtplib.SMTPAuthenticationError(454, "later"), "SMTP_454", True),
        (aiosmtplib.SMTPException("no STARTTLS offered"), "SMTP_NOT_SUPPORTED", False),
    ],
)
def test_smtp_failures_are_classified(exc, code, retried):
    error = classify_smtp("mail", "relay.example:587", exc)
    assert error.type == code and error.non_retryable is not retried
    assert "mail SMTP relay.example:587" in error.message
    assert "a@b.example" not in error.message and "x@y.example" not in error.message


async def test_a_4xx_reply_is_retried_and_the_email_goes_out_once(client, settings, admin, mailbox):
    mailbox.refuse("Recipient", 451)
    try:
        handle = await start(client, settings)
        await wait_for(
            lambda: any(r.status == 451 for r in audit_rows(settings, handle.id)),
            what="a 451 reply",
        )
    finally:
        mailbox.clear_faults()
    result = await asyncio.wait_for(handle.result(), 120)

    mails = [r for r in audit_rows(settings, handle.id) if r.system == "mail"]
    assert {(r.status, r.error_code) for r in mails[:-1]} == {(451, "SMTP_451")}
    assert mails[-1].status == 250 and mails[-1].attempt == len(mails)
    [welcome] = Ledger(admin).emails(result.application_id, "vendor-welcome")
    assert welcome["id"] == result.welcome_message_id


async def test_a_connection_lost_after_data_sends_the_same_message_again(
    client, settings, admin, stack, smtp_proxy
):
    """The ambiguous failure: the relay took the email, its 250 never arrived. The retry sends
    the same message under the same Message-ID, so a receiver that drops repeats shows one."""
    smtp_proxy.faults.drop_after_data_rate = 1.0
    try:
        handle = await start(client, settings)
        await wait_for(
            lambda: any(
                r.error_code == "SMTPServerDisconnected" for r in audit_rows(settings, handle.id)
            ),
            what="a connection lost after DATA",
        )
    finally:
        smtp_proxy.faults.drop_after_data_rate = 0.0
    result = await asyncio.wait_for(handle.result(), 120)

    key = result.application_id
    delivered = Ledger(admin).emails(key, "vendor-welcome")
    assert len(delivered) >= 2
    assert {m["id"] for m in delivered} == {result.welcome_message_id}
    with stack.sandbox_admin() as http:
        receiver = evidence.Ledger.read(http, stack.mailpit_url)  # drops repeated Message-IDs
    assert [m["id"] for m in receiver.emails(key, "vendor-welcome")] == [result.welcome_message_id]


async def test_a_line_break_in_a_recipient_is_refused_before_anything_is_sent():
    relay = Relay("127.0.0.1", 9, "none", 1.0, "backoffice@company.example")  # nothing listens
    no_login = WrongPassword()
    mail = MailActivities(SmtpSender(relay, no_login, AuditLog(make_engine("sqlite://"))), no_login)
    email = _email("SMTP-INJECT").model_copy(update={"to": "dana@acme.example\r\nBcc: all@x.ex"})
    with pytest.raises(ApplicationError) as refused:
        await _in_run("smtp-test-inject").run(mail.send_email, email)
    assert refused.value.type == "INVALID_EMAIL" and refused.value.non_retryable
    assert "the To header" in refused.value.message
    assert no_login.reads == 0  # refused before Vault or the relay were asked


async def test_outside_text_becomes_one_clean_bounded_subject_and_a_bounded_text(
    stack, settings, mailbox
):
    """A name or reason from outside, with a header injection, a bidi override, control
    characters and no end, arrives as one line of 250 characters and a text of 20,000, to the
    addressee only."""
    key = f"SMTP-{uuid.uuid4().hex[:8]}"
    subject = f"Welcome {key}\r\nBcc: all@x.example \u202egnp.exe " + "A" * 5_000
    body = "Dear Dana,\r\nnot\x00 complete\x1b[31m \u202eevil\n" + "x" * 30_000
    email = _email(key).model_copy(update={"subject": subject, "body": body})

    await _in_run(f"smtp-test-{key}").run(
        _activities(settings, _worker_secrets(stack)).send_email, email
    )

    [sent] = [m for m in mailbox.mails() if m.business_key == key]
    assert sent.subject.startswith(f"Welcome {key} Bcc: all@x.example gnp.exe AAA")
    assert len(sent.subject) == 250 and sent.subject.endswith("…")
    assert sent.body.startswith("Dear Dana,\nnot complete[31m evil\nxxx")
    text = sent.body.rstrip("\n")
    assert len(text) == 20_000 and text.endswith("…")
    listed = httpx.get(f"{mailbox.url}/api/v1/messages", params={"limit": 500}).json()
    recipients = {
        address["Address"]
        for message in listed["messages"]
        if key in message["Subject"]
        for field in ("To", "Cc", "Bcc")
        for address in message.get(field) or []
    }
    assert recipients == {"dana@acme.example"}


async def test_an_unreachable_relay_opens_the_mail_breaker_a_refused_message_does_not(
    stack, settings, mailbox, tmp_path
):
    """Mail has a circuit breaker like every system: connection failures count against the
    relay, a 5xx refusal of a message (the relay is well) does not; once open, nothing is tried."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade_schema(url)
    engine = make_engine(url)
    policy = CircuitPolicy(failures=3, cool_down=timedelta(minutes=5))
    secrets = _worker_secrets(stack)

    def sender(relay: Relay) -> MailActivities:
        circuit = Circuit(engine, "mail", policy)
        return MailActivities(
            SmtpSender(relay, secrets, AuditLog(engine), circuit=circuit), secrets
        )

    refusing = sender(Relay.of(settings))
    mailbox.refuse("Recipient", 550)
    try:
        for i in range(policy.failures + 1):
            with pytest.raises(ApplicationError) as refused:
                await _in_run(f"smtp-test-cb-{i}").run(refusing.send_email, _email(f"CB-{i}"))
            assert refused.value.non_retryable and refused.value.type == "SMTP_550"
    finally:
        mailbox.clear_faults()
    assert view("mail", read_all(engine).get("mail")).state is CircuitState.CLOSED

    unreachable = sender(dataclasses.replace(Relay.of(settings), port=9))  # nothing listens
    codes = []
    for i in range(policy.failures + 1):
        with pytest.raises(ApplicationError) as failed:
            await _in_run(f"smtp-test-down-{i}").run(unreachable.send_email, _email(f"DN-{i}"))
        codes.append(failed.value.type)
    assert codes[-1] == ErrorCode.CIRCUIT_OPEN and ErrorCode.CIRCUIT_OPEN not in codes[:-1]
    assert view("mail", read_all(engine)["mail"]).state is CircuitState.OPEN
    with engine.connect() as conn:
        last = conn.execute(select(AuditRow).order_by(AuditRow.id.desc()).limit(1)).one()
    assert (last.error_code, last.status) == (ErrorCode.CIRCUIT_OPEN, None)
