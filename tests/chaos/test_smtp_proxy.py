"""The suite's SMTP proxy in front of the test stack's mailpit: a connection dropped after DATA
leaves the message delivered and the sender without its answer."""

import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiosmtplib
import pytest

from chaos.smtp_proxy import SmtpProxy
from devstack.mailbox import Mailbox
from devstack.ports import PortPicker


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "backoffice@company.example"
    message["To"] = "dana@acme.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@company.example>"
    message.set_content("Hello")
    return message


async def _send(port: int, login: tuple[str, str], message: EmailMessage) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=5) as smtp:
        await smtp.login(*login)
        await smtp.send_message(message)


@pytest.fixture
async def proxy(stack) -> AsyncIterator[tuple[SmtpProxy, tuple[str, str]]]:
    """The proxy in front of the stack's mailpit, and the SMTP login from Vault."""
    host, _, port = (stack.addresses.smtp or "").rpartition(":")
    with PortPicker(host) as picker:
        listen = picker.pick()
    running = SmtpProxy(host, listen, (host, int(port)))
    await running.start()
    mail = stack.vault_root().secrets.kv.v2.read_secret_version(
        path="backoffice/systems/mail", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    try:
        yield running, (mail["username"], mail["password"])
    finally:
        await running.close()


async def test_a_drop_after_data_delivers_and_loses_the_answer(stack, proxy):
    running, login = proxy
    await _send(running.port, login, _message(f"passes {uuid.uuid4().hex}"))  # no fault: passes
    running.faults.drop_after_data_rate = 1.0
    dropped = _message(f"dropped {uuid.uuid4().hex}")
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await _send(running.port, login, dropped)
    assert running.dropped_after_data == 1
    subjects = {m.subject for m in Mailbox(stack.mailpit_url).mails()}
    assert str(dropped["Subject"]) in subjects  # the relay has it; the sender cannot know


async def test_a_refused_recipient_gets_the_code_and_nothing_is_delivered(stack, proxy):
    running, login = proxy
    running.faults.refused_recipients = {"dana@acme.example": 550}
    refused = _message(f"refused {uuid.uuid4().hex}")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as raised:
        await _send(running.port, login, refused)
    assert [r.code for r in raised.value.recipients] == [550]
    assert running.refused == 1
    subjects = {m.subject for m in Mailbox(stack.mailpit_url).mails()}
    assert str(refused["Subject"]) not in subjects
