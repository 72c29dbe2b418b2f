"""`backoffice demo`: bring the whole local stack up, then run the product end to end.

Runs, in parallel: a web-form lead all the way to cash, an invoice that needs finance approval,
and two vendor onboardings (one approved, one rejected and compensated). Decisions go through
the HTTP API as the seeded demo approvers, or, with `--interactive`, wait for a person in the
approval inbox. The stack stays up afterwards for exploring.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

from backoffice.cli.parsing import CommandParser
from backoffice.demo_runs import (
    DemoApi,
    DemoFailed,
    DemoRun,
    demo_key,
    invoice_with_approval,
    lead_to_cash,
    vendor_onboarding,
)
from backoffice.demo_summary import records_by_run, summary_table
from devstack.config import StackConfig
from devstack.crm_seed import SandboxCrm
from devstack.errors import StackError
from devstack.mailbox import Mailbox
from devstack.stack import Stack
from runtime.settings import load_settings

VENDORS = [
    (
        "contractor, approved by procurement",
        "approve",
        {
            "legal_name": "Northwind Consulting Ltd",
            "country": "GB",
            "vendor_type": "contractor",
            "payment_terms": "net15",
            "bank_account": {"iban": "GB82WEST12345698765432", "bic": "WESTGB2LXXX"},
        },
    ),
    (
        "high-risk country, rejected and compensated",
        "reject",
        {
            "legal_name": "Contoso Trading LLC",
            "country": "IR",
            "vendor_type": "supplier",
            "payment_terms": "net30",
            "bank_account": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
        },
    ),
]


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="backoffice demo", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument(
        "--any-ports", action="store_true", help="pick free ports instead of the default ones"
    )
    parser.add_argument(
        "--interactive",
        action="store_true",
        help="wait for a person to decide each approval in the inbox",
    )
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    return parser


def _report(workflow_id: str, what: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')}  {workflow_id:<42} {what}", flush=True)


async def _run(stack: Stack, interactive: bool) -> list[DemoRun]:
    settings = load_settings()
    api = DemoApi(stack, _report, interactive=interactive)
    crm = SandboxCrm(stack)
    key = demo_key()
    runs: list[Coroutine[Any, Any, DemoRun]] = [
        lead_to_cash(api, settings, key),
        invoice_with_approval(api, settings, crm, key),
    ]
    for n, (label, decision, application) in enumerate(VENDORS, start=1):
        body = {**application, "tax_id": f"{application['country']}{key}{n:03d}"}
        runs.append(vendor_onboarding(api, f"{key}-{n}", label, decision, body))
    try:
        return list(await asyncio.gather(*runs))
    finally:
        await api.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = StackConfig(data_dir=args.data_dir)
    if args.any_ports:
        config = config.model_copy(
            update={
                name: 0
                for name in (
                    "temporal_port",
                    "temporal_ui_port",
                    "vault_port",
                    "sandbox_port",
                    "api_port",
                    "smtp_port",
                    "mailpit_ui_port",
                )
            }
        )
    stack = Stack(config)
    try:
        stack.up()
    except StackError as exc:
        print(f"backoffice demo: the stack did not come up: {exc}", file=sys.stderr)
        return 1
    os.environ["BACKOFFICE_ENV_FILE"] = str(stack.env_file)
    for name, value in stack.client_env().items():
        os.environ[name] = value
    inbox = f"{stack.api_url}/inbox"
    print(f"\nRunning the demo (Temporal Web UI: {stack.temporal_ui_url}, inbox: {inbox}):")
    try:
        runs = asyncio.run(_run(stack, args.interactive))
    except (DemoFailed, httpx.HTTPError) as exc:
        print(f"\nbackoffice demo failed: {exc}", file=sys.stderr)
        print(f"Logs: {stack.log_dir}", file=sys.stderr)
        return 1
    with stack.sandbox_admin() as admin:
        ledger = admin.get("/_admin/ledger").raise_for_status().json()
    ledger["records"] += Mailbox(stack.mailpit_url).records()  # mail: ids are Message-IDs
    records = records_by_run(runs, ledger)
    print("\n" + summary_table(runs, records))
    print(f"\nApproval inbox: {inbox}   (demo passwords: {stack.credentials_file})")
    print(f"Every email sent (approve links included): {stack.mailpit_url}   (mailpit)")
    print(f"Approvals in Slack (the sandbox's Slack, working buttons): {stack.sandbox_url}/_slack")
    # The Web UI shows decoded payloads to a browser signed in to the codec server.
    print(
        f"Temporal Web UI ({stack.temporal_ui_url}): open this sign-in link first; it works "
        "once, within 30 minutes (a new one: backoffice dev web-ui)\n"
        f"  {stack.web_ui_sign_in_url()}"
    )
    print(f"The stack keeps running. Stop it with: backoffice dev down --data-dir {args.data_dir}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [run.model_dump() | {"records": records[run.workflow_id]} for run in runs], indent=2
            )
        )
    return 0
