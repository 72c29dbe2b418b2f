"""Ids that go into another system's URL: the API takes only plain references (422 naming the
field, nothing started), and every path segment the activities build is percent-encoded in one
place, so an id from anywhere (a caller, another system) never reaches another path."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.http import path
from domain.contract import invoice_workflow_id
from tests.api.checks import assert_not_started, error_of
from tests.invoicing import invoice_request

HOSTILE = [
    "x/../../deals/1",
    "ACC-1?expand=all",
    "ACC-1#frag",
    "ACC-1\r\nX-Injected: 1",
    "ACC-1\x00",
    "ACC 1",
    "ÄCC-1",
]


@pytest.mark.parametrize("field", ["crm_account_id", "crm_deal_id"])
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_a_reference_that_is_not_plain_is_refused_naming_its_field(
    api, service, client, field, value
):
    body = invoice_request("ACC-000001", "DEAL-000001", **{field: value})
    answer = await api.post("/v1/invoices", json=body, headers=service("svc-onboarding"))
    error = error_of(answer, 422, "VALIDATION_ERROR")
    assert [f["field"] for f in error["fields"]] == [field]
    assert value not in answer.text
    await assert_not_started(client, invoice_workflow_id(body["invoice_number"]))


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_every_id_is_one_encoded_path_segment(value):
    built = path("/accounts/{}/contacts", value)
    segment = built.removeprefix("/accounts/").removesuffix("/contacts")
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert all(32 < ord(c) < 127 for c in segment)


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_a_dot_segment_is_no_id(value):
    with pytest.raises(ApplicationError) as refused:
        path("/accounts/{}", value)
    assert refused.value.type == "INVALID_ID" and refused.value.non_retryable
