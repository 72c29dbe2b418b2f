"""The API server's HTTP/1.1 connections: uvicorn's, except for a request it cannot parse.

uvicorn answers a request line or headers it cannot parse, or a head over its limit received in
pieces, with a plain-text 400 and closes the socket at once. The client is often still sending
the rest of the request then; closing a socket with unread data sends a TCP reset, which can
reach the client before it has read the answer: it saw "connection reset" instead of a 4xx. This
protocol answers in the API's error shape (431 for a head over `HEAD_LIMIT_BYTES`) and closes in
stages, as RFC 9112 section 9.6 describes: it ends its side of the connection, drops what the
client still sends, and closes when the client does, or after `LINGER_SECONDS`.
"""

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from starters.api.errors import ErrorDetail
from starters.api.limits import HEAD_LIMIT_BYTES, head_too_large

LINGER_SECONDS = 2.0


def unparsable_request(head_bytes: int) -> tuple[int, ErrorDetail]:
    """The status and error for a request whose head could not be parsed."""
    if head_bytes > HEAD_LIMIT_BYTES:
        return 431, head_too_large()
    return 400, ErrorDetail(
        code="INVALID_HTTP_REQUEST", message="the request line or a header is not valid HTTP/1.1"
    )


class StagedCloseProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol; a request it cannot parse is answered as the module says.
    uvicorn's `h11_max_incomplete_event_size` must be `HEAD_LIMIT_BYTES` (server.py)."""

    _linger: asyncio.TimerHandle | None = None

    def send_400_response(self, msg: str) -> None:
        status, detail = unparsable_request(len(self.conn.trailing_data[0]))
        body = json.dumps({"error": detail.model_dump(exclude_none=True)}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        self.transport.write(self.conn.send(h11.Response(status_code=status, headers=headers)))
        self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._linger is None:
            super().data_received(data)
        # else: the rest of a request already answered, dropped

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)
