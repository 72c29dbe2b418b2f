"""The OpenAPI document: checked in at docs/openapi.json, the same as the code generates and the
running API serves, and every error response documented in the API's error shape."""

import json
import os
import subprocess
import sys
from pathlib import Path

from starters.api.app import openapi_document

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
UPDATE = "update it with: .venv/bin/backoffice api openapi > docs/openapi.json"


def test_checked_in_document_matches_the_code():
    assert CHECKED_IN.is_file(), f"docs/openapi.json is missing; {UPDATE}"
    checked_in = json.loads(CHECKED_IN.read_text())
    assert checked_in == openapi_document(), f"docs/openapi.json is out of date; {UPDATE}"


def test_the_command_prints_the_document_without_any_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    env["BACKOFFICE_DATA_DIR"] = str(tmp_path)
    printed = subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "api", "openapi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == CHECKED_IN.read_text(), UPDATE


async def test_running_api_serves_the_same_document(api):
    served = await api.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(CHECKED_IN.read_text()), UPDATE


def test_every_route_documents_its_errors_in_the_error_shape():
    document = openapi_document()
    error_ref = "#/components/schemas/ErrorResponse"
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert {p for p, _, _ in operations} >= {
        "/v1/vendor-onboardings",
        "/v1/workflows/{workflow_id}",
        "/v1/approvals",
        "/v1/approvals/{workflow_id}/{approval_id}",
        "/healthz",
        "/readyz",
    }
    for path, method, operation in operations:
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, (path, method, status)
        if path.startswith("/v1/"):
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
            assert operation["security"], (path, method)
    start = document["paths"]["/v1/vendor-onboardings"]["post"]
    assert start["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VendorApplication"
    }
    assert {"200", "202", "400", "413", "415", "422"} <= set(start["responses"])
    decide = document["paths"]["/v1/approvals/{workflow_id}/{approval_id}"]["post"]
    assert decide["security"] == [{"ApproverPassword": []}]
    assert {"403", "404", "409"} <= set(decide["responses"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
