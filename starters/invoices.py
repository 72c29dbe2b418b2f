"""Acting on a running invoice: voiding it (update `void`) and, in the sandbox, paying it."""

from decimal import Decimal, InvalidOperation

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import VOID_UPDATE, invoice_workflow_id
from domain.invoice import VoidInput, VoidResult
from starters.approvals import DecisionOutcome
from starters.directory import Approver


class BadAmount(ValueError):
    """An amount that is not a positive number with at most two decimals."""


def amount_to_cents(text: str) -> int:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadAmount(f"amount {text!r} is not a number (e.g. 1250.00)") from None
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise BadAmount(f"amount {text!r} must be positive with at most two decimals")
    return int(amount * 100)


async def void_invoice(
    client: Client, approver: Approver, invoice_number: str, reason: str
) -> DecisionOutcome:
    handle = client.get_workflow_handle(invoice_workflow_id(invoice_number))
    try:
        result = await handle.execute_update(
            VOID_UPDATE,
            VoidInput(approver=approver.id, approver_roles=approver.roles, reason=reason),
            result_type=VoidResult,
        )
    except WorkflowUpdateFailedError as exc:
        if isinstance(exc.cause, ApplicationError):
            return DecisionOutcome(accepted=False, code=exc.cause.type, reason=exc.cause.message)
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return DecisionOutcome(
                accepted=False,
                code="WORKFLOW_CLOSED",
                reason=f"invoice {invoice_number} is not open",
            )
        raise
    return DecisionOutcome(
        accepted=True, reason=f"invoice {invoice_number} voided", status=result.status
    )
