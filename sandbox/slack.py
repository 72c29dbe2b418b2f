"""Slack Web API stand-in (``/slack/<method>``, ``Authorization: Bearer <bot token>``).

The subset the approval messages use: ``chat.postMessage``, ``chat.update``,
``chat.postEphemeral``, ``views.open``, ``users.info`` and ``conversations.history``, with
Slack's own answers: HTTP 200 and ``{"ok": false, "error": "<code>"}`` for every refusal
(``not_authed``, ``invalid_auth``, ``channel_not_found``, ``message_not_found``,
``user_not_found``, ``invalid_trigger_id``, ``invalid_arguments``). Parameters come as a form
(``blocks`` and ``view`` as JSON strings), as JSON, or in the query. A message posted to a
user id (``U…``) goes to the direct-message channel ``D…`` of that user. Messages, ephemeral
messages and opened views are records (persisted like the other systems'); injected faults
(``PUT /_admin/faults/slack``, e.g. 429 with ``retry_after``) apply as everywhere.

Admin: ``PUT /_admin/slack/users`` (the workspace's people), ``PUT /_admin/slack/interactivity``
(where a click on the sandbox's Slack page is sent, and the signing secret), both kept in the
database.
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from sandbox.auth import BearerKey, bearer_token, load_credentials, same_secret
from sandbox.errors import validation_error_from
from sandbox.records import change_status, create_record, find_records, next_id, update_record
from sandbox.settings import load_setting, save_setting
from sandbox.state import state_of
from sandbox.store import utc_now
from sandbox.system import System

SYSTEM = System("slack", BearerKey())
api = SYSTEM.open_router  # Slack answers its own way (HTTP 200, ok: false): no shared auth
MESSAGE, EPHEMERAL, VIEW, TRIGGER = "message", "ephemeral", "view", "trigger"
USERS = "slack.users"
INTERACTIVITY = "slack.interactivity"
CHANNEL_ID = re.compile(r"^[CDGU][A-Z0-9]{1,20}$")
BOT_USER = "B0BACKOFFICE"
B = TypeVar("B", bound=BaseModel)


class SlackUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^U[A-Z0-9]{1,20}$")
    name: str = Field(min_length=1, max_length=80)
    real_name: str = Field(default="", max_length=200)


class Users(BaseModel):
    users: list[SlackUser] = []


class Interactivity(BaseModel):
    """Where the page's clicks go (the app's Request URL) and the signing secret."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=2000)
    signing_secret: str | None = Field(default=None, min_length=1, max_length=1024)


class SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


async def _params(request: Request) -> dict[str, str]:
    """The call's parameters, from the query and from a form or JSON body."""
    params = dict(request.query_params)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and kind == "application/json":
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        params.update(
            {
                k: v if isinstance(v, str) else json.dumps(v)
                for k, v in body.items()
                if v is not None
            }
        )
    elif request.method == "POST":
        try:
            form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise SlackError("invalid_form_data") from None
        params.update(dict(form))
    return params


def _authenticate(session: Session, request: Request, params: dict[str, str]) -> None:
    given = bearer_token(request.headers) or params.get("token")
    if not given:
        raise SlackError("not_authed")
    accepted = load_credentials(session, SYSTEM.name) or {}
    matched = False
    for key in accepted.get("api_keys", []):
        matched = same_secret(given, str(key)) or matched
    if not matched:
        raise SlackError("invalid_auth")


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise SlackError("invalid_arguments")
    return value


def _json_list(params: dict[str, str], name: str) -> list[Any] | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise SlackError(f"invalid_{name}") from None
    if not isinstance(value, list):
        raise SlackError(f"invalid_{name}")
    return value


def _channel(session: Session, raw: str) -> str:
    """A channel id; a user id means that user's direct-message channel."""
    if not CHANNEL_ID.match(raw):
        raise SlackError("channel_not_found")
    if raw.startswith("U"):
        if _user(session, raw) is None:
            raise SlackError("channel_not_found")
        return "D" + raw[1:]
    return raw


def _user(session: Session, user_id: str) -> SlackUser | None:
    return next((u for u in load_setting(session, USERS, Users).users if u.id == user_id), None)


