"""Approve by link: `GET /inbox/links/<token>` shows what the link would decide and asks to
confirm (it decides nothing, so a link preview or a mail scanner cannot decide);
`POST /inbox/links/<token>` decides, once, as the approver the link was issued to.

The token itself is the credential of these two pages: it names one approver, one approval and
one decision, is signed, expires and works once (`starters.links`). No session is needed.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from temporalio.client import WorkflowQueryFailedError

from domain.approval_links import LinkClaims, LinkProblem, LinkRefused
from domain.approvals import ApprovalStatus, Decision
from starters.api.inbox.errors import html_errors
from starters.api.inbox.pages import FormUnreadable, page, problem, read_form
from starters.api.inbox.views import MAX_COMMENT
from starters.api.services import Services, services
from starters.approvals import WorkflowNotFound, workflow_status
from starters.links import LinkDesk
from starters.start import web_ui_url

router = APIRouter()

Built = Annotated[Services, Depends(services)]
Token = Annotated[str, Path(max_length=2100)]

_STATUS_OF = {LinkProblem.INVALID: 400, LinkProblem.EXPIRED: 410, LinkProblem.USED: 410}
_TITLE_OF = {
    LinkProblem.INVALID: "Link not valid",
    LinkProblem.EXPIRED: "Link expired",
    LinkProblem.USED: "Link already used",
}
_DONE = {Decision.APPROVE: "Approved", Decision.REJECT: "Rejected"}
NOTHING_CHANGED = "Nothing was decided. You can still decide in the inbox."


def _desk(built: Services) -> LinkDesk:
    return LinkDesk(built.secrets, built.engine, built.temporal)


def _refused(exc: LinkRefused) -> Response:
    return problem(
        _STATUS_OF[exc.problem],
        _TITLE_OF[exc.problem],
        f"{exc} {NOTHING_CHANGED}",
        link_problem=exc.problem.value,
    )


@router.get("/inbox/links/{token}")
@html_errors
async def open_link(token: Token, built: Built) -> Response:
    desk = _desk(built)
    try:
        claims = await desk.check(token)
    except LinkRefused as exc:
        return _refused(exc)
    approver = await desk.approver(claims)
    if approver is None:
        return problem(
            403,
            "Approver unknown",
            f"This link's approver is no longer in the directory. {NOTHING_CHANGED}",
        )
    try:
        status = await workflow_status(built.temporal, claims.workflow_id)
    except (WorkflowNotFound, WorkflowQueryFailedError):
        return problem(404, "Run not found", f"This link's run cannot be found. {NOTHING_CHANGED}")
    record = next(
        (a for a in status.approvals if a.request.approval_id == claims.approval_id), None
    )
    if record is None:
        return problem(
            404,
            "Approval not found",
            f"The run {claims.workflow_id} has no approval '{claims.approval_id}'. "
            f"{NOTHING_CHANGED}",
        )
    closed = record.status != ApprovalStatus.PENDING
    return page(
        "link.html",
        409 if closed else 200,
        title=_verb(claims) + "?",
        claims=claims,
        verb=_verb(claims),
        approver=approver,
        status=status,
        record=record,
        closed=closed,
        token=token,
        max_comment=MAX_COMMENT,
        web_ui_url=web_ui_url(built.settings, built.temporal.namespace, claims.workflow_id),
    )


@router.post("/inbox/links/{token}")
@html_errors
async def use_link(token: Token, request: Request, built: Built) -> Response:
    try:
        form = await read_form(request)
    except FormUnreadable as exc:
        return problem(415, "Not read", str(exc))
    comment = form.get("comment", "").strip()[:MAX_COMMENT]
    try:
        claims, outcome = await _desk(built).use(token, comment)
    except LinkRefused as exc:
        return _refused(exc)
    if outcome.accepted:
        message = (
            f"{_DONE[claims.decision]}: recorded on {claims.workflow_id} "
            f"(approval {claims.approval_id}) as {claims.approver_id}."
        )
    else:
        message = f"Not accepted ({outcome.code}): {outcome.reason}."
    return page(
        "link_done.html",
        200 if outcome.accepted else 409,
        title="Decision recorded" if outcome.accepted else "Not decided",
        accepted=outcome.accepted,
        message=message,
    )


def _verb(claims: LinkClaims) -> str:
    return "Approve" if claims.decision is Decision.APPROVE else "Reject"
