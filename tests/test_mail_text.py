"""Text from outside made safe for a mail header (one bounded line) and a body (bounded)."""

import pytest

from domain.mail_text import BODY_LIMIT, ELLIPSIS, HEADER_LIMIT, body_text, header_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Welcome aboard, Acme GmbH", "Welcome aboard, Acme GmbH"),
        ("Hi\r\nBcc: all@x.example", "Hi Bcc: all@x.example"),
        ("Hi\nBcc: all@x.example", "Hi Bcc: all@x.example"),
        ("Acme\x00\x07\x1b[31m GmbH", "Acme [31m GmbH"),
        ("Acme\u2028GmbH\u2029", "Acme GmbH"),
        ("Acme \u202egnp.exe\u202c GmbH", "Acme gnp.exe GmbH"),
        ("Acme\x85\x9fGmbH", "Acme GmbH"),
        ("  tabs\t\tand   spaces  ", "tabs and spaces"),
        ("Ünïcödé 名前 ok", "Ünïcödé 名前 ok"),
    ],
)
def test_a_header_is_one_clean_line(raw: str, clean: str) -> None:
    assert header_text(raw) == clean


def test_a_long_header_is_cut_and_says_so() -> None:
    text = header_text("Welcome aboard, " + "A" * 5_000)
    assert len(text) == HEADER_LIMIT
    assert text.endswith(ELLIPSIS)
    assert header_text("x" * HEADER_LIMIT) == "x" * HEADER_LIMIT


def test_a_body_keeps_lines_and_tabs_and_drops_other_controls() -> None:
    raw = "Dear Dana,\r\n\r\nReason:\tnot\x00 complete\x1b\rThanks\u2028Bye \u202eevil"
    assert body_text(raw) == "Dear Dana,\n\nReason:\tnot complete\nThanks\nBye evil"


def test_a_long_body_is_cut_and_says_so() -> None:
    text = body_text("line\n" * 10_000)
    assert len(text) <= BODY_LIMIT
    assert text.endswith(ELLIPSIS)
    assert body_text("short") == "short"


def test_the_same_input_gives_the_same_text() -> None:
    raw = "Acme\r\n\u202e" + "x" * 400
    assert header_text(raw) == header_text(raw)
    assert body_text(raw * 100) == body_text(raw * 100)
