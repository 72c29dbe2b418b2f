"""Tracing: one start through the real API app is one trace from the request through the workflow,
each activity and each HTTP call to the sandbox; traces leave the process over OTLP only when
BACKOFFICE_OTLP_ENDPOINT says where.

The API app and the worker run in this process (built by the same code as the real ones) with an
in-memory exporter, on a namespace of their own on the session's Temporal, against the session's
sandbox, Vault and database.
"""

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.audit import AuditLog
from devstack.environment import inherited_env
from domain.vendor import VendorOnboardingResult
from runtime.db import make_engine
from runtime.settings import Settings, SettingsError, load_settings
from runtime.telemetry import (
    BUSINESS_KEY_ATTRIBUTE,
    SYSTEM_ATTRIBUTE,
    Service,
    Telemetry,
    start_telemetry,
)
from runtime.temporal import connect
from runtime.vault import secret_store
from starters.api.app import create_app
from tests.helpers import audit_rows, start, vendor_application
from tests.observability.namespace import create_namespace
from tests.observability.otlp import OtlpReceiver
from workers.registry import build_workers
from workers.versioning import become_current


@contextlib.asynccontextmanager
async def in_process_worker(stack: Any, exporter: InMemorySpanExporter) -> AsyncIterator[Telemetry]:
    """The product's workers, as `backoffice worker` builds them, traced into `exporter`."""
    worker_env = stack.worker_env()
    settings = load_settings(
        vault_role_id=worker_env["BACKOFFICE_VAULT_ROLE_ID"],
        vault_secret_id=worker_env["BACKOFFICE_VAULT_SECRET_ID"],
    )
    secrets = secret_store(settings)
    await asyncio.to_thread(secrets.login)
    engine = make_engine(settings.resolved_database_url)
    telemetry = start_telemetry(Service.WORKER, settings, metrics=False, span_exporter=exporter)
    client = await connect(settings=settings, secrets=secrets, telemetry=telemetry)
    workers, pools = build_workers(client, settings, secrets, AuditLog(engine), telemetry)
    try:
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            await become_current(client, settings, [w.task_queue for w in workers])
            yield telemetry
    finally:
        for pool in pools:
            await pool.aclose()
        engine.dispose()
        telemetry.shutdown()


def _named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _attribute_text(span: ReadableSpan) -> str:
    return " ".join(f"{k}={v!s}" for k, v in (span.attributes or {}).items())


