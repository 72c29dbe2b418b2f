"""E-signature activities: contract envelopes (sent, completed, voided)."""

from pydantic import BaseModel
from temporalio import activity

from activities.http import SystemClient, idempotency_key, path
from domain.records import CompensationResult, Envelope, EnvelopeRef, SendEnvelopeInput


class _Envelopes(BaseModel):
    envelopes: list[Envelope]


class EsignActivities:
    def __init__(self, esign: SystemClient) -> None:
        self._esign = esign

    @activity.defn(name="esign.send_envelope")
    async def send_envelope(self, inp: SendEnvelopeInput) -> Envelope:
        return await self._esign.call(
            "POST",
            "/envelopes",
            Envelope,
            json=inp.model_dump(mode="json"),
            idempotency_key=idempotency_key("esign.send_envelope"),
        )

    @activity.defn(name="esign.void_envelope")
    async def void_envelope(self, inp: EnvelopeRef) -> CompensationResult:
        """Void every envelope still out for signature under this reference."""
        found = await self._esign.call(
            "GET", "/envelopes", _Envelopes, params={"external_ref": inp.external_ref}
        )
        voided = []
        for envelope in found.envelopes:
            if envelope.status == "sent":
                await self._esign.call("POST", path("/envelopes/{}/void", envelope.id), Envelope)
                voided.append(envelope.id)
        if not voided:
            return CompensationResult(undone=False, description="no envelope to void")
        return CompensationResult(undone=True, description=f"voided envelope {', '.join(voided)}")
