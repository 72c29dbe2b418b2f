"""`GET /v1/systems`: each external system's circuit breaker (starters/systems.py)."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from domain.credentials import Scope
from starters.api.auth import Caller
from starters.api.errors import error_responses
from starters.api.security import require
from starters.api.services import Services, services
from starters.systems import SystemState, system_states

router = APIRouter(tags=["systems"])


@router.get(
    "/v1/systems",
    response_model=list[SystemState],
    summary="Each external system's circuit breaker",
    description="State (`closed`, `open`, `half_open`), failures in the current window, when an "
    "open breaker lets its next probe through, and the reason of one opened by hand. Needs the "
    "scope `read`.",
    responses=error_responses(401, 403),
)
async def get_systems(
    caller: Annotated[Caller, Depends(require(Scope.READ))],
    built: Annotated[Services, Depends(services)],
) -> list[SystemState]:
    return await asyncio.to_thread(system_states, built.engine)
