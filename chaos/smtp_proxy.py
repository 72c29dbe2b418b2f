"""A TCP proxy between the worker and mailpit's SMTP port, for the faults mailpit cannot make
itself: a slow relay (each session's greeting held back), a connection dropped after the
message's data went through, before the relay's `250` reaches the worker (mailpit keeps the
message; the worker cannot know, and retries), and chosen recipients refused with a code."""

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

END_OF_DATA = b"\r\n.\r\n"


@dataclass
class ProxyFaults:
    latency_seconds: float = 0.0
    drop_after_data_rate: float = 0.0
    # Address -> the reply code its RCPT TO gets (e.g. 550), instead of the relay's answer.
    refused_recipients: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)


class SmtpProxy:
    """Listens on `host:port`, forwards each connection to `target`, breaks some as `faults` say."""

    def __init__(self, host: str, port: int, target: tuple[str, int]) -> None:
        self.host, self.port, self.target = host, port, target
        self.faults = ProxyFaults()
        self.dropped_after_data = 0
        self.refused = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def clear(self) -> None:
        self.faults = ProxyFaults(rng=self.faults.rng)

    @staticmethod
    def _refusal(faults: ProxyFaults, chunk: bytes) -> int | None:
        """The code to refuse this command with: a lone `RCPT TO:<address>` of a refused one."""
        line = chunk.decode("ascii", "replace").strip()
        if "\n" in line or not line.upper().startswith("RCPT TO:"):
            return None
        address = line[len("RCPT TO:") :].split()[0].strip("<>").lower()
        return faults.refused_recipients.get(address)

    async def _session(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        faults = self.faults
        drop = faults.rng.random() < faults.drop_after_data_rate
        data_sent = asyncio.Event()
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()  # the relay is down: so is the proxy, for the worker
            return
        if faults.latency_seconds:
            await asyncio.sleep(faults.latency_seconds)

        async def to_relay() -> None:
            tail = b""
            while chunk := await client_r.read(65536):
                code = self._refusal(faults, chunk)
                if code is not None:
                    self.refused += 1
                    client_w.write(f"{code} 5.1.1 refused by the reliability suite\r\n".encode())
                    await client_w.drain()
                    continue
                tail = (tail + chunk)[-len(END_OF_DATA) :]
                if tail == END_OF_DATA:
                    data_sent.set()  # before the relay can answer it
                server_w.write(chunk)
                await server_w.drain()

        async def to_worker() -> None:
            while chunk := await server_r.read(65536):
                if drop and data_sent.is_set():
                    self.dropped_after_data += 1
                    return  # the relay's answer to the data never arrives
                client_w.write(chunk)
                await client_w.drain()

        async def pump(direction: Callable[[], Awaitable[None]]) -> None:
            with contextlib.suppress(OSError):
                await direction()

        pumps = [asyncio.create_task(pump(to_relay)), asyncio.create_task(pump(to_worker))]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for writer in (client_w, server_w):
            writer.close()