def _ts(session: Session) -> str:
    """Slack's message id: seconds, a dot, a sequence (unique per workspace here)."""
    sequence = next_id(session, SYSTEM.name, "ts", "ts").rsplit("-", 1)[-1]
    seconds = int(time.time())
    return f"{seconds}.{sequence}"


def message_view(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "ts": data["ts"],
        "text": data.get("text", ""),
        "blocks": data.get("blocks") or [],
        "bot_id": BOT_USER,
        **({"edited": {"ts": data["edited"]}} if data.get("edited") else {}),
    }


def _message(session: Session, channel: str, ts: str) -> Any:
    rows = find_records(session, SYSTEM.name, MESSAGE, keys={"channel": channel, "ts": ts})
    if not rows:
        raise SlackError("message_not_found")
    return rows[0]


def post_message(session: Session, params: dict[str, str]) -> dict[str, Any]:
    channel = _channel(session, _required(params, "channel"))
    blocks = _json_list(params, "blocks")
    text = params.get("text", "")
    if not text and not blocks:
        raise SlackError("no_text")
    ts = _ts(session)
    data = {"channel": channel, "ts": ts, "text": text, "blocks": blocks or []}
    create_record(
        session,
        system=SYSTEM.name,
        kind=MESSAGE,
        prefix="MSG",
        status="posted",
        data=data,
        keys={"channel": channel, "ts": ts},
    )
    return ok(channel=channel, ts=ts, message=message_view(data))


def update_message(session: Session, params: dict[str, str]) -> dict[str, Any]:
    channel = _required(params, "channel")
    ts = _required(params, "ts")
    row = _message(session, channel, ts)
    changes: dict[str, Any] = {"edited": utc_now()}
    if "text" in params:
        changes["text"] = params["text"]
    blocks = _json_list(params, "blocks")
    if blocks is not None:
        changes["blocks"] = blocks
    update_record(session, row, changes)
    return ok(channel=channel, ts=ts, text=row.data.get("text", ""), message=message_view(row.data))


def post_ephemeral(session: Session, params: dict[str, str]) -> dict[str, Any]:
    channel = _channel(session, _required(params, "channel"))
    user = _required(params, "user")
    if _user(session, user) is None:
        raise SlackError("user_not_found")
    ts = _ts(session)
    create_record(
        session,
        system=SYSTEM.name,
        kind=EPHEMERAL,
        prefix="EPH",
        status="shown",
        data={"channel": channel, "user": user, "ts": ts, "text": params.get("text", "")},
        keys={"channel": channel, "user": user},
    )
    return ok(message_ts=ts)


def open_view(session: Session, params: dict[str, str]) -> dict[str, Any]:
    trigger_id = _required(params, "trigger_id")
    try:
        view = json.loads(_required(params, "view"))
    except ValueError:
        raise SlackError("invalid_arguments") from None
    if not isinstance(view, dict) or view.get("type") != "modal":
        raise SlackError("invalid_arguments")
    triggers = find_records(session, SYSTEM.name, TRIGGER, keys={"trigger_id": trigger_id})
    if not triggers or triggers[0].status != "issued":
        raise SlackError("invalid_trigger_id")
    change_status(session, triggers[0], "used", "used")
    user = triggers[0].data["user"]
    for earlier in find_records(session, SYSTEM.name, VIEW, status="open", keys={"user": user}):
        change_status(session, earlier, "closed", "replaced")  # one modal at a time, as Slack
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=VIEW,
        prefix="V",
        status="open",
        data={"view": view, "user": triggers[0].data["user"], "trigger_id": trigger_id},
        keys={"user": triggers[0].data["user"]},
    )
    return ok(view={"id": row.id, **view})


def user_info(session: Session, params: dict[str, str]) -> dict[str, Any]:
    user = _user(session, _required(params, "user"))
    if user is None:
        raise SlackError("user_not_found")
    return ok(user={"id": user.id, "name": user.name, "real_name": user.real_name, "is_bot": False})


