"""Invoice numbers derived from lead ids (issue 15 item 4): distinct leads, distinct numbers."""

import re

from domain.invoice import INVOICE_NUMBER_PATTERN
from domain.lead import lead_invoice_number

# Lead ids the old derivation (upper-cased, `_` to `-`, cut to 40) folded together.
FOLDED = [
    ("web-abc", "WEB-ABC"),
    ("web_abc", "web-abc"),
    ("W" * 40 + "-first", "W" * 40 + "-second"),
]


def _old(lead_id: str) -> str:
    return f"L2C-{lead_id.upper().replace('_', '-')}"[:40]


def test_ids_the_old_derivation_folded_together_get_distinct_valid_numbers() -> None:
    for one, other in FOLDED:
        assert _old(one) == _old(other)
        assert lead_invoice_number(one) != lead_invoice_number(other)
        for number in (lead_invoice_number(one), lead_invoice_number(other)):
            assert re.fullmatch(INVOICE_NUMBER_PATTERN, number), number


def test_the_number_is_stable_and_readable() -> None:
    assert lead_invoice_number("web-c1862265") == lead_invoice_number("web-c1862265")
    assert lead_invoice_number("web-c1862265").startswith("L2C-WEB-C1862265-")
