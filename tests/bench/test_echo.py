"""The sandbox's echo endpoint, the floor's trivial HTTP call: the body back, no admin token."""

from pathlib import Path

from fastapi.testclient import TestClient

from sandbox.app import create_app


def test_echo_answers_the_body_without_the_admin_token(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'sandbox.db'}", admin_token="secret-admin")
    body = b'{"index": 3, "body": "xxxxxxxxxx"}'
    with TestClient(app) as http:
        answer = http.post("/_admin/echo", content=body)
        refused = http.get("/_admin/ledger")
    assert answer.status_code == 200
    assert answer.content == body
    assert answer.headers["content-type"] == "application/json"
    assert refused.status_code == 401  # the rest of /_admin still needs the token
