"""An event whose signal Temporal does not take (restarting, unreachable) is answered 503 and
left free for the provider's next delivery: found by the fault suite's soak, where a payment
event arrived during a Temporal restart, its claim stayed taken for a minute, every redelivery
was refused as busy, and the provider gave up (a lost payment)."""

import socket
import time
import uuid

import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig

from runtime.db import WebhookEvent, make_engine
from runtime.schema import upgrade_schema
from starters.webhooks.inbox import TemporalUnavailable, WebhookInbox


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


async def test_an_event_temporal_did_not_take_is_free_for_the_next_delivery(tmp_path):
    upgrade_schema(f"sqlite:///{tmp_path / 'app.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    # A real client of a Temporal server that is down: every call fails as unavailable.
    down = await Client.connect(
        f"127.0.0.1:{_closed_port()}",
        lazy=True,
        data_converter=pydantic_data_converter,
        retry_config=RetryConfig(max_retries=1, max_elapsed_time_millis=1000),
    )
    inbox = WebhookInbox(engine, down)
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {
            "object": {"id": "in_1", "amount_paid": 100, "metadata": {"invoice_number": "INV-1"}}
        },
    }
    with pytest.raises(TemporalUnavailable, match="payment_received"):
        await inbox.receive("billing", event)
    # The redelivery a second later is handed over again (here: unavailable again), not
    # refused as "being handled" for a minute.
    with pytest.raises(TemporalUnavailable):
        await inbox.receive("billing", event)
    with engine.connect() as conn:
        row = conn.execute(select(WebhookEvent).where(WebhookEvent.event_id == event["id"])).one()
    assert row.status == "received" and row.deliveries == 2
    engine.dispose()
