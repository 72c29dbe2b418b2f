"""JSON request bodies, read after the caller is authenticated: `application/json` only (415),
parseable (400 `INVALID_JSON`), then valid for the route's model (422 `VALIDATION_ERROR` naming
every bad field, never its value). The size limit was enforced before (`limits.py`).
"""

import json
from typing import Any, Generic, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from starters.api.errors import ApiError, field_problems, validation_message

Model = TypeVar("Model", bound=BaseModel)


def is_json_media_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JsonBody(Generic[Model]):
    """A dependency yielding the body as `model`; `openapi.py` documents it as the request body."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model

    async def __call__(self, request: Request) -> Model:
        if not is_json_media_type(request.headers.get("content-type")):
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "send the body as JSON with `Content-Type: application/json`",
            )
        data = _parse(await request.body())
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            problems = field_problems(list(exc.errors()))
            raise ApiError(
                422, "VALIDATION_ERROR", validation_message(problems), fields=problems
            ) from None


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        raise ApiError(400, "INVALID_JSON", "the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "INVALID_JSON",
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column "
            f"{exc.colno})",
        ) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        reason = (
            "not UTF-8"
            if isinstance(exc, UnicodeDecodeError)
            else "nested too deeply"
            if isinstance(exc, RecursionError)
            else "a number with more digits than any field takes"
        )
        raise ApiError(
            400, "INVALID_JSON", f"the request body is not valid JSON: {reason}"
        ) from None
