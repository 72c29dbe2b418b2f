"""A Temporal namespace of its own on the session's dev server, with our search attributes, so an
in-process worker gets every task of a test and the session's worker none."""

import asyncio
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from domain.contract import SEARCH_ATTRIBUTES


def _kinds() -> dict[str, "IndexedValueType.ValueType"]:
    return {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
        for name, kind in SEARCH_ATTRIBUTES.items()
    }


async def create_namespace(client: Client, namespace: str, *, timeout: float = 60) -> None:
    """Register `namespace` and the dev stack's search attributes in it; returns once a
    visibility query over those attributes answers there."""
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    deadline = asyncio.get_running_loop().time() + timeout
    wanted = _kinds()
    problem = ""
    while asyncio.get_running_loop().time() < deadline:
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace), timeout=timedelta(seconds=5)
            )
            missing = {
                name: kind
                for name, kind in wanted.items()
                if listed.custom_attributes.get(name) != kind
            }
            if missing:
                await client.operator_service.add_search_attributes(
                    AddSearchAttributesRequest(namespace=namespace, search_attributes=missing),
                    timeout=timedelta(seconds=5),
                )
            else:
                query = " AND ".join(f"{name} IS NULL" for name in wanted)
                await client.workflow_service.count_workflow_executions(
                    CountWorkflowExecutionsRequest(namespace=namespace, query=query),
                    timeout=timedelta(seconds=5),
                )
                return
        except RPCError as exc:  # the namespace is not known everywhere yet
            problem = str(exc)
        await asyncio.sleep(0.5)
    raise AssertionError(f"namespace {namespace} not ready: {problem}")
