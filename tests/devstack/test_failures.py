"""A component that cannot start fails `up` with its name, its command and its log."""

import socket
import stat

import pytest

from devstack.errors import ComponentError, StackError
from devstack.stack import Stack
from devstack.temporal_cli import TemporalCliNotFound
from tests.devstack.procs import processes_using
from tests.stack import free_port_config


def _nothing_runs(stack: Stack) -> None:
    assert not any(row["running"] for row in stack.status().values())
    assert processes_using(stack.data_dir) == []


def test_port_taken_by_another_listener_names_component_and_log(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        config = free_port_config(tmp_path).model_copy(update={"sandbox_port": port})
        stack = Stack(config, say=print)
        with pytest.raises(ComponentError) as raised:
            stack.up()
    message = str(raised.value)
    assert raised.value.component == "sandbox"
    assert f"127.0.0.1:{port}" in message and "already in use" in message
    assert str(tmp_path / "devstack" / "logs" / "sandbox.log") in message
    _nothing_runs(stack)


def test_server_that_exits_shows_its_log(tmp_path, monkeypatch):
    fake = tmp_path / "fake-temporal"
    fake.write_text("#!/bin/sh\necho 'cannot open the database: disk on fire' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("TEMPORAL_CLI", str(fake))
    stack = Stack(free_port_config(tmp_path / "data"), say=print)

    with pytest.raises(ComponentError) as raised:
        stack.up()

    message = str(raised.value)
    assert message.startswith("temporal: exited with code 3")
    assert f"command: {fake} server start-dev" in message
    assert str(tmp_path / "data" / "devstack" / "logs" / "temporal.log") in message
    assert "disk on fire" in message
    _nothing_runs(stack)  # Vault and the sandbox, started alongside, were stopped again


def test_unusable_temporal_cli_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPORAL_CLI", str(tmp_path / "missing"))
    with pytest.raises(TemporalCliNotFound) as raised:
        Stack(free_port_config(tmp_path), say=print).up()
    assert "Install the Temporal CLI" in str(raised.value)


def test_clients_of_a_stack_never_started_are_told_to_start_it(tmp_path):
    stack = Stack(free_port_config(tmp_path))
    with pytest.raises(StackError, match="backoffice dev up"):
        stack.client_env()
    _nothing_runs(stack)
    assert stack.down() == []
