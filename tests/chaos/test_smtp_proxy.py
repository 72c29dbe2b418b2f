"""The suite's SMTP proxy in front of the test stack's mailpit: a connection dropped after DATA
leaves the message delivered and the sender without its answer."""

import uuid
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


async def test_a_drop_after_data_delivers_and_loses_the_answer(stack):
    host, _, port = (stack.addresses.smtp or "").rpartition(":")
    with PortPicker(host) as picker:
        listen = picker.pick()
    proxy = SmtpProxy(host, listen, (host, int(port)))
    await proxy.start()
    mail = stack.vault_root().secrets.kv.v2.read_secret_version(
        path="backoffice/systems/mail", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    login = (mail["username"], mail["password"])
    try:
        await _send(listen, login, _message(f"passes {uuid.uuid4().hex}"))  # no fault: passes
        proxy.faults.drop_after_data_rate = 1.0
        dropped = _message(f"dropped {uuid.uuid4().hex}")
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await _send(listen, login, dropped)
    finally:
        await proxy.close()
    assert proxy.dropped_after_data == 1
    subjects = {m.subject for m in Mailbox(stack.mailpit_url).mails()}
    assert str(dropped["Subject"]) in subjects  # the relay has it; the sender cannot know
