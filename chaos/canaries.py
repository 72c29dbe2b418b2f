"""Canaries: a recognizable secret (the mail system's SMTP password, in Vault and mailpit) and
recognizable personal data (a contact's name and email, a bank account) carried by the runs of
every plan, then looked for where they must never be: workflow histories, search attributes, the
worker's, the API's and the Temporal server's logs, and the audit rows."""

import base64
import secrets
import uuid
from typing import Any

from temporalio.client import Client

from chaos.evidence import audit_rows
from chaos.forms import iban
from devstack.stack import Stack

# The logs of our own processes and of Temporal (the sandbox's log is the external systems').
LOGS = ("worker", "api", "temporal")


def plant(stack: Stack) -> dict[str, str]:
    """Make the canaries: the mail system's SMTP password becomes a canary secret in Vault and
    in mailpit (restarted with it: every email logs in with it); the personal data goes into
    the runs' forms (see `chaos.scenarios`)."""
    secret = f"canary-secret-{secrets.token_hex(12)}"
    stack.set_smtp_password(secret)
    tag = secrets.token_hex(4)
    return {
        "secret": secret,
        "iban": iban("DE", f"CANARY{uuid.uuid4().int % 10**12:012d}"),
        "name": f"Casey Canary{tag}",
        # The local part of every canary email (each run adds its own key after it).
        "email": f"casey.canary{tag}",
    }


def spellings(value: str) -> list[str]:
    """The value as text and as it reads inside base64 at each byte alignment."""
    raw = value.encode()
    forms = [value]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        first, last = -(-shift // 3), (shift + len(raw)) // 3
        forms.append(encoded[first * 4 : last * 4])
    return forms


def count_in(text: str, canary: dict[str, str]) -> dict[str, int]:
    """How often each canary shows in `text`, in any spelling."""
    return {
        name: sum(text.count(form) for form in spellings(value) if form)
        for name, value in canary.items()
    }


async def scan(
    stack: Stack, client: Client, canary: dict[str, str], database_url: str
) -> dict[str, Any]:
    """Where the canaries show: {place: {canary: count}}, plus how much was looked at."""
    histories = search_attributes = 0
    found: dict[str, dict[str, int]] = {}

    def add(place: str, counts: dict[str, int]) -> None:
        total = found.setdefault(place, dict.fromkeys(canary, 0))
        for name, n in counts.items():
            total[name] += n

    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        histories += 1
        add("histories", count_in(history.to_json(), canary))
        attributes = {k: [str(v) for v in vs] for k, vs in execution.search_attributes.items()}
        search_attributes += 1
        add("search attributes", count_in(repr(attributes), canary))
    for log in LOGS:
        path = stack.paths.log_file(log)
        text = path.read_text(errors="replace") if path.is_file() else ""
        add("logs", count_in(text, canary))
    rows = audit_rows(database_url)
    for row in rows:
        add("audit rows", count_in(row.model_dump_json(), canary))
    return {
        "found": found,
        "histories": histories,
        "search_attributes": search_attributes,
        "audit_rows": len(rows),
    }
