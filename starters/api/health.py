"""`/healthz` (the process answers) and `/readyz` (Temporal, Vault and the database answer too).
No credential needed for either."""

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from starters.api.errors import ErrorDetail
from starters.api.models import Check, Health, Readiness
from starters.api.services import Services, services

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0
# Vault's sys/health: active, standby, performance standby, DR secondary are all serving.
_VAULT_SERVING = {200, 429, 472, 473}


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Temporal, Vault and the database answer",
    responses={503: {"model": Readiness, "description": "Not ready: see `checks` and `error`."}},
)
async def readyz(built: Annotated[Services, Depends(services)]) -> JSONResponse:
    names = ("temporal", "vault", "database")
    probes = (_temporal(built), _vault(built), _database(built))
    checking = zip(names, probes, strict=True)
    results = await asyncio.gather(*(_check(name, probe) for name, probe in checking))
    checks = dict(zip(names, results, strict=True))
    failing = [f"{name}: {check.problem}" for name, check in checks.items() if not check.ok]
    readiness = Readiness(status="unavailable" if failing else "ok", checks=checks)
    if failing:
        readiness.error = ErrorDetail(code="NOT_READY", message="; ".join(failing))
    return JSONResponse(
        readiness.model_dump(mode="json", exclude_none=True), status_code=503 if failing else 200
    )


async def _check(name: str, probe: Awaitable[str | None]) -> Check:
    """Whether `name` answers. Anyone may ask, so the answer says only that: why not (with
    addresses and errors) goes to the API's log."""
    try:
        problem = await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        problem = f"no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
    except Exception as exc:  # a probe reports any failure as a problem, never a 500
        problem = f"{type(exc).__name__}: {exc}"[:300]
    if problem is None:
        return Check(ok=True)
    log.warning("not ready: %s: %s", name, problem)
    return Check(ok=False, problem="not answering (the API's log says why)")


async def _temporal(built: Services) -> str | None:
    healthy = await built.temporal.service_client.check_health(
        timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
    )
    return None if healthy else "the frontend reports itself not serving"


async def _vault(built: Services) -> str | None:
    url = f"{built.settings.vault_addr.rstrip('/')}/v1/sys/health"
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as http:
        try:
            answer = await http.get(url)
        except httpx.HTTPError as exc:
            return f"unreachable at {built.settings.vault_addr} ({type(exc).__name__})"
    if answer.status_code in _VAULT_SERVING:
        return None
    return f"{built.settings.vault_addr} answered {answer.status_code} (sealed or not initialised)"


async def _database(built: Services) -> str | None:
    def select_one() -> None:
        with built.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    await asyncio.to_thread(select_one)
    return None
