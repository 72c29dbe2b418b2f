"""The codec server's browser session: the cookie the Temporal Web UI's codec requests carry,
and the two ways a browser gets it at `/codec/session`: a one-time sign-in link
(`?ticket=...`, domain/codec_tickets.py, issued by a holder of the codec token: `backoffice demo`
and `backoffice dev web-ui` print one), which then goes on to the Web UI; or the form there,
with the codec token itself.
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
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain import codec_tickets
from domain.codec_tickets import TicketClaims, TicketProblem, TicketRefused
from domain.validation import ascii_int
from runtime.db import UsedCodecTicket
from runtime.settings import Settings
from starters.api.errors import ApiError
from starters.api.services import Services, services

router = APIRouter(prefix="/codec", include_in_schema=False)

SESSION_COOKIE = "backoffice_codec_session"
SESSION_SECONDS = 12 * 3600

Built = Annotated[Services, Depends(services)]


def ui_origin(settings: Settings) -> str:
    """The Web UI's origin (scheme, host and port of BACKOFFICE_TEMPORAL_UI_URL)."""
    parts = urlsplit(settings.temporal_ui_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def expected_token(built: Services) -> str:
    token = (await built.secrets.read(built.settings.codec_token_path)).get("token")
    if not isinstance(token, str) or not token:
        raise ApiError(
            503,
            "CODEC_NOT_CONFIGURED",
            f"no codec token in Vault at <prefix>/{built.settings.codec_token_path} (key 'token')",
        )
    return token


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def session_value(token: str, expires: int) -> str:
    mac = hmac.new(token.encode(), f"codec-session|{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def valid_session(cookie: str, token: str) -> bool:
    expires = ascii_int(cookie.partition(".")[0], max_digits=12)
    if expires is None or expires < time.time():
        return False
    return same(cookie, session_value(token, expires))


@router.get("/session")
async def session_page(request: Request, built: Built, ticket: str | None = None) -> Response:
    """With a `ticket`: use that one-time sign-in link (set the cookie, go on to the Web UI).
    Without: a form that starts a session with the codec token."""
    if ticket is None:
        return HTMLResponse(_page(_FORM))
    token = await expected_token(built)
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
    set_session(response, request, token)
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
    if not token or not same(token, await expected_token(built)):
        return HTMLResponse(_page("<p>That is not the codec token.</p>" + _FORM), status_code=401)
    ui = html.escape(built.settings.temporal_ui_url)
    page = _page(
        "<p>Codec session started for this browser (12 hours): the Temporal Web UI at "
        f'<a href="{ui}">{ui}</a> now shows decoded inputs, results and failures.</p>'
    )
    response = HTMLResponse(page)
    set_session(response, request, token)
    return response


def set_session(response: Response, request: Request, token: str) -> None:
    """The session cookie: HttpOnly, for /codec only, SameSite=Strict (the Web UI on the same
    host, another port, is the same site, so its codec requests carry it)."""
    expires = int(time.time()) + SESSION_SECONDS
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token, expires),
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
