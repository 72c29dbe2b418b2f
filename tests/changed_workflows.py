"""Workflow code changed WITHOUT `workflow.patched`, the mistake replay must catch: the same
workflow type, with an extra activity before everything the recorded runs did."""

from datetime import timedelta

from temporalio import workflow

from domain.vendor import VendorOnboardingInput, VendorOnboardingResult
from workflows.vendor_onboarding import PROCESS, VendorOnboarding


@workflow.defn(name=PROCESS)
class VendorOnboardingWithAnExtraStep(VendorOnboarding):
    @workflow.run
    async def run(self, inp: VendorOnboardingInput) -> VendorOnboardingResult:
        await workflow.execute_activity(
            "erp.validate_vendor", inp.application, start_to_close_timeout=timedelta(seconds=5)
        )
        return await super().run(inp)
