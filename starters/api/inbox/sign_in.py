"""Signing in to the inbox and out again. The password is checked exactly as the API checks an
approver's HTTP Basic credential (`starters.api.auth`); success opens a server-side session."""

import base64
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from domain.credentials import Scope
from starters.api.errors import ApiError
from starters.api.inbox.current import CSRF_REFUSED, signed_in, store, to_sign_in
from starters.api.inbox.errors import html_errors
from starters.api.inbox.pages import FormUnreadable, page, problem, read_form
from starters.api.inbox.sessions import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_FORM_LIFETIME,
    clear_cookie,
    set_cookie,
    tokens_match,
)
from starters.api.lockout import LOCKED
from starters.api.security import client_address
from starters.api.services import Services, services
from starters.directory import Approver

router = APIRouter()

Built = Annotated[Services, Depends(services)]


@router.get("/inbox/sign-in")
@html_errors
async def sign_in_form(request: Request, built: Built) -> Response:
    if await signed_in(request, built) is not None:
        return RedirectResponse("/inbox", status_code=303)
    return _sign_in_page(request, built)


def _sign_in_page(
    request: Request,
    built: Services,
    error: str | None = None,
    approver_id: str = "",
    refused: ApiError | None = None,
) -> Response:
    form_token = secrets.token_urlsafe(24)
    response = page(
        "sign_in.html",
        refused.status if refused else 200,
        title="Sign in",
        csrf_token=form_token,
        error=error,
        approver_id=approver_id,
    )
    if refused is not None:
        response.headers.update(refused.headers or {})
    max_age = int(SIGN_IN_FORM_LIFETIME.total_seconds())
    set_cookie(response, request, built.settings.api_url, SIGN_IN_COOKIE, form_token, max_age)
    return response


@router.post("/inbox/sign-in")
@html_errors
async def sign_in(request: Request, built: Built) -> Response:
    try:
        form = await read_form(request)
    except FormUnreadable as exc:
        return problem(415, "Sign-in not read", str(exc))
    if not tokens_match(request.cookies.get(SIGN_IN_COOKIE), form.get("csrf_token")):
        return problem(403, "Sign-in refused", CSRF_REFUSED)
    approver_id = form.get("approver_id", "").strip()
    password = form.get("password", "")
    try:
        approver = await _verify(built, approver_id, password, client_address(request))
    except ApiError as locked:  # too many wrong passwords for this id (starters/api/lockout.py)
        message = f"Sign-in refused: {locked}."
        return _sign_in_page(request, built, message, approver_id[:64], locked)
    if approver is None:
        return _sign_in_page(
            request, built, "Sign-in failed: wrong approver id or password.", approver_id[:64]
        )
    session_id, _ = await store(built).open(approver.id)
    response = RedirectResponse("/inbox", status_code=303)
    max_age = int(built.settings.inbox_session_expiry.total_seconds())
    set_cookie(response, request, built.settings.api_url, SESSION_COOKIE, session_id, max_age)
    clear_cookie(response, request, built.settings.api_url, SIGN_IN_COOKIE)
    return response


async def _verify(
    built: Services, approver_id: str, password: str, address: str | None
) -> Approver | None:
    """The approver whose id and password the API's own check accepts (HTTP Basic's path)."""
    if not approver_id or not password or ":" in approver_id:
        return None
    credential = base64.b64encode(f"{approver_id}:{password}".encode()).decode()
    try:
        caller = await built.authenticator.authenticate(f"Basic {credential}", address)
    except ApiError as exc:
        if exc.detail.code == LOCKED:
            raise
        return None
    if caller.approver is None or Scope.DECIDE not in caller.scopes:
        return None
    return caller.approver


@router.post("/inbox/sign-out")
@html_errors
async def sign_out(request: Request, built: Built) -> Response:
    current = await signed_in(request, built)
    if current is None:
        return to_sign_in()
    try:
        form = await read_form(request)
    except FormUnreadable as exc:
        return problem(415, "Sign-out not read", str(exc))
    if not tokens_match(current[0].csrf_token, form.get("csrf_token")):
        return problem(403, "Sign-out refused", CSRF_REFUSED)
    await store(built).close(request.cookies.get(SESSION_COOKIE))
    response = to_sign_in()
    clear_cookie(response, request, built.settings.api_url, SESSION_COOKIE)
    return response
