"""The codec server the Temporal Web UI calls: it decodes (and encodes) for the UI's origin with
a valid token, and refuses a missing token (401), another origin (no CORS grant) and another
namespace (403). The dev stack points the UI at it."""

import asyncio
import base64
import json
import subprocess
import time

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from devstack.temporal_cli import find_temporal_cli
from domain import codec_tickets
from domain.contract import VENDOR_ONBOARDING_ID_PREFIX
from runtime.codec import ENCODING
from tests.helpers import start
from tests.security.history import event_payloads, events_of

DECODE = "/codec/decode"
EVIL_ORIGIN = "http://127.0.0.1:1"


@pytest.fixture
async def api(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, trust_env=False) as http:
        yield http


@pytest.fixture
def ui_headers(stack, codec_token) -> dict[str, str]:
    """What the Web UI sends (with the token its user configured)."""
    return {
        "Origin": stack.temporal_ui_url,
        "Authorization": f"Bearer {codec_token}",
        "X-Namespace": "default",
        "Content-Type": "application/json",
    }


def _body(payloads) -> str:
    return json_format.MessageToJson(Payloads(payloads=list(payloads)))


def _decoded(answer: httpx.Response) -> Payloads:
    return json_format.Parse(answer.text, Payloads())


async def test_decodes_a_real_history_for_the_web_ui(client, settings, stack, api, ui_headers):
    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    sealed = [p for event in await events_of(handle) for _, p in event_payloads(event)]
    assert sealed and all(p.metadata["encoding"] == ENCODING for p in sealed)

    answer = await api.post(DECODE, content=_body(sealed), headers=ui_headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == stack.temporal_ui_url
    assert "Origin" in answer.headers["vary"]
    opened = _decoded(answer).payloads
    assert len(opened) == len(sealed)
    assert all(p.metadata["encoding"] != ENCODING for p in opened)
    raw = answer.json()["payloads"][0]
    assert base64.b64decode(raw["metadata"]["encoding"]) == b"json/plain"
    assert handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX).encode() in opened[0].data


async def test_encode_then_decode_round_trips(api, ui_headers):
    plain = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJhIjogMX0="}]}
    sealed = await api.post("/codec/encode", json=plain, headers=ui_headers)
    assert sealed.status_code == 200, sealed.text
    assert _decoded(sealed).payloads[0].metadata["encoding"] == ENCODING
    opened = await api.post(DECODE, content=sealed.text, headers=ui_headers)
    assert opened.json() == plain


async def test_preflight_grants_the_web_ui_origin_only(stack, api):
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    granted = await api.options(DECODE, headers={"Origin": stack.temporal_ui_url, **asked})
    assert granted.status_code == 204
    assert granted.headers["access-control-allow-origin"] == stack.temporal_ui_url
    assert "POST" in granted.headers["access-control-allow-methods"]
    allowed = {
        h.strip().lower() for h in granted.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "x-namespace", "content-type"} <= allowed

    refused = await api.options(DECODE, headers={"Origin": EVIL_ORIGIN, **asked})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


async def test_another_origin_gets_no_cors_grant(api, ui_headers):
    answer = await api.post(
        DECODE, content=_body([]), headers={**ui_headers, "Origin": EVIL_ORIGIN}
    )
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token", "Basic dTpw"])
async def test_no_valid_token_is_401(api, ui_headers, authorization):
    headers = {k: v for k, v in ui_headers.items() if k != "Authorization"}
    if authorization:
        headers["Authorization"] = authorization
    answer = await api.post(DECODE, content=_body([]), headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] in {"UNAUTHENTICATED", "INVALID_CREDENTIALS"}


async def test_another_namespace_is_403(api, ui_headers):
    headers = {**ui_headers, "X-Namespace": "other"}
    answer = await api.post(DECODE, content=_body([]), headers=headers)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "NAMESPACE_NOT_ALLOWED"


async def test_no_namespace_header_is_the_namespace_it_serves(api, ui_headers):
    """What the `temporal` CLI sends: no X-Namespace."""
    headers = {k: v for k, v in ui_headers.items() if k != "X-Namespace"}
    answer = await api.post(DECODE, content=_body([]), headers=headers)
    assert answer.status_code == 200, answer.text