def history(session: Session, params: dict[str, str]) -> dict[str, Any]:
    channel = _required(params, "channel")
    try:
        limit = max(1, min(int(params.get("limit", "100")), 1000))
    except ValueError:
        raise SlackError("invalid_limit") from None
    rows = find_records(session, SYSTEM.name, MESSAGE, keys={"channel": channel})
    newest_first = sorted(rows, key=lambda r: _ts_order(r.data["ts"]), reverse=True)
    return ok(messages=[message_view(r.data) for r in newest_first[:limit]], has_more=False)


def _ts_order(ts: str) -> tuple[int, int]:
    seconds, _, sequence = ts.partition(".")
    return int(seconds), int(sequence or 0)


METHODS = {
    "chat.postMessage": (("POST",), post_message),
    "chat.update": (("POST",), update_message),
    "chat.postEphemeral": (("POST",), post_ephemeral),
    "views.open": (("GET", "POST"), open_view),
    "users.info": (("GET", "POST"), user_info),
    "conversations.history": (("GET", "POST"), history),
}


@api.api_route("/{method}", methods=["GET", "POST"], include_in_schema=True)
async def web_api(method: str, request: Request) -> JSONResponse:
    """One Web API method; every answer is HTTP 200, an error as ``ok: false``."""
    store = state_of(request).store
    try:
        if method not in METHODS:
            raise SlackError("unknown_method")
        verbs, handler = METHODS[method]
        if request.method not in verbs:
            raise SlackError("method_not_supported_for_channel_type")
        params = await _params(request)
        with store.transaction() as session:
            _authenticate(session, request, params)
        with store.transaction() as session:
            return JSONResponse(handler(session, params))
    except SlackError as exc:
        return JSONResponse({"ok": False, "error": exc.error})


def _validated(model: type[B], body: Any) -> B:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error_from(exc, "body") from exc


@SYSTEM.admin_router.get("/users")
def get_users(request: Request) -> dict[str, Any]:
    with state_of(request).store.transaction() as session:
        return load_setting(session, USERS, Users).model_dump()


@SYSTEM.admin_router.put("/users")
def put_users(request: Request, body: Annotated[Any, Body()]) -> dict[str, Any]:
    """The workspace's people (replaces the list)."""
    users = _validated(Users, body)
    with state_of(request).store.transaction() as session:
        save_setting(session, USERS, users)
    return users.model_dump()


@SYSTEM.admin_router.put("/interactivity")
def put_interactivity(request: Request, body: Annotated[Any, Body()]) -> dict[str, Any]:
    """Where the page's clicks are sent, signed with `signing_secret` (never shown again)."""
    target = _validated(Interactivity, body)
    with state_of(request).store.transaction() as session:
        save_setting(session, INTERACTIVITY, target)
    return {"url": target.url, "signing_secret_set": target.signing_secret is not None}


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(pattern=r"^U[A-Z0-9]{1,20}$")


@SYSTEM.admin_router.post("/triggers")
def post_trigger(request: Request, body: Annotated[Any, Body()]) -> dict[str, str]:
    """A trigger id for a user, as a click would give the app (tests and chaos runs)."""
    asked = _validated(TriggerRequest, body)
    with state_of(request).store.transaction() as session:
        return {"trigger_id": issue_trigger(session, asked.user)}


@SYSTEM.admin_router.get("/seen")
def seen_by(request: Request, user: str) -> dict[str, Any]:
    """What only `user` sees: the ephemeral answers and the modals opened for them."""
    with state_of(request).store.transaction() as session:
        ephemeral = find_records(session, SYSTEM.name, EPHEMERAL, keys={"user": user})
        views = find_records(session, SYSTEM.name, VIEW, keys={"user": user})
        return {
            "ephemeral": [row.data for row in ephemeral],
            "views": [{"id": row.id, **row.data["view"]} for row in views],
        }


def issue_trigger(session: Session, user: str) -> str:
    """A trigger id for `user`, as Slack sends with a click (usable once, for views.open)."""
    trigger_id = f"{next_id(session, SYSTEM.name, 'trigger', 'T').replace('-', '')}.sandbox"
    create_record(
        session,
        system=SYSTEM.name,
        kind=TRIGGER,
        prefix="TR",
        status="issued",
        data={"user": user, "trigger_id": trigger_id},
        keys={"trigger_id": trigger_id},
    )
    return trigger_id
