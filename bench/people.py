"""The benchmark's people. They act on what they see, as people do:

- approvers see an approval open (the run's `ApprovalStatus` becomes `pending`; the benchmark
  follows each run's history, so how fast they see it does not depend on how far behind the
  dev server's visibility store is) and decide it through the update `decide` (the door of the
  API, the inbox and the CLI);
- sales reps look at the CRM's deals in qualification and move them to `closed_won`;
- signers look at e-signature's sent envelopes and sign them;
- payers look at billing's open invoices and pay what is due.

Sales reps, signers and payers look every `interval`. The systems' signed webhooks then reach
the runs through the API, as in production. For the floor runs there is one kind of person:
they see the waits the same way as approvers and send the floor's signal or update.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from bench.business import APPROVALS
from bench.floor import PROCEED_SIGNAL, PROCEED_UPDATE, filler
from bench.floor import WORKFLOW_TYPE as FLOOR_TYPE
from bench.shape import FloorResult, FloorShape, Proceed
from devstack.stack import Stack
from devstack.vault_seed import APPROVERS, EMAIL_DOMAIN
from domain.approvals import Decision
from starters.approvals import decide
from starters.directory import Approver

log = logging.getLogger("bench.people")


def approver(person: str) -> Approver:
    name, roles = APPROVERS[person]
    return Approver(id=person, name=name, email=f"{person}@{EMAIL_DOMAIN}", roles=roles)


class Systems:
    """The sandbox systems as their users see them (own credentials), and its admin API for
    what people do by hand there (move a deal, sign, pay)."""

    def __init__(self, stack: Stack) -> None:
        kv = stack.vault_root().secrets.kv.v2
        self._creds = {
            system: kv.read_secret_version(
                path=f"backoffice/systems/{system}",
                mount_point="secret",
                raise_on_deleted_version=True,
            )["data"]["data"]
            for system in ("crm", "billing", "esign")
        }
        self._http = httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30, trust_env=False)
        self._admin = {"X-Admin-Token": stack.client_env()["BACKOFFICE_SANDBOX_ADMIN_TOKEN"]}
        self._crm_token: str | None = None
        # Payers look at invoices made since the benchmark began, not at the days the
        # reconciliation's figure seeds (long past, and many).
        self._since = int(time.time()) - 60

    async def close(self) -> None:
        await self._http.aclose()

    async def _crm(self, path: str, **params: str) -> dict[str, Any]:
        for _ in range(2):
            if self._crm_token is None:
                token = await self._http.post(
                    "/crm/oauth/token",
                    data={"grant_type": "client_credentials", **self._creds["crm"]},
                )
                self._crm_token = token.raise_for_status().json()["access_token"]
            answer = await self._http.get(
                f"/crm{path}", params=params, headers={"Authorization": f"Bearer {self._crm_token}"}
            )
            if answer.status_code != 401:
                result: dict[str, Any] = answer.raise_for_status().json()
                return result
            self._crm_token = None
        raise RuntimeError("the CRM refused the bench's credentials")

    async def deals_in_qualification(self) -> list[dict[str, Any]]:
        deals: list[dict[str, Any]] = (await self._crm("/deals", stage="qualification"))["deals"]
        return deals

    async def sent_envelopes(self) -> list[dict[str, Any]]:
        headers = {"X-Api-Key": self._creds["esign"]["api_key"]}
        answer = await self._http.get(
            "/esign/envelopes", params={"status": "sent"}, headers=headers
        )
        envelopes: list[dict[str, Any]] = answer.raise_for_status().json()["envelopes"]
        return envelopes

    async def open_invoices(self) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self._creds['billing']['api_key']}"}
        answer = await self._http.get(
            "/billing/v1/invoices",
            params={"status": "open", "limit": 100, "created[gte]": self._since},
            headers=headers,
        )
        # Billing speaks Stripe: the project's invoice number is in the metadata.
        return [
            {
                **i,
                "number": i["metadata"].get("invoice_number", ""),
                "amount_due_cents": i["amount_remaining"],
            }
            for i in answer.raise_for_status().json()["data"]
        ]

    async def move_deal(self, deal_id: str, stage: str) -> None:
        path = f"/_admin/crm/deals/{deal_id}/stage"
        answer = await self._http.post(path, json={"stage": stage}, headers=self._admin)
        answer.raise_for_status()

    async def sign(self, envelope_id: str) -> None:
        path = f"/_admin/esign/envelopes/{envelope_id}/sign"
        (await self._http.post(path, headers=self._admin)).raise_for_status()

    async def pay(self, number: str, amount_cents: int) -> None:
        path = f"/_admin/billing/invoices/{number}/payments"
        body = {"amount_cents": amount_cents, "payment_id": f"{number}-payment"}
        (await self._http.post(path, json=body, headers=self._admin)).raise_for_status()


class People:
    """Everyone who acts on the runs; `floor_shapes` maps a floor run's id to its shape."""

    def __init__(
        self, client: Client, systems: Systems, *, interval: float = 0.2, concurrency: int = 32
    ) -> None:
        self._client = client
        self._systems = systems
        self._interval = interval
        self._limit = asyncio.Semaphore(concurrency)
        self._done: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.floor_shapes: dict[str, FloorShape] = {}
        self.with_systems = False  # sales reps, signers and payers only look when runs need them
        self.paused = False  # while runs are meant to stay parked
        self.errors: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.paused:
                await asyncio.sleep(self._interval)
                continue
            looks: list[Awaitable[None]] = []
            if self.with_systems:
                looks += [self._sales_reps(), self._signers(), self._payers()]
            results = await asyncio.gather(*looks, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    self.errors.append(f"{type(result).__name__}: {result}")
                    log.warning("a look failed: %s: %s", type(result).__name__, result)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _act(self, key: tuple[str, str], action: Callable[[], Awaitable[None]]) -> None:
        """Do `action` once per key, in the background (a slow answer holds up no one else)."""
        if key in self._done:
            return
        self._done.add(key)

        async def guarded() -> None:
            async with self._limit:
                try:
                    await action()
                except Exception as exc:  # one failed action: retried at the next look
                    self._done.discard(key)
                    self.errors.append(f"{key}: {type(exc).__name__}: {exc}")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def waiting(self, workflow_id: str, workflow_type: str, stage: str) -> None:
        """A run announced a wait for people (`ApprovalStatus` = `pending`): act on it."""
        if workflow_type == FLOOR_TYPE:
            self._floor_wait(workflow_id, stage)
        elif workflow_type in APPROVALS:
            approval_id, person = APPROVALS[workflow_type]
            self._act(
                (workflow_id, approval_id),
                partial(self._decide, workflow_id, approval_id, person),
            )

    async def _decide(self, workflow_id: str, approval_id: str, person: str) -> None:
        outcome = await decide(
            self._client,
            approver(person),
            workflow_id,
            Decision.APPROVE,
            "bench: approved",
            approval_id=approval_id,
        )
        if not outcome.accepted and outcome.code != "ALREADY_DECIDED":
            raise RuntimeError(f"decision refused: {outcome.code} {outcome.reason}")

    def _floor_wait(self, workflow_id: str, stage: str) -> None:
        parts = stage.split("-")
        shape = self.floor_shapes.get(workflow_id)
        if len(parts) != 3 or parts[0] != "wait" or shape is None:
            return
        index, kind = int(parts[1]), parts[2]
        body = filler(shape.steps[index].input_bytes - 20)
        handle = self._client.get_workflow_handle(workflow_id)

        async def proceed() -> None:
            if kind == "signal":
                await handle.signal(PROCEED_SIGNAL, Proceed(index=index, body=body))
                return
            try:
                await handle.execute_update(
                    PROCEED_UPDATE, Proceed(index=index, body=body), result_type=FloorResult
                )
            except (WorkflowUpdateFailedError, RPCError) as exc:
                raise RuntimeError(f"floor update refused: {exc}") from None

        self._act((workflow_id, f"wait-{index}"), proceed)

    async def _sales_reps(self) -> None:
        for deal in await self._systems.deals_in_qualification():
            deal_id = deal["id"]
            self._act(("deal", deal_id), partial(self._systems.move_deal, deal_id, "closed_won"))

    async def _signers(self) -> None:
        for envelope in await self._systems.sent_envelopes():
            envelope_id = envelope["id"]
            self._act(("envelope", envelope_id), partial(self._systems.sign, envelope_id))

    async def _payers(self) -> None:
        for invoice in await self._systems.open_invoices():
            number, due = invoice["number"], int(invoice["amount_due_cents"])
            self._act(("invoice", number), partial(self._systems.pay, number, due))
