"""The log setup of the worker and the API: one line per record on stderr, JSON by default
(`BACKOFFICE_LOG_FORMAT=json|text`), with the workflow and activity ids of the run a line
belongs to, and everything redacted by `runtime.redaction` (messages and exceptions alike).

A JSON line reads:

    {"time": "2026-11-21T22:37:09.757Z", "level": "INFO", "logger": "httpx",
     "message": "HTTP Request: POST http://127.0.0.1:8400/erp/vendors \"HTTP/1.1 201 Created\"",
     "service": "worker", "workflow_id": "vendor-onboarding-APP-1001", "run_id": "01a2...",
     "workflow_type": "VendorOnboarding", "activity_id": "3", "activity_type": "erp.create_vendor",
     "attempt": 1, "task_queue": "backoffice-erp"}
"""

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from temporalio import activity, workflow

from runtime.redaction import redact_text, redact_value
from runtime.settings import Settings

# What a record carries besides what its caller passed in `extra`.
_STANDARD_ATTRIBUTES = frozenset(
    set(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)))
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of the message
)
# The SDK's logger adapters put these dicts on a record; their keys, as our lines name them.
_WORKFLOW_KEYS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
    "attempt": "attempt",
    "task_queue": "task_queue",
    "update_id": "update_id",
    "update_name": "update_name",
}
_ACTIVITY_KEYS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_id": "activity_id",
    "activity_type": "activity_type",
    "attempt": "attempt",
    "task_queue": "task_queue",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def run_context(record: logging.LogRecord) -> dict[str, Any]:
    """The ids of the workflow or activity a record was logged in (empty outside of one)."""
    activity_details = getattr(record, "temporal_activity", None)
    if not isinstance(activity_details, Mapping) and activity.in_activity():
        # A logger other than `activity.logger` (httpx, the Vault client) inside an activity.
        info = activity.info()
        activity_details = {
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "workflow_type": info.workflow_type,
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
            "task_queue": info.task_queue,
        }
    if isinstance(activity_details, Mapping):
        return _renamed(activity_details, _ACTIVITY_KEYS)
    workflow_details = getattr(record, "temporal_workflow", None)
    if isinstance(workflow_details, Mapping):
        return _renamed(workflow_details, _WORKFLOW_KEYS)
    return {}


def _renamed(details: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {ours: details[theirs] for theirs, ours in names.items() if theirs in details}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, service, the run's ids, the
    caller's `extra` fields and the exception, all redacted."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
            "service": self._service,
            **run_context(record),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRIBUTES or key.startswith(("_", "temporal_")) or key in line:
                continue
            line[key] = redact_value(value)
        if record.exc_info:
            line["exception"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact_text(record.exc_text)
        if record.stack_info:
            line["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class RedactedTextFormatter(logging.Formatter):
    """The classic text line, redacted like the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def configure_logging(
    settings: Settings, *, service: str, stream: TextIO | None = None
) -> logging.Handler:
    """Send every record of this process to `stream` (stderr) in the configured format, at the
    configured level; returns the handler it installed on the root logger."""
    handler = logging.StreamHandler(stream or sys.stderr)
    as_json = settings.log_format == "json"
    handler.setFormatter(JsonFormatter(service) if as_json else RedactedTextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    logging.captureWarnings(True)
    # In JSON the ids are fields of their own; in text the SDK appends them to the message.
    workflow.logger.workflow_info_on_message = not as_json
    activity.logger.activity_info_on_message = not as_json
    return handler
