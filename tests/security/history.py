"""Walking a workflow history for its payloads and failures, written apart from the code under
test (`runtime.codec.payloads_in`) so that a bug there cannot hide one here."""

import base64
from collections.abc import Iterator
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

M = TypeVar("M", bound=Message)

# Plain text by design (DESIGN.md): search attributes, so no personal data goes into them.
PLAIN_BY_DESIGN = "search_attributes"


def found(message: Message, kind: type[M], path: str = "") -> Iterator[tuple[str, M]]:
    """Every message of `kind` inside `message`, with its field path."""
    if isinstance(message, kind):
        yield path, message
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        name = f"{path}.{descriptor.name}" if path else descriptor.name
        entry = descriptor.message_type
        if entry is not None and entry.GetOptions().map_entry:
            children: list[tuple[str, Any]] = [(f"{name}[{k}]", v) for k, v in value.items()]
        elif descriptor.is_repeated:
            children = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        else:
            children = [(name, value)]
        for child_path, child in children:
            if isinstance(child, Message):
                yield from found(child, kind, child_path)


# Temporal's core writes a `workflow.patched` marker itself, past the data converter: its one
# payload is the patch's name (checked apart: `patch_markers`).
PATCH_MARKER = "core_patch"


def event_payloads(event: HistoryEvent) -> Iterator[tuple[str, Payload]]:
    """The payloads of one event a codec must have sealed (search attributes and patch markers
    left out)."""
    if patch_marker(event):
        return
    for path, payload in found(event, Payload):
        if PLAIN_BY_DESIGN not in path:
            yield path, payload


def patch_marker(event: HistoryEvent) -> bool:
    return (
        event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == PATCH_MARKER
    )


def event_failures(event: HistoryEvent) -> Iterator[tuple[str, Failure]]:
    yield from found(event, Failure)


async def events_of(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


def spellings(canary: str) -> list[str]:
    """The canary as text and as it shows inside base64 at each of the three byte alignments
    (the JSON of a history carries payload data in base64)."""
    raw = canary.encode()
    forms = [canary]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        # Only the 4-character groups made of canary bytes alone are the same in any blob.
        first, last = -(-shift // 3), (shift + len(raw)) // 3
        forms.append(encoded[first * 4 : last * 4])
    return forms