async def test_one_start_is_one_trace_over_api_workflow_activities_and_http(
    stack, settings: Settings, monkeypatch
):
    namespace = f"traces-{uuid.uuid4().hex[:8]}"
    await create_namespace(await connect(), namespace)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", namespace)  # the API app and the worker below
    exporter = InMemorySpanExporter()
    application = vendor_application()  # a supplier from DE: no approval, no human step
    token = stack.credentials()["api_clients"]["svc-onboarding"]

    async with in_process_worker(stack, exporter):
        api_telemetry = start_telemetry(
            Service.API, settings, metrics=False, span_exporter=exporter
        )
        app = create_app(settings, api_telemetry)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                answer = await http.post(
                    "/v1/vendor-onboardings",
                    json=application,
                    headers={"Authorization": f"Bearer {token}"},
                )
        assert answer.status_code == 202, answer.text
        workflow_id = answer.json()["workflow_id"]
        client: Client = await connect()
        assert client.namespace == namespace
        handle = client.get_workflow_handle(workflow_id, result_type=VendorOnboardingResult)
        result = await asyncio.wait_for(handle.result(), 90)
        assert result.approval == "not required"
        history = await handle.fetch_history()
        api_telemetry.shutdown()

    spans = list(exporter.get_finished_spans())
    request = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST ")]
    assert [s.name for s in request] == ["POST /v1/vendor-onboardings"]
    trace_id = request[0].context.trace_id
    assert request[0].resource.attributes["service.name"] == "backoffice-api"

    ours = [s for s in spans if s.context.trace_id == trace_id]
    assert ours == spans, "every span of this test belongs to the one trace"
    by_id = {s.context.span_id: s for s in ours}

    def parent(span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None, f"{span.name} has no parent"
        return by_id[span.parent.span_id]

    [start] = _named(ours, "StartWorkflow:VendorOnboarding")
    assert parent(start) is request[0]
    # The SDK's TracingInterceptor hangs the workflow's own spans (run, each activity start,
    # completion) under the span that started it.
    [run] = _named(ours, "RunWorkflow:VendorOnboarding")
    [complete] = _named(ours, "CompleteWorkflow:VendorOnboarding")
    assert parent(run) is start and parent(complete) is start
    assert run.resource.attributes["service.name"] == "backoffice-worker"

    # Every activity of the run: one RunActivity span, under its StartActivity in the workflow.
    started = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    activity_spans = [s for s in ours if s.name.startswith("RunActivity:")]
    assert Counter(s.name.removeprefix("RunActivity:") for s in activity_spans) == Counter(started)
    assert len(started) >= 5
    key = application["application_id"]
    for span in activity_spans:
        assert parent(span).name == span.name.replace("RunActivity:", "StartActivity:")
        assert parent(parent(span)) is start
        assert (span.attributes or {})[BUSINESS_KEY_ATTRIBUTE] == key

    # Every HTTP attempt (an audit row each): one client span, inside its activity's span.
    calls = [
        s for s in ours if s.kind == SpanKind.CLIENT and SYSTEM_ATTRIBUTE in (s.attributes or {})
    ]
    rows = audit_rows(settings, workflow_id)
    assert len(rows) >= len(started)

    def call_of(span: ReadableSpan) -> tuple[str, str, str]:
        attributes = span.attributes or {}
        system = str(attributes[SYSTEM_ATTRIBUTE])
        if attributes.get("network.protocol.name") == "smtp":  # mail: the relay, as audited
            relay = (str(attributes["server.address"]), str(attributes["server.port"]))
            return system, "SMTP", ":".join(relay)
        method = str(attributes.get("http.request.method") or attributes.get("http.method"))
        url = str(attributes.get("url.full") or attributes.get("http.url"))
        return system, method, urlsplit(url).path.removeprefix(f"/{system}")

    assert Counter(call_of(s) for s in calls) == Counter(
        (row.system, row.method, row.path) for row in rows
    )
    for span in calls:
        assert parent(span) in activity_spans
        assert (span.attributes or {})[BUSINESS_KEY_ATTRIBUTE] == key

    # No personal data in any span: names, emails, tax ids and bank details stay out.
    personal = [
        application["legal_name"],
        application["contact_name"],
        application["contact_email"],
        application["tax_id"],
        application["bank_account"]["iban"],
    ]
    for span in ours:
        text = span.name + " " + _attribute_text(span)
        assert not [p for p in personal if p in text], span.name


async def test_traces_leave_over_otlp_only_when_the_endpoint_is_set(stack, monkeypatch):
    with OtlpReceiver() as receiver:
        # OpenTelemetry's own variables pointing at the receiver must not turn export on.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.url}/v1/traces")
        monkeypatch.delenv("BACKOFFICE_OTLP_ENDPOINT", raising=False)
        unset = load_settings()
        assert unset.otlp_endpoint is None
        off = start_telemetry(Service.CLI, unset, metrics=False)
        assert off.tracer_provider is None and off.interceptors() == []
        await _call_the_erp(off, stack.sandbox_url)
        off.shutdown()

        monkeypatch.setenv("BACKOFFICE_OTLP_ENDPOINT", receiver.url)
        on = start_telemetry(Service.CLI, load_settings(), metrics=False)
        await _call_the_erp(on, stack.sandbox_url)
        on.shutdown()  # flushes the batch

    assert [path for path, _ in receiver.requests] == ["/v1/traces"]
    spans = receiver.spans()
    assert [(service, attributes[SYSTEM_ATTRIBUTE]) for service, _, attributes in spans] == [
        ("backoffice-cli", "erp")
    ]
    _, name, attributes = spans[0]
    assert name == "GET"
    # The query string (which may hold personal data) never leaves the process.
    assert not [v for v in attributes.values() if "dana" in str(v)]
    assert str(attributes.get("url.full") or attributes.get("http.url")).endswith("/erp/vendors")


async def test_a_cli_command_sends_its_spans_before_it_exits(client, settings, cli_env):
    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    with OtlpReceiver() as receiver:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "backoffice.cli", "status", handle.id],
            env={**cli_env, "BACKOFFICE_OTLP_ENDPOINT": receiver.url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    spans = receiver.spans()
    assert [(service, name) for service, name, _ in spans] == [
        ("backoffice-cli", "QueryWorkflow:status")
    ]
    assert spans[0][2]["temporalWorkflowID"] == handle.id


async def _call_the_erp(telemetry: Telemetry, sandbox_url: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        telemetry.instrument_http(http, "erp")
        await http.get(f"{sandbox_url}/erp/vendors", params={"contact": "dana@acme.example"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BACKOFFICE_OTLP_ENDPOINT", "collector:4318"),
        ("BACKOFFICE_OTLP_ENDPOINT", "grpc://collector:4317"),
        ("BACKOFFICE_WORKER_METRICS_ADDRESS", "metrics-port"),
        ("BACKOFFICE_API_METRICS_ADDRESS", "127.0.0.1:99999"),
    ],
)
def test_a_bad_telemetry_setting_is_named(stack, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert variable in str(refused.value)
    assert value not in str(refused.value)


def test_the_worker_refuses_to_start_when_its_metrics_address_is_taken(stack):
    taken = stack.client_env()["BACKOFFICE_API_METRICS_ADDRESS"]  # the API serves there
    env = {**stack.worker_env(), "BACKOFFICE_WORKER_METRICS_ADDRESS": taken}
    done = subprocess.run(
        [sys.executable, "-m", "workers"],
        env=inherited_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"BACKOFFICE_WORKER_METRICS_ADDRESS={taken}: cannot serve metrics there" in done.stderr
