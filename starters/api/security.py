"""Route guards: which credential and which scope an operation needs (403 when it falls short).

The two `HTTPBase` objects only describe the schemes in OpenAPI; `auth.Authenticator` does the
checking, so a missing or bad credential always answers in the API's error shape.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.http import HTTPBase

from domain.credentials import Scope
from starters.api.auth import Caller, CallerKind
from starters.api.errors import ApiError
from starters.api.services import Services, services

service_key = HTTPBase(
    scheme="bearer",
    scheme_name="ServiceKey",
    description="Service clients: `Authorization: Bearer <client_id>.<secret>`.",
    auto_error=False,
)
approver_password = HTTPBase(
    scheme="basic",
    scheme_name="ApproverPassword",
    description="Approvers: HTTP Basic with their approver id and password.",
    auto_error=False,
)

Documented = Annotated[HTTPAuthorizationCredentials | None, Security(service_key)]
DocumentedApprover = Annotated[HTTPAuthorizationCredentials | None, Security(approver_password)]


def _insufficient(caller: Caller, scope: Scope) -> ApiError:
    return ApiError(
        403,
        "INSUFFICIENT_SCOPE",
        f"the credential of '{caller.id}' does not grant the scope '{scope.value}'",
    )


def require(scope: Scope) -> Callable[..., Awaitable[Caller]]:
    """A dependency: any authenticated caller holding `scope`."""

    async def guard(
        request: Request,
        built: Annotated[Services, Depends(services)],
        _service: Documented,
        _approver: DocumentedApprover,
    ) -> Caller:
        caller = await built.authenticator.authenticate(
            request.headers.get("authorization"), client_address(request)
        )
        if scope not in caller.scopes:
            raise _insufficient(caller, scope)
        return caller

    return guard


async def require_approver(
    request: Request,
    built: Annotated[Services, Depends(services)],
    _approver: DocumentedApprover,
) -> Caller:
    """A dependency: an authenticated approver (their identity decides) holding `decide`."""
    caller = await built.authenticator.authenticate(
        request.headers.get("authorization"), client_address(request)
    )
    if caller.kind is not CallerKind.APPROVER or caller.approver is None:
        raise ApiError(
            403,
            "APPROVER_REQUIRED",
            "decisions are made by approvers with their own credential (HTTP Basic); a "
            "service key has no approver identity",
        )
    if Scope.DECIDE not in caller.scopes:
        raise _insufficient(caller, Scope.DECIDE)
    return caller


def client_address(request: Request) -> str | None:
    """The caller's address as the server sees it (behind a proxy: what the proxy says, when
    uvicorn trusts it with --forwarded-allow-ips)."""
    return request.client.host if request.client else None
