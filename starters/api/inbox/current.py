"""Who is signed in to the inbox: the session behind the cookie, and the approver it belongs to
(roles as the directory says now)."""

from fastapi import Request
from fastapi.responses import RedirectResponse

from starters.api.inbox.sessions import SESSION_COOKIE, SessionStore, SignedIn
from starters.api.services import Services
from starters.directory import Approver, Directory, UnknownApprover

CSRF_REFUSED = (
    "This form did not come from your inbox page, or your sign-in changed since it was "
    "loaded. Nothing was changed: reload the inbox and try again."
)


def store(built: Services) -> SessionStore:
    return SessionStore(built.engine, built.settings.inbox_session_expiry)


async def signed_in(request: Request, built: Services) -> tuple[SignedIn, Approver] | None:
    session = await store(built).find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    try:
        approver = await Directory(built.secrets).get(session.approver_id)
    except UnknownApprover:
        return None  # removed from the directory since signing in
    return session, approver


def to_sign_in() -> RedirectResponse:
    return RedirectResponse("/inbox/sign-in", status_code=303)
