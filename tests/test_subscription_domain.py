"""Subscriptions' arithmetic and rules, without a stack: periods, amounts, invoice numbers, and
the inputs a start refuses."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.contract import INVOICE_ID_PREFIX
from domain.invoice import INVOICE_NUMBER_PATTERN
from domain.subscription import (
    BillingInterval,
    SubscriptionPlan,
    SubscriptionPolicy,
    SubscriptionRequest,
    add_months,
    anchor_problem,
    first_period_at,
    period_invoice_number,
    period_of_invoice,
    period_start,
)


def plan(**overrides: object) -> SubscriptionPlan:
    fields: dict[str, object] = {
        "seats": 12,
        "price_per_seat_cents": 5_000,
        "discount_bp": 1000,
        "tax_rate_bp": 1900,
        "currency": "EUR",
        "interval": "monthly",
    }
    return SubscriptionPlan.model_validate({**fields, **overrides})


def test_a_period_bills_seats_times_the_discounted_price_plus_tax():
    billed = plan()
    assert billed.discounted_price_cents == 4_500
    assert billed.line().net_cents == 54_000
    assert billed.period_total_cents() == 54_000 + 10_260
    assert billed.arithmetic() == (
        "12 seats at 50.00 EUR, 10 % off: 45.00 EUR each = 540.00 EUR + tax 102.60 EUR = 642.60 EUR"
    )
    assert plan(discount_bp=0).arithmetic().startswith("12 seats at 50.00 EUR = 600.00 EUR")


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2027, 1, 31), 2, date(2027, 3, 31)),  # the anchor's day again, not the 28th
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 11, 15), 3, date(2028, 2, 15)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2027, 5, 1), 0, date(2027, 5, 1)),
    ],
)
def test_calendar_periods_keep_the_anchor_day(anchor: date, months: int, expected: date):
    assert add_months(anchor, months) == expected


def test_period_starts_follow_the_interval_or_the_policy_length():
    anchor, started = date(2027, 1, 31), datetime(2027, 1, 20, 9, 30, tzinfo=UTC)
    calendar = SubscriptionPolicy()
    first = first_period_at(anchor, started, calendar)
    assert first == datetime(2027, 1, 31, tzinfo=UTC)
    assert period_start(first, BillingInterval.ANNUAL, 1, calendar) == datetime(
        2028, 1, 31, tzinfo=UTC
    )
    assert period_start(first, BillingInterval.MONTHLY, 13, calendar) == datetime(
        2028, 2, 29, tzinfo=UTC
    )
    seconds = SubscriptionPolicy(period_length=timedelta(seconds=5))
    first = first_period_at(anchor, started, seconds)  # from the start, not the anchor
    assert period_start(first, BillingInterval.MONTHLY, 3, seconds) == started + timedelta(
        seconds=15
    )


def test_period_invoice_numbers_are_valid_and_distinct():
    longest = "SUB-" + "A" * 26
    numbers = {period_invoice_number(longest, n) for n in (0, 1, 9, 10, 999_999)}
    assert len(numbers) == 5
    assert all(re.fullmatch(INVOICE_NUMBER_PATTERN, n) for n in numbers), numbers
    assert period_invoice_number("SUB-7", 0) == "SUB-7-P1"
    assert not period_invoice_number("SUB-7", 0).startswith(INVOICE_ID_PREFIX)
    with pytest.raises(ValueError, match="period"):
        period_invoice_number("SUB-7", -1)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("seats", 0, "greater than 0"),
        ("price_per_seat_cents", -1, "greater than 0"),
        ("price_per_seat_cents", 12.5, "fractional part"),
        ("currency", "XYZ", "unknown currency"),
        ("interval", "weekly", "'monthly' or 'annual'"),
        ("discount_bp", 10_001, "less than or equal to 10000"),
    ],
)
def test_a_bad_plan_names_the_field(field: str, value: object, problem: str):
    with pytest.raises(ValidationError) as caught:
        plan(**{field: value})
    (error,) = caught.value.errors()
    assert error["loc"][0] == field
    assert problem in error["msg"]


def test_a_subscription_id_must_be_one_that_period_invoice_numbers_can_carry():
    body = {
        "crm_account_id": "ACC-000001",
        "crm_deal_id": "DEAL-000001",
        "plan": plan().model_dump(),
        "anchor": "2027-01-01",
    }
    SubscriptionRequest.model_validate({**body, "subscription_id": "SUB-" + "A" * 26})
    for bad in ("SUB-" + "A" * 27, "sub-1", "SUB-", "INV-1", "SUB-a"):
        with pytest.raises(ValidationError) as caught:
            SubscriptionRequest.model_validate({**body, "subscription_id": bad})
        assert caught.value.errors()[0]["loc"] == ("subscription_id",)


def test_an_anchor_far_in_the_past_is_refused():
    policy = SubscriptionPolicy(max_anchor_age=timedelta(days=31))
    today = date(2027, 3, 10)
    assert anchor_problem(date(2027, 2, 10), today, policy) is None
    assert anchor_problem(date(2028, 1, 1), today, policy) is None
    problem = anchor_problem(date(2027, 2, 6), today, policy)
    assert problem is not None and problem.startswith("more than 31 days")


def test_an_invoice_number_gives_back_its_period_only_for_this_subscription():
    assert period_of_invoice("SUB-7", period_invoice_number("SUB-7", 41)) == 41
    for other in (
        "SUB-7-P0",
        "SUB-7-P01",
        "SUB-70-P1",
        "SUB-7-P",
        "SUB-7-P1X",
        "INV-1",
        "SUB-7-P" + "9" * 5000,
    ):
        assert period_of_invoice("SUB-7", other) is None, other
