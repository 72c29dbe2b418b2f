"""What runs where: the workflows on `backoffice`, each system's activities on its own queue."""

from collections.abc import Callable
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.accounting_export import ACCOUNTING_TASK_QUEUE, AccountingExportActivities
from activities.audit import AuditLog
from activities.auth import (
    ApiKeyHeader,
    AuthScheme,
    BasicAuth,
    BearerApiKey,
    OAuth2ClientCredentials,
    SlackBotToken,
)
from activities.billing import BillingActivities
from activities.crm import CrmActivities
from activities.directory import DIRECTORY_TASK_QUEUE, DirectoryActivities
from activities.enrichment import EnrichmentActivities
from activities.erp import ErpActivities
from activities.esign import EsignActivities
from activities.http import SystemClient
from activities.invoice_runs import INVOICE_RUNS_TASK_QUEUE, InvoiceRunActivities
from activities.mail import ApprovalLinks, MailActivities
from activities.portal import PortalActivities
from activities.slack import SlackActivities
from activities.slack_api import SlackApi
from activities.smtp import Relay, SmtpSender
from activities.stripe_api import STRIPE_HEADERS
from domain.systems import WORKFLOW_TASK_QUEUE, System
from runtime.circuit import Circuit
from runtime.settings import Settings
from runtime.telemetry import Telemetry
from runtime.vault import SecretStore
from workers.build import activity_worker, sandboxed_runner, workflow_worker
from workers.versioning import deployment_config
from workflows.invoice_generation import InvoiceGeneration
from workflows.lead_to_cash import LeadToCash
from workflows.reconciliation import Reconciliation
from workflows.subscription import Subscription
from workflows.vendor_onboarding import VendorOnboarding

WORKFLOWS: list[type] = [
    VendorOnboarding,
    InvoiceGeneration,
    LeadToCash,
    Reconciliation,
    Subscription,
]


def _auth(
    system: System, secrets: SecretStore, http: httpx.AsyncClient, base_url: str, audit: AuditLog
) -> AuthScheme:
    """How each system wants its credentials presented (see DESIGN.md, the sandbox systems)."""
    if system == System.CRM:
        return OAuth2ClientCredentials(secrets, system, http, f"{base_url}/oauth/token", audit)
    if system == System.ERP:
        return BasicAuth(secrets, system)
    if system == System.SLACK:
        return SlackBotToken(secrets, system)
    if system in (System.PORTAL, System.ESIGN):
        return ApiKeyHeader(secrets, system)
    return BearerApiKey(secrets, system)


def build_workers(
    client: Client,
    settings: Settings,
    secrets: SecretStore,
    audit: AuditLog,
    telemetry: Telemetry | None = None,
) -> tuple[list[Worker], list[httpx.AsyncClient]]:
    """Every worker of the product (workflows, each system's queue with its rate limit, the file
    integrations) and the shared HTTP clients they use (close those after the workers stop)."""
    clients, pools = system_clients(settings, secrets, audit, telemetry)
    deployment = deployment_config(settings)  # one version: every queue of this process
    workers = [
        workflow_worker(
            client,
            settings,
            task_queue=WORKFLOW_TASK_QUEUE,
            workflows=WORKFLOWS,
            runner=sandboxed_runner(),
            deployment=deployment,
        )
    ]
    provider = telemetry.tracer_provider if telemetry is not None else None
    tracer = provider.get_tracer("backoffice") if provider is not None else None
    mail_circuit = Circuit(audit.engine, System.MAIL.value, settings.circuit_policy(System.MAIL))
    mail = SmtpSender(Relay.of(settings), secrets, audit, tracer, mail_circuit)
    for system, activities in activities_by_queue(clients, mail, secrets, settings).items():
        workers.append(
            activity_worker(
                client,
                settings,
                task_queue=system.task_queue,
                activities=activities,
                per_second=settings.rate_limits.get(system),
                deployment=deployment,
            )
        )
    runs = InvoiceRunActivities(client)
    queues = {**file_activities(settings, secrets, audit), INVOICE_RUNS_TASK_QUEUE: [runs.outcome]}
    for queue, activities in queues.items():
        workers.append(
            activity_worker(
                client, settings, task_queue=queue, activities=activities, deployment=deployment
            )
        )
    return workers, pools


