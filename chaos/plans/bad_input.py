"""Bad input at scale: schemathesis over the API's OpenAPI document (valid and invalid requests)
and a hypothesis fuzz of webhook bodies and signatures. No 5xx, no workflow started by bad input,
no event applied without a valid signature.

schemathesis and hypothesis are development dependencies (the `dev` extra): this plan imports
them when it runs, so the rest of the product never needs them.
"""

import asyncio
import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from chaos.evidence import inbox_rows
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from devstack.paths import project_root
from domain.contract import SCHEDULED_RECONCILIATION_ID_PREFIX
from starters.webhooks.signature import header_for, sign

OPENAPI = Path("docs") / "openapi.json"
WEBHOOK_SYSTEMS = ("billing", "crm", "esign")


class BadInput(Plan):
    name = "bad-input"
    title = (
        "schemathesis sends valid and invalid requests to every operation of the API's OpenAPI "
        "document; hypothesis fuzzes webhook bodies and signatures (none, made up, stale, "
        "another secret's, valid over random bodies), and every header the API reads (huge and "
        "non-ASCII digits, bytes that are no text, overlong values) and JSON numbers of "
        "thousands of digits."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        before = await _workflow_ids(ctx)
        examples = 5 if ctx.short else 25
        api = await asyncio.to_thread(_fuzz_api, ctx, examples)
        secrets = await asyncio.to_thread(_webhook_secrets, ctx)
        hooks = await asyncio.to_thread(_fuzz_webhooks, ctx, secrets, 60 if ctx.short else 300)
        headers = await asyncio.to_thread(_fuzz_headers, ctx, 60 if ctx.short else 300)
        after = await _workflow_ids(ctx)
        # The daily reconciliation's schedule may start a run meanwhile: not input at all.
        unexplained = {
            w
            for w in after - before - set(api["started"])
            if not w.startswith(SCHEDULED_RECONCILIATION_ID_PREFIX)
        }
        fuzzed = set(hooks["event_ids"])
        applied = [
            row
            for row in inbox_rows(ctx.driver.settings.resolved_database_url)
            if row.event_id in fuzzed and row.status == "delivered"
        ]
        violations = []
        for what, n in (
            ("API answers 5xx", len(api["server_errors"])),
            ("webhook answers 5xx", hooks["server_errors"]),
            ("5xx to malformed headers and numbers", len(headers["server_errors"])),
            ("workflows started by bad input", len(unexplained)),
            ("badly signed webhooks accepted", hooks["accepted_unsigned"]),
            ("fuzzed events applied to a run", len(applied)),
        ):
            if n:
                detail = f"{n}" + (f": {api['server_errors'][:3]}" if "API" in what else "")
                if "headers" in what:
                    detail += f": {headers['server_errors'][:3]}"
                violations.append(Violation(invariant=f"no {what}", detail=detail))
        return PlanOutcome(
            runs=[],
            figures={
                "API requests (valid / invalid; not valid HTTP, so not sent)": (
                    f"{api['positive']} / {api['negative']}; {api['not_sent']}"
                ),
                "API answers by status": _statuses(api["statuses"]),
                "API answers 5xx": len(api["server_errors"]),
                "workflows started (by valid requests / by bad input)": (
                    f"{len(set(api['started']))} / {len(unexplained)}"
                ),
                "webhook requests (validly signed)": f"{hooks['requests']} ({hooks['signed']})",
                "webhook answers by status": _statuses(hooks["statuses"]),
                "webhook answers 5xx": hooks["server_errors"],
                "badly signed webhooks accepted": hooks["accepted_unsigned"],
                "fuzzed events applied to a run": len(applied),
                "malformed headers and huge numbers (not valid HTTP, so not sent)": (
                    f"{headers['requests']} ({headers['not_sent']})"
                ),
                "their answers by status": _statuses(headers["statuses"]),
            },
            violations=violations,
        )


def _statuses(counts: Counter[int]) -> str:
    """`status: count`, with 0 standing for no answer at all."""
    return ", ".join(f"{status or 'none'}: {n}" for status, n in sorted(counts.items()))


async def _workflow_ids(ctx: PlanContext) -> set[str]:
    return {execution.id async for execution in ctx.driver.client.list_workflows()}


def _fuzz_api(ctx: PlanContext, examples: int) -> dict[str, Any]:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from requests.exceptions import ChunkedEncodingError
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok

    credentials = ctx.stack.credentials()
    service = {"Authorization": f"Bearer {credentials['api_clients']['svc-onboarding']}"}
    approver = (ctx.driver.passwords and ("pat", ctx.driver.passwords["pat"])) or None
    schema = schemathesis.openapi.from_path(project_root() / OPENAPI)
    found: dict[str, Any] = {
        "statuses": Counter(),
        "server_errors": [],
        "started": [],
        "positive": 0,
        "negative": 0,
        "no_invalid_form": 0,
        "not_sent": 0,
    }
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            continue  # an operation schemathesis cannot read: the document test reports it
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            positive = mode == GenerationMode.POSITIVE

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def probe(case: Any) -> None:
                headers = dict(service)
                auth = None
                if case.operation.path.startswith("/v1/approvals/") and approver:
                    headers, auth = {}, approver
                found["positive" if positive else "negative"] += 1  # noqa: B023 (run at once)
                try:
                    response = case.call(
                        base_url=ctx.stack.api_url, headers=headers, auth=auth, timeout=60
                    )
                except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError):
                    # No answer at all: the server broke on it.
                    found["statuses"][0] += 1
                    found["server_errors"].append(f"{case.method} {case.formatted_path} -> none")
                    return
                except requests.RequestException:
                    found["not_sent"] += 1  # no valid HTTP request (e.g. a header): never sent
                    return
                found["statuses"][response.status_code] += 1
                if response.status_code >= 500:
                    found["server_errors"].append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}"
                    )
                if response.status_code == 202:
                    found["started"].append(response.json().get("workflow_id", ""))

            try:
                probe()
            except Unsatisfiable:
                found["no_invalid_form"] += 1  # schemathesis found no invalid request to make
    return found


