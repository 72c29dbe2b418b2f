"""The codec server of the Temporal Web UI (Temporal's remote codec protocol): `POST
/codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}` (protobuf JSON,
metadata and data in base64), through the API's own data converter and data keys.

A caller proves itself with `Authorization: Bearer <token>` (the token in Vault at
`<prefix>/codec/token`), or, from a browser (the Web UI has no login to pass on), with the session
cookie that `/codec/session` sets, sent from the Web UI's origin: the UI server is configured to
include credentials in its codec requests. A browser gets the cookie from a one-time sign-in
link (`/codec/session?ticket=...`, issued by a holder of the token: `backoffice demo` and
`backoffice dev web-ui` print one), or from the form there, with the token itself. CORS grants
the Web UI's origin (`BACKOFFICE_TEMPORAL_UI_URL`) and no other; `X-Namespace`, when sent, must
be the API's Temporal namespace.
"""

import asyncio
import hashlib
import hmac
import html
import time
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from google.protobuf import json_format
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from domain import codec_tickets
from domain.codec_tickets import TicketClaims, TicketProblem, TicketRefused
from domain.validation import ascii_int
from runtime.codec import PayloadDecryptionError
from runtime.db import UsedCodecTicket
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
            "send Authorization: Bearer <codec token>, or open the one-time sign-in link "
            "(`backoffice dev web-ui` prints one) or /codec/session once in this browser",
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
async def session_page(request: Request, built: Built, ticket: str | None = None) -> Response:
    """With a `ticket`: use that one-time sign-in link (set the cookie, go on to the Web UI).
    Without: a form that starts a session with the codec token."""
    if ticket is None:
        return HTMLResponse(_page(_FORM))
    token = await _expected_token(built)
    try:
        claims = codec_tickets.verify(ticket, token, time.time())
        if not await asyncio.to_thread(_claim_ticket, built.engine, ticket, claims):
            raise TicketRefused(TicketProblem.USED)
    except TicketRefused as exc:
        status = 403 if exc.problem is TicketProblem.INVALID else 410
        body = f"<p>{html.escape(str(exc))}</p>{_NEW_LINK}{_FORM}"
        return HTMLResponse(_page(body), status_code=status, headers=_NOT_STORED)
    response = RedirectResponse(
        ui_origin(built.settings) + claims.then, status_code=303, headers=_NOT_STORED
    )
    _set_session(response, request, token)
    return response


def _claim_ticket(engine: Engine, ticket: str, claims: TicketClaims) -> bool:
    """Record the ticket as used; False when it already was (of two uses at once, one wins)."""
    row = UsedCodecTicket(
        ticket_hash=codec_tickets.digest(ticket),
        used_at=datetime.now(UTC),
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
    )
    try:
        with Session(engine) as session, session.begin():
            session.add(row)
    except IntegrityError:
        return False
    return True


@router.post("/session")
async def start_session(request: Request, built: Built) -> HTMLResponse:
    """Check the codec token (form field `token`, or a bearer header) and set the cookie."""
    form = parse_qs((await request.body()).decode(errors="replace"))
    header = request.headers.get("authorization", "")
    token = (form.get("token") or [""])[0].strip() or header.removeprefix("Bearer ").strip()
    if not token or not _same(token, await _expected_token(built)):
        return HTMLResponse(_page("<p>That is not the codec token.</p>" + _FORM), status_code=401)
    ui = html.escape(built.settings.temporal_ui_url)
    page = _page(
        "<p>Codec session started for this browser (12 hours): the Temporal Web UI at "
        f'<a href="{ui}">{ui}</a> now shows decoded inputs, results and failures.</p>'
    )
    response = HTMLResponse(page)
    _set_session(response, request, token)
    return response


def _set_session(response: Response, request: Request, token: str) -> None:
    """The session cookie: HttpOnly, for /codec only, SameSite=Strict (the Web UI on the same
    host, another port, is the same site, so its codec requests carry it)."""
    expires = int(time.time()) + SESSION_SECONDS
    response.set_cookie(
        SESSION_COOKIE,
        _session_value(token, expires),
        max_age=SESSION_SECONDS,
        path="/codec",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


_NOT_STORED = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_NEW_LINK = (
    "<p>Get a new sign-in link with <code>backoffice dev web-ui</code>, or start the session "
    "with the codec token (<code>codec_token</code> in the dev stack's credentials file):</p>"
)
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