def system_clients(
    settings: Settings, secrets: SecretStore, audit: AuditLog, telemetry: Telemetry | None = None
) -> tuple[dict[System, SystemClient], list[httpx.AsyncClient]]:
    """One shared httpx client per system (connection reuse), with its auth scheme; traced as
    that system's calls when `telemetry` traces."""
    clients: dict[System, SystemClient] = {}
    pools: list[httpx.AsyncClient] = []
    for system in System:
        http = httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        if telemetry is not None:
            telemetry.instrument_http(http, system.value)
        pools.append(http)
        base_url = settings.system_url(system)
        auth = _auth(system, secrets, http, base_url, audit)
        headers = STRIPE_HEADERS if system is System.BILLING else None
        circuit = Circuit(audit.engine, system.value, settings.circuit_policy(system))
        clients[system] = SystemClient(
            system,
            base_url,
            http,
            auth,
            audit,
            headers,
            circuit,
            errors_in_body=system is System.SLACK,
        )
    return clients, pools


def activities_by_queue(
    clients: dict[System, SystemClient],
    smtp: SmtpSender,
    secrets: SecretStore,
    settings: Settings,
) -> dict[System, list[Callable[..., Any]]]:
    erp = ErpActivities(clients[System.ERP])
    portal = PortalActivities(clients[System.PORTAL])
    links = ApprovalLinks(secrets, settings.api_url, settings.approval_link_expiry)
    mail = MailActivities(smtp, secrets, links)
    billing = BillingActivities(clients[System.BILLING])
    crm = CrmActivities(clients[System.CRM])
    enrichment = EnrichmentActivities(clients[System.ENRICHMENT])
    esign = EsignActivities(clients[System.ESIGN])
    slack = SlackActivities(SlackApi(clients[System.SLACK]), secrets, settings.slack_channels)
    return {
        System.ERP: [
            erp.validate_vendor,
            erp.create_vendor,
            erp.deactivate_vendor,
            erp.add_approved_supplier,
            erp.remove_approved_supplier,
        ],
        System.PORTAL: [
            portal.create_account,
            portal.delete_account,
            portal.suspend_accounts,
            portal.reactivate_accounts,
        ],
        System.MAIL: [mail.send_email, mail.send_compensation_email, mail.notify_role],
        System.BILLING: [
            billing.find_or_create_customer,
            billing.create_invoice,
            billing.finalize_invoice,
            billing.void_invoice,
            billing.get_invoice,
            billing.list_invoices,
            billing.list_invoices_page,
            billing.get_invoice_by_id,
        ],
        System.CRM: [
            crm.get_account,
            crm.get_deal,
            crm.update_deal,
            crm.capture_lead,
            crm.assign_owner,
            crm.create_deal,
            crm.restore_deal_stage,
            crm.create_account,
            crm.mark_customer,
        ],
        System.ENRICHMENT: [enrichment.company],
        System.ESIGN: [esign.send_envelope, esign.void_envelope],
        System.SLACK: [slack.post_approval, slack.update_approval],
    }


def file_activities(
    settings: Settings, secrets: SecretStore, audit: AuditLog | None = None
) -> dict[str, list[Callable[..., Any]]]:
    """Activities of file-based integrations and of the approver directory, by task queue (no
    HTTP client, no rate limit)."""
    export = AccountingExportActivities(settings.resolved_export_dir)
    directory = DirectoryActivities(secrets, audit)
    return {
        ACCOUNTING_TASK_QUEUE: [
            export.export_invoices,
            export.write_export_part,
            export.finish_export,
        ],
        DIRECTORY_TASK_QUEUE: [directory.approver, directory.record_decision],
    }
