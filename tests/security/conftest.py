"""The runs the security tests look into, made once per module on the session stack."""

import secrets
import uuid

import pytest

from tests.helpers import iban


@pytest.fixture(scope="session")
def canary_iban() -> str:
    """A valid IBAN nobody could mistake for anything else."""
    return iban("DE", f"CANARY{uuid.uuid4().int % 10**12:012d}")


@pytest.fixture(scope="session")
def canary_email() -> str:
    """A contact email that the runs' inputs carry and the mail system receives."""
    return f"canary-{uuid.uuid4().hex[:12]}@vendor-canary.example"


@pytest.fixture(scope="session")
def canary_secret(stack) -> str:
    """The mail system's SMTP password, replaced in Vault and in mailpit by a recognizable value:
    every run that sends an email carries it through the worker to the SMTP server."""
    value = f"canary-secret-{secrets.token_hex(12)}"
    stack.set_smtp_password(value)
    return value


@pytest.fixture(scope="session")
def codec_token(stack) -> str:
    token: str = stack.credentials()["codec_token"]
    return token
