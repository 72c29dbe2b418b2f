"""One-time codec sign-in tickets, checked without I/O: signed under the codec token, expiring,
and redirecting only to a path of the Web UI."""

import pytest

from domain.codec_tickets import TicketProblem, TicketRefused, issue, sign_in_url, verify

TOKEN = "codec-token-for-the-test"
THEN = "/namespaces/default/workflows/vendor-onboarding-APP%201"
NOW = 1_800_000_000.0


def _refusal(ticket: str, token: str = TOKEN, now: float = NOW) -> TicketProblem:
    with pytest.raises(TicketRefused) as refused:
        verify(ticket, token, now)
    return refused.value.problem


def test_a_ticket_verifies_until_it_expires():
    ticket = issue(TOKEN, THEN, NOW, seconds=60)
    claims = verify(ticket, TOKEN, NOW + 59)
    assert claims.then == THEN and claims.expires_at == NOW + 60
    assert _refusal(ticket, now=NOW + 60) is TicketProblem.EXPIRED


def test_every_ticket_is_distinct():
    assert issue(TOKEN, THEN, NOW) != issue(TOKEN, THEN, NOW)


def test_a_ticket_under_another_token_or_changed_is_invalid():
    ticket = issue(TOKEN, THEN, NOW)
    assert _refusal(ticket, token="rotated-token") is TicketProblem.INVALID
    payload, signature = ticket.split(".")
    other = issue(TOKEN, "/elsewhere", NOW).split(".")[0]
    assert _refusal(f"{other}.{signature}") is TicketProblem.INVALID
    assert _refusal(f"{payload}.{'A' * 43}") is TicketProblem.INVALID
    assert _refusal("") is TicketProblem.INVALID
    assert _refusal("not a ticket") is TicketProblem.INVALID


def test_an_expired_changed_ticket_says_invalid():
    ticket = issue(TOKEN, THEN, NOW, seconds=1)
    assert _refusal(ticket[:-1] + ("A" if ticket[-1] != "A" else "B"), now=NOW + 5) is (
        TicketProblem.INVALID
    )


@pytest.mark.parametrize("then", ["https://evil.example/", "evil.example", "", "/a b"])
def test_a_ticket_leads_to_a_path_of_the_web_ui_only(then):
    with pytest.raises(ValueError, match=r"then|to"):
        issue(TOKEN, then, NOW)


def test_the_sign_in_url():
    assert sign_in_url("http://127.0.0.1:8000/", "abc.def") == (
        "http://127.0.0.1:8000/codec/session?ticket=abc.def"
    )
