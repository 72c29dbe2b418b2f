"""Vault sealed mid-run, unreachable, its tokens revoked or past their max TTL, a secret rotated;
and a worker with a bad AppRole secret, which must refuse to start."""

import asyncio
import json
import secrets
import time
from datetime import UTC, datetime

from chaos.evidence import audit_rows
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from devstack.vault_seed import CLIENT_ROLE, WORKER_ROLE

BAD_SECRET_ID = "chaos-not-the-secret-id"  # noqa: S105 (a wrong one on purpose)


class VaultFaults(Plan):
    name = "vault"
    title = (
        "While runs of every process go on: Vault sealed for a while and unsealed, stopped "
        "(unreachable) and started again, every AppRole token revoked, tokens issued with a "
        "max TTL of seconds, the portal's API key rotated; then a worker "
        "started with a bad AppRole secret."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        started = datetime.now(UTC)
        stop = asyncio.Event()
        workload = asyncio.create_task(ctx.stream(stop, lanes=3 if ctx.short else 5))
        figures: dict[str, int | float | str] = {}
        outage = 6.0 if ctx.short else 20.0
        try:
            await asyncio.sleep(3)
            await ctx.in_thread(ctx.stack.seal_vault)
            await asyncio.sleep(outage)
            await ctx.in_thread(ctx.stack.unseal_vault)
            figures["recovery after unseal (s)"] = await _recovery(ctx, datetime.now(UTC))
            await ctx.in_thread(ctx.stack.stop_vault)
            await asyncio.sleep(outage)
            await ctx.in_thread(ctx.stack.start_vault)
            figures["recovery after a restart (s)"] = await _recovery(ctx, datetime.now(UTC))
            await ctx.in_thread(ctx.stack.revoke_app_tokens)
            await asyncio.sleep(4)
            await ctx.in_thread(lambda: ctx.stack.set_app_token_ttl("3s", "6s"))
            await ctx.in_thread(ctx.stack.revoke_app_tokens)
            await asyncio.sleep(9 if ctx.short else 30)
            await ctx.in_thread(lambda: ctx.stack.set_app_token_ttl("1h", "4h"))
            rotated = datetime.now(UTC)
            await ctx.in_thread(lambda: _rotate_keys(ctx))
            await asyncio.sleep(5)
        finally:
            stop.set()
        runs = await workload
        logins = _logins(ctx, started)
        refused = await _bad_approle_worker(ctx)
        rows = [r for r in audit_rows(ctx.driver.settings.resolved_database_url) if r.at >= rotated]
        rejected = sum(1 for r in rows if r.system == "portal" and r.status == 401)
        failed = sum(1 for r in runs if not r.as_expected)
        figures.update(
            {
                "runs as expected / started": f"{len(runs) - failed}/{len(runs)}",
                "failed runs": failed,
                "AppRole logins (worker / clients)": (
                    f"{logins.get(WORKER_ROLE, 0)} / {logins.get(CLIENT_ROLE, 0)}"
                ),
                "401s after the portal key was rotated (then Vault read again)": (rejected),
                "worker with a bad AppRole secret": refused
                or "refused to start, named the setting",
            }
        )
        violations = []
        if refused:
            violations.append(Violation(invariant="fails closed", detail=refused))
        if logins.get(WORKER_ROLE, 0) < 2:
            violations.append(
                Violation(
                    invariant="logs in again",
                    detail="the worker did not log in again after the revocations",
                )
            )
        return PlanOutcome(runs=runs, figures=figures, violations=violations)


async def _recovery(ctx: PlanContext, since: datetime) -> float:
    """Seconds from `since` until the worker's next successful call to any system."""

    first = None
    deadline = time.monotonic() + 180
    while first is None and time.monotonic() < deadline:
        rows = await asyncio.to_thread(audit_rows, ctx.driver.settings.resolved_database_url)
        after = [r for r in rows if r.at > since and r.status is not None and r.status < 400]
        first = min((r.at for r in after), default=None)
        if first is None:
            await asyncio.sleep(0.5)
    if first is None:
        return float("nan")
    return round((first - since).total_seconds(), 1)


def _rotate_keys(ctx: PlanContext) -> None:
    """A new API key for the portal, rotated as an operator does: the system takes the new
    key beside the old one, Vault gets the new one, then the old one is dropped while workers
    may still hold it in their cache (a 401, Vault read again, go on). (Mail's SMTP password is
    the canary secret, `chaos.canaries`.)"""
    rotations = [("portal", f"portal_{secrets.token_urlsafe(24)}")]
    vault = ctx.stack.vault_root()
    with ctx.admin() as admin:
        for system, key in rotations:
            old = vault.secrets.kv.v2.read_secret_version(
                path=f"backoffice/systems/{system}",
                mount_point="secret",
                raise_on_deleted_version=True,
            )["data"]["data"]["api_key"]
            both = {"api_keys": [old, key]}
            admin.put(f"/_admin/credentials/{system}", json=both).raise_for_status()
            vault.secrets.kv.v2.create_or_update_secret(
                path=f"backoffice/systems/{system}", secret={"api_key": key}, mount_point="secret"
            )
        time.sleep(1)  # shorter than the workers' credential cache: some still hold old keys
        for system, key in rotations:
            admin.put(f"/_admin/credentials/{system}", json={"api_keys": [key]}).raise_for_status()


def _logins(ctx: PlanContext, since: datetime) -> dict[str, int]:
    """Successful AppRole logins per role since `since`, from Vault's audit log."""
    path = ctx.stack.paths.log_file("vault-audit")
    counts: dict[str, int] = {}
    if not path.is_file():
        return counts
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("type") != "response" or entry.get("error"):
            continue
        if entry.get("request", {}).get("path") != "auth/approle/login":
            continue
        at = datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))
        if at < since:
            continue
        role = ((entry.get("auth") or {}).get("metadata") or {}).get("role_name", "?")
        counts[role] = counts.get(role, 0) + 1
    return counts


async def _bad_approle_worker(ctx: PlanContext) -> str | None:
    """None when a worker with a wrong AppRole secret refuses to start and says which setting
    is wrong without echoing it; else what went wrong."""
    env = ctx.stack.worker_env() | {"BACKOFFICE_VAULT_SECRET_ID": BAD_SECRET_ID}
    process = await asyncio.create_subprocess_exec(
        *ctx.stack.worker_command(),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        return "a worker with a bad AppRole secret kept running"
    text = err.decode(errors="replace")
    if process.returncode == 0:
        return "a worker with a bad AppRole secret exited 0"
    if "BACKOFFICE_VAULT_SECRET_ID" not in text:
        return "the refusal does not name BACKOFFICE_VAULT_SECRET_ID"
    if BAD_SECRET_ID in text:
        return "the refusal echoes the secret"
    return None
