"""The demo's closing table: each run, its outcome, the records it made in each system."""

from typing import Any

from backoffice.demo_runs import DemoRun
from domain.contract import LEAD_TO_CASH_ID_PREFIX, WORKFLOW_ID_PREFIXES
from domain.lead import lead_invoice_number

Records = dict[str, list[str]]


def _keys(run: DemoRun) -> set[str]:
    """The business keys a run's records carry (a lead's invoice has its own number)."""
    for prefix in WORKFLOW_ID_PREFIXES:
        if run.workflow_id.startswith(prefix):
            key = run.workflow_id.removeprefix(prefix)
            return {key, lead_invoice_number(key)} if prefix == LEAD_TO_CASH_ID_PREFIX else {key}
    return {run.workflow_id}


def _belongs(record: dict[str, Any], keys: set[str]) -> bool:
    data = record.get("data") or {}
    tags = data.get("tags") or {}
    form = data.get("form") or {}
    return bool(
        record.get("external_ref") in keys
        or data.get("external_ref") in keys
        or tags.get("business_key") in keys
        or data.get("number") in keys
        or form.get("lead_id") in keys
    )


def records_for(run: DemoRun, ledger: dict[str, Any]) -> Records:
    keys = _keys(run)
    mine = [r for r in ledger["records"] if _belongs(r, keys)]
    # Records found through the ones above: an invoice's customer, a deal's account,
    # a vendor's supplier-list entry.
    linked = {
        str(value)
        for r in mine
        for value in (
            (r.get("data") or {}).get("customer_id"),
            (r.get("data") or {}).get("account_id"),
            ((r.get("data") or {}).get("metadata") or {}).get("crm_deal_id"),
            r["id"] if r["kind"] == "vendor" else None,
        )
        if value
    }
    # Twice: an invoice leads to its customer, the customer to its CRM account.
    for _ in range(2):
        for record in ledger["records"]:
            data = record.get("data") or {}
            if record not in mine and (record["id"] in linked or data.get("vendor_id") in linked):
                mine.append(record)
                linked.update(
                    str(v) for v in (record.get("external_ref"), data.get("account_id")) if v
                )
    by_system: Records = {}
    for record in sorted(mine, key=lambda r: (r["system"], r["id"])):
        by_system.setdefault(record["system"], []).append(record["id"])
    return by_system


def records_by_run(runs: list[DemoRun], ledger: dict[str, Any]) -> dict[str, Records]:
    return {run.workflow_id: records_for(run, ledger) for run in runs}


def summary_table(runs: list[DemoRun], records: dict[str, Records]) -> str:
    lines = ["Summary"]
    for run in runs:
        lines.append(f"- {run.workflow_id}  ({run.label})")
        lines.append(f"    outcome:  {run.outcome}")
        made = records[run.workflow_id]
        for system, ids in made.items():
            lines.append(f"    {system + ':':<12}{', '.join(ids)}")
        lines.append(f"    Web UI:   {run.web_ui_url}")
    return "\n".join(lines)
