"""The benchmark's own stack: a dev stack in a temporary directory on free ports (Temporal dev
server, OpenBao, sandbox, API), plus the two workers the benchmark starts and restarts itself:
the product's (`python -m workers`) and the floor's (`python -m bench.floor_worker`), with the
same environment (settings, Vault login, data converter)."""

import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from devstack.config import StackConfig
from devstack.environment import inherited_env
from devstack.errors import StackError
from devstack.paths import project_root
from devstack.process import ManagedProcess, spawn, stop
from devstack.stack import Stack
from devstack.worker_process import READY_LINE as PRODUCT_READY
from devstack.worker_process import worker_command

FLOOR_READY = "bench floor worker ready"
METRICS_SETTING = "BACKOFFICE_WORKER_METRICS_ADDRESS"

# Settings of the benchmark's stack. The enrichment API's rate limit (5/s) is an external
# system's limit, not a cost of ours: lifted, so the comparison measures our code.
BENCH_ENV = {
    "BACKOFFICE_RATE_LIMITS": '{"enrichment": 100000}',
    "BACKOFFICE_LOG_LEVEL": "WARNING",
}


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def bench_stack(data_dir: Path) -> Stack:
    config = StackConfig(
        data_dir=data_dir,
        temporal_port=0,
        temporal_ui_port=0,
        temporal_http_port=0,
        temporal_metrics_port=0,
        vault_port=0,
        sandbox_port=0,
        api_port=0,
        smtp_port=0,
        mailpit_ui_port=0,
        with_worker=False,
        extra_env=BENCH_ENV,
        start_timeout_seconds=120,
    )
    return Stack(config, say=lambda message: print(message, file=sys.stderr, flush=True))


class WorkerProcess:
    """One worker of the benchmark, in `replicas` processes on the same task queues: started with
    the stack's worker environment plus `overrides`, ready once each wrote its ready line."""

    def __init__(
        self, stack: Stack, name: str, argv: list[str], ready_line: str, replicas: int = 1
    ) -> None:
        self._stack = stack
        self.name = name
        self._argv = argv
        self._ready = ready_line
        self._replicas = replicas
        self._processes: list[ManagedProcess] = []
        self.base: dict[str, str] = {}  # this worker's own settings
        self.overrides: dict[str, str] = {}  # a measurement's settings (e.g. a small cache)

    @property
    def pid(self) -> int:
        """The first process's pid."""
        return self.pids[0]

    @property
    def pids(self) -> list[int]:
        if not self._processes:
            raise StackError(f"the {self.name} worker is not running")
        return [process.pid for process in self._processes]

    @property
    def log_file(self) -> Path:
        return self._stack.log_dir / f"{self.name}.log"

    def start(self, overrides: Mapping[str, str] | None = None, timeout: float = 90) -> None:
        self.overrides = dict(overrides or {})
        for replica in range(self._replicas):
            env = {**self._stack.worker_env(), **self.base, **self.overrides}
            log_file = self.log_file
            if replica:
                log_file = log_file.with_name(f"{self.name}-{replica + 1}.log")
                if env.get(METRICS_SETTING):  # each process serves its own metrics
                    env[METRICS_SETTING] = f"127.0.0.1:{free_port('127.0.0.1')}"
            process = spawn(
                self.name, self._argv, log_file=log_file, env=inherited_env(env), cwd=project_root()
            )
            self._processes.append(process)
            deadline = time.monotonic() + timeout
            while self._ready not in process.log_since_start():
                if not process.is_running() or time.monotonic() > deadline:
                    self.stop()
                    raise StackError(
                        f"the {self.name} worker did not start; its log says:\n{process.log_tail()}"
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        for process in self._processes:
            stop(process, timeout=30)
        self._processes = []

    def restart(self, overrides: Mapping[str, str] | None = None) -> None:
        self.stop()
        self.start(overrides)


def product_worker(stack: Stack, replicas: int = 1) -> WorkerProcess:
    return WorkerProcess(stack, "worker", worker_command(), PRODUCT_READY, replicas)


def floor_worker(stack: Stack, replicas: int = 1) -> WorkerProcess:
    """The floor's worker, with its own metrics endpoint (the product's has the stack's port)."""
    argv = [sys.executable, "-m", "bench.floor_worker"]
    worker = WorkerProcess(stack, "floor-worker", argv, FLOOR_READY, replicas)
    if stack.worker_env().get(METRICS_SETTING):
        worker.base = {METRICS_SETTING: f"{stack.config.host}:{free_port(stack.config.host)}"}
    return worker


def temporal_pid(stack: Stack) -> int:
    pid = stack.status()["temporal"]["pid"]
    if pid is None:
        raise StackError("the Temporal dev server is not running")
    return pid


def other_pids(stack: Stack) -> dict[str, int]:
    """The rest of the stack whose CPU a phase also counts: the sandbox and the API."""
    status = stack.status()
    pids = {name: status[name]["pid"] for name in ("sandbox", "api")}
    missing = [name for name, pid in pids.items() if pid is None]
    if missing:
        raise StackError(f"not running: {', '.join(missing)}")
    return {name: pid for name, pid in pids.items() if pid is not None}
