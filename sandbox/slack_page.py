"""The sandbox's Slack page (``GET /_slack``): each channel's messages as Slack would show them,
with working buttons. A click is sent to the app's interactivity URL exactly as Slack sends
it: a form-encoded ``payload``, signed ``v0`` with the signing secret
(``PUT /_admin/slack/interactivity``). Reject's modal (opened by the app with ``views.open``)
shows on the page for the user who clicked; submitting it sends the ``view_submission``.

Offline demo only: whoever reaches the sandbox clicks as any user of its workspace (picked on
the page), as whoever is signed in to Slack would.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from sandbox.records import change_status, find_records, get_record
from sandbox.settings import load_setting
from sandbox.slack import (
    EPHEMERAL,
    INTERACTIVITY,
    MESSAGE,
    SYSTEM,
    USERS,
    VIEW,
    Interactivity,
    Users,
    issue_trigger,
)
from sandbox.state import state_of

router = APIRouter(prefix="/_slack", tags=["slack"], include_in_schema=False)
SEND_TIMEOUT = 10.0  # Slack gives an app 3 s; a loaded test machine more


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _mrkdwn(text: str) -> str:
    """Slack's *bold* and line breaks (the text arrives escaped the Slack way)."""
    plain = html.unescape(text)
    parts = _e(plain).split("*")
    out = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    return out.replace("\n", "<br>")


def _text(obj: dict[str, Any]) -> str:
    raw = str(obj.get("text", ""))
    return _mrkdwn(raw) if obj.get("type") == "mrkdwn" else _e(raw)


def _block(block: dict[str, Any], channel: str, ts: str, user: str) -> str:
    kind = block.get("type")
    if kind == "section":
        out = f'<div class="text">{_text(block["text"])}</div>' if "text" in block else ""
        fields = "".join(f'<div class="field">{_text(f)}</div>' for f in block.get("fields", []))
        return out + (f'<div class="fields">{fields}</div>' if fields else "")
    if kind == "context":
        items = " ".join(_text(e) for e in block.get("elements", []))
        return f'<div class="context">{items}</div>'
    if kind == "actions":
        buttons = []
        for element in block.get("elements", []):
            if element.get("type") != "button":
                continue
            style = _e(element.get("style", "default"))
            buttons.append(
                f'<form method="post" action="/_slack/click">'
                f'<input type="hidden" name="channel" value="{_e(channel)}">'
                f'<input type="hidden" name="ts" value="{_e(ts)}">'
                f'<input type="hidden" name="action_id" value="{_e(element["action_id"])}">'
                f'<input type="hidden" name="user" value="{_e(user)}">'
                f'<button class="{style}">{_e(element["text"]["text"])}</button></form>'
            )
        return f'<div class="actions">{"".join(buttons)}</div>'
    return ""


def _message(data: dict[str, Any], user: str) -> str:
    blocks = data.get("blocks") or []
    body = "".join(_block(b, data["channel"], data["ts"], user) for b in blocks)
    body = body or f'<div class="text">{_e(data.get("text", ""))}</div>'
    edited = ' <span class="edited">(edited)</span>' if data.get("edited") else ""
    return (
        f'<div class="message" data-ts="{_e(data["ts"])}"><div class="who">backoffice '
        f'<span class="app">APP</span>{edited}</div>{body}</div>'
    )


