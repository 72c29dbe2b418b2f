"""One suite run: its own stack, then each chosen plan in turn, the invariants checked after each
against what the systems, the database and the runs say, and the figures gathered."""

import asyncio
import os
import random
import shutil
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from chaos import canaries
from chaos.driver import Driver, DriverGaveUp
from chaos.evidence import collect
from chaos.invariants import Violation, check_all, duplicates
from chaos.plan import Figure, Plan, PlanContext, PlanOutcome, Say
from chaos.scenarios import RunRecord
from chaos.smtp_proxy import SmtpProxy
from chaos.stack import start_chaos_stack
from devstack.stack import Stack
from runtime.settings import load_settings
from runtime.temporal import connect


class PlanResult(BaseModel):
    plan: str
    title: str
    seconds: float
    started: int
    as_expected: int
    figures: dict[str, Figure]
    violations: list[Violation]
    runs: list[RunRecord]

    @property
    def held(self) -> bool:
        return not self.violations


class SessionOptions(BaseModel):
    plans: list[str]
    runs: int
    duration_seconds: float
    short: bool
    seed: int


class SessionReport(BaseModel):
    options: SessionOptions
    started_at: datetime
    seconds: float
    results: list[PlanResult]

    @property
    def held(self) -> bool:
        return all(result.held for result in self.results)


async def run_plans(
    stack: Stack, plans: Sequence[Plan], options: SessionOptions, say: Say, smtp_proxy_port: int
) -> list[PlanResult]:
    settings = load_settings()
    client = await connect()
    driver = Driver(stack, settings, client)
    host, _, port = (stack.addresses.smtp or "").rpartition(":")
    smtp = SmtpProxy(host, smtp_proxy_port, (host, int(port)))
    await smtp.start()
    ctx = PlanContext(
        stack=stack,
        driver=driver,
        say=say,
        runs=options.runs,
        duration=options.duration_seconds,
        short=options.short,
        rng=random.Random(options.seed),
        smtp=smtp,
    )
    ctx.canary = await asyncio.to_thread(canaries.plant, stack)
    driver.canary = ctx.canary
    results = []
    try:
        for plan in plans:
            ctx.clear_faults()
            say(f"plan {plan.name}: {plan.title}")
            started = time.monotonic()
            try:
                outcome = await plan.run(ctx)
            except Exception as exc:  # the plan itself broke: a finding, and the suite goes on
                detail = "".join(traceback.format_exception_only(exc)).strip()[:500]
                outcome = PlanOutcome(
                    runs=[], figures={}, violations=[Violation(invariant="plan ran", detail=detail)]
                )
                say(f"plan {plan.name} broke: {detail}")
                await _recover(stack)
            ctx.clear_faults()
            statuses = await _final_statuses(driver, outcome.runs)
            with stack.sandbox_admin() as admin:
                evidence = await asyncio.to_thread(
                    collect, admin, stack.mailpit_url, settings.resolved_database_url, statuses
                )
            violations = check_all(outcome.runs, evidence) + outcome.violations
            if outcome.runs:
                outcome.figures["records held twice (duplicates)"] = len(
                    duplicates(evidence.records)
                )
            result = PlanResult(
                plan=plan.name,
                title=plan.title,
                seconds=round(time.monotonic() - started, 1),
                started=len(outcome.runs),
                as_expected=sum(1 for run in outcome.runs if run.as_expected),
                figures=outcome.figures,
                violations=violations,
                runs=outcome.runs,
            )
            results.append(result)
            verdict = "held" if result.held else f"{len(violations)} VIOLATIONS"
            say(f"plan {plan.name}: {result.as_expected}/{result.started} as expected, {verdict}")
            for violation in violations[:20]:
                say(f"  violation: {violation.invariant}: {violation.detail}")
    finally:
        await driver.close()
        await smtp.close()
    return results


async def _recover(stack: Stack) -> None:
    """Whatever a broken plan left stopped or sealed, running again for the next plan."""
    try:
        if stack.status()["vault"]["running"]:
            if stack.vault_sealed():
                await asyncio.to_thread(stack.unseal_vault)
        else:
            await asyncio.to_thread(stack.start_vault)
        await asyncio.to_thread(stack.start_mailpit)
        await asyncio.to_thread(stack.start_worker)
    except Exception as exc:  # reported; the next plan shows what still does not work
        print(f"chaos: could not bring the stack back: {exc}", flush=True)


async def _final_statuses(driver: Driver, runs: Sequence[RunRecord]) -> dict[str, dict[str, Any]]:
    """The `status` of every run (and child run) as it ended."""
    statuses: dict[str, dict[str, Any]] = {}
    for run in runs:
        for workflow_id, run_id in ((run.workflow_id, run.run_id), (run.child_workflow_id, None)):
            if workflow_id and workflow_id not in statuses:
                status = await _status_of(driver, workflow_id, run_id)
                if status is not None:  # none: the outcome check reports the run
                    statuses[workflow_id] = status
    return statuses


async def _status_of(driver: Driver, workflow_id: str, run_id: str | None) -> dict[str, Any] | None:
    try:
        return await driver.patiently(
            f"{workflow_id} status", lambda: driver.status(workflow_id, run_id), 30
        )
    except DriverGaveUp:
        return None


def run_session(
    plans: Sequence[Plan],
    options: SessionOptions,
    say: Say,
    *,
    data_dir: Path | None = None,
    keep: bool = False,
) -> SessionReport:
    """Start the suite's stack, run the plans, stop the stack (and delete its data unless
    `keep`)."""
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="backoffice-chaos-", dir=data_dir))
    say(f"chaos: starting a stack of its own in {folder}")
    stack, smtp_proxy_port = start_chaos_stack(folder, say)
    saved = dict(os.environ)
    os.environ["BACKOFFICE_ENV_FILE"] = str(stack.env_file)
    os.environ.update(stack.client_env())
    try:
        results = asyncio.run(run_plans(stack, plans, options, say, smtp_proxy_port))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        stack.down()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return SessionReport(
        options=options,
        started_at=started_at,
        seconds=round(time.monotonic() - clock, 1),
        results=results,
    )
