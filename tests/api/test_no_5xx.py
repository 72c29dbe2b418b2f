"""Inputs that used to answer 500 (and drop the connection): each gets a 4xx with the error
shape now. The chaos `bad-input` plan draws more of each class."""

import hashlib
import hmac
import json
import socket
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from chaos.plans.bad_input import _fuzz_headers
from tests.api.checks import error_of
from tests.invoicing import invoice_request

HUGE = "9" * 5000  # past the 4,300 digits Python's int() takes from text


async def test_a_number_with_thousands_of_digits_is_400(api, service):
    body = invoice_request("ACC-000001", "DEAL-000001")
    raw = json_with_number(body, "tax_rate_bp", HUGE)
    answer = await api.post(
        "/v1/invoices",
        content=raw,
        headers={**service("svc-onboarding"), "Content-Type": "application/json"},
    )
    error_of(answer, 400, "INVALID_JSON")


@pytest.mark.parametrize(
    "header",
    [
        "t=\u00b2\u00b2\u00b2,v1=abc",  # superscript digits: isdigit() says yes, int() says no
        f"t={HUGE},v1=abc",
        "t=\u0661\u0662\u0663,v1=abc",  # Arabic-Indic digits
        f"t={int(time.time())},v1=\u00e9t\u00e9",  # a non-ASCII signature
    ],
    ids=["superscript", "huge", "arabic-indic", "non-ascii-v1"],
)
@pytest.mark.parametrize("system", ["billing", "crm"])
async def test_a_malformed_signature_header_is_401(api, system, header):
    name = "Stripe-Signature" if system == "billing" else "Webhook-Signature"
    answer = await api.post(
        f"/webhooks/{system}",
        content=b'{"id": "evt_1", "type": "x"}',
        headers={name: header.encode()},  # raw bytes: HTTP carries them
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] in {"SIGNATURE_MALFORMED", "SIGNATURE_STALE"}


@pytest.mark.parametrize(
    "cookie", ["\u00b2\u00b2\u00b2.abc", f"{HUGE}.abc", "\u0661\u0662.abc", ".", ""]
)
async def test_a_malformed_codec_session_cookie_is_refused(api, stack, cookie):
    mac = hmac.new(b"x", b"y", hashlib.sha256).hexdigest()
    answer = await api.post(
        "/codec/decode",
        json={"payloads": []},
        headers={
            "Cookie": f"backoffice_codec_session={cookie or mac}".encode(),
            "Origin": stack.temporal_ui_url,
            "X-Namespace": "default",
        },
    )
    assert 400 <= answer.status_code < 500, answer.text


async def test_an_overlong_header_is_431(api):
    """A head over the limit is refused whether the server received it whole or in pieces."""
    answer = await api.get("/v1/approvals", headers={"Authorization": "Basic " + "A" * 70_000})
    error_of(answer, 431, "REQUEST_HEADERS_TOO_LARGE")
    answer = await api.get("/v1/approvals", headers={"X-Note": "A" * 15_000})
    assert answer.status_code == 401, answer.text  # under the limit: on to the credentials


def test_an_overlong_head_sent_in_pieces_gets_its_431(stack):
    """A client still sending a head over the limit when the server refuses it reads the 431:
    the server closes in stages (starters/api/http_protocol.py); closing at once sent a TCP
    reset, and the client saw "connection reset" instead of an answer."""
    head = b"GET /v1/approvals HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + b"A" * 70_000
    where = urlsplit(stack.api_url)
    for _ in range(5):
        with socket.create_connection((where.hostname, where.port), timeout=30) as conn:
            conn.sendall(head[:20_000])  # past the limit, but not yet a whole head
            time.sleep(0.05)
            conn.sendall(head[20_000:] + b"\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)
            answer = b"".join(iter(lambda: conn.recv(65536), b""))
        head_of_answer, _, body = answer.partition(b"\r\n\r\n")
        assert head_of_answer.startswith(b"HTTP/1.1 431 "), answer[:300]
        assert json.loads(body)["error"]["code"] == "REQUEST_HEADERS_TOO_LARGE"


def json_with_number(body: dict[str, Any], key: str, digits: str) -> bytes:
    """`body` as JSON whose first line's `key` holds `digits` as a bare number."""
    body = {**body, "lines": [{**body["lines"][0], key: 0}]}
    return json.dumps(body).replace(f'"{key}": 0', f'"{key}": {digits}', 1).encode()


def test_the_chaos_header_fuzz_finds_no_5xx(stack):
    """The chaos `bad-input` plan's fuzz of every header the API reads, on this stack."""
    found = _fuzz_headers(SimpleNamespace(stack=stack), 60)  # type: ignore[arg-type]
    assert found["requests"] - found["not_sent"] > 30
    assert found["server_errors"] == []
