"""Who may call what: no credential and a wrong one are 401, a missing scope 403, deciding needs
an approver's own credential; credentials live in Vault only as salted hashes."""

import base64
import stat

import httpx
import hvac.exceptions
import pytest

from devstack.vault_seed import write_credential
from domain.contract import vendor_onboarding_id
from domain.credentials import CredentialKind, CredentialRecord, HashAlgorithm, Scope
from runtime.credentials import hash_secret, verify_secret
from runtime.vault import SecretStore, secret_store
from starters.api.auth import Authenticator
from starters.api.errors import ApiError
from starters.directory import Directory
from tests.api.checks import assert_not_started, error_of
from tests.devstack.vault_helpers import approle_client, read
from tests.helpers import vendor_application

START = "/v1/vendor-onboardings"


async def test_no_credential_is_401_with_a_challenge(api, client):
    app = vendor_application()
    for method, path, body in (
        ("POST", START, app),
        ("GET", "/v1/workflows/vendor-onboarding-X", None),
        ("GET", "/v1/approvals", None),
        ("POST", "/v1/approvals/vendor-onboarding-X/risk-review", {"decision": "approve"}),
    ):
        answer = await api.request(method, path, json=body)
        error_of(answer, 401, "UNAUTHENTICATED")
        challenge = answer.headers["www-authenticate"]
        assert "Bearer" in challenge and "Basic" in challenge
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer svc-onboarding.not-the-secret",
        "Bearer svc-nobody.whatever",
        "Bearer no-dot-at-all",
        "Bearer ../../systems/erp.x",
        "Basic " + base64.b64encode(b"pat:not-the-password").decode(),
        "Basic " + base64.b64encode(b"mallory:password").decode(),
        "Basic !!not-base64!!",
    ],
)
async def test_wrong_credential_is_401_and_starts_nothing(api, client, authorization):
    app = vendor_application()
    answer = await api.post(START, json=app, headers={"Authorization": authorization})
    error_of(answer, 401, "INVALID_CREDENTIALS")
    assert "www-authenticate" in answer.headers
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_a_password_is_no_service_key_and_a_token_no_password(api, credentials, client):
    app = vendor_application()
    token = credentials["api_clients"]["svc-onboarding"]
    as_basic = base64.b64encode(token.replace(".", ":", 1).encode()).decode()
    answer = await api.post(START, json=app, headers={"Authorization": f"Basic {as_basic}"})
    error_of(answer, 401, "INVALID_CREDENTIALS")
    password = credentials["approvers"]["pat"]
    answer = await api.post(START, json=app, headers={"Authorization": f"Bearer pat.{password}"})
    error_of(answer, 401, "INVALID_CREDENTIALS")
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_credential_without_the_scope_is_403(api, service, approver, client):
    app = vendor_application()
    answer = await api.post(START, json=app, headers=service("svc-reader"))
    error = error_of(answer, 403, "INSUFFICIENT_SCOPE")
    assert "start" in error["message"]
    answer = await api.post(START, json=app, auth=approver("pat"))
    error_of(answer, 403, "INSUFFICIENT_SCOPE")
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))
    reads = await api.get("/v1/approvals", headers=service("svc-reader"))
    assert reads.status_code == 200, reads.text


async def test_a_service_key_cannot_decide_whatever_its_scopes(api, stack):
    secret = "decider-secret-for-this-test"
    record = hash_secret(secret, [s.value for s in Scope])
    write_credential(stack.vault_root(), "api-clients/svc-test-decider", record)
    headers = {"Authorization": f"Bearer svc-test-decider.{secret}"}
    assert (await api.get("/v1/approvals", headers=headers)).status_code == 200

    answer = await api.post(
        "/v1/approvals/vendor-onboarding-X/risk-review",
        json={"decision": "approve", "approver": "pat"},
        headers=headers,
    )
    error_of(answer, 403, "APPROVER_REQUIRED")


def test_vault_holds_salted_hashes_never_the_secrets(stack, credentials):
    vault = stack.vault_root()
    records = {}
    for client_id, token in credentials["api_clients"].items():
        records[token.split(".", 1)[1]] = read(vault, f"backoffice/api-clients/{client_id}")
    for approver_id, password in credentials["approvers"].items():
        records[password] = read(vault, f"backoffice/approver-credentials/{approver_id}")
    salts = set()
    for secret, data in records.items():
        assert secret not in str(data)
        record = CredentialRecord.model_validate(data)
        assert verify_secret(secret, record) and not verify_secret(secret + "x", record)
        salts.add(record.hash if record.algorithm == "argon2id" else record.salt)
    for client_id in credentials["api_clients"]:
        assert read(vault, f"backoffice/api-clients/{client_id}")["algorithm"] == "hmac_sha256"
    for approver_id in credentials["approvers"]:
        data = read(vault, f"backoffice/approver-credentials/{approver_id}")
        assert data["algorithm"] == "argon2id"
    assert len(salts) == len(records), "every credential has its own salt"
    scopes = read(vault, "backoffice/api-clients/svc-onboarding")["scopes"]
    assert sorted(scopes) == ["read", "start"]
    assert read(vault, "backoffice/api-clients/svc-reader")["scopes"] == ["read"]
    assert sorted(read(vault, "backoffice/approver-credentials/pat")["scopes"]) == [
        "decide",
        "read",
    ]