async def test_the_temporal_cli_shows_a_run_decoded_as_the_readme_says(
    client, settings, stack, codec_token
):
    handle = await start(client, settings, legal_name="Codec CLI Check GmbH")
    await handle.result()
    command = [
        str(find_temporal_cli()), "workflow", "show", "--workflow-id", handle.id,
        "--address", stack.temporal_address,
        "--codec-endpoint", f"{stack.api_url}/codec", "--codec-auth", f"Bearer {codec_token}",
        "--output", "json",
    ]  # fmt: skip
    shown = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, shown.stderr
    started = json.loads(shown.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    [payload] = started["input"]["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    assert "Codec CLI Check GmbH" in base64.b64decode(payload["data"]).decode()


async def test_bad_bodies_are_refused_in_the_error_shape(api, ui_headers):
    answer = await api.post(DECODE, content='{"payloads": "no"}', headers=ui_headers)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "INVALID_PAYLOADS"
    tampered = {
        "payloads": [
            {
                "metadata": {
                    "encoding": base64.b64encode(ENCODING).decode(),
                    "encryption-cipher": base64.b64encode(b"AES-256-GCM").decode(),
                    "encryption-wrapped-key": base64.b64encode(b"local:nothing").decode(),
                },
                "data": base64.b64encode(b"x" * 40).decode(),
            }
        ]
    }
    answer = await api.post(DECODE, json=tampered, headers=ui_headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "UNDECRYPTABLE_PAYLOAD"


async def test_a_browser_session_cookie_works_from_the_web_ui_only(
    client, settings, stack, api, codec_token, ui_headers
):
    """The Web UI cannot send a token: /codec/session gives this browser a cookie that the UI
    (configured to include credentials) sends with its codec requests."""
    refused = await api.post("/codec/session", data={"token": "wrong"})
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    started = await api.post("/codec/session", data={"token": codec_token})
    assert started.status_code == 200
    cookie = started.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/codec" in cookie
    assert codec_token not in cookie

    sealed = await client.data_converter.encode(["hello"])
    browser = {k: v for k, v in ui_headers.items() if k != "Authorization"}
    answer = await api.post(DECODE, content=_body(sealed), headers=browser)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert _decoded(answer).payloads[0].data == b'"hello"'
    elsewhere = await api.post(
        DECODE, content=_body(sealed), headers={**browser, "Origin": EVIL_ORIGIN}
    )
    assert elsewhere.status_code == 403
    api.cookies.clear()


def test_the_dev_stacks_web_ui_sends_codec_requests_with_credentials(stack):
    settings = httpx.get(f"{stack.temporal_ui_url}/api/v1/settings", timeout=10, trust_env=False)
    assert settings.status_code == 200, settings.text
    codec = {k.lower(): v for k, v in settings.json()["Codec"].items()}
    assert codec["endpoint"] == f"{stack.api_url}/codec"
    assert codec["includecredentials"] is True


async def test_a_sign_in_ticket_sets_the_session_once_then_goes_to_the_web_ui(
    client, stack, api, ui_headers
):
    link = stack.web_ui_sign_in_url("vendor-onboarding-APP 1")
    used = await api.get(link)
    assert used.status_code == 303, used.text
    target = f"{stack.temporal_ui_url}/namespaces/default/workflows/vendor-onboarding-APP%201"
    assert used.headers["location"] == target
    assert used.headers["cache-control"] == "no-store"
    cookie = used.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/codec" in cookie
    sealed = await client.data_converter.encode(["hello"])
    browser = {k: v for k, v in ui_headers.items() if k != "Authorization"}
    answer = await api.post(DECODE, content=_body(sealed), headers=browser)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == stack.temporal_ui_url
    api.cookies.clear()

    again = await api.get(link)
    assert again.status_code == 410 and "already been used" in again.text
    assert "set-cookie" not in again.headers


async def test_a_forged_or_expired_ticket_is_refused_and_sets_nothing(stack, api, codec_token):
    then = "/namespaces/default/workflows"
    expired = codec_tickets.issue(codec_token, then, time.time() - 3600, seconds=60)
    forged = codec_tickets.issue("not-the-codec-token", then, time.time())
    genuine = codec_tickets.issue(codec_token, then, time.time())
    changed = genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB")
    for ticket, status, says in (
        (expired, 410, "has expired"),
        (forged, 403, "not valid"),
        (changed, 403, "not valid"),
        ("nonsense", 403, "not valid"),
    ):
        answer = await api.get("/codec/session", params={"ticket": ticket})
        assert answer.status_code == status, (ticket, answer.text)
        assert says in answer.text and "backoffice dev web-ui" in answer.text
        assert "set-cookie" not in answer.headers
    # Not used up by the refusals above: the genuine one still works, once.
    assert (await api.get("/codec/session", params={"ticket": genuine})).status_code == 303
    api.cookies.clear()