def _webhook_secrets(ctx: PlanContext) -> dict[str, str]:
    vault = ctx.stack.vault_root()
    return {
        system: str(
            vault.secrets.kv.v2.read_secret_version(
                path=f"backoffice/webhooks/{system}",
                mount_point="secret",
                raise_on_deleted_version=True,
            )["data"]["data"]["secrets"][0]
        )
        for system in WEBHOOK_SYSTEMS
    }


def _fuzz_webhooks(ctx: PlanContext, secrets: dict[str, str], examples: int) -> dict[str, Any]:
    import httpx
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    values = st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=12,
    )
    types = st.sampled_from(["invoice.paid", "deal.stage_changed", "envelope.completed"])
    events = st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=80),
            "type": types | st.text(max_size=30),
            "data": values,
        },
        optional={"created": st.integers(), "system": st.text(max_size=10)},
    )
    bodies = (
        st.binary(max_size=300)
        | values.map(lambda v: json.dumps(v).encode())
        | events.map(lambda e: json.dumps(e).encode())
    )
    signing = st.sampled_from(["none", "garbage", "stale", "other-secret", "valid", "valid"])
    found: dict[str, Any] = {
        "statuses": Counter(),
        "server_errors": 0,
        "accepted_unsigned": 0,
        "requests": 0,
        "signed": 0,
        "event_ids": [],
    }

    with httpx.Client(base_url=ctx.stack.api_url, timeout=60, trust_env=False) as http:

        @given(
            system=st.sampled_from([*WEBHOOK_SYSTEMS, "erp", "unknown"]),
            body=bodies,
            how=signing,
            garbage=garbage_header_values(),
        )
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def probe(system: str, body: bytes, how: str, garbage: str) -> None:
            now = int(time.time())
            secret = secrets.get(system, "no-secret")
            headers = {"Content-Type": "application/json"}
            name = header_for(system)  # billing's is Stripe-Signature
            if how == "garbage":
                headers[name] = garbage
            elif how == "stale":
                headers[name] = sign(body, secret, now - 3600)
            elif how == "other-secret":
                headers[name] = sign(body, secret + "-not", now)
            elif how == "valid":
                headers[name] = sign(body, secret, now)
            valid = how == "valid" and system in WEBHOOK_SYSTEMS
            found["requests"] += 1
            found["signed"] += valid
            try:
                response = http.post(f"/webhooks/{system}", content=body, headers=headers)
            except httpx.TransportError as exc:  # no answer at all: the server broke on it
                if isinstance(exc, httpx.LocalProtocolError):
                    raise  # our own request was not valid HTTP: a bug of this fuzz
                found["statuses"][0] += 1
                found["server_errors"] += 1
                return
            found["statuses"][response.status_code] += 1
            if response.status_code >= 500:
                found["server_errors"] += 1
            if response.is_success and not valid:
                found["accepted_unsigned"] += 1
            if valid:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    found["event_ids"].append(str(json.loads(body)["id"]))

        probe()
    return found


