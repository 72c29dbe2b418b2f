"""How the suite acts as the product's users while faults fly: services start runs through the
HTTP API, approvers decide through it, customers, sales reps and signers act in the systems
(`starters.sandbox_actions`), and everyone simply tries again when something is down."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from temporalio.client import Client, WorkflowExecutionStatus

from devstack.crm_seed import SandboxCrm
from devstack.stack import Stack
from domain.contract import STATUS_QUERY
from runtime.settings import Settings

T = TypeVar("T")

# Answers that say "not now" rather than "no": the caller tries again.
TRANSIENT_STATUSES = {429, 500, 502, 503, 504}
QUERY_TIMEOUT = timedelta(seconds=5)


class DriverGaveUp(Exception):
    """A step of a run could not be done within its time; the message says which."""


class RunEnded(DriverGaveUp):
    """The run ended before the step the driver waited for (its outcome says how)."""


class Driver:
    """The API as the seeded service client and approvers use it, with patient retries."""

    def __init__(self, stack: Stack, settings: Settings, client: Client) -> None:
        self.stack = stack
        self.settings = settings
        self.client = client
        credentials = stack.credentials()
        self._service = {"Authorization": f"Bearer {credentials['api_clients']['svc-onboarding']}"}
        self.passwords: dict[str, str] = credentials["approvers"]
        self.api = httpx.AsyncClient(base_url=stack.api_url, timeout=30, trust_env=False)
        self._crm: SandboxCrm | None = None
        # Canary personal data every run carries (`chaos.canaries`); empty: ordinary data.
        self.canary: dict[str, str] = {}

    def personal(self, key: str) -> dict[str, str]:
        """A contact's name, email and bank account for one run: the canaries when set."""
        if not self.canary:
            return {}
        return {
            "name": self.canary["name"],
            "email": f"{self.canary['email']}.{key.lower()}@canary.example",
            "iban": self.canary["iban"],
        }

    async def close(self) -> None:
        await self.api.aclose()

    async def patiently(
        self, what: str, attempt: Callable[[], Awaitable[T | None]], limit: float = 240
    ) -> T:
        """Call `attempt` until it returns something. None or an error means "not yet" (a
        system, Temporal or Vault may be down on purpose); a `DriverGaveUp` it raises (a
        refusal, a run that ended) ends the wait at once."""
        deadline = time.monotonic() + limit
        problem = "no answer"
        while True:
            try:
                value = await attempt()
            except DriverGaveUp:
                raise
            except Exception as exc:  # transient while faults fly
                problem = f"{type(exc).__name__}: {exc}"[:300]
                value = None
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise DriverGaveUp(f"{what}: gave up after {limit:.0f} s ({problem})")
            await asyncio.sleep(0.5)

    async def start(self, path: str, body: dict[str, Any]) -> str:
        """Start through the API; a retry of the same business key gives back the same run."""

        async def attempt() -> str | None:
            answer = await self.api.post(path, json=body, headers=self._service)
            if answer.status_code in TRANSIENT_STATUSES:
                return None
            if answer.status_code not in (200, 202):
                raise DriverGaveUp(f"the API refused {path}: {answer.status_code} {answer.text}")
            return str(answer.json()["workflow_id"])

        return await self.patiently(f"start {path}", attempt)

    async def decide(
        self, approver: str, workflow_id: str, approval_id: str, decision: str
    ) -> tuple[bool, int]:
        """Decide as `approver` through the API. Returns (accepted, API calls made): a call
        whose answer was lost and whose retry finds the approval decided by this approver
        counts as accepted."""
        calls = 0

        async def attempt() -> bool | None:
            nonlocal calls
            calls += 1
            answer = await self.api.post(
                f"/v1/approvals/{workflow_id}/{approval_id}",
                json={"decision": decision, "comment": f"chaos: {decision}"},
                auth=(approver, self.passwords[approver]),
            )
            if answer.status_code == 200:
                return True
            if answer.status_code in TRANSIENT_STATUSES:
                return None
            if answer.status_code == 409:
                status = await self.status(workflow_id)
                if status is None:
                    return None  # ask again once the run answers
                return any(
                    a["request"]["approval_id"] == approval_id and a["decided_by"] == approver
                    for a in status.get("approvals", [])
                )
            return False

        accepted = await self.patiently(f"decide {workflow_id}", attempt)
        return accepted, calls

    async def status(self, workflow_id: str, run_id: str | None = None) -> dict[str, Any] | None:
        """The run's `status` query as plain data; None while no worker answers."""
        try:
            handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
            value = await asyncio.wait_for(
                handle.query(STATUS_QUERY), QUERY_TIMEOUT.total_seconds()
            )
        except Exception:
            return None
        if hasattr(value, "model_dump"):
            return dict(value.model_dump(mode="json"))
        return dict(value) if isinstance(value, dict) else None

    async def until(
        self,
        workflow_id: str,
        done: Callable[[dict[str, Any]], bool],
        what: str,
        limit: float = 240,
    ) -> dict[str, Any]:
        """Poll the run's status until `done` holds (or the run ended otherwise)."""

        async def attempt() -> dict[str, Any] | None:
            status = await self.status(workflow_id)
            if status is None:
                return None
            if done(status):
                return status
            ended = await self.closed(workflow_id)
            if ended:
                outcome = status.get("outcome") or ended
                raise RunEnded(f"{workflow_id} ended {outcome} while waiting for {what}")
            return None

        return await self.patiently(f"{workflow_id}: {what}", attempt, limit)

    async def closed(self, workflow_id: str, run_id: str | None = None) -> str | None:
        """The run's final Temporal status (COMPLETED, FAILED...), None while it runs."""
        try:
            described = await self.client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        except Exception:
            return None
        if described.status in (None, WorkflowExecutionStatus.RUNNING):
            return None
        return described.status.name

    async def crm_account_and_deal(self) -> tuple[str, str]:
        """A customer account and a won deal to invoice, made in the CRM through its API."""

        async def attempt() -> tuple[str, str] | None:
            if self._crm is None:
                self._crm = await asyncio.to_thread(SandboxCrm, self.stack)
            return await asyncio.to_thread(self._crm.account_and_deal, "Globex Corporation")

        return await self.patiently("a CRM account and deal", attempt)

    async def act(self, what: str, action: Callable[[], Any]) -> None:
        """A person acting in a system (pay, move a deal, sign), tried again while it is down."""

        async def attempt() -> bool | None:
            await asyncio.to_thread(action)
            return True

        await self.patiently(what, attempt)
