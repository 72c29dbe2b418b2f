"""The README's deciding commands as typed, through the installed `backoffice` entry point
(not `python -m`): `reject` an invoice's finance approval, `void` a sent invoice."""

import subprocess
import sys
from pathlib import Path

from domain.contract import INVOICE_ID_PREFIX
from domain.invoice import InvoiceResult
from tests.helpers import failure_of, result_of, stage_in, wait_for
from tests.invoicing import AT_THRESHOLD, PATIENT_APPROVALS, billing_invoices, start_invoice_run

# The console script pip installed beside this Python (`.venv/bin/backoffice`).
ENTRY_POINT = Path(sys.executable).with_name("backoffice")


def backoffice(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert ENTRY_POINT.is_file(), f"{ENTRY_POINT} is missing: pip install -e '.[dev]'"
    return subprocess.run(
        [str(ENTRY_POINT), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


async def test_reject_as_typed_deletes_the_draft(client, settings, admin, crm, cli_env):
    handle = await start_invoice_run(
        client, settings, crm, policy=PATIENT_APPROVALS, lines=AT_THRESHOLD
    )
    number = handle.id.removeprefix(INVOICE_ID_PREFIX)
    await wait_for(lambda: stage_in(handle, "awaiting_approval"), what="finance approval")

    out = backoffice(
        "reject", handle.id, "--as", "fiona", "--comment", "wrong price list", env=cli_env
    )

    assert out.returncode == 0, out.stderr
    assert (await failure_of(handle)).type == "APPROVAL_REJECTED"
    assert [i["status"] for i in billing_invoices(admin, number)] == ["deleted"]  # a draft: deleted


async def test_void_as_typed_voids_a_sent_invoice(client, settings, admin, crm, cli_env):
    handle = await start_invoice_run(client, settings, crm)
    number = handle.id.removeprefix(INVOICE_ID_PREFIX)
    await wait_for(lambda: stage_in(handle, "awaiting_payment"), what="the invoice to be sent")

    out = backoffice("void", number, "--as", "fiona", "--reason", "order cancelled", env=cli_env)

    assert out.returncode == 0, out.stderr
    result: InvoiceResult = await result_of(handle)
    assert result.status == "void"
    assert [i["status"] for i in billing_invoices(admin, number)] == ["void"]
