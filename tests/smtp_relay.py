"""The test stack's worker sends mail through the reliability suite's SMTP proxy
(`chaos.smtp_proxy`), run on a thread of its own in front of mailpit, so a test can make the
relay slow or drop a connection after DATA."""

import asyncio
import threading

from chaos.smtp_proxy import SmtpProxy
from devstack.ports import PortPicker

HOST = "127.0.0.1"


class SmtpProxyThread:
    def __init__(self) -> None:
        with PortPicker(HOST) as picker:
            self.port = picker.pick()
        self.proxy = SmtpProxy(HOST, self.port, (HOST, 0))  # pointed at mailpit once it runs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(10)

    def point_at(self, smtp_address: str) -> None:
        host, _, port = smtp_address.rpartition(":")
        self.proxy.target = (host, int(port))

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
