"""ERP activities: vendor master and the approved supplier list."""

from pydantic import BaseModel
from temporalio import activity

from activities.http import SystemClient, idempotency_key, path
from domain.records import (
    AddApprovedSupplierInput,
    CompensationResult,
    CreateVendorInput,
    RemoveApprovedSupplierInput,
    SupplierListEntry,
    ValidateVendorInput,
    ValidateVendorResult,
    Vendor,
    VendorRef,
)


class _VendorList(BaseModel):
    vendors: list[Vendor]


class _SupplierList(BaseModel):
    entries: list[SupplierListEntry]


class ErpActivities:
    def __init__(self, erp: SystemClient) -> None:
        self._erp = erp

    @activity.defn(name="erp.validate_vendor")
    async def validate_vendor(self, inp: ValidateVendorInput) -> ValidateVendorResult:
        return await self._erp.call(
            "POST", "/vendors/validate", ValidateVendorResult, json=inp.model_dump(mode="json")
        )

    @activity.defn(name="erp.create_vendor")
    async def create_vendor(self, inp: CreateVendorInput) -> Vendor:
        return await self._erp.call(
            "POST",
            "/vendors",
            Vendor,
            json=inp.model_dump(mode="json"),
            idempotency_key=idempotency_key("erp.create_vendor"),
        )

    @activity.defn(name="erp.deactivate_vendor")
    async def deactivate_vendor(self, inp: VendorRef) -> CompensationResult:
        """Compensation: deactivate whatever active vendor carries this reference."""
        undone = []
        for vendor in await self._active_vendors(inp.external_ref):
            await self._erp.call("POST", path("/vendors/{}/deactivate", vendor.id), Vendor)
            undone.append(vendor.id)
        if not undone:
            return CompensationResult(undone=False, description="no vendor to deactivate")
        return CompensationResult(
            undone=True, description=f"deactivated vendor {', '.join(undone)}"
        )

    @activity.defn(name="erp.add_approved_supplier")
    async def add_approved_supplier(self, inp: AddApprovedSupplierInput) -> SupplierListEntry:
        return await self._erp.call(
            "POST",
            "/approved-suppliers",
            SupplierListEntry,
            json=inp.model_dump(mode="json"),
            idempotency_key=idempotency_key("erp.add_approved_supplier"),
        )

    @activity.defn(name="erp.remove_approved_supplier")
    async def remove_approved_supplier(
        self, inp: RemoveApprovedSupplierInput
    ) -> CompensationResult:
        """Compensation: take the vendor with this reference off the approved supplier list."""
        removed = []
        for vendor in await self._active_vendors(inp.external_ref):
            # Only this vendor's entries (the list can hold every supplier of the company).
            listed = await self._erp.call(
                "GET",
                "/approved-suppliers",
                _SupplierList,
                params={"vendor_id": vendor.id, "status": "listed"},
            )
            if any(e.vendor_id == vendor.id and e.status == "listed" for e in listed.entries):
                await self._erp.call(
                    "DELETE", path("/approved-suppliers/{}", vendor.id), SupplierListEntry
                )
                removed.append(vendor.id)
        if not removed:
            return CompensationResult(undone=False, description="not on the supplier list")
        return CompensationResult(
            undone=True, description=f"removed {', '.join(removed)} from the supplier list"
        )

    async def _active_vendors(self, external_ref: str) -> list[Vendor]:
        found = await self._erp.call(
            "GET", "/vendors", _VendorList, params={"external_ref": external_ref}
        )
        return [v for v in found.vendors if v.status == "active"]
