"""Contract with Slack's own description of its Web API (specs/slack/, Slack's published
OpenAPI document): every request the Slack code can send — each method, each branch — is
served by the sandbox, then checked by Prism against the document.

Prism, not a Python validator: the document is Swagger 2.0 with form parameters, which Prism
validates as published, while the OpenAPI libraries on PyPI validate OpenAPI 3 requests only.
"""

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import ActivityEnvironment

from activities.audit import AuditLog
from activities.auth import SlackBotToken
from activities.http import SystemClient
from activities.slack import SlackActivities
from activities.slack_api import SlackApi
from domain.approvals import ApprovalStatus
from domain.slack import (
    ApprovalCard,
    ButtonValue,
    PostApprovalInput,
    UpdateApprovalInput,
    reject_modal,
)
from domain.systems import System
from runtime.db import make_engine
from runtime.vault import secret_store
from tests.prism import running_prism, violations
from tests.slack.conftest import PROCUREMENT_CHANNEL, SlackSide

SPEC = (
    Path(__file__).resolve().parents[2]
    / "specs"
    / "slack"
    / ("slack_web_openapi_v2_without_examples.json")
)
WORKFLOW_ID = "vendor-onboarding-CONTRACT-1"
# The document describes the token as a parameter named `token`; Slack takes it (and
# recommends it) as `Authorization: Bearer`, which the document's security scheme describes.
TOKEN_PARAMETER = "required property 'token'"


def _card(**changes: Any) -> ApprovalCard:
    card = ApprovalCard(
        workflow_id=WORKFLOW_ID,
        approval_id="risk-review",
        process="VendorOnboarding",
        business_key="CONTRACT-1",
        reason="contractor with net15 terms",
        requested_by="rory",
        due_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    )
    return card.model_copy(update=changes)


async def test_every_slack_request_is_slacks_own_and_the_sandbox_serves_it(
    settings, slack: SlackSide, tmp_path: Path
):
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    store = secret_store(settings)
    await asyncio.to_thread(store.login)
    engine = make_engine(settings.resolved_database_url)
    http = httpx.AsyncClient(timeout=10, trust_env=False, event_hooks={"request": [keep]})
    client = SystemClient(
        System.SLACK,
        settings.system_url(System.SLACK),
        http,
        SlackBotToken(store, System.SLACK),
        AuditLog(engine),
        errors_in_body=True,
    )
    api = SlackApi(client)
    activities = SlackActivities(api, store, {"procurement": PROCUREMENT_CHANNEL})
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=WORKFLOW_ID, attempt=1)
    try:
        to_channel = PostApprovalInput(kind="request", role="procurement", card=_card())
        posted = await env.run(activities.post_approval, to_channel)
        # A role without a channel: a direct message to each of its approvers.
        to_people = PostApprovalInput(kind="escalation", role="procurement-lead", card=_card())
        direct = await env.run(activities.post_approval, to_people)
        assert [m.channel for m in direct.messages] == ["D0LENA"]
        # A retry after an ambiguous failure finds the message posted before: no second post.
        env.info = dataclasses.replace(env.info, attempt=2)
        again = await env.run(activities.post_approval, to_channel)
        assert again.messages == posted.messages
        closed = _card(
            status=ApprovalStatus.APPROVED, decided_by="pat", decided_at=datetime.now(UTC)
        )
        updated = await env.run(
            activities.update_approval,
            UpdateApprovalInput(messages=posted.messages + direct.messages, card=closed),
        )
        assert updated.updated == 2
        # The API's side of a click: the refusal to the clicker alone, the reject modal.
        await api.post_ephemeral(PROCUREMENT_CHANNEL, "U0FIONA", "Not decided: WRONG_ROLE")
        value = ButtonValue(workflow_id=WORKFLOW_ID, approval_id="risk-review")
        await api.open_view(slack.trigger("U0PAT"), reject_modal(value, "Reject risk-review"))
        assert (await api.user_info("U0PAT")).name == "pat"
    finally:
        await http.aclose()
        engine.dispose()

    methods = [r.url.path.rsplit("/", 1)[-1] for r in sent]
    assert set(methods) == {
        "chat.postMessage",
        "conversations.history",
        "chat.update",
        "chat.postEphemeral",
        "views.open",
        "users.info",
    }, methods
    with (
        running_prism(SPEC, tmp_path / "prism.log") as prism,
        httpx.Client(base_url=prism, trust_env=False, timeout=30) as check,
    ):
        # The check can fail: a request without the required `channel` is reported.
        wrong = check.post("/chat.postMessage", data={"text": "x"}, headers=_auth(sent[0]))
        assert any("channel" in v["message"] for v in violations(wrong)), violations(wrong)
        for request, method in zip(sent, methods, strict=True):
            answer = check.request(
                request.method,
                f"/{method}",
                params=request.url.params,
                content=request.content,
                headers={
                    **_auth(request),
                    **{k: v for k, v in request.headers.items() if k.lower() == "content-type"},
                },
            )
            found = [v for v in violations(answer) if TOKEN_PARAMETER not in v["message"]]
            assert not found, (request.method, method, found)


def _auth(request: httpx.Request) -> dict[str, str]:
    return {"Authorization": request.headers["authorization"]}
