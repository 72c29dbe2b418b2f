"""Money: ISO 4217 currencies, integer minor units, and the one tax rounding rule."""

from decimal import ROUND_HALF_EVEN, Decimal

# ISO 4217 codes the company invoices in (minor units: 2 unless listed in ZERO_DECIMAL).
CURRENCIES = frozenset(
    {
        "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "INR",
        "JPY", "KRW", "MXN", "NOK", "NZD", "PLN", "SEK", "SGD", "USD", "ZAR",
    }
)  # fmt: skip
ZERO_DECIMAL = frozenset({"JPY", "KRW"})

# Amounts stay far below 2**63 (the AmountCents search attribute is a 64-bit Int).
MAX_AMOUNT_CENTS = 10**15


def line_tax_cents(quantity: int, unit_price_cents: int, tax_rate_bp: int) -> int:
    """Tax of one line, rounded half-even to a whole minor unit: defined here, used everywhere."""
    exact = Decimal(quantity * unit_price_cents * tax_rate_bp) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def format_amount(cents: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{cents:,} {currency}"
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"
