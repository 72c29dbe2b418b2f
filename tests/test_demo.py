"""`backoffice demo` runs to the end on a stack of its own, and its summary matches the ledger."""

import json
import re
import subprocess
import sys

import httpx
import pytest

from chaos import evidence
from devstack.config import StackConfig
from devstack.stack import Stack
from tests.helpers import Ledger


@pytest.mark.timeout(600)
def test_the_demo_runs_to_the_end_and_its_summary_matches_the_ledger(tmp_path):
    data_dir, summary_file = tmp_path / "demo", tmp_path / "summary.json"
    try:
        out = subprocess.run(
            [sys.executable, "-m", "backoffice.cli", "demo", "--data-dir", str(data_dir),
             "--any-ports", "--json", str(summary_file)],
            capture_output=True, text=True, timeout=540, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "Summary" in out.stdout and "The stack keeps running" in out.stdout
        runs = json.loads(summary_file.read_text())
        outcomes = {run["label"]: run["outcome"] for run in runs}
        assert outcomes == {
            "web-form lead all the way to cash": "won",
            "invoice above the finance threshold": "paid",
            "contractor, approved by procurement": "onboarded",
            "high-risk country, rejected and compensated": "approval_rejected",
        }
        stack = Stack(StackConfig(data_dir=data_dir))
        with stack.sandbox_admin() as admin:
            read = Ledger(admin, stack.mailpit_url)
        ledger = {"records": read.records, "events": read.events}
        by_id = {r["id"]: r for r in ledger["records"]}
        seen: set[str] = set()
        for run in runs:
            listed = {i for ids in run["records"].values() for i in ids}
            for system, ids in run["records"].items():
                assert all(by_id[i]["system"] == system for i in ids)
            # Checked against the ledger as the fault suite reads it (not the demo's own
            # matching): every record carrying the run's business key is in its summary.
            key = _business_key(run["workflow_id"])
            view = evidence.Ledger(ledger["records"], ledger["events"])
            own = {r["id"] for r in view.of(key)}
            assert own and own <= listed, (run["label"], own - listed)
            assert not listed & seen, "a record is listed under two runs"
            seen |= listed
            assert run["workflow_id"] in out.stdout
        lead = next(r for r in runs if r["outcome"] == "won")["records"]
        assert {"crm", "esign", "billing", "portal", "mail"} <= set(lead)
        rejected = next(r for r in runs if r["outcome"] == "approval_rejected")["records"]
        assert set(rejected) == {"mail"}  # nothing left in the ERP or the portal
        # The Web UI link it prints signs the browser in to the codec server, once.
        (link,) = re.findall(r"http://\S+/codec/session\?ticket=\S+", out.stdout)
        signed_in = httpx.get(link, timeout=10, trust_env=False)
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"].startswith(f"{stack.temporal_ui_url}/namespaces/")
        assert "backoffice_codec_session=" in signed_in.headers["set-cookie"]
        assert httpx.get(link, timeout=10, trust_env=False).status_code == 410
    finally:
        Stack(StackConfig(data_dir=data_dir)).down()


def _business_key(workflow_id: str) -> str:
    for prefix in ("vendor-onboarding-", "invoice-", "lead-to-cash-"):
        if workflow_id.startswith(prefix):
            return workflow_id.removeprefix(prefix)
    raise AssertionError(f"not a business workflow id: {workflow_id}")
