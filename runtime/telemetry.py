"""Traces and metrics of one process (the worker, the API, the CLI): built once, passed down.

Traces: OpenTelemetry through the Temporal SDK's `TracingInterceptor` (client and worker), httpx
spans for every call to an external system, the API's request spans; exported over OTLP/HTTP to
`BACKOFFICE_OTLP_ENDPOINT`, and not at all when it is unset. Spans leave the process without
query strings, client addresses or user agents, and server URLs as their route template.

Metrics: the Temporal SDK's Prometheus endpoint (`BACKOFFICE_WORKER_METRICS_ADDRESS`,
`BACKOFFICE_API_METRICS_ADDRESS`), which serves the SDK's own metrics and ours (recorded through
its meters: `workflow.metric_meter()`, `activity.metric_meter()`, `Telemetry.meter`).
"""

from collections.abc import Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from temporalio import activity, client, worker
from temporalio.common import MetricMeter
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from domain import metrics
from domain.contract import WORKFLOW_ID_PREFIXES
from runtime.settings import ENV_PREFIX, Settings

SYSTEM_ATTRIBUTE = "backoffice.system"
BUSINESS_KEY_ATTRIBUTE = "backoffice.business_key"
# Attributes that may carry a person's address or browser, or a query string's values.
_DROPPED_ATTRIBUTES = frozenset(
    {
        "http.user_agent",
        "user_agent.original",
        "http.client_ip",
        "client.address",
        "client.port",
        "net.peer.ip",
        "net.peer.port",
        "net.sock.peer.addr",
        "net.sock.peer.port",
        "network.peer.address",
        "network.peer.port",
        "url.query",
    }
)
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.path")


class Service(StrEnum):
    """The `service.name` of each kind of process."""

    WORKER = "backoffice-worker"
    API = "backoffice-api"
    CLI = "backoffice-cli"


# The setting that places each service's Prometheus endpoint (the CLI has none).
METRICS_SETTING = {Service.WORKER: "worker_metrics_address", Service.API: "api_metrics_address"}


class TelemetryError(Exception):
    """Telemetry cannot start as configured; the message names the setting."""


def business_key(workflow_id: str) -> str:
    """The business key a workflow id carries (ids hold business keys, never personal data)."""
    for prefix in WORKFLOW_ID_PREFIXES:
        if workflow_id.startswith(prefix):
            return workflow_id[len(prefix) :]
    return workflow_id


class Telemetry:
    """What one process traces with and where its metrics go."""

    def __init__(
        self,
        service: Service,
        *,
        tracer_provider: TracerProvider | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.service = service
        self.tracer_provider = tracer_provider
        # The Temporal runtime whose Prometheus endpoint serves this process's metrics.
        self.runtime = runtime
        self._interceptors: list[client.Interceptor] = []
        if tracer_provider is not None:
            tracer = tracer_provider.get_tracer("backoffice")
            self._interceptors = [TracingInterceptor(tracer), BusinessKeySpans()]

    @property
    def meter(self) -> MetricMeter:
        """Business metrics recorded outside workflows and activities (e.g. by the API)."""
        return self.runtime.metric_meter if self.runtime is not None else MetricMeter.noop

    def interceptors(self) -> list[client.Interceptor]:
        """For `Client.connect`; workers built on that client inherit them."""
        return list(self._interceptors)

    def instrument_http(self, http: httpx.AsyncClient, system: str) -> None:
        """A span per request of this system's shared client, with the system and business key."""
        if self.tracer_provider is None:
            return

        async def name_the_call(span: trace.Span, request: RequestInfo) -> None:
            span.set_attribute(SYSTEM_ATTRIBUTE, system)
            if activity.in_activity() and activity.info().workflow_id:
                key = business_key(activity.info().workflow_id or "")
                span.set_attribute(BUSINESS_KEY_ATTRIBUTE, key)

        HTTPXClientInstrumentor.instrument_client(
            http,
            tracer_provider=self.tracer_provider,
            meter_provider=NoOpMeterProvider(),
            request_hook=name_the_call,
        )

    def shutdown(self) -> None:
        """Send the spans still buffered (the metrics endpoint ends with the process)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def start_telemetry(
    service: Service,
    settings: Settings,
    *,
    metrics: bool = True,
    span_exporter: SpanExporter | None = None,
) -> Telemetry:
    """Telemetry of a process as the settings say. `metrics=False` opens no endpoint; a given
    `span_exporter` (tests: an in-memory one) receives every span at once, whatever the
    settings, instead of the OTLP exporter."""
    provider = None
    if span_exporter is not None:
        provider = _provider(service, SimpleSpanProcessor(PrivateSpans(span_exporter)))
    elif settings.otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=_traces_url(settings.otlp_endpoint))
        provider = _provider(service, BatchSpanProcessor(PrivateSpans(exporter)))
    runtime = None
    setting = METRICS_SETTING.get(service)
    address = getattr(settings, setting) if metrics and setting else None
    if setting and address:
        runtime = _prometheus_runtime(service, address, setting)
    return Telemetry(service, tracer_provider=provider, runtime=runtime)


def _provider(
    service: Service, processor: SimpleSpanProcessor | BatchSpanProcessor
) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service.value}))
    provider.add_span_processor(processor)
    return provider


def _traces_url(endpoint: str) -> str:
    """The collector's base URL (e.g. http://127.0.0.1:4318) or its full traces URL."""
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def _prometheus_runtime(service: Service, address: str, setting: str) -> Runtime:
    config = PrometheusConfig(
        bind_address=address,
        histogram_bucket_overrides={metrics.APPROVAL_LATENCY: metrics.APPROVAL_LATENCY_BUCKETS},
    )
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=config,
                global_tags={"service_name": service.value},
                attach_service_name=False,
            )
        )
    except ValueError as exc:  # the SDK's core cannot listen there
        name = ENV_PREFIX + setting.upper()
        raise TelemetryError(f"{name}={address}: cannot serve metrics there ({exc})") from None


class BusinessKeySpans(client.Interceptor, worker.Interceptor):
    """Puts the business key on each activity's span (inside the tracing interceptor's span)."""

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _ActivityBusinessKey(next)


class _ActivityBusinessKey(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        workflow_id = activity.info().workflow_id
        if workflow_id:
            span = trace.get_current_span()
            span.set_attribute(BUSINESS_KEY_ATTRIBUTE, business_key(workflow_id))
        return await self.next.execute_activity(input)


class PrivateSpans(SpanExporter):
    """Wraps an exporter: what leaves the process has no query strings, client addresses or
    user agents, and a server span's URL is its route template (`/inbox/links/{token}`)."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export([_private(span) for span in spans])

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)


def _private(span: ReadableSpan) -> ReadableSpan:
    attributes = dict(span.attributes or {})
    route = attributes.get("http.route")
    kept: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in _DROPPED_ATTRIBUTES:
            continue
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            value = _url_without_details(value, route if isinstance(route, str) else None)
        kept[key] = value
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=kept,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _url_without_details(value: str, route: str | None) -> str:
    """No query or fragment; on a server span, the route template instead of the real path."""
    parts = urlsplit(value)
    path = route if route is not None else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
