"""The logs of the session stack's worker and API: one JSON object per line, each line of a run
carrying its workflow and activity ids, and personal data that reaches a log redacted there and
in the audit rows alike."""

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from devstack.worker_process import READY_LINE
from domain.approvals import Decision, SignalDecisionInput
from domain.contract import APPROVE_SIGNAL, vendor_onboarding_id
from runtime.db import AuditRow, make_engine
from runtime.redaction import REDACTED
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import (
    fault_for_run,
    iban,
    new_application_id,
    result_of,
    start,
    status,
    wait_for,
)

OLGA = Approver(id="olga", name="Olga", email="olga@company.example", roles=["procurement"])
LINE_FIELDS = {"time", "level", "logger", "message", "service"}


def _offset(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _lines_since(path: Path, offset: int) -> list[str]:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8").splitlines()


def _log_records(path: Path, offset: int, service: str) -> list[dict[str, Any]]:
    """Every line written since `offset`, parsed; devstack's own start markers and the worker's
    ready line (printed for devstack to wait on) are the only lines that are not log records."""
    records = []
    for line in _lines_since(path, offset):
        if not line or line.startswith("=== ") or line == READY_LINE:
            continue
        record = json.loads(line)
        assert isinstance(record, dict) and set(record) >= LINE_FIELDS, line
        assert record["service"] == service, line
        records.append(record)
    return records


async def _pending(handle) -> str | None:
    pending = (await status(handle)).pending_approval
    return pending.request.approval_id if pending else None


async def test_every_worker_line_is_json_and_a_runs_lines_carry_its_ids(client, settings, stack):
    log = stack.worker_log_path()
    offset = _offset(log)
    handle = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    approval_id = await wait_for(lambda: _pending(handle), timeout=30, what="the risk review")
    # A signal that breaks the rules: the workflow logs the refusal through workflow.logger.
    await handle.signal(
        APPROVE_SIGNAL,
        SignalDecisionInput(approval_id=approval_id, approver="fiona", approver_roles=["finance"]),
    )
    await wait_for(lambda: _decisions(handle), timeout=20, what="the refused signal to be recorded")
    assert (await decide(client, OLGA, handle.id, Decision.APPROVE, "checked")).accepted
    await result_of(handle)
    run_id = (await handle.describe()).run_id

    records = _log_records(log, offset, "worker")
    mine = [r for r in records if r.get("workflow_id") == handle.id]
    assert mine and all(r.get("run_id") == run_id for r in mine)
    assert all(r["workflow_type"] == "VendorOnboarding" for r in mine)

    refusal = [r for r in mine if r["message"] == "signalled decision refused: WRONG_ROLE"]
    assert len(refusal) == 1, [r["message"] for r in mine]
    assert refusal[0]["logger"] == "temporalio.workflow" and refusal[0]["level"] == "WARNING"
    assert refusal[0]["task_queue"] == "backoffice" and "activity_id" not in refusal[0]

    # Every activity the run scheduled that logs has log lines with its id, type, attempt, queue.
    scheduled = {
        (
            e.activity_task_scheduled_event_attributes.activity_id,
            e.activity_task_scheduled_event_attributes.activity_type.name,
        )
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    # Those that call a system over HTTP log each request (httpx); mail goes over SMTP and the
    # directory is read from Vault, neither of which logs a line of its own.
    over_http = {(i, t) for i, t in scheduled if not t.startswith(("mail.", "directory."))}
    assert len(over_http) >= 4
    logged = {(r["activity_id"], r["activity_type"]) for r in mine if "activity_id" in r}
    assert over_http <= logged, over_http - logged
    for record in mine:
        if "activity_id" in record:
            assert record["attempt"] >= 1
            assert record["task_queue"] == f"backoffice-{record['activity_type'].split('.')[0]}"
    # The ids are fields of their own, not appended to the message as in the SDK's default.
    assert not any("{'" in r["message"] for r in mine)


async def _decisions(handle) -> bool:
    return bool((await status(handle)).decisions)


def test_every_api_line_is_json_and_link_tokens_are_not_in_it(stack):
    log = stack.api_log_path()
    offset = _offset(log)
    token = f"canary-link-{uuid.uuid4().hex}"
    with httpx.Client(base_url=stack.api_url, timeout=30, trust_env=False) as api:
        assert api.get("/healthz").status_code == 200
        api.get(f"/inbox/links/{token}")
    records = _log_records(log, offset, "api")
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any('"GET /healthz HTTP/1.1" 200' in r["message"] for r in access), access
    assert any("/inbox/links/<token>" in r["message"] for r in access), access
    assert token not in log.read_text()
    assert not any("color_message" in r for r in records)  # uvicorn's ANSI copy is left out


@pytest.fixture
def echoing_erp(admin):
    """The ERP answers one vendor creation with a 503 whose error code echoes personal data:
    a canary email and IBAN (the attempt is retried and succeeds). Only the creates of the run
    with the application id it returns meet it."""
    email = f"c-{uuid.uuid4().hex[:8]}@canary.example"
    account = iban("DE", f"{uuid.uuid4().int % 10**18:018d}")
    rule = {
        "status": 503,
        "code": f"LOCKED {email} {account}",
        "path": "/vendors$",
        "method": "POST",
        "count": 1,
    }
    key = new_application_id()
    fault_for_run(admin, "erp", vendor_onboarding_id(key), rule)
    return email, account, key


async def test_personal_data_a_system_echoes_is_redacted_in_logs_and_audit(
    client, settings, stack, echoing_erp
):
    email, account, key = echoing_erp
    log = stack.worker_log_path()
    offset = _offset(log)
    handle = await start(client, settings, application_id=key)
    await result_of(handle)

    rows = _audit_rows(settings, handle.id)
    failed = [r for r in rows if r.error_code and r.path == "/vendors"]
    assert len(failed) == 1 and failed[0].status == 503 and failed[0].attempt == 1
    # The row still says what happened, with the echoed values replaced.
    assert failed[0].error_code == f"LOCKED {REDACTED} {REDACTED}"
    assert failed[0].response_summary == json.dumps({"code": f"LOCKED {REDACTED} {REDACTED}"})
    text = _lines_since(log, offset)
    warned = [
        json.loads(line)
        for line in text
        if line.startswith("{") and handle.id in line and "Completing activity as failed" in line
    ]
    assert warned and all(f"LOCKED {REDACTED} {REDACTED}" in w["exception"] for w in warned)
    for canary in (email, account, email.split("@")[0]):
        assert all(canary not in line for line in text), "a canary is in the worker log"
        for row in rows:
            assert canary not in " ".join(str(v) for v in row), "a canary is in an audit row"


def _audit_rows(settings, workflow_id: str) -> list[Any]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(AuditRow).where(AuditRow.workflow_id == workflow_id)))
    finally:
        engine.dispose()
