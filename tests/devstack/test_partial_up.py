"""A stack of its own, with a worker: `dev up` starts only what died, `dev restart` one
component, `dev logs`; the API keys, approver passwords, inbox sessions and codec token issued
before keep working through all of it, and through `down` + `up`."""

import base64
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack.environment import inherited_env
from devstack.paths import project_root
from devstack.stack import COMPONENTS, Stack
from devstack.temporal_server import NAMESPACE
from devstack.vault_seed import APPROLE_MOUNT, POLICIES, WORKER_ROLE
from domain.systems import WORKFLOW_TASK_QUEUE, System
from runtime.settings import load_settings
from runtime.temporal import connect
from tests.devstack.dev_cli import CLI, dev
from tests.devstack.vault_helpers import read
from tests.helpers import line_from, result_of, start
from tests.stack import free_port_config, start_stack


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(free_port_config(tmp_path_factory.mktemp("partial"), with_worker=True))
    yield stack
    stack.down()


def _pids(stack: Stack) -> dict[str, int | None]:
    rows = stack.status()
    return {name: rows[name]["pid"] for name in COMPONENTS}


def _assert_only_new(
    before: dict[str, int | None], after: dict[str, int | None], name: str
) -> None:
    """`name` runs with a new pid; every other component kept its own."""
    assert after[name] not in (None, before[name]), (name, before[name], after[name])
    others = [n for n in COMPONENTS if n != name]
    assert {n: after[n] for n in others} == {n: before[n] for n in others}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_dead(stack: Stack, name: str) -> None:
    deadline = time.monotonic() + 15
    while stack.status()[name]["running"]:
        assert time.monotonic() < deadline, f"{name} still runs after SIGKILL"
        time.sleep(0.1)