def test_only_the_client_role_reads_api_credentials(stack):
    client = approle_client(stack.client_env())
    assert read(client, "backoffice/api-clients/svc-reader")["hash"]
    assert read(client, "backoffice/approver-credentials/pat")["hash"]
    worker = approle_client(stack.worker_env())
    for path in ("api-clients/svc-reader", "approver-credentials/pat"):
        with pytest.raises(hvac.exceptions.Forbidden):
            read(worker, f"backoffice/{path}")


def test_credentials_file_is_private_and_no_credential_is_logged(stack, credentials):
    assert stat.S_IMODE(stack.credentials_file.stat().st_mode) == 0o600
    log = stack.api_log_path().read_text()
    assert "Application startup complete" in log
    for token in credentials["api_clients"].values():
        assert token.split(".", 1)[1] not in log
    for password in credentials["approvers"].values():
        assert password not in log


async def test_a_verified_credential_is_remembered_briefly(stack, settings):
    now = [0.0]
    store = secret_store(settings)
    checker = Authenticator(store, Directory(store), cache_seconds=30, clock=lambda: now[0])
    path = "api-clients/svc-short-lived"
    write_credential(stack.vault_root(), path, hash_secret("short-lived-secret", ["read"]))
    header = "Bearer svc-short-lived.short-lived-secret"
    assert (await checker.authenticate(header)).id == "svc-short-lived"

    stack.vault_root().secrets.kv.v2.delete_metadata_and_all_versions(
        path=f"backoffice/{path}", mount_point="secret"
    )
    store.forget(path)
    assert (await checker.authenticate(header)).scopes == {"read"}  # remembered
    now[0] = 31
    with pytest.raises(ApiError) as refused:
        await checker.authenticate(header)
    assert refused.value.status == 401


async def test_unknown_ids_are_checked_like_known_ones_and_read_once(settings, credentials):
    """The same scheme and cost for a decoy as for the kind's real records (so no timing tells
    an unknown id from a wrong password), and an unknown id costs one Vault read, not one each."""
    store = CountingStore(settings)
    authenticator = Authenticator(store, Directory(store), cache_seconds=60)
    real = CredentialRecord.model_validate(await store.read("approver-credentials/pat"))
    decoy = authenticator._decoys[CredentialKind.APPROVER]
    assert decoy.algorithm == real.algorithm == "argon2id"
    assert decoy.hash.rsplit("$", 2)[0] == real.hash.rsplit("$", 2)[0]  # same parameters
    service = CredentialRecord.model_validate(await store.read("api-clients/svc-reader"))
    assert authenticator._decoys[CredentialKind.SERVICE].algorithm == service.algorithm

    store.reads.clear()
    for _ in range(3):
        with pytest.raises(ApiError):
            await authenticator.authenticate(_basic_header("nobody-here", "x"))
    assert store.reads == ["approver-credentials/nobody-here"]


async def test_a_record_of_an_older_scheme_is_rehashed_at_sign_in(api, stack, credentials):
    # frank: an approver no other test signs in as.
    frank = credentials["approvers"]["frank"]
    old = hash_secret(frank, ["read", "decide"], algorithm=HashAlgorithm.PBKDF2_SHA256)
    write_credential(stack.vault_root(), "approver-credentials/frank", old)
    signed_in = await api.get("/v1/approvals", auth=httpx.BasicAuth("frank", frank))
    assert signed_in.status_code == 200, signed_in.text
    record = read(stack.vault_root(), "backoffice/approver-credentials/frank")
    assert record["algorithm"] == "argon2id" and sorted(record["scopes"]) == ["decide", "read"]
    again = await api.get("/v1/approvals", auth=httpx.BasicAuth("frank", frank))
    assert again.status_code == 200


class CountingStore(SecretStore):
    """The API's own Vault client (the stack's AppRole), noting each path read from Vault."""

    def __init__(self, settings) -> None:
        base = secret_store(settings)
        self.__dict__.update(base.__dict__)
        self.reads: list[str] = []

    def _read_with_relogin(self, path: str):
        self.reads.append(path)
        return super()._read_with_relogin(path)


def _basic_header(approver_id: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{approver_id}:{password}".encode()).decode()
