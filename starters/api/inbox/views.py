"""The signed-in inbox: "Waiting for me", "Needs attention" (the review queue), "Decided", and
deciding.

Deciding goes through `starters.approvals.decide` as the signed-in approver (roles from the
directory, read again on every request). The decision form posts like any form; `inbox.js`
sends it with `fetch` instead and shows the outcome in place.
"""

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from domain.approvals import ApprovalKind, Decision, Resolution
from starters.api.approvals import NAME_PATTERN, REFUSAL_STATUS
from starters.api.inbox.current import CSRF_REFUSED, signed_in, to_sign_in
from starters.api.inbox.decided import past_decisions
from starters.api.inbox.errors import html_errors
from starters.api.inbox.pages import (
    FormUnreadable,
    json_answer,
    page,
    problem,
    read_form,
    static_file,
    wants_json,
)
from starters.api.inbox.sessions import SignedIn, tokens_match
from starters.api.services import Services, services
from starters.api.workflows import WORKFLOW_ID_PATTERN
from starters.approvals import DEFAULT_PAGE_SIZE, InvalidCursor, approvals_page, decide
from starters.directory import Approver

router = APIRouter()

Built = Annotated[Services, Depends(services)]
MAX_COMMENT = 1000
_WORKFLOW_ID = re.compile(WORKFLOW_ID_PATTERN)
_NAME = re.compile(NAME_PATTERN)
# What the decision forms send, and how the outcome says it.
VERBS = {
    Decision.APPROVE.value: "Approved",
    Decision.REJECT.value: "Rejected",
    Resolution.RETRY.value: "Retry",
    Resolution.SKIP.value: "Skipped",
    Resolution.COMPENSATE.value: "Compensate and end",
}


@router.get("/inbox/static/{name}")
async def static(name: str) -> Response:
    return static_file(name)


@router.get("/inbox")
@html_errors
async def waiting(request: Request, built: Built, cursor: str | None = None) -> Response:
    """Approvals that one of the approver's roles may decide."""
    return await _listed(request, built, cursor, ApprovalKind.APPROVAL)


@router.get("/inbox/attention")
@html_errors
async def attention(request: Request, built: Built, cursor: str | None = None) -> Response:
    """Runs in the review queue that one of the approver's roles may resolve."""
    return await _listed(request, built, cursor, ApprovalKind.ATTENTION)


# Each kind's page: its template, title and tab.
LISTS = {
    ApprovalKind.APPROVAL: ("waiting.html", "Waiting for me", "waiting"),
    ApprovalKind.ATTENTION: ("attention.html", "Needs attention", "attention"),
}


async def _listed(
    request: Request, built: Services, cursor: str | None, kind: ApprovalKind
) -> Response:
    """One page of what waits for the signed-in approver's roles, of one kind."""
    current = await signed_in(request, built)
    if current is None:
        return to_sign_in()
    session, approver = current
    try:
        found = await approvals_page(
            built.temporal,
            built.settings,
            approver.roles,
            page_size=DEFAULT_PAGE_SIZE,
            cursor=cursor,
            kind=kind,
        )
    except InvalidCursor:
        return problem(422, "No such page", "That page of the list is not one the inbox made.")
    template, title, section = LISTS[kind]
    return page(
        template,
        title=title,
        section=section,
        me=approver,
        csrf_token=session.csrf_token,
        approvals=found.approvals,
        first_page=cursor is None,
        next_cursor=found.next_cursor,
    )


@router.get("/inbox/decided")
@html_errors
async def decided(request: Request, built: Built) -> Response:
    current = await signed_in(request, built)
    if current is None:
        return to_sign_in()
    session, approver = current
    decisions = await past_decisions(built.temporal, built.settings, approver.id)
    return page(
        "decided.html",
        title="Decided",
        section="decided",
        me=approver,
        csrf_token=session.csrf_token,
        decisions=decisions,
    )


@router.post("/inbox/decide")
@html_errors
async def decide_approval(request: Request, built: Built) -> Response:
    as_json = wants_json(request)
    current = await signed_in(request, built)
    if current is None:
        if as_json:
            return json_answer(401, False, "Your sign-in has expired: sign in again.")
        return to_sign_in()
    session, approver = current
    try:
        form = await read_form(request)
    except FormUnreadable as exc:
        return _answer(as_json, 415, False, str(exc), approver, session)
    if not tokens_match(session.csrf_token, form.get("csrf_token")):
        return _answer(as_json, 403, False, CSRF_REFUSED, approver, session)
    workflow_id = form.get("workflow_id", "")
    approval_id = form.get("approval_id", "")
    comment = form.get("comment", "").strip()
    if (
        not _WORKFLOW_ID.match(workflow_id)
        or not _NAME.match(approval_id)
        or form.get("decision") not in VERBS
        or len(comment) > MAX_COMMENT
    ):
        message = f"Nothing was decided: the form is incomplete (comments up to {MAX_COMMENT})."
        return _answer(as_json, 422, False, message, approver, session)
    decision = form["decision"]
    verdict = Decision(decision) if decision in set(Decision) else Resolution(decision)
    outcome = await decide(built.temporal, approver, workflow_id, verdict, comment, approval_id)
    if outcome.accepted:
        message = f"{VERBS[decision]}: recorded on {workflow_id} ({approval_id})."
        return _answer(as_json, 200, True, message, approver, session, outcome.status)
    code = outcome.code or "REFUSED"
    message = f"Not accepted ({code}): {outcome.reason}."
    status_code = REFUSAL_STATUS.get(code, 409)
    return _answer(as_json, status_code, False, message, approver, session, outcome.status)


def _answer(
    as_json: bool,
    status_code: int,
    accepted: bool,
    message: str,
    approver: Approver,
    session: SignedIn,
    approval_status: str | None = None,
) -> Response:
    if as_json:
        return json_answer(status_code, accepted, message, status=approval_status)
    return page(
        "outcome.html",
        status_code,
        title="Decision recorded" if accepted else "Not decided",
        section="waiting",
        me=approver,
        csrf_token=session.csrf_token,
        accepted=accepted,
        message=message,
    )
