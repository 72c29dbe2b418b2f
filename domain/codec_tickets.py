"""One-time sign-in tickets for the codec session: a link a person opens once in their browser
(`/codec/session?ticket=...`) to get the session cookie the Temporal Web UI's codec requests
carry, then lands on a page of the Web UI.

A ticket (domain/signed_tokens.py) carries the JSON of `TicketClaims`, signed with context
`codec-ticket.v1.` under the codec token: only a holder of the token can issue one, and
rotating the token voids them all. Single use is the caller's part: it records
`digest(ticket)`. No I/O here.
"""

import re
import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain import signed_tokens

SESSION_PATH = "/codec/session"
# Long enough to open the link the demo printed at its end; short, as it is a credential.
TICKET_SECONDS = 30 * 60
_CONTEXT = b"codec-ticket.v1."
# Where a ticket may send the browser: a path of the Web UI (never another site).
_UI_PATH = re.compile(r"^/[A-Za-z0-9._~%/:@!$&'()*+,;=-]*$")


class TicketClaims(BaseModel):
    """What a ticket grants: one codec session, until `expires_at` (unix seconds), then a
    redirect to `then` (a path of the Web UI). `nonce` makes every ticket distinct."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    then: str = Field(alias="to", pattern=_UI_PATH.pattern, max_length=1000)
    expires_at: int = Field(alias="exp")
    nonce: str = Field(alias="n", min_length=16)


class TicketProblem(StrEnum):
    INVALID = "TICKET_INVALID"  # malformed, changed, or signed with another codec token
    EXPIRED = "TICKET_EXPIRED"
    USED = "TICKET_USED"


class TicketRefused(Exception):
    """The ticket grants nothing; `problem` says why (the message is for people)."""

    MESSAGES = {
        TicketProblem.INVALID: "This sign-in link is not valid: it was changed, or it was not "
        "issued by this back office.",
        TicketProblem.EXPIRED: "This sign-in link has expired.",
        TicketProblem.USED: "This sign-in link has already been used.",
    }

    def __init__(self, problem: TicketProblem) -> None:
        super().__init__(self.MESSAGES[problem])
        self.problem = problem


def issue(codec_token: str, then: str, now: float, seconds: int = TICKET_SECONDS) -> str:
    """A ticket for one codec session, redirecting to the Web UI path `then`."""
    claims = TicketClaims(then=then, expires_at=int(now) + seconds, nonce=secrets.token_hex(16))
    return signed_tokens.seal(claims.model_dump(by_alias=True, mode="json"), codec_token, _CONTEXT)


def verify(ticket: str, codec_token: str, now: float) -> TicketClaims:
    """The claims of a ticket signed under `codec_token` and not expired at `now`.

    Raises TicketRefused: INVALID before EXPIRED, so a changed expired ticket says it is invalid.
    """
    try:
        claims = TicketClaims.model_validate(signed_tokens.unseal(ticket, [codec_token], _CONTEXT))
    except (ValueError, ValidationError):
        raise TicketRefused(TicketProblem.INVALID) from None
    if now >= claims.expires_at:
        raise TicketRefused(TicketProblem.EXPIRED)
    return claims


digest = signed_tokens.digest


def sign_in_url(api_url: str, ticket: str) -> str:
    return f"{api_url.rstrip('/')}{SESSION_PATH}?ticket={ticket}"
