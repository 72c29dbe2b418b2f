"""Schemathesis against the checked-in OpenAPI document and the live API: whatever it sends, no
5xx, and every answer is one the document declares (status, content type, body schema).

Bounded: 25 examples per operation, examples and fuzzing phases only (no coverage, no stateful
phase), no deadline. Starts run as svc-onboarding and are real; a valid generated application
is rare (the IBAN checksum), and the test fails should more than a handful get through.
"""

import base64
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
MAX_EXAMPLES = 25
MAX_REAL_STARTS = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def real_starts() -> list[str]:
    return []


# Loaded at import (the document is a file); the live API's address is given per call.
schema = schemathesis.openapi.from_path(CHECKED_IN)
schema.config.phases.update(phases=["examples", "fuzzing"])
schema.config.generation.update(max_examples=MAX_EXAMPLES)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_documented(case, stack, credentials, real_starts):
    if case.operation.path.startswith("/v1/approvals/"):
        headers = _basic("pat", credentials["approvers"]["pat"])
    else:
        headers = {"Authorization": f"Bearer {credentials['api_clients']['svc-onboarding']}"}
    response = case.call(base_url=stack.api_url, headers=headers, timeout=60)
    if case.operation.path == "/v1/vendor-onboardings" and response.status_code == 202:
        real_starts.append(response.json()["workflow_id"])
        assert len(real_starts) <= MAX_REAL_STARTS, "fuzzing started too many real workflows"
    case.validate_response(response, checks=CHECKS, headers=headers)


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