def _modal(view_id: str, view: dict[str, Any], user: str, error: str) -> str:
    inputs = "".join(
        f'<label>{_e(b["label"]["text"])}<textarea name="reason" rows="3"></textarea></label>'
        for b in view.get("blocks", [])
        if b.get("type") == "input"
    )
    intro = "".join(
        f"<p>{_text(b['text'])}</p>" for b in view.get("blocks", []) if b.get("type") == "section"
    )
    shown_error = f'<p class="error">{_e(error)}</p>' if error else ""
    return (
        f'<div class="modal"><h2>{_e(view["title"]["text"])}</h2>{intro}'
        f'<form method="post" action="/_slack/submit">'
        f'<input type="hidden" name="view" value="{_e(view_id)}">'
        f'<input type="hidden" name="user" value="{_e(user)}">{inputs}{shown_error}'
        f'<button class="danger">{_e(view.get("submit", {}).get("text", "Submit"))}</button>'
        f"</form></div>"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:0;display:flex;min-height:100vh;color:#1d1c1d}
nav{background:#3f0e40;color:#fff;width:220px;padding:16px}
nav a{color:#cfc3cf;display:block;padding:4px 0;text-decoration:none}
nav a.here{color:#fff;font-weight:bold}
main{flex:1;padding:16px 24px;max-width:820px}
.message{border-bottom:1px solid #eee;padding:12px 0}
.who{font-weight:bold}.app{background:#eee;font-size:10px;padding:1px 3px;border-radius:3px}
.edited{color:#888;font-weight:normal;font-size:12px}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:6px;margin:8px 0}
.context{color:#616061;font-size:13px;margin-top:6px}
.actions form{display:inline}
button{border:1px solid #ccc;border-radius:4px;padding:6px 14px;margin-right:8px;
  background:#fff;cursor:pointer;font-weight:bold}
button.primary{background:#007a5a;color:#fff;border-color:#007a5a}
button.danger{background:#e01e5a;color:#fff;border-color:#e01e5a}
.ephemeral{background:#f8f8f8;border-left:4px solid #1264a3;padding:8px;margin:8px 0}
.modal{border:1px solid #ccc;border-radius:8px;padding:16px;margin:16px 0;
  box-shadow:0 4px 12px rgba(0,0,0,.15)}
textarea{display:block;width:100%;margin:8px 0}.error{color:#e01e5a}
"""


def _channels(session: Session) -> list[str]:
    rows = find_records(session, SYSTEM.name, MESSAGE)
    return sorted({row.data["channel"] for row in rows})


@router.get("", response_class=HTMLResponse)
def page(request: Request, channel: str = "", user: str = "", error: str = "") -> str:
    with state_of(request).store.transaction() as session:
        users = load_setting(session, USERS, Users).users
        channels = _channels(session)
        shown = channel or (channels[0] if channels else "")
        user = user or (users[0].id if users else "")
        rows = find_records(session, SYSTEM.name, MESSAGE, keys={"channel": shown})
        messages = "".join(_message(r.data, user) for r in rows)
        told = find_records(session, SYSTEM.name, EPHEMERAL, keys={"channel": shown, "user": user})
        notes = "".join(
            f'<div class="ephemeral">Only visible to you: {_e(r.data["text"])}</div>'
            for r in told[-3:]
        )
        views = find_records(session, SYSTEM.name, VIEW, status="open", keys={"user": user})
        modals = "".join(_modal(v.id, v.data["view"], user, error) for v in views[-1:])
    links = "".join(
        f'<a class="{"here" if c == shown else ""}" '
        f'href="/_slack?channel={quote(c)}&amp;user={quote(user)}">#{_e(c)}</a>'
        for c in channels
    )
    options = "".join(
        f'<option value="{_e(u.id)}"{" selected" if u.id == user else ""}>'
        f"{_e(u.real_name or u.name)} ({_e(u.id)})</option>"
        for u in users
    )
    picker = (
        f'<form method="get" action="/_slack"><input type="hidden" name="channel" '
        f'value="{_e(shown)}"><label>Clicking as <select name="user" '
        f'onchange="this.form.submit()">{options}</select></label></form>'
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Slack (sandbox)</title>"
        f"<style>{STYLE}</style></head><body><nav><h3>Sandbox Slack</h3>{links}</nav><main>"
        f"<h1>#{_e(shown)}</h1>{picker}{modals}{messages}{notes}</main></body></html>"
    )


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode(errors="replace")))


def signed(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {
        "X-Slack-Signature": f"v0={mac.hexdigest()}",
        "X-Slack-Request-Timestamp": str(timestamp),
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def _send(request: Request, payload: dict[str, Any]) -> httpx.Response | str:
    """Send `payload` to the app as Slack does; a string says why it could not be sent."""
    with state_of(request).store.transaction() as session:
        target = load_setting(session, INTERACTIVITY, Interactivity)
    if not target.url or not target.signing_secret:
        return "no interactivity URL set (PUT /_admin/slack/interactivity)"
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = signed(target.signing_secret, body, int(time.time()))
    try:
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT, trust_env=False) as http:
            return await http.post(target.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"the app did not answer: {type(exc).__name__}"


def _back(channel: str, user: str, error: str = "") -> RedirectResponse:
    query = urlencode({"channel": channel, "user": user, **({"error": error} if error else {})})
    return RedirectResponse(f"/_slack?{query}", status_code=303)


@router.post("/click")
async def click(request: Request) -> Response:
    form = await _form(request)
    channel, ts, user = form.get("channel", ""), form.get("ts", ""), form.get("user", "")
    with state_of(request).store.transaction() as session:
        rows = find_records(session, SYSTEM.name, MESSAGE, keys={"channel": channel, "ts": ts})
        buttons = [
            e
            for row in rows
            for b in row.data.get("blocks") or []
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if e.get("action_id") == form.get("action_id")
        ]
        if not buttons:
            return _back(channel, user, "that button is gone (the message was updated)")
        trigger_id = issue_trigger(session, user)
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "api_app_id": "A0BACKOFFICE",
        "trigger_id": trigger_id,
        "channel": {"id": channel},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "message": {"ts": ts},
        "actions": [
            {
                "type": "button",
                "action_id": buttons[0]["action_id"],
                "block_id": "decision",
                "value": buttons[0].get("value", ""),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    sent = await _send(request, payload)
    if isinstance(sent, str):
        return _back(channel, user, sent)
    return _back(channel, user, "" if sent.is_success else f"the app answered {sent.status_code}")


@router.post("/submit")
async def submit(request: Request) -> Response:
    form = await _form(request)
    user = form.get("user", "")
    with state_of(request).store.transaction() as session:
        row = get_record(session, SYSTEM.name, VIEW, form.get("view", ""))
        if row is None or row.status != "open":
            return _back("", user, "that modal is closed")
        view = row.data["view"]
    inputs: list[dict[str, Any]] = [b for b in view.get("blocks", []) if b.get("type") == "input"]
    reason_block: dict[str, Any] = inputs[0] if inputs else {"block_id": "reason", "element": {}}
    action_id = str(reason_block["element"].get("action_id", "reason_input"))
    payload = {
        "type": "view_submission",
        "user": {"id": user},
        "view": {
            "id": row.id,
            "callback_id": view.get("callback_id", ""),
            "private_metadata": view.get("private_metadata", ""),
            "state": {
                "values": {
                    reason_block["block_id"]: {
                        action_id: {"type": "plain_text_input", "value": form.get("reason", "")}
                    }
                }
            },
        },
    }
    sent = await _send(request, payload)
    if isinstance(sent, str):
        return _back("", user, sent)
    answer: dict[str, Any] = {}
    if sent.content:
        try:
            answer = sent.json()
        except ValueError:
            answer = {}
    if answer.get("response_action") == "errors":
        problems = "; ".join(str(v) for v in answer.get("errors", {}).values())
        return _back("", user, problems)
    with state_of(request).store.transaction() as session:
        view_row = get_record(session, SYSTEM.name, VIEW, row.id)
        if view_row is not None:
            change_status(session, view_row, "closed", "closed")
    return _back("", user)