def garbage_header_values() -> Any:
    """Made-up signature header values: visible ASCII with no space at either end (anything else
    is no valid HTTP request at all; the client refuses to send it)."""
    from hypothesis import strategies as st

    printable = st.characters(min_codepoint=32, max_codepoint=126)
    return st.text(alphabet=printable, max_size=120).map(lambda value: value.strip(" "))


# Every header the API reads, on a route that reads it.
HEADER_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/v1/approvals", "Authorization"),
    ("POST", "/v1/invoices", "Content-Type"),
    ("POST", "/webhooks/billing", "Stripe-Signature"),
    ("POST", "/webhooks/crm", "Webhook-Signature"),
    ("POST", "/codec/decode", "Authorization"),
    ("POST", "/codec/decode", "X-Namespace"),
    ("POST", "/codec/decode", "Origin"),
    ("POST", "/codec/decode", "Cookie"),
    ("GET", "/inbox", "Cookie"),
    ("POST", "/inbox/sign-in", "Cookie"),
    ("GET", "/readyz", "Accept"),
]


def malformed_header_values() -> Any:
    """Header values of the classes that broke servers: digits `int()` refuses (superscripts,
    thousands of them), digits of other scripts, bytes that are no UTF-8, overlong values, and
    each inside the structure a header should have (`t=...,v1=...`, `name=value`, `Basic ...`)."""
    from hypothesis import strategies as st

    digits = st.sampled_from(
        ["\u00b2\u00b3", "\u0661\u0662\u0663", "\uff11\uff12", "9" * 5000, "-1"]
    )
    raw = st.binary(min_size=1, max_size=40).map(
        lambda b: bytes(c for c in b if c not in b"\r\n\x00") or b"x"
    )
    overlong = st.integers(min_value=8_000, max_value=70_000).map(lambda n: b"A" * n)
    text = (digits | st.text(max_size=20)).map(lambda t: t.encode())
    shaped = st.tuples(
        st.sampled_from(
            [
                "t={},v1=ab",
                "t=1,v1={}",
                "backoffice_codec_session={}.ab",
                "Basic {}",
                "Bearer {}",
                "{}",
                "application/{}",
                "http://{}",
            ]
        ),
        digits | st.text(max_size=20),
    ).map(lambda pair: pair[0].format(pair[1]).encode())
    return (shaped | text | raw | overlong).map(lambda v: v.strip(b" \t") or b"x")


def _fuzz_headers(ctx: PlanContext, examples: int) -> dict[str, Any]:
    import httpx
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    found: dict[str, Any] = {
        "statuses": Counter(),
        "server_errors": [],
        "requests": 0,
        "not_sent": 0,
    }
    huge_number = b'{"invoice_number": "INV-1", "lines": [{"quantity": ' + b"9" * 5000 + b"}]}"
    with httpx.Client(base_url=ctx.stack.api_url, timeout=60, trust_env=False) as http:

        @given(
            route=st.sampled_from(HEADER_ROUTES),
            value=malformed_header_values(),
            huge=st.booleans(),
        )
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def probe(route: tuple[str, str, str], value: bytes, huge: bool) -> None:
            method, path, name = route
            body = huge_number if huge else b"{}"
            headers: dict[str, Any] = {"Content-Type": "application/json", name: value}
            found["requests"] += 1
            try:
                response = http.request(method, path, content=body, headers=headers)
            except httpx.LocalProtocolError:
                found["not_sent"] += 1  # not valid HTTP: never sent
                return
            except httpx.TransportError:  # no answer at all: the server broke on it
                found["statuses"][0] += 1
                found["server_errors"].append(f"{method} {path} {name} -> none")
                return
            found["statuses"][response.status_code] += 1
            if response.status_code >= 500:
                found["server_errors"].append(f"{method} {path} {name} -> {response.status_code}")

        probe()
    return found
