"""Enrichment activities: company data by domain (a rate-limited API)."""

from temporalio import activity

from activities.http import SystemClient, path
from domain.lead import Company
from domain.records import CompanyRef


class EnrichmentActivities:
    def __init__(self, enrichment: SystemClient) -> None:
        self._enrichment = enrichment

    @activity.defn(name="enrichment.company")
    async def company(self, inp: CompanyRef) -> Company:
        # A 429 is retried after its Retry-After (see activities.errors): the API slows us down.
        return await self._enrichment.call("GET", path("/companies/{}", inp.domain), Company)
