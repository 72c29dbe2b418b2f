"""`POST /slack/interactivity`: clicks on an approval message's buttons, and the reject
modal's submission, as Slack sends them (signed; the Slack app's "Request URL").

The Slack user is mapped to the approver through the directory (roles come from the
directory, never from the request) and the decision goes through `starters.approvals.decide`,
the path of every other door. Approve decides at once; Reject opens a modal asking the reason
(`views.open`), whose submission decides. A refused click is answered to the clicker alone
(`chat.postEphemeral`) with the rule it broke. Slack's retries of a click (`X-Slack-Retry-Num`)
carry the same update id, so Temporal applies the decision once.

Bad input: a missing, stale or wrong signature is 401; a body that is not Slack's payload
is 400; an unknown payload type or action is acknowledged (200) and ignored.
"""

import json
import logging
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.audit import AuditLog
from activities.auth import SlackBotToken
from activities.http import SystemClient
from activities.slack_api import SlackApi
from domain.approvals import Decision
from domain.slack import (
    APPROVE_ACTION,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_ACTION,
    REJECT_MODAL,
    SIGNING_SECRETS_PATH,
    SLACK_INTERACTIVITY_PATH,
    ButtonValue,
    button_value,
    reject_modal,
)
from domain.systems import System
from runtime.settings import Settings
from runtime.telemetry import Telemetry
from runtime.vault import SecretStore, SecretUnavailable
from starters.approvals import DecisionOutcome, DecisionUnconfirmed, decide
from starters.directory import Directory
from starters.slack_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from starters.webhooks.signature import SignatureError

log = logging.getLogger(__name__)

router = APIRouter(tags=["slack"])

NOT_IN_DIRECTORY = (
    "You are not in the approver directory, so you cannot decide approvals here. "
    "Ask an administrator to add your Slack user id."
)
REASON_REQUIRED = "A rejection needs a reason."


class SlackUser(BaseModel):
    id: str


class SlackChannel(BaseModel):
    id: str


class Action(BaseModel):
    action_id: str
    value: str = ""


class BlockActions(BaseModel):
    type: str
    user: SlackUser
    actions: list[Action]
    trigger_id: str = ""
    channel: SlackChannel | None = None


class ViewState(BaseModel):
    values: dict[str, dict[str, dict[str, Any]]] = {}


class View(BaseModel):
    callback_id: str = ""
    private_metadata: str = ""
    state: ViewState = ViewState()


class ViewSubmission(BaseModel):
    type: str
    user: SlackUser
    view: View


def slack_client(
    settings: Settings, secrets: SecretStore, audit: AuditLog, telemetry: Telemetry
) -> tuple[SlackApi, httpx.AsyncClient]:
    """The API's Slack client on the one HTTP path (a click is answered at once: the modal,
    the refusal); close the httpx client when the app stops."""
    http = httpx.AsyncClient(timeout=settings.http_timeout_seconds)
    telemetry.instrument_http(http, System.SLACK.value)
    client = SystemClient(
        System.SLACK,
        settings.system_url(System.SLACK),
        http,
        SlackBotToken(secrets, System.SLACK),
        audit,
        errors_in_body=True,
    )
    return SlackApi(client), http


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.post(
    SLACK_INTERACTIVITY_PATH,
    include_in_schema=False,  # Slack's protocol, not part of this API's document
)
async def interactivity(
    request: Request,
    x_slack_retry_num: Annotated[str | None, Header()] = None,
) -> Response:
    state = request.app.state
    body = await request.body()
    try:
        secrets = (await state.secrets.read(SIGNING_SECRETS_PATH)).get("secrets", [])
    except SecretUnavailable:
        return _error(503, "SECRETS_UNAVAILABLE", "cannot read the Slack signing secrets now")
    try:
        verify(
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            body,
            [str(s) for s in secrets],
            tolerance_seconds=state.settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        return _error(401, exc.code, exc.message)
    payload = _payload(body)
    if payload is None:
        return _error(
            400, "INVALID_PAYLOAD", "the body must be a form with `payload`, a JSON object"
        )
    if x_slack_retry_num:
        log.info("slack interactivity retry %s", x_slack_retry_num[:4])
    kind = payload.get("type")
    try:
        if kind == "block_actions":
            return await _clicked(request, BlockActions.model_validate(payload))
        if kind == "view_submission":
            return await _submitted(request, ViewSubmission.model_validate(payload))
    except ValidationError:
        return _error(400, "INVALID_PAYLOAD", f"a {kind} payload lacks what Slack sends")
    except SecretUnavailable:
        return _error(503, "SECRETS_UNAVAILABLE", "cannot read the approver directory now")
    except RPCError:  # Slack retries the request: the same decision, applied once
        return _error(503, "TEMPORAL_UNAVAILABLE", "Temporal cannot take the decision now")
    return Response(status_code=200)  # another type (shortcut, view_closed): not ours


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError):
        return None
    return payload if isinstance(payload, dict) else None


