"""The session stack is up: every component answers, Vault is seeded, settings load from it."""

import base64
import stat

import hvac.exceptions
import pytest
from dotenv import dotenv_values
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack.temporal_server import SEARCH_ATTRIBUTES
from domain.systems import System
from runtime.settings import load_settings
from tests.devstack.vault_helpers import approle_client, read
from tests.stack import worker_wanted

DIRECTORY = "backoffice/directory/approvers"

CLIENT_ENV_KEYS = {
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "BACKOFFICE_DATA_DIR",
    "BACKOFFICE_VAULT_ADDR",
    "BACKOFFICE_VAULT_ROLE_ID",
    "BACKOFFICE_VAULT_SECRET_ID",
    "BACKOFFICE_SANDBOX_URL",
    "BACKOFFICE_SANDBOX_ADMIN_TOKEN",
    "BACKOFFICE_TEMPORAL_UI_URL",
    "BACKOFFICE_DATABASE_URL",
    "BACKOFFICE_API_URL",
}


def test_status_reports_every_component_running(stack):
    rows = stack.status()
    for name in ("temporal", "temporal-ui", "vault", "sandbox", "api"):
        assert rows[name]["running"], f"{name} is not running: {rows[name]}"
        assert rows[name]["pid"]
    assert rows["temporal"]["address"] == stack.temporal_address
    assert rows["api"]["address"] == stack.api_url
    assert rows["worker"]["running"] is worker_wanted()
    assert stack.is_running()


async def test_temporal_has_the_search_attributes(stack):
    client = await Client.connect(stack.temporal_address)
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for name, kind in SEARCH_ATTRIBUTES.items():
        expected = IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
        assert response.custom_attributes.get(name) == expected, name


def test_temporal_web_ui_answers(stack):
    import httpx

    assert httpx.get(stack.temporal_ui_url, timeout=10, trust_env=False).status_code == 200


def test_worker_role_reads_system_credentials_and_nothing_else(stack):
    worker = approle_client(stack.worker_env())
    erp = read(worker, "backoffice/systems/erp")
    assert set(erp) == {"username", "password"} and erp["password"]
    for system in System:
        assert read(worker, f"backoffice/systems/{system.value}")
    assert "pat" in read(worker, "backoffice/directory/approvers")["approvers"]
    with pytest.raises(hvac.exceptions.Forbidden):
        read(worker, "backoffice/webhooks/billing")
    with pytest.raises(hvac.exceptions.Forbidden):
        worker.secrets.kv.v2.create_or_update_secret(
            path="backoffice/systems/erp", secret={"password": "x"}, mount_point="secret"
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        worker.secrets.kv.v2.create_or_update_secret(
            path="backoffice/new", secret={"a": "b"}, mount_point="secret"
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        worker.sys.create_or_update_policy(name="mine", policy='path "*" {capabilities=["read"]}')
    with pytest.raises(hvac.exceptions.Forbidden):
        worker.secrets.transit.create_key(  # type: ignore[no-untyped-call]
            name="other", mount_point="transit"
        )


def test_both_roles_use_the_payload_transit_key(stack):
    for env in (stack.worker_env(), stack.client_env()):
        vault = approle_client(env)
        plaintext = base64.b64encode(b"payload").decode()
        sealed = vault.secrets.transit.encrypt_data(
            name="backoffice-payloads", plaintext=plaintext, mount_point="transit"
        )["data"]["ciphertext"]
        opened = vault.secrets.transit.decrypt_data(
            name="backoffice-payloads", ciphertext=sealed, mount_point="transit"
        )["data"]["plaintext"]
        assert opened == plaintext
        key = vault.secrets.transit.generate_data_key(  # type: ignore[no-untyped-call]
            name="backoffice-payloads", key_type="plaintext", mount_point="transit"
        )
        assert key["data"]["ciphertext"]


def test_client_role_reads_directory_and_webhooks_but_not_system_credentials(stack):
    client = approle_client(stack.client_env())
    approvers = read(client, "backoffice/directory/approvers")["approvers"]
    assert set(approvers) == {
        "pat",
        "lena",
        "fiona",
        "frank",
        "sam",
        "dora",
        "carla",
        "rory",
        "olga",
        "omar",
        "opal",
    }
    assert approvers["rory"]["roles"] == []
    assert approvers["olga"]["roles"] == ["procurement", "finance"]
    assert approvers["lena"]["email"] == "lena@company.example"
    for system in ("crm", "billing", "esign"):
        assert len(read(client, f"backoffice/webhooks/{system}")["secrets"]) == 1
    with pytest.raises(hvac.exceptions.Forbidden):
        read(client, "backoffice/systems/erp")


def test_sandbox_accepts_the_credentials_seeded_in_vault(stack):
    portal_key = read(stack.vault_root(), "backoffice/systems/portal")["api_key"]
    with stack.sandbox_admin() as admin:
        assert admin.get("/_admin/health").status_code == 200
        ok = admin.get("/portal/accounts", headers={"X-Api-Key": portal_key})
        refused = admin.get("/portal/accounts", headers={"X-Api-Key": "wrong"})
    assert ok.status_code == 200, ok.text
    assert refused.status_code == 401


def test_env_file_holds_the_client_settings_privately(stack):
    values = dotenv_values(stack.env_file)
    assert set(values) >= CLIENT_ENV_KEYS
    assert values == stack.client_env()
    assert values["BACKOFFICE_APPROVAL_EXPIRE_AFTER"] == "PT12S"
    assert values["BACKOFFICE_DATABASE_URL"] == stack.config.database_url  # the test PostgreSQL
    for path in (stack.env_file, stack.state_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stack.worker_env()["BACKOFFICE_VAULT_ROLE_ID"] != values["BACKOFFICE_VAULT_ROLE_ID"]


def test_api_answers_and_its_demo_credentials_are_written_privately(stack):
    import httpx

    assert httpx.get(f"{stack.api_url}/healthz", timeout=10, trust_env=False).json() == {
        "status": "ok"
    }
    assert stat.S_IMODE(stack.credentials_file.stat().st_mode) == 0o600
    credentials = stack.credentials()
    assert set(credentials["api_clients"]) == {"svc-onboarding", "svc-reader"}
    assert credentials["api_clients"]["svc-reader"].startswith("svc-reader.")
    assert set(credentials["approvers"]) == set(read(stack.vault_root(), DIRECTORY)["approvers"])
    assert "Application startup complete" in stack.api_log_path().read_text()


def test_sandbox_sends_webhooks_to_the_api(stack):
    with stack.sandbox_admin() as admin:
        answer = admin.get("/_admin/webhooks")
    assert answer.status_code == 200, answer.text
    targets = {t["system"]: t for t in answer.json()["targets"]}
    for system in ("crm", "billing", "esign"):
        assert targets[system]["url"] == f"{stack.api_url}/webhooks/{system}"
        assert "secret" not in targets[system]


def test_settings_load_from_the_stack(stack):
    settings = load_settings()
    assert settings.vault_addr == stack.vault_addr
    assert settings.sandbox_url == stack.sandbox_url
    assert settings.api_url == stack.api_url
    assert settings.approval_expire_after.total_seconds() == 12


def test_up_again_is_a_no_op(stack):
    before = stack.status()
    assert stack.up() == stack.addresses
    assert stack.status() == before
