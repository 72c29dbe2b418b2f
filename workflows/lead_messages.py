"""What LeadToCash tells people (lead, owner, signer, customer), and the one way it sends mail."""

from temporalio import workflow

from domain.lead import LeadForm, LeadPolicy
from domain.records import SendEmailInput
from domain.systems import System
from workflows import options

with workflow.unsafe.imports_passed_through():
    from activities.mail import MailActivities


class Messages:
    def __init__(self, form: LeadForm, policy: LeadPolicy) -> None:
        self._form = form
        self._policy = policy

    async def email(
        self,
        to: str,
        notification: str,
        template: str,
        subject: str,
        body: str,
        *,
        after_commit: bool = False,
    ) -> str:
        """Send once per run and notification (the idempotency key); returns the message id.
        `after_commit`: past the signature, where a mail outage is ridden out for days."""
        call = (
            options.after_commit(System.MAIL, self._policy.retries)
            if after_commit
            else options.before_commit(System.MAIL, self._policy.retries)
        )
        sent = await workflow.execute_activity_method(
            MailActivities.send_email,
            SendEmailInput(
                notification=notification,
                to=to,
                subject=subject,
                body=body,
                template=template,
                business_key=self._form.lead_id,
            ),
            **call,
        )
        return sent.id

    def nurture(self, n: int) -> tuple[str, str]:
        return (
            f"{self._form.company}: ideas for your team ({n})",
            f"Hello {self._form.name},\n\nhere is more about what we offer (message {n}).\n",
        )

    def assigned(self, deal_id: str) -> tuple[str, str]:
        f = self._form
        return (
            f"New deal {deal_id}: {f.company}",
            f"You own deal {deal_id} ({f.company}, {f.seats} seats, lead {f.lead_id}).\n",
        )

    def silent(self) -> tuple[str, str]:
        return (
            f"Deal for {self._form.company} has not moved",
            f"The deal for lead {self._form.lead_id} has had no stage change for a while.\n",
        )

    def contract(self) -> str:
        f = self._form
        price = self._policy.price_per_seat_cents
        return (
            f"Order form for {f.company}: {f.seats} seats at {price / 100:.2f} {f.currency} per "
            f"seat, discount {f.requested_discount_bp / 100:.2f} %, payment terms "
            f"{self._policy.payment_terms.value}.\n"
        )

    def unsigned(self) -> tuple[str, str]:
        return (
            f"Your order form {self._form.lead_id} waits for your signature",
            f"Hello {self._form.name},\n\nthe order form is ready for your signature.\n",
        )

    def welcome(self) -> tuple[str, str]:
        return (
            f"Welcome, {self._form.company}",
            f"Hello {self._form.name},\n\nthank you: your account is ready.\n",
        )