async def _clicked(request: Request, click: BlockActions) -> Response:
    action = next(
        (a for a in click.actions if a.action_id in (APPROVE_ACTION, REJECT_ACTION)), None
    )
    value = button_value(action.value) if action is not None else None
    if action is None or value is None:
        return Response(status_code=200)  # a button that is not ours
    slack: SlackApi = request.app.state.slack
    channel = click.channel.id if click.channel else None
    approver = await Directory(request.app.state.secrets).by_slack_user(click.user.id)
    if approver is None:
        await _tell(slack, channel, click.user.id, NOT_IN_DIRECTORY)
        return Response(status_code=200)
    if action.action_id == REJECT_ACTION:
        view = reject_modal(value, f"Reject approval {value.approval_id} of {value.workflow_id}")
        try:
            await slack.open_view(click.trigger_id, view)
        except ApplicationError as exc:
            log.warning("slack reject modal not opened: %s", exc.type)
        return Response(status_code=200)
    outcome = await _decide(
        request, approver_id=approver.id, value=value, decision=Decision.APPROVE
    )
    if not outcome.accepted:
        await _tell(slack, channel, click.user.id, _refusal_text(outcome))
    return Response(status_code=200)


async def _submitted(request: Request, submission: ViewSubmission) -> Response:
    view = submission.view
    if view.callback_id != REJECT_MODAL:
        return Response(status_code=200)
    value = _metadata(view.private_metadata)
    if value is None:
        return _error(400, "INVALID_PAYLOAD", "the modal's private_metadata is not ours")
    reason = str(view.state.values.get(REASON_BLOCK, {}).get(REASON_INPUT, {}).get("value") or "")
    if not reason.strip():
        return _modal_error(REASON_REQUIRED)
    approver = await Directory(request.app.state.secrets).by_slack_user(submission.user.id)
    if approver is None:
        return _modal_error(NOT_IN_DIRECTORY)
    outcome = await _decide(
        request,
        approver_id=approver.id,
        value=value,
        decision=Decision.REJECT,
        comment=reason.strip(),
    )
    if not outcome.accepted:
        return _modal_error(_refusal_text(outcome))
    return JSONResponse({"response_action": "clear"})


async def _decide(
    request: Request,
    *,
    approver_id: str,
    value: ButtonValue,
    decision: Decision,
    comment: str = "",
) -> DecisionOutcome:
    services = request.app.state.services
    approver = await Directory(services.secrets).get(approver_id)
    try:
        return await decide(
            services.temporal,
            approver,
            value.workflow_id,
            decision,
            comment,
            approval_id=value.approval_id,
        )
    except DecisionUnconfirmed as exc:
        return DecisionOutcome(accepted=False, code="UNCONFIRMED", reason=str(exc))


def _metadata(raw: str) -> ButtonValue | None:
    try:
        return ButtonValue.model_validate_json(raw)
    except ValidationError:
        return None


def _refusal_text(outcome: DecisionOutcome) -> str:
    return f"Not decided: {outcome.reason} ({outcome.code})."


def _modal_error(text: str) -> JSONResponse:
    return JSONResponse({"response_action": "errors", "errors": {REASON_BLOCK: text[:150]}})


async def _tell(slack: SlackApi, channel: str | None, user: str, text: str) -> None:
    """An ephemeral message to the clicker alone; a failure is logged, never the click's answer."""
    if channel is None:
        return
    try:
        await slack.post_ephemeral(channel, user, text)
    except ApplicationError as exc:
        log.warning("slack ephemeral answer not sent: %s", exc.type)
