"""Loopback ports: is one free, and pick free ones that no other pick of this call reuses."""

import contextlib
import random
import socket
from collections.abc import Iterable
from pathlib import Path

from devstack.config import StackConfig
from devstack.state import Ports


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Servers set SO_REUSEADDR, so a port in TIME_WAIT is free for them; only a listener blocks.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


def _below_ephemeral_range() -> range:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10_000, max(low, 10_100))


def is_port_free(host: str, port: int) -> bool:
    """True when a server could listen on host:port right now."""
    try:
        _bind(host, port).close()
    except OSError:
        return False
    return True


def busy_ports(host: str, ports: Iterable[int]) -> list[int]:
    """The ports of `ports` that something already listens on."""
    return [p for p in ports if not is_port_free(host, p)]


class PortPicker:
    """Hands out free ports; holds each picked port open until `close` so picks never repeat."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._held: list[socket.socket] = []
        self._taken: set[int] = set()

    def reserve(self, port: int) -> None:
        """Mark a port as used by this stack (a configured one), so no pick returns it."""
        self._taken.add(port)

    def claim(self, port: int, *, also_free_above: int = 0) -> bool:
        """Take `port` (and its next `also_free_above`) if free and not yet handed out."""
        wanted = range(port, port + 1 + also_free_above)
        if any(p in self._taken or p > 65535 for p in wanted) or busy_ports(self.host, wanted):
            return False
        self._taken.update(wanted)
        return True

    def pick(self, *, also_free_above: int = 0) -> int:
        """A free port whose next `also_free_above` ports are free too (Vault's cluster port).

        Picked below the kernel's ephemeral range: the Temporal dev server binds its internal
        services to ephemeral ports while it starts, and must not take one picked here."""
        candidates = _below_ephemeral_range()
        for _ in range(200):
            port = random.randrange(candidates.start, candidates.stop - also_free_above)
            try:
                sock = _bind(self.host, port)
            except OSError:
                continue
            neighbours = range(port + 1, port + 1 + also_free_above)
            if (
                port in self._taken
                or any(n in self._taken or n > 65535 for n in neighbours)
                or busy_ports(self.host, neighbours)
            ):
                sock.close()
                continue
            self._held.append(sock)
            self._taken.update((port, *neighbours))
            return port
        raise OSError(f"no free port found on {self.host}")

    def close(self) -> None:
        for sock in self._held:
            with contextlib.suppress(OSError):
                sock.close()
        self._held.clear()

    def __enter__(self) -> "PortPicker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_ports(config: StackConfig, previous: Ports | None) -> Ports:
    """Configured ports as given; 0 reuses the last run's port when free, else a free one.

    Reusing keeps the addresses (and the env file) the same across `down` and `up`.
    """
    wanted = {
        "temporal": config.temporal_port,
        "temporal_ui": config.temporal_ui_port,
        "temporal_http": config.temporal_http_port,
        "temporal_metrics": config.temporal_metrics_port,
        "vault": config.vault_port,
        "sandbox": config.sandbox_port,
        "api": config.api_port,
        "worker_metrics": config.worker_metrics_port,
        "api_metrics": config.api_metrics_port,
        "smtp": config.smtp_port,
        "mailpit_ui": config.mailpit_ui_port,
    }
    # OpenBao's dev mode also listens on the next port (cluster traffic).
    neighbours = {"vault": 1}
    chosen: dict[str, int] = {}
    with PortPicker(config.host) as picker:
        for name, port in wanted.items():
            for taken in range(port, port + 1 + neighbours.get(name, 0)) if port else ():
                picker.reserve(taken)
        for name, port in wanted.items():
            last = getattr(previous, name, 0) if previous is not None else 0
            above = neighbours.get(name, 0)
            if port:
                chosen[name] = port
            elif last and picker.claim(last, also_free_above=above):
                chosen[name] = last
            else:
                chosen[name] = picker.pick(also_free_above=above)
    return Ports(**chosen)
