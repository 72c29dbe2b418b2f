"""Steps that used to read every record of a system read only what they need (issue 20 item 4):
taking a vendor off the approved supplier list asks the ERP for that vendor's entries, and the
owner of an older lead-to-cash run is chosen without counting the CRM's deals. Real HTTP to the
test stack's sandbox; an event hook only watches the requests."""

import dataclasses
import uuid

import httpx
from temporalio.testing import ActivityEnvironment

from activities.crm import CrmActivities
from activities.erp import ErpActivities
from domain.lead import owner_for
from domain.records import AssignOwnerInput, RemoveApprovedSupplierInput
from domain.systems import System
from tests.helpers import audit_rows, system_client


def _in_run(workflow_id: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=workflow_id)
    return env


def _erp(stack) -> httpx.Client:
    login = stack.vault_root().secrets.kv.v2.read_secret_version(
        path="backoffice/systems/erp", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    return httpx.Client(
        base_url=f"{stack.sandbox_url}/erp",
        auth=(login["username"], login["password"]),
        timeout=10,
        trust_env=False,
    )


def _listed_vendor(erp: httpx.Client, external_ref: str) -> str:
    """A vendor on the approved supplier list, through the ERP's API."""
    vendor = erp.post(
        "/vendors",
        json={
            "external_ref": external_ref,
            "legal_name": f"Listed {external_ref} GmbH",
            "tax_id": f"DE{uuid.uuid4().int % 10**9:09d}",
            "country": "DE",
            "vendor_type": "supplier",
            "payment_terms": "net30",
            "contact_email": "ap@listed.example",
            "bank_account": {"iban": "DE89370400440532013000", "bic": "DEUTDEFFXXX"},
        },
    ).raise_for_status()
    vendor_id = str(vendor.json()["id"])
    erp.post("/approved-suppliers", json={"vendor_id": vendor_id}).raise_for_status()
    return vendor_id


def _status(erp: httpx.Client, vendor_id: str) -> list[str]:
    listed = erp.get("/approved-suppliers", params={"vendor_id": vendor_id}).raise_for_status()
    return [e["status"] for e in listed.json()["entries"]]


async def test_a_supplier_removal_asks_only_for_that_vendors_entries(stack, settings):
    key = uuid.uuid4().hex[:8].upper()
    with _erp(stack) as erp:
        ours = _listed_vendor(erp, f"APP-RM{key}")
        other = _listed_vendor(erp, f"APP-KEEP{key}")
        sent: list[httpx.Request] = []
        activities = ErpActivities(system_client(stack, settings, System.ERP, sent))

        undone = await _in_run(f"vendor-onboarding-APP-RM{key}").run(
            activities.remove_approved_supplier,
            RemoveApprovedSupplierInput(external_ref=f"APP-RM{key}"),
        )

        assert undone.undone and ours in undone.description
        assert _status(erp, ours) == ["removed"]
        assert _status(erp, other) == ["listed"]
    reads = [r for r in sent if r.method == "GET" and r.url.path.endswith("/approved-suppliers")]
    assert reads and all(r.url.params.get("vendor_id") == ours for r in reads)


async def test_an_older_runs_owner_is_chosen_without_reading_the_crm(stack, settings):
    sent: list[httpx.Request] = []
    activities = CrmActivities(system_client(stack, settings, System.CRM, sent))
    reps = ["ana@company.example", "ben@company.example", "cy@company.example"]
    workflow_id = f"lead-to-cash-WEB-{uuid.uuid4().hex[:8].upper()}"

    owner = await _in_run(workflow_id).run(activities.assign_owner, AssignOwnerInput(reps=reps))
    again = await _in_run(workflow_id).run(activities.assign_owner, AssignOwnerInput(reps=reps))

    assert owner.email == again.email == owner_for(workflow_id, reps)
    assert sent == [] and audit_rows(settings, workflow_id) == []
