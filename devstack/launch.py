"""Start each component as a detached process on the stack's ports (not waiting for it)."""

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack import (
    api_server,
    mailpit,
    sandbox_server,
    temporal_server,
    temporal_ui,
    vault_file,
    vault_server,
    worker_process,
)
from devstack.config import StackConfig
from devstack.environment import inherited_env
from devstack.errors import ComponentError
from devstack.paths import StackPaths, project_root
from devstack.ports import busy_ports
from devstack.process import ManagedProcess, spawn
from devstack.state import Ports

# Which flag moves each port, for the error that says how to fix a clash.
_PORT_FLAGS = {
    "temporal": "--temporal-port",
    "temporal_ui": "--temporal-ui-port",
    "temporal_http": "--temporal-http-port",
    "temporal_metrics": "--temporal-metrics-port",
    "vault": "--vault-port",
    "sandbox": "--sandbox-port",
    "api": "--api-port",
    "api_metrics": "--api-metrics-port",
    "smtp": "--smtp-port",
    "mailpit_ui": "--mailpit-ui-port",
    "worker_metrics": "--worker-metrics-port",
}


PORT_RELEASE_SECONDS = 5.0


def _check_ports(
    component: str,
    host: str,
    wanted: Mapping[str, int],
    command: Sequence[str],
    log_file: Path,
) -> None:
    """Fail before starting when another process already listens on one of the ports. A port
    is given `PORT_RELEASE_SECONDS` first: a component just stopped (a restart) can still hold
    it for a moment after its main thread is gone (the other threads of a Go server close the
    listeners as they exit)."""
    deadline = time.monotonic() + PORT_RELEASE_SECONDS
    while busy_ports(host, wanted.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    clashes = []
    for name, port in wanted.items():
        if busy_ports(host, [port]):
            flag = _PORT_FLAGS.get(name.removesuffix("_cluster"), "")
            clashes.append(f"{host}:{port} ({name}{', move it with ' + flag if flag else ''})")
    if clashes:
        raise ComponentError(
            component,
            "port already in use by another process: "
            + "; ".join(clashes)
            + ". Stop that process or choose another port (0 picks a free one).",
            command=command,
            log_file=log_file,
        )


def start_temporal(cli: Path, config: StackConfig, ports: Ports) -> ManagedProcess:
    paths = config.paths
    argv = temporal_server.server_command(
        cli,
        host=config.host,
        port=ports.temporal,
        http_port=ports.temporal_http,
        metrics_port=ports.temporal_metrics,
        db_file=paths.temporal_db,
    )
    log_file = paths.log_file("temporal")
    wanted = {
        "temporal": ports.temporal,
        "temporal_http": ports.temporal_http,
        "temporal_metrics": ports.temporal_metrics,
    }
    _check_ports("temporal", config.host, wanted, argv, log_file)
    return spawn("temporal", argv, log_file=log_file, env=inherited_env(), cwd=project_root())


def start_temporal_ui(binary: Path, config: StackConfig, ports: Ports) -> ManagedProcess:
    """The Web UI, decoding payloads through the API's codec server unless told otherwise."""
    paths = config.paths
    temporal_ui.write_config(
        paths.temporal_ui_config_dir,
        host=config.host,
        port=ports.temporal_ui,
        temporal_address=f"{config.host}:{ports.temporal}",
        namespace=temporal_server.NAMESPACE,
        codec_endpoint=config.ui_codec_endpoint or f"http://{config.host}:{ports.api}/codec",
    )
    argv = temporal_ui.server_command(binary, paths.temporal_ui_config_dir)
    log_file = paths.log_file("temporal-ui")
    _check_ports("temporal-ui", config.host, {"temporal_ui": ports.temporal_ui}, argv, log_file)
    return spawn("temporal-ui", argv, log_file=log_file, env=inherited_env(), cwd=paths.data_dir)


def start_vault(bao: Path, config: StackConfig, ports: Ports, root_token: str) -> ManagedProcess:
    if config.vault_storage == "file":
        paths = config.paths
        config_file = vault_file.write_config(
            paths.vault_config,
            paths.vault_storage_dir,
            paths.log_file("vault-audit"),
            host=config.host,
            port=ports.vault,
        )
        argv = vault_file.server_command(bao, config_file)
        env = inherited_env()
    else:
        argv = vault_server.server_command(bao, host=config.host, port=ports.vault)
        env = inherited_env(vault_server.server_env(root_token))
    log_file = config.paths.log_file("vault")
    # OpenBao also listens on the next port, for its cluster traffic.
    wanted = {"vault": ports.vault, "vault_cluster": ports.vault + 1}
    _check_ports("vault", config.host, wanted, argv, log_file)
    return spawn("vault", argv, log_file=log_file, env=env, cwd=config.paths.data_dir)


def start_sandbox(config: StackConfig, ports: Ports, admin_token: str) -> ManagedProcess:
    paths = config.paths
    database_url = config.resolved_sandbox_database_url
    argv = sandbox_server.server_command(
        host=config.host, port=ports.sandbox, database_url=database_url
    )
    log_file = paths.log_file("sandbox")
    _check_ports("sandbox", config.host, {"sandbox": ports.sandbox}, argv, log_file)
    return spawn(
        "sandbox",
        argv,
        log_file=log_file,
        env=inherited_env(sandbox_server.server_env(admin_token, database_url)),
        cwd=project_root(),
    )


def start_mailpit(binary: Path, config: StackConfig, ports: Ports) -> ManagedProcess:
    paths = config.paths
    argv = mailpit.server_command(
        binary,
        host=config.host,
        smtp_port=ports.smtp,
        ui_port=ports.mailpit_ui,
        database=paths.mailpit_db,
        auth_file=paths.mailpit_auth_file,
    )
    log_file = paths.log_file("mailpit")
    wanted = {"smtp": ports.smtp, "mailpit_ui": ports.mailpit_ui}
    _check_ports("mailpit", config.host, wanted, argv, log_file)
    return spawn("mailpit", argv, log_file=log_file, env=inherited_env(), cwd=paths.data_dir)


def start_api(config: StackConfig, ports: Ports, env: Mapping[str, str]) -> ManagedProcess:
    argv = api_server.server_command(host=config.host, port=ports.api)
    log_file = config.paths.log_file("api")
    wanted = {"api": ports.api, "api_metrics": ports.api_metrics}
    _check_ports("api", config.host, {k: p for k, p in wanted.items() if p}, argv, log_file)
    return spawn("api", argv, log_file=log_file, env=inherited_env(env), cwd=project_root())


def start_worker(paths: StackPaths, env: Mapping[str, str]) -> ManagedProcess:
    argv = worker_process.worker_command()
    return spawn(
        "worker",
        argv,
        log_file=paths.log_file("worker"),
        env=inherited_env(env),
        cwd=project_root(),
    )
