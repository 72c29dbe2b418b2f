"""What runs where: the workflows on `backoffice`, each system's activities on its own queue."""

from collections.abc import Callable
from typing import Any

import httpx

from activities.audit import AuditLog
from activities.auth import ApiKeyHeader, AuthScheme, BasicAuth, BearerApiKey
from activities.erp import ErpActivities
from activities.http import SystemClient
from activities.mail import MailActivities
from activities.portal import PortalActivities
from domain.systems import System
from runtime.settings import Settings
from runtime.vault import SecretStore
from workflows.vendor_onboarding import VendorOnboarding

WORKFLOWS: list[type] = [VendorOnboarding]

AUTH_SCHEMES: dict[System, Callable[[SecretStore, System], AuthScheme]] = {
    System.ERP: BasicAuth,
    System.PORTAL: ApiKeyHeader,
    System.MAIL: BearerApiKey,
}


def system_clients(
    settings: Settings, secrets: SecretStore, audit: AuditLog
) -> tuple[dict[System, SystemClient], list[httpx.AsyncClient]]:
    """One shared httpx client per system (connection reuse), with its auth scheme."""
    clients: dict[System, SystemClient] = {}
    pools: list[httpx.AsyncClient] = []
    for system, scheme in AUTH_SCHEMES.items():
        http = httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        pools.append(http)
        clients[system] = SystemClient(
            system, settings.system_url(system), http, scheme(secrets, system), audit
        )
    return clients, pools


def activities_by_queue(
    clients: dict[System, SystemClient], secrets: SecretStore
) -> dict[System, list[Callable[..., Any]]]:
    erp = ErpActivities(clients[System.ERP])
    portal = PortalActivities(clients[System.PORTAL])
    mail = MailActivities(clients[System.MAIL], secrets)
    return {
        System.ERP: [
            erp.validate_vendor,
            erp.create_vendor,
            erp.deactivate_vendor,
            erp.add_approved_supplier,
            erp.remove_approved_supplier,
        ],
        System.PORTAL: [portal.create_account, portal.delete_account],
        System.MAIL: [mail.send_email, mail.send_compensation_email, mail.notify_role],
    }
