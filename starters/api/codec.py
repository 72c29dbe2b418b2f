"""The codec server of the Temporal Web UI (Temporal's remote codec protocol): `POST
/codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}` (protobuf JSON,
metadata and data in base64), through the API's own data converter and data keys.

A caller proves itself with `Authorization: Bearer <token>` (the token in Vault at
`<prefix>/codec/token`), or, from a browser whose Web UI cannot send a token (the dev server's UI
has no login, and passes access tokens to https endpoints only), with the session cookie that
`/codec/session` sets, sent from the Web UI's origin. CORS grants that origin
(`BACKOFFICE_TEMPORAL_UI_URL`) and no other; `X-Namespace` must be the API's Temporal namespace.
"""

import hashlib
import hmac
import html
import time
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from domain.validation import ascii_int
from runtime.codec import PayloadDecryptionError
from runtime.settings import Settings
from starters.api.errors import ApiError
from starters.api.services import Services, services

router = APIRouter(prefix="/codec", include_in_schema=False)

OPERATIONS = ("decode", "encode")
SESSION_COOKIE = "backoffice_codec_session"
SESSION_SECONDS = 12 * 3600
PREFLIGHT_MAX_AGE = "600"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
CHALLENGE = 'Bearer realm="codec"'

Built = Annotated[Services, Depends(services)]


