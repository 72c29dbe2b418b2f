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
    """The mail system's API key, replaced in Vault and in the sandbox by a recognizable value:
    every run that sends an email carries it through the worker to the mail system."""
    value = f"canary-secret-{secrets.token_hex(12)}"
    stack.vault_root().secrets.kv.v2.create_or_update_secret(
        path="backoffice/systems/mail", secret={"api_key": value}, mount_point="secret"
    )
    with stack.sandbox_admin() as admin:
        admin.put("/_admin/credentials/mail", json={"api_keys": [value]}).raise_for_status()
    return value


@pytest.fixture(scope="session")
def codec_token(stack) -> str:
    token: str = stack.credentials()["codec_token"]
    return token
