"""Collecting a sent invoice: payments counted once each, reminders on a durable calendar."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow

from domain.invoice import Payment, PaymentReceived, VoidInput


class Collection:
    """What has been paid on one invoice, and whether someone asked to void it."""

    def __init__(self, total_cents: int) -> None:
        self.total_cents = total_cents
        self.payments: dict[str, Payment] = {}
        self.void_request: VoidInput | None = None

    def record(self, payment: PaymentReceived) -> bool:
        """True for a new payment; a repeated payment id counts once."""
        if payment.payment_id in self.payments:
            return False
        amount = payment.amount_cents
        if payment.paid_to_date_cents is not None:  # never set by the signals of older runs
            amount = payment.paid_to_date_cents - self.paid()
            if amount <= 0:
                return False
        self.payments[payment.payment_id] = Payment(
            payment_id=payment.payment_id,
            amount_cents=amount,
            received_at=workflow.now(),
        )
        return True

    def paid(self) -> int:
        return sum(p.amount_cents for p in self.payments.values())

    def open_cents(self) -> int:
        return max(0, self.total_cents - self.paid())

    def paid_in_full(self) -> bool:
        return self.paid() >= self.total_cents

    def settled(self) -> bool:
        return self.paid_in_full() or self.void_request is not None

    async def collect(
        self,
        due_at: datetime,
        offsets: list[timedelta],
        remind: Callable[[int], Awaitable[None]],
        overdue: Callable[[], Awaitable[None]],
    ) -> int:
        """Wait until paid in full or voided; remind at each offset from `due_at`, then call
        `overdue` and keep waiting. Returns how many reminders went out."""
        sent = 0
        for n, offset in enumerate(sorted(offsets), start=1):
            wait = max(timedelta(0), due_at + offset - workflow.now())
            try:
                await workflow.wait_condition(self.settled, timeout=wait)
                return sent
            except TimeoutError:
                await remind(n)
                sent = n
        await overdue()
        await workflow.wait_condition(self.settled)
        return sent
