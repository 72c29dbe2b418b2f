"""The request size limits, in one place for every route. The head (request line and headers)
is at most `HEAD_LIMIT_BYTES`: the HTTP server refuses a longer one it receives in pieces
(starters/api/http_protocol.py), and this middleware one it received whole, both with 431. A
declared `Content-Length` over the body limit is refused before the app runs; a body without one
(chunked) is counted as it is read and refused as soon as it passes the limit.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starters.api.errors import ErrorDetail, error_response


class BodyTooLarge(HTTPException):
    """Raised from `receive` while the app reads; an HTTPException, so FastAPI passes it on."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


HEAD_LIMIT_BYTES = 16 * 1024


def head_too_large() -> ErrorDetail:
    return ErrorDetail(
        code="REQUEST_HEADERS_TOO_LARGE",
        message=f"the request line and headers are over the limit of {HEAD_LIMIT_BYTES} bytes",
    )


def _head_bytes(scope: Scope) -> int:
    line = len(scope["method"]) + len(scope.get("raw_path") or b"") + len(scope["query_string"])
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def _too_large(limit: int) -> ErrorDetail:
    return ErrorDetail(
        code="PAYLOAD_TOO_LARGE", message=f"the request body is over the limit of {limit} bytes"
    )


class RequestLimits:
    """ASGI middleware refusing a head over `HEAD_LIMIT_BYTES` with 431
    `REQUEST_HEADERS_TOO_LARGE` and a body over `max_bytes` with 413 `PAYLOAD_TOO_LARGE`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _head_bytes(scope) > HEAD_LIMIT_BYTES:
            await error_response(431, head_too_large())(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response(413, _too_large(self.max_bytes))(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await error_response(413, _too_large(self.max_bytes))(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
