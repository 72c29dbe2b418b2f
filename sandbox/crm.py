"""CRM stand-in (``/crm``, OAuth2 client credentials): the token endpoint, accounts, contacts.

Leads and deals are in ``crm_sales.py``. Every route but ``POST /crm/oauth/token`` needs
``Authorization: Bearer <access token>``; see ``oauth.py`` for expiry and revocation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from sandbox.auth import load_credentials
from sandbox.db import RecordRow
from sandbox.errors import validation_error
from sandbox.fields import Domain, Email, Name, RecordId, ShortText, refuse_nulls
from sandbox.idempotency import Reply
from sandbox.ledger import append_event
from sandbox.oauth import (
    OAuthClientCredentials,
    OAuthError,
    TokenLifetime,
    check_grant,
    client_of,
    expire_tokens,
    issue_token,
    lifetime_setting,
    token_request,
)
from sandbox.records import create_record, find_records, require_record, set_key, update_record
from sandbox.settings import load_setting, save_setting
from sandbox.state import state_of
from sandbox.system import System, SystemCall

SYSTEM = System("crm", OAuthClientCredentials(), webhook_events=("deal.stage_changed",))
router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

ACCOUNT = "account"
CONTACT = "contact"

AccountType = Literal["prospect", "customer"]


@SYSTEM.open_router.post("/oauth/token")
def token(
    request: Request, form: Annotated[dict[str, str], Depends(token_request)]
) -> JSONResponse:
    """OAuth2 client credentials grant: a Bearer token for the other CRM routes."""
    store = state_of(request).store
    try:
        check_grant(form)
        client_id, client_secret = client_of(request.headers, form, SYSTEM.name)
        with store.transaction() as session:
            accepted = load_credentials(session, SYSTEM.name)
            body = issue_token(session, SYSTEM.name, accepted, client_id, client_secret)
    except OAuthError as error:
        if error.status_code == 401:
            with store.transaction() as session:
                append_event(
                    session,
                    system=SYSTEM.name,
                    action="unauthorized",
                    detail={"reason": error.message, "method": "POST", "path": request.url.path},
                )
        raise
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@SYSTEM.admin_router.get("/token-lifetime")
def get_token_lifetime(request: Request) -> dict[str, Any]:
    with state_of(request).store.transaction() as session:
        return load_setting(session, lifetime_setting(SYSTEM.name), TokenLifetime).model_dump()


@SYSTEM.admin_router.put("/token-lifetime")
def put_token_lifetime(lifetime: TokenLifetime, request: Request) -> dict[str, Any]:
    """How long tokens issued from now on live; tokens already out keep their expiry."""
    with state_of(request).store.transaction() as session:
        save_setting(session, lifetime_setting(SYSTEM.name), lifetime)
    return lifetime.model_dump()


@SYSTEM.admin_router.post("/expire-tokens")
def expire_all_tokens(request: Request) -> dict[str, int]:
    """Every live access token expires now (callers then get ``TOKEN_EXPIRED``)."""
    with state_of(request).store.transaction() as session:
        return {"expired": expire_tokens(session, SYSTEM.name)}


class NewAccount(BaseModel):
    name: Name
    domain: Domain | None = None
    billing_email: Email | None = None
    billing_contact_name: Name | None = None
    type: AccountType = "prospect"


class AccountChanges(BaseModel):
    """``PATCH /crm/accounts/{id}``: the fields to change; null clears an optional one."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    domain: Domain | None = None
    billing_email: Email | None = None
    billing_contact_name: Name | None = None
    type: AccountType | None = None


class NewContact(BaseModel):
    account_id: RecordId
    name: Name
    email: Email
    role: ShortText | None = None


def account_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.data["name"],
        "domain": row.data["domain"],
        "type": row.data["type"],
        "billing_email": row.data["billing_email"],
        "billing_contact_name": row.data["billing_contact_name"],
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def contact_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "account_id": row.data["account_id"],
        "name": row.data["name"],
        "email": row.data["email"],
        "role": row.data["role"],
        "created_at": row.created_at,
    }


def require_account(session: Session, account_id: str) -> RecordRow:
    return require_record(session, SYSTEM.name, ACCOUNT, account_id, "account")


def _account_keys(data: dict[str, Any]) -> dict[str, str]:
    keys = {"type": str(data["type"])}
    if data.get("domain"):
        keys["domain"] = str(data["domain"])
    return keys


def _open_account(session: Session, account: NewAccount) -> Reply:
    data = account.model_dump()
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=ACCOUNT,
        prefix="ACC",
        status="active",
        data=data,
        keys=_account_keys(data),
    )
    return Reply(201, account_view(row), row)


@router.post("/accounts", status_code=201)
def create_account(account: NewAccount, call: Call) -> JSONResponse:
    return call.create(lambda session: _open_account(session, account))


@router.get("/accounts")
def list_accounts(call: Call, domain: str | None = None, type: str | None = None) -> dict[str, Any]:
    filters = {"domain": None if domain is None else domain.lower(), "type": type}
    keys = {name: value for name, value in filters.items() if value is not None}

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, ACCOUNT, keys=keys)
        return {"accounts": [account_view(row) for row in rows]}

    return call.run(query)


@router.get("/accounts/{account_id}")
def get_account(account_id: str, call: Call) -> dict[str, Any]:
    return call.run(lambda session: account_view(require_account(session, account_id)))


@router.patch("/accounts/{account_id}")
def change_account(account_id: str, changes: AccountChanges, call: Call) -> dict[str, Any]:
    fields = changes.model_dump(exclude_unset=True)
    refuse_nulls(fields, ("name", "type"))
    if not fields:
        raise validation_error(
            "body: nothing to change; send one or more of " + ", ".join(AccountChanges.model_fields)
        )

    def change(session: Session) -> dict[str, Any]:
        row = require_account(session, account_id)
        update_record(session, row, fields)
        set_key(session, row, "type", row.data["type"])
        set_key(session, row, "domain", row.data["domain"])
        return account_view(row)

    return call.run(change)


def _add_contact(session: Session, contact: NewContact) -> Reply:
    require_account(session, contact.account_id)
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=CONTACT,
        prefix="CON",
        status="active",
        data=contact.model_dump(),
        keys={"account_id": contact.account_id, "email": contact.email.lower()},
    )
    return Reply(201, contact_view(row), row)


@router.post("/contacts", status_code=201)
def create_contact(contact: NewContact, call: Call) -> JSONResponse:
    return call.create(lambda session: _add_contact(session, contact))


@router.get("/contacts")
def list_contacts(
    call: Call, account_id: str | None = None, email: str | None = None
) -> dict[str, Any]:
    filters = {"account_id": account_id, "email": None if email is None else email.lower()}
    keys = {name: value for name, value in filters.items() if value is not None}

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, CONTACT, keys=keys)
        return {"contacts": [contact_view(row) for row in rows]}

    return call.run(query)


@router.get("/contacts/{contact_id}")
def get_contact(contact_id: str, call: Call) -> dict[str, Any]:
    return call.run(
        lambda session: contact_view(
            require_record(session, SYSTEM.name, CONTACT, contact_id, "contact")
        )
    )
