"""What an invoice run tells people: the invoice and its reminders to the customer's billing
contact, the overdue notice to collections. Workflow code: each is one mail activity."""

from temporalio import workflow

from domain.invoice import InvoicePolicy, InvoiceRequest
from domain.money import format_amount
from domain.records import CrmAccount, NotifyRoleInput, SendEmailInput
from domain.retries import RetryBudgets
from domain.systems import System
from workflows import options

with workflow.unsafe.imports_passed_through():
    from activities.mail import MailActivities


async def send_invoice(
    req: InvoiceRequest, account: CrmAccount, total_cents: int, retries: RetryBudgets
) -> None:
    amount = format_amount(total_cents, req.currency)
    due = req.due_date.isoformat()
    await _to_customer(
        req,
        account,
        options.before_commit(System.MAIL, retries),
        notification="invoice",
        template="invoice",
        subject=f"Invoice {req.invoice_number}: {amount} due {due}",
        body=f"Please pay {amount} by {due} (invoice {req.invoice_number}).",
    )


async def remind(
    req: InvoiceRequest, policy: InvoicePolicy, account: CrmAccount, n: int, open_cents: int
) -> None:
    amount_due = format_amount(open_cents, req.currency)
    await _to_customer(
        req,
        account,
        options.after_commit(System.MAIL, policy.retries),
        notification=f"reminder-{n}",
        template="invoice-reminder",
        subject=f"Reminder {n}: invoice {req.invoice_number}, {amount_due} open",
        body=f"Invoice {req.invoice_number} still has {amount_due} open "
        f"(due {req.due_date.isoformat()}).",
    )


async def tell_collections(req: InvoiceRequest, policy: InvoicePolicy, open_cents: int) -> None:
    amount_due = format_amount(open_cents, req.currency)
    await workflow.execute_activity_method(
        MailActivities.notify_role,
        NotifyRoleInput(
            notification="overdue",
            role=policy.collections_role,
            subject=f"Overdue: invoice {req.invoice_number}, {amount_due} open",
            body=f"Invoice {req.invoice_number} is overdue with {amount_due} open.",
            template="invoice-overdue",
            business_key=req.invoice_number,
        ),
        **options.after_commit(System.MAIL, policy.retries),
    )


async def _to_customer(
    req: InvoiceRequest,
    account: CrmAccount,
    call: options.ActivityOptions,
    *,
    notification: str,
    template: str,
    subject: str,
    body: str,
) -> None:
    await workflow.execute_activity_method(
        MailActivities.send_email,
        SendEmailInput(
            notification=notification,
            to=account.billing_email,
            subject=subject,
            body=f"Dear {account.billing_contact_name or account.name},\n\n{body}\n",
            template=template,
            business_key=req.invoice_number,
        ),
        **call,
    )
