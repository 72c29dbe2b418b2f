"""A file-storage OpenBao (server mode): sealed and unsealed, stopped and started, tokens revoked,
and the secrets and the payload key still there after a restart and after down then up."""

import asyncio
import base64

import pytest

from devstack.errors import StackError
from devstack.vault_seed import TRANSIT_KEY, TRANSIT_MOUNT
from runtime.vault import SecretStore, SecretUnavailable
from tests.devstack.vault_helpers import read
from tests.stack import free_port_config, start_stack


@pytest.fixture(scope="module")
def file_vault_stack(tmp_path_factory):
    config = free_port_config(tmp_path_factory.mktemp("vault-file")).model_copy(
        update={"vault_storage": "file"}
    )
    stack = start_stack(config)
    yield stack
    stack.down()


def _worker_store(stack) -> SecretStore:
    env = stack.worker_env()
    return SecretStore(
        env["BACKOFFICE_VAULT_ADDR"],
        env["BACKOFFICE_VAULT_ROLE_ID"],
        env["BACKOFFICE_VAULT_SECRET_ID"],
        cache_seconds=0,
    )


def _encrypt(stack, text: str) -> str:
    answer = stack.vault_root().secrets.transit.encrypt_data(
        name=TRANSIT_KEY,
        plaintext=base64.b64encode(text.encode()).decode(),
        mount_point=TRANSIT_MOUNT,
    )
    return str(answer["data"]["ciphertext"])


def _decrypt(stack, ciphertext: str) -> str:
    answer = stack.vault_root().secrets.transit.decrypt_data(
        name=TRANSIT_KEY, ciphertext=ciphertext, mount_point=TRANSIT_MOUNT
    )
    return base64.b64decode(answer["data"]["plaintext"]).decode()


async def test_sealed_vault_refuses_until_unsealed(file_vault_stack):
    stack = file_vault_stack
    store = _worker_store(stack)
    before = await store.read("systems/mail")
    stack.seal_vault()
    assert stack.vault_sealed()
    with pytest.raises(SecretUnavailable, match="sealed or down"):
        await store.read("systems/mail")
    stack.unseal_vault()
    assert not stack.vault_sealed()
    assert await store.read("systems/mail") == before


async def test_stopped_vault_is_unreachable_and_keeps_its_secrets(file_vault_stack):
    stack = file_vault_stack
    store = _worker_store(stack)
    before = await store.read("systems/erp")
    sealed_text = _encrypt(stack, "kept across a restart")
    assert stack.stop_vault()
    with pytest.raises(SecretUnavailable, match="unreachable"):
        await store.read("systems/erp")
    stack.start_vault()
    assert await store.read("systems/erp") == before
    assert _decrypt(stack, sealed_text) == "kept across a restart"


async def test_revoked_tokens_cost_one_login(file_vault_stack):
    stack = file_vault_stack
    store = _worker_store(stack)
    await store.read("systems/portal")
    assert store.logins == 1
    stack.revoke_app_tokens()
    await store.read("systems/portal")
    assert store.logins == 2


async def test_a_token_past_its_max_ttl_is_replaced_by_a_new_login(file_vault_stack):
    stack = file_vault_stack
    stack.set_app_token_ttl("2s", "3s")
    try:
        store = _worker_store(stack)
        await store.read("systems/portal")
        await asyncio.sleep(4)
        await store.read("systems/portal")
        assert store.logins == 2
    finally:
        stack.set_app_token_ttl("1h", "4h")


def test_dev_mode_stack_refuses_vault_faults(tmp_path):
    from devstack.stack import Stack

    stack = Stack(free_port_config(tmp_path))
    with pytest.raises(StackError, match="file-storage Vault"):
        stack.seal_vault()


async def test_down_then_up_keeps_the_payload_key(file_vault_stack):
    stack = file_vault_stack
    sealed_text = _encrypt(stack, "kept across down and up")
    mail_before = read(stack.vault_root(), "backoffice/systems/mail")
    stack.down()
    stack.up()
    assert _decrypt(stack, sealed_text) == "kept across down and up"
    # `up` keeps the credentials its storage holds, and the worker's login reads them.
    mail_now = read(stack.vault_root(), "backoffice/systems/mail")
    assert mail_now == mail_before
    assert await _worker_store(stack).read("systems/mail") == mail_now
