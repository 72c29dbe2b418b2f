"""Supplier portal stand-in (``/portal``, ``X-Api-Key``): portal accounts for vendors and
customers.

One active account per ``external_ref`` (``DUPLICATE_ACCOUNT``); deleting is a soft delete
(status ``deleted``), so the ledger keeps the account and its ``external_ref`` is free again.
An account can be suspended (no logins) and reactivated; a deleted one cannot.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from sandbox.auth import ApiKeyHeader
from sandbox.db import RecordRow
from sandbox.errors import ApiError
from sandbox.idempotency import Reply
from sandbox.records import change_status, create_record, find_records, require_record
from sandbox.system import System, SystemCall

SYSTEM = System("portal", ApiKeyHeader("X-Api-Key"))
router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

ACCOUNT = "account"
LOGIN_URL = "https://portal.sandbox.test/login/{id}"


class NewAccount(BaseModel):
    external_ref: str = Field(min_length=1, max_length=255)
    vendor_id: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=255)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)


def account_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "external_ref": row.external_ref,
        "vendor_id": row.data["vendor_id"],
        "status": row.status,
        "display_name": row.data["display_name"],
        "contact_email": row.data["contact_email"],
        "login_url": LOGIN_URL.format(id=row.id),
        "created_at": row.created_at,
    }


def _open_account(session: Session, account: NewAccount) -> Reply:
    same_ref = find_records(
        session, SYSTEM.name, ACCOUNT, status="active", external_ref=account.external_ref
    )
    if same_ref:
        raise ApiError(
            422,
            "DUPLICATE_ACCOUNT",
            f"active account {same_ref[0].id} already has external_ref {account.external_ref!r}",
        )
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=ACCOUNT,
        prefix="PA",
        status="active",
        external_ref=account.external_ref,
        data=account.model_dump(exclude={"external_ref"}),
        keys={"vendor_id": account.vendor_id},
    )
    return Reply(201, account_view(row), row)


@router.post("/accounts", status_code=201)
def create_account(account: NewAccount, call: Call) -> JSONResponse:
    return call.create(lambda session: _open_account(session, account))


@router.get("/accounts")
def list_accounts(
    call: Call,
    external_ref: str | None = None,
    vendor_id: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    keys = {} if vendor_id is None else {"vendor_id": vendor_id}

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(
            session, SYSTEM.name, ACCOUNT, status=status, external_ref=external_ref, keys=keys
        )
        return {"accounts": [account_view(row) for row in rows]}

    return call.run(query)


@router.get("/accounts/{account_id}")
def get_account(account_id: str, call: Call) -> dict[str, Any]:
    return call.run(
        lambda session: account_view(
            require_record(session, SYSTEM.name, ACCOUNT, account_id, "account")
        )
    )


@router.delete("/accounts/{account_id}")
def delete_account(account_id: str, call: Call) -> dict[str, Any]:
    def delete(session: Session) -> dict[str, Any]:
        row = require_record(session, SYSTEM.name, ACCOUNT, account_id, "account")
        return account_view(change_status(session, row, "deleted", "deleted"))

    return call.run(delete)


def _move(account_id: str, call: SystemCall, status: str, action: str) -> dict[str, Any]:
    def move(session: Session) -> dict[str, Any]:
        row = require_record(session, SYSTEM.name, ACCOUNT, account_id, "account")
        if row.status == "deleted":
            raise ApiError(422, "ACCOUNT_DELETED", f"account {account_id} is deleted")
        return account_view(change_status(session, row, status, action))

    return call.run(move)


@router.post("/accounts/{account_id}/suspend")
def suspend_account(account_id: str, call: Call) -> dict[str, Any]:
    """No logins until reactivated (a customer's unpaid subscription); again: no change."""
    return _move(account_id, call, "suspended", "suspended")


@router.post("/accounts/{account_id}/reactivate")
def reactivate_account(account_id: str, call: Call) -> dict[str, Any]:
    return _move(account_id, call, "active", "reactivated")
