"""The temporal-init step of docker-compose.yml, for real: deploy/temporal/init-namespace.sh
run by /bin/sh with the Temporal CLI (as in the admin-tools image) against a fresh Temporal dev
server that has no namespace and no search attribute of ours yet."""

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from devstack.ports import PortPicker
from devstack.process import ManagedProcess, spawn, stop
from devstack.temporal_cli import find_temporal_cli
from domain.contract import SEARCH_ATTRIBUTES
from tests.deploy.compose import ROOT

SCRIPT = ROOT / "deploy" / "temporal" / "init-namespace.sh"
ATTRIBUTES = ROOT / "deploy" / "temporal" / "search-attributes"
NAMESPACE = "backoffice-prod"


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A bare Temporal dev server: namespace `default` only, no custom search attribute."""
    folder = tmp_path_factory.mktemp("temporal")
    with PortPicker("127.0.0.1") as picker:
        port, http_port, metrics_port = picker.pick(), picker.pick(), picker.pick()
    argv = [
        str(find_temporal_cli()), "server", "start-dev", "--headless",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--http-port", str(http_port),
        "--metrics-port", str(metrics_port),
        "--db-filename", str(folder / "temporal.db"),
        "--log-level", "warn",
    ]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
    process = spawn("temporal", argv, log_file=folder / "log", env=env, cwd=folder)
    address = f"127.0.0.1:{port}"
    try:
        _wait_serving(process, address)
        yield address
    finally:
        stop(process, timeout=20)


def _wait_serving(process: ManagedProcess, address: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run(
            [str(find_temporal_cli()), "operator", "cluster", "health", "--address", address],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return
        if not process.is_running() or time.monotonic() > deadline:
            pytest.fail(f"Temporal dev server not serving:\n{process.log_tail(30)}")
        time.sleep(0.5)


def _init(
    address: str, attributes: Path = ATTRIBUTES, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": NAMESPACE,
        "TEMPORAL_NAMESPACE_RETENTION": "30d",
        "SEARCH_ATTRIBUTES_FILE": str(attributes),
        "TEMPORAL_CLI": str(find_temporal_cli()),
        **extra,
    }
    return subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=180, check=False
    )


async def _registered(address: str) -> dict[str, str]:
    client = await Client.connect(address, namespace=NAMESPACE)
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=NAMESPACE)
    )
    return {
        name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").title()
        for name, kind in response.custom_attributes.items()
    }


async def test_init_creates_the_namespace_and_registers_the_search_attributes(temporal):
    done = _init(temporal)

    assert done.returncode == 0, done.stdout + done.stderr
    client = await Client.connect(temporal, namespace=NAMESPACE)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=NAMESPACE)
    )
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    assert retention == timedelta(days=30)
    registered = await _registered(temporal)
    assert registered == SEARCH_ATTRIBUTES  # the dev server has no other custom ones


async def test_init_again_changes_nothing(temporal):
    assert _init(temporal).returncode == 0
    before = await _registered(temporal)

    done = _init(temporal)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"namespace {NAMESPACE} exists" in done.stdout
    assert await _registered(temporal) == before


def test_a_search_attribute_of_another_type_fails_the_step(temporal, tmp_path):
    assert _init(temporal).returncode == 0
    clash = tmp_path / "search-attributes"
    clash.write_text("BusinessKey Int\n")

    done = _init(temporal, clash, SEARCH_ATTRIBUTE_TRIES="1")

    assert done.returncode != 0
    assert "could not register BusinessKey (Int)" in done.stderr
    assert "different type" in done.stdout + done.stderr
