"""Mail over STARTTLS and implicit TLS: a mailpit of its own with a certificate from a CA made
here, the relay's certificate checked against BACKOFFICE_SMTP_CA_FILE; and bad SMTP settings
named. (The stack's own mailpit speaks plain SMTP on loopback.)"""

import dataclasses
import datetime
import ipaddress
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.audit import AuditLog
from activities.mail import MailActivities
from activities.smtp import Relay, SmtpSender
from devstack.mailbox import Mailbox
from devstack.mailpit import find_mailpit, probe
from devstack.ports import PortPicker
from domain.records import SendEmailInput
from runtime.db import make_engine
from runtime.settings import SettingsError, load_settings
from runtime.vault import SecretStore

HOST = "127.0.0.1"


class NoLogin(SecretStore):
    """Vault's mail entry without a login (this mailpit asks for none)."""

    def __init__(self) -> None:
        pass

    async def read(self, path: str) -> dict[str, Any]:
        return {}

    def forget(self, path: str) -> None:
        pass


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("backoffice test CA"))
        .issuer_name(_name("backoffice test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclasses.dataclass
class TlsMailpit:
    smtp_port: int
    url: str
    ca: Path


def _mailpit(folder: Path, mode: str) -> Iterator[TlsMailpit]:
    ca, cert, key = _certificates(folder)
    with PortPicker(HOST) as picker:
        smtp_port, ui_port = picker.pick(), picker.pick()
    argv = [
        str(find_mailpit()),
        "--smtp", f"{HOST}:{smtp_port}",
        "--listen", f"{HOST}:{ui_port}",
        "--database", str(folder / "mailpit.db"),
        "--smtp-tls-cert", str(cert),
        "--smtp-tls-key", str(key),
        f"--smtp-require-{mode}",
        "--disable-version-check",
    ]  # fmt: skip
    log = (folder / "mailpit.log").open("wb")
    server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{ui_port}"
    try:
        deadline = time.monotonic() + 30
        while probe(url) is not None:
            assert server.poll() is None, (folder / "mailpit.log").read_text()
            assert time.monotonic() < deadline, "mailpit did not answer"
            time.sleep(0.2)
        yield TlsMailpit(smtp_port, url, ca)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def starttls_mailpit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsMailpit]:
    yield from _mailpit(tmp_path_factory.mktemp("starttls"), "starttls")


@pytest.fixture(scope="module")
def tls_mailpit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsMailpit]:
    yield from _mailpit(tmp_path_factory.mktemp("tls"), "tls")


async def _send(settings, server: TlsMailpit, security: str, ca: Path | None) -> str:
    relay = Relay(HOST, server.smtp_port, security, 5.0, "backoffice@company.example", ca)  # type: ignore[arg-type]
    audit = AuditLog(make_engine(settings.resolved_database_url))
    mail = MailActivities(SmtpSender(relay, NoLogin(), audit), NoLogin())
    subject = f"tls {uuid.uuid4().hex}"
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"smtp-tls-{subject}")
    email = SendEmailInput(
        notification="tls",
        to="dana@acme.example",
        subject=subject,
        body="Hello",
        template="smtp-tls-test",
        business_key="TLS",
    )
    await env.run(mail.send_email, email)
    return subject


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_tls_checked_against_the_ca_file(
    settings, starttls_mailpit, tls_mailpit, security
):
    server = starttls_mailpit if security == "starttls" else tls_mailpit
    subject = await _send(settings, server, security, server.ca)
    assert subject in {m.subject for m in Mailbox(server.url).mails()}


async def test_an_unknown_certificate_or_plain_smtp_is_not_delivered(
    settings, starttls_mailpit, tls_mailpit
):
    with pytest.raises(ApplicationError) as untrusted:  # the system's CAs do not know this one
        await _send(settings, tls_mailpit, "tls", None)
    assert untrusted.value.type == "SMTP_CONNECTION_ERROR"
    with pytest.raises(ApplicationError) as plain:  # the relay wants STARTTLS first
        await _send(settings, starttls_mailpit, "none", starttls_mailpit.ca)
    assert (plain.value.type or "").startswith("SMTP_5") and plain.value.non_retryable


def test_bad_smtp_settings_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKOFFICE_VAULT_ADDR", "http://127.0.0.1:8200")
    monkeypatch.setenv("BACKOFFICE_VAULT_ROLE_ID", "role")
    monkeypatch.setenv("BACKOFFICE_VAULT_SECRET_ID", "secret-id")
    monkeypatch.setenv("BACKOFFICE_SMTP_SECURITY", "ssl")
    monkeypatch.setenv("BACKOFFICE_SMTP_PORT", "0")
    monkeypatch.setenv("BACKOFFICE_SMTP_CA_FILE", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("BACKOFFICE_MAIL_FROM", "backoffice")
    with pytest.raises(SettingsError) as bad:
        load_settings()
    for name in ("SMTP_SECURITY", "SMTP_PORT", "SMTP_CA_FILE", "MAIL_FROM"):
        assert f"BACKOFFICE_{name}: " in str(bad.value)
    assert "'starttls'" in str(bad.value) and "missing.pem" in str(bad.value)