def _sign_in(api: str, approver: str, password: str) -> httpx.Client:
    """An inbox session, as a browser holds it (the session cookie)."""
    web = httpx.Client(base_url=api, timeout=30, trust_env=False)
    form = web.get("/inbox/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    signed = web.post(
        "/inbox/sign-in",
        data={"approver_id": approver, "password": password, "csrf_token": token.group(1)},
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/inbox", signed.text
    return web


def _assert_clients_work(stack: Stack, credentials: dict[str, Any], inbox: httpx.Client) -> None:
    """The API key, the approver password, the open inbox session and the codec token from
    before still work against the API as it runs now."""
    api = stack.api_url
    token = credentials["api_clients"]["svc-reader"]
    basic = base64.b64encode(f"pat:{credentials['approvers']['pat']}".encode()).decode()
    with httpx.Client(base_url=api, timeout=30, trust_env=False) as web:
        as_service = web.get("/v1/approvals", headers={"Authorization": f"Bearer {token}"})
        as_approver = web.get("/v1/approvals", headers={"Authorization": f"Basic {basic}"})
        wrong = web.get("/v1/approvals", headers={"Authorization": "Bearer svc-reader.wrong"})
        codec = web.post(
            "/codec/decode",
            headers={
                "Authorization": f"Bearer {credentials['codec_token']}",
                "X-Namespace": NAMESPACE,
            },
            json={"payloads": []},
        )
    assert as_service.status_code == 200, as_service.text
    assert as_approver.status_code == 200, as_approver.text
    assert wrong.status_code == 401, wrong.text
    assert codec.status_code == 200, codec.text
    page = inbox.get("/inbox")  # without its session: a 303 to the sign-in form
    assert page.status_code == 200, (page.status_code, page.headers.get("location"))
    assert _sign_in(api, "pat", credentials["approvers"]["pat"]).get("/inbox").status_code == 200


@pytest.mark.parametrize("victim", ["sandbox", "vault", "worker"])
def test_up_starts_only_the_killed_component(own_stack: Stack, victim: str) -> None:
    own_stack.up()
    credentials = own_stack.credentials()
    inbox = _sign_in(own_stack.api_url, "pat", credentials["approvers"]["pat"])
    portal_key = read(own_stack.vault_root(), "backoffice/systems/portal")["api_key"]
    before = _pids(own_stack)

    os.killpg(before[victim] or 0, signal.SIGKILL)  # a crash of the component
    _wait_dead(own_stack, victim)
    up = dev("up", "--data-dir", str(own_stack.data_dir))

    assert up.returncode == 0, up.stdout + up.stderr
    others = [name for name in COMPONENTS if name != victim]
    assert f"kept: {', '.join(others)}; started: {victim}" in up.stdout, up.stdout
    _assert_only_new(before, _pids(own_stack), victim)
    same = own_stack.credentials() == credentials  # (no values in a failure's output)
    assert same, "the demo credentials changed"
    _assert_clients_work(own_stack, credentials, inbox)
    # The system credentials too: the sandbox and Vault still agree on them.
    assert read(own_stack.vault_root(), "backoffice/systems/portal")["api_key"] == portal_key
    with own_stack.sandbox_admin() as admin:
        accounts = admin.get("/portal/accounts", headers={"X-Api-Key": portal_key})
    assert accounts.status_code == 200, accounts.text


def test_restart_api_keeps_keys_and_sessions(own_stack: Stack) -> None:
    credentials = own_stack.credentials()
    inbox = _sign_in(own_stack.api_url, "pat", credentials["approvers"]["pat"])
    before = _pids(own_stack)

    restarted = dev("restart", "api", "--data-dir", str(own_stack.data_dir))

    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    _assert_only_new(before, _pids(own_stack), "api")
    _assert_clients_work(own_stack, credentials, inbox)


def test_keys_and_sessions_survive_down_then_up(own_stack: Stack) -> None:
    credentials = own_stack.credentials()
    inbox = _sign_in(own_stack.api_url, "pat", credentials["approvers"]["pat"])
    client_env = own_stack.client_env()

    own_stack.down()
    again = Stack(own_stack.config)
    again.up()

    assert again.last_up.kept == [] and again.last_up.started == list(COMPONENTS)
    same = again.credentials() == credentials  # (no values in a failure's output)
    assert same, "the demo credentials changed"
    # The env file's AppRole login is the same: a client started before keeps logging in.
    login = ("BACKOFFICE_VAULT_ROLE_ID", "BACKOFFICE_VAULT_SECRET_ID")
    assert [again.client_env()[k] for k in login] == [client_env[k] for k in login]
    inbox.base_url = httpx.URL(again.api_url)  # port 0: the same ports when still free
    _assert_clients_work(again, credentials, inbox)


async def test_restart_worker_gives_a_new_pid_and_runs_complete(
    own_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _pids(own_stack)

    restarted = dev("restart", "worker", "--data-dir", str(own_stack.data_dir))

    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    _assert_only_new(before, _pids(own_stack), "worker")
    for key, value in {
        "BACKOFFICE_ENV_FILE": str(own_stack.env_file),
        **own_stack.client_env(),
    }.items():
        monkeypatch.setenv(key, value)
    done = await result_of(await start(await connect(), load_settings()))
    assert done.vendor_id


def test_logs_prints_the_last_lines(own_stack: Stack) -> None:
    logs = dev("logs", "api", "-n", "5", "--data-dir", str(own_stack.data_dir))

    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert len(lines) == 5, logs.stdout
    log = own_stack.log_path("api").read_text().splitlines()
    assert lines == log[-5:] or all(line in log for line in lines)
    assert any("devstack starts api" in line for line in log)


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_logs_follow_prints_what_a_restart_appends(own_stack: Stack) -> None:
    follow = subprocess.Popen(
        [*CLI, "logs", "mailpit", "-f", "-n", "1", "--data-dir", str(own_stack.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
        # Ctrl-C as at a terminal: a test run started in the background by a shell (CI, nohup)
        # inherits SIGINT ignored, and Python keeps it ignored in the child.
        preexec_fn=_interruptible,
    )
    try:
        line_from(follow, "", timeout=60)  # the last line: it follows from there on
        own_stack.restart("mailpit")
        started = line_from(follow, "devstack starts mailpit", timeout=60)
    finally:
        follow.send_signal(signal.SIGINT)
        # Read what it still prints while it stops: a full pipe would keep it from exiting.
        follow.communicate(timeout=60)
        assert follow.returncode == 0
    assert started.startswith("=== ")  # the log's own line, as written


def test_an_unknown_component_is_a_usage_error(tmp_path) -> None:
    for command in ("restart", "logs"):
        answer = dev(command, "nonsense", "--data-dir", str(tmp_path))
        assert answer.returncode == 2, answer.stdout + answer.stderr
        assert "nonsense" in answer.stderr
        for name in COMPONENTS:
            assert f"'{name}'" in answer.stderr, answer.stderr
    bad_count = dev("logs", "api", "-n", "many", "--data-dir", str(tmp_path))
    assert bad_count.returncode == 2 and "lines" in bad_count.stderr


async def test_a_worker_that_cannot_read_a_system_refuses_to_start(own_stack: Stack) -> None:
    root = own_stack.vault_root()
    every_system = 'path "secret/data/backoffice/systems/*" { capabilities = ["read"] }\n'
    assert every_system in POLICIES[WORKER_ROLE]
    policy = POLICIES[WORKER_ROLE].replace(every_system, "") + "".join(
        f'path "secret/data/backoffice/systems/{s.value}" {{ capabilities = ["read"] }}\n'
        for s in System
        if s is not System.ERP
    )
    role = "backoffice-worker-without-erp"
    root.sys.create_or_update_policy(name=role, policy=policy)
    root.auth.approle.create_or_update_approle(
        role_name=role, token_policies=[role], mount_point=APPROLE_MOUNT
    )
    role_id = root.auth.approle.read_role_id(role_name=role, mount_point=APPROLE_MOUNT)
    secret = root.auth.approle.generate_secret_id(role_name=role, mount_point=APPROLE_MOUNT)
    env = {
        **own_stack.worker_env(),
        "BACKOFFICE_VAULT_ROLE_ID": role_id["data"]["role_id"],
        "BACKOFFICE_VAULT_SECRET_ID": secret["data"]["secret_id"],
    }
    # The stack's worker serves metrics on the port the env file names: another one.
    env["BACKOFFICE_WORKER_METRICS_ADDRESS"] = f"127.0.0.1:{_free_port()}"
    worker = subprocess.Popen(
        own_stack.worker_command(),
        env=inherited_env(env),
        cwd=project_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = worker.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    assert worker.returncode not in (None, 0, -signal.SIGKILL), (
        f"the worker did not refuse to start:\n{output[-2000:]}"
    )
    assert "erp system's credentials" in output, output[-2000:]
    assert "secret/backoffice/systems/erp" in output
    erp = read(root, "backoffice/systems/erp")
    assert erp["password"] not in output
    assert "worker ready" not in output
    # It never polled: no poller of its identity (pid@host) on the queues it would serve.
    client = await Client.connect(own_stack.temporal_address)
    for queue, kind in (
        (WORKFLOW_TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        (System.ERP.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=NAMESPACE, task_queue=TaskQueue(name=queue), task_queue_type=kind
            )
        )
        identities = [p.identity for p in described.pollers]
        assert identities, f"not even the stack's worker polls {queue}: the check is blind"
        assert not [i for i in identities if i.startswith(f"{worker.pid}@")], identities


pytestmark = pytest.mark.timeout(600)
