"""The external systems the activities talk to, and the task queue each one runs on."""

from enum import StrEnum

WORKFLOW_TASK_QUEUE = "backoffice"


class System(StrEnum):
    """An external system, named as in its path prefix and its Vault entry."""

    CRM = "crm"
    BILLING = "billing"
    ERP = "erp"
    ESIGN = "esign"
    MAIL = "mail"
    PORTAL = "portal"
    ENRICHMENT = "enrichment"
    SLACK = "slack"

    @property
    def task_queue(self) -> str:
        """Each system's activities run on their own queue, so its rate limit holds fleet-wide."""
        return f"{WORKFLOW_TASK_QUEUE}-{self.value}"

    @property
    def credentials_path(self) -> str:
        """Where its credentials are in Vault, under the KV mount and the secrets prefix."""
        return f"systems/{self.value}"
