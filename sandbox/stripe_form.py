"""Stripe's request encoding, read back: form fields with brackets (``metadata[k]=v``,
``tax_rates[0]=txr_…``, ``created[gte]=…``) become nested dicts and lists."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from sandbox.errors import ApiError

_PART = re.compile(r"\[([^\[\]]*)\]")


def parse(raw: str) -> dict[str, Any]:
    """The nested params of a query string or form body; a malformed name is a 400."""
    params: dict[str, Any] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = name.partition("[")
        parts = [head, *_PART.findall("[" + rest)] if rest else [head]
        if not head or (rest and "".join(f"[{p}]" for p in parts[1:]) != "[" + rest):
            raise invalid(f"malformed parameter name {name!r}", name)
        node = params
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise invalid(f"parameter {name!r} mixes a value and a hash", name)
            node = child
        node[parts[-1]] = value
    return {key: _lists(value) for key, value in params.items()}


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value and all(key.isdigit() for key in value):
        return [_lists(value[key]) for key in sorted(value, key=int)]
    return {key: _lists(item) for key, item in value.items()}


def invalid(message: str, param: str | None = None, code: str = "parameter_invalid") -> ApiError:
    """A Stripe ``invalid_request_error`` naming the parameter."""
    return ApiError(400, code.upper(), message, param=param, stripe=True)


def text(
    params: dict[str, Any], name: str, *, required: bool = False, max_length: int = 5000
) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise invalid(f"Missing required param: {name}.", name, "parameter_missing")
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise invalid(f"Invalid string: {name}", name)
    return value


def integer(
    params: dict[str, Any], name: str, *, minimum: int = 0, default: int | None = None
) -> int | None:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,15}", value) or int(value) < minimum:
        raise invalid(f"Invalid integer: {name}", name)
    return int(value)


def boolean(params: dict[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise invalid(f"Invalid boolean: {name}", name)
    return bool(value == "true")


def metadata(params: dict[str, Any]) -> dict[str, str]:
    value = params.get("metadata", {})
    if value == "":
        return {}
    if not isinstance(value, dict) or len(value) > 50:
        raise invalid("metadata must be a hash of at most 50 keys", "metadata")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
            raise invalid(f"Invalid metadata[{key}]", f"metadata[{key}]")
    return dict(value)


_CLAUSE = re.compile(r"^metadata\['([^'\\]+)'\]:'((?:[^'\\]|\\.)*)'$")


def metadata_search(query: str | None) -> dict[str, str]:
    """``metadata['k']:'v' AND …``, the Search API subset the activities use."""
    if not query:
        raise invalid("Missing required param: query.", "query", "parameter_missing")
    found: dict[str, str] = {}
    for clause in query.split(" AND "):
        match = _CLAUSE.match(clause.strip())
        if match is None:
            raise invalid(
                "the sandbox's search supports metadata['key']:'value' clauses joined by AND",
                "query",
            )
        found[match[1]] = re.sub(r"\\(.)", r"\1", match[2])
    return found