def ui_origin(settings: Settings) -> str:
    """The Web UI's origin (scheme, host and port of BACKOFFICE_TEMPORAL_UI_URL)."""
    parts = urlsplit(settings.temporal_ui_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _from_ui(request: Request, settings: Settings) -> bool:
    return (request.headers.get("origin") or "").lower() == ui_origin(settings)


def _cors(request: Request, settings: Settings) -> dict[str, str]:
    """The CORS grant: for the Web UI's origin only (`Vary`, so caches keep them apart)."""
    headers = {"Vary": "Origin"}
    if _from_ui(request, settings):
        headers["Access-Control-Allow-Origin"] = request.headers["origin"]
        # The UI's "include cross-origin credentials" sends the session cookie.
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


@router.options("/{operation}")
async def preflight(operation: str, request: Request, built: Built) -> Response:
    """The browser's CORS preflight: granted to the Web UI's origin, refused to any other."""
    headers = _cors(request, built.settings)
    if operation not in OPERATIONS:
        raise ApiError(404, "NOT_FOUND", f"no codec operation {operation!r}", headers=headers)
    if "Access-Control-Allow-Origin" not in headers:
        raise ApiError(
            403,
            "ORIGIN_NOT_ALLOWED",
            "the codec server answers browsers on the Temporal Web UI's origin only "
            "(BACKOFFICE_TEMPORAL_UI_URL)",
            headers=headers,
        )
    headers |= {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    }
    return Response(status_code=204, headers=headers)


@router.post("/decode")
async def decode(request: Request, built: Built) -> Response:
    """Encrypted payloads in, their plain originals out (others pass through unchanged)."""
    return await _convert(request, built, "decode")


@router.post("/encode")
async def encode(request: Request, built: Built) -> Response:
    """Plain payloads in (a signal or start input typed into the Web UI), encrypted out."""
    return await _convert(request, built, "encode")


async def _convert(request: Request, built: Built, operation: str) -> Response:
    cors = _cors(request, built.settings)
    await _authorize(request, built, cors)
    payloads = await _payloads(request, cors)
    codec = _codec(built)
    try:
        if operation == "decode":
            converted = await codec.decode(list(payloads.payloads))
        else:
            converted = await codec.encode(list(payloads.payloads))
    except PayloadDecryptionError as exc:
        raise ApiError(422, "UNDECRYPTABLE_PAYLOAD", str(exc), headers=cors) from None
    body = json_format.MessageToDict(Payloads(payloads=converted))
    return JSONResponse(body, headers=cors)


def _codec(built: Services) -> PayloadCodec:
    codec = built.temporal.data_converter.payload_codec
    if codec is None:
        raise RuntimeError("the API's Temporal client has no payload codec")
    return codec


async def _expected_token(built: Services) -> str:
    token = (await built.secrets.read(built.settings.codec_token_path)).get("token")
    if not isinstance(token, str) or not token:
        raise ApiError(
            503,
            "CODEC_NOT_CONFIGURED",
            f"no codec token in Vault at <prefix>/{built.settings.codec_token_path} (key 'token')",
        )
    return token


async def _authorize(request: Request, built: Services, cors: dict[str, str]) -> None:
    """A valid bearer token, or a session cookie from the Web UI's origin; then the namespace."""
    expected = await _expected_token(built)
    challenge = {**cors, "WWW-Authenticate": CHALLENGE}
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not _same(token.strip(), expected):
            raise ApiError(
                401, "INVALID_CREDENTIALS", "the codec token is not valid", headers=challenge
            )
    elif cookie is not None:
        if not _from_ui(request, built.settings):
            raise ApiError(
                403,
                "ORIGIN_NOT_ALLOWED",
                "a codec session cookie counts only on requests from the Temporal Web UI",
                headers=cors,
            )
        if not _valid_session(cookie, expected):
            raise ApiError(
                401,
                "INVALID_CREDENTIALS",
                "the codec session has expired or its token changed: open /codec/session again",
                headers=challenge,
            )
    else:
        raise ApiError(
            401,
            "UNAUTHENTICATED",
            "send Authorization: Bearer <codec token>, or open /codec/session once in this "
            "browser and let the Web UI include cross-origin credentials",
            headers=challenge,
        )
    # The Web UI names its namespace; the `temporal` CLI sends none: then it is ours.
    namespace = request.headers.get("x-namespace", built.temporal.namespace)
    if namespace != built.temporal.namespace:
        raise ApiError(
            403,
            "NAMESPACE_NOT_ALLOWED",
            f"this codec server serves namespace '{built.temporal.namespace}' only "
            "(X-Namespace header)",
            headers=cors,
        )


async def _payloads(request: Request, cors: dict[str, str]) -> Payloads:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", "send the payloads as application/json", headers=cors
        )
    try:
        return json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError:
        raise ApiError(
            400,
            "INVALID_PAYLOADS",
            'the body is not {"payloads": [{"metadata": {...}, "data": "<base64>"}]}',
            headers=cors,
        ) from None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _session_value(token: str, expires: int) -> str:
    mac = hmac.new(token.encode(), f"codec-session|{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def _valid_session(cookie: str, token: str) -> bool:
    expires = ascii_int(cookie.partition(".")[0], max_digits=12)
    if expires is None or expires < time.time():
        return False
    return _same(cookie, _session_value(token, expires))


@router.get("/session")
async def session_form() -> HTMLResponse:
    """A form that starts a codec session in this browser (for a Web UI that sends no token)."""
    return HTMLResponse(_page(_FORM))


@router.post("/session")
async def start_session(request: Request, built: Built) -> HTMLResponse:
    """Check the codec token (form field `token`, or a bearer header) and set the cookie."""
    form = parse_qs((await request.body()).decode(errors="replace"))
    header = request.headers.get("authorization", "")
    token = (form.get("token") or [""])[0].strip() or header.removeprefix("Bearer ").strip()
    if not token or not _same(token, await _expected_token(built)):
        return HTMLResponse(_page("<p>That is not the codec token.</p>" + _FORM), status_code=401)
    expires = int(time.time()) + SESSION_SECONDS
    page = _page(
        "<p>Codec session started for this browser (12 hours). In the Temporal Web UI, open the "
        "codec server settings, use this endpoint: <code>"
        + html.escape(f"{str(request.base_url).rstrip('/')}/codec")
        + "</code> and turn on <em>Include cross-origin credentials</em>.</p>"
    )
    response = HTMLResponse(page)
    response.set_cookie(
        SESSION_COOKIE,
        _session_value(token, expires),
        max_age=SESSION_SECONDS,
        path="/codec",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


_FORM = (
    '<form method="post" action="/codec/session"><label>Codec token '
    '<input type="password" name="token" autocomplete="off" required></label> '
    '<button type="submit">Start session</button></form>'
)


def _page(body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>backoffice codec session</title>'
        f"</head><body><h1>Codec server</h1>{body}</body></html>"
    )
