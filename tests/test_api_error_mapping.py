"""How the API answers when Temporal does not confirm a decision in time (unit test of the
mapping; the decision path itself runs against the real server in tests/test_approvals.py)."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.service import RPCError, RPCStatusCode

from starters.api.errors import install_error_handlers
from starters.approvals import DecisionUnconfirmed


def test_an_unconfirmed_decision_is_a_503_that_says_to_send_it_again() -> None:
    app = FastAPI()
    install_error_handlers(app)
    message = (
        "workflow 'vendor-onboarding-A1' did not confirm the approve of approval 'risk-review' "
        "in time; send it again (the same decision is recorded once)"
    )

    @app.post("/decide")
    async def busy() -> None:
        raise DecisionUnconfirmed(message)

    with TestClient(app) as http:
        answer = http.post("/decide")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    error = answer.json()["error"]
    assert error["code"] == "TEMPORAL_UNAVAILABLE" and error["message"] == message


def test_a_query_that_timed_out_on_our_side_is_a_503_not_a_502() -> None:
    """The client's own deadline (RPC status CANCELLED, "Timeout expired") means a busy
    Temporal, as UNAVAILABLE does: try again, not "Temporal refused the call"."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/status")
    async def slow() -> None:
        raise RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")

    with TestClient(app) as http:
        answer = http.get("/status")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["error"]["code"] == "TEMPORAL_UNAVAILABLE"
