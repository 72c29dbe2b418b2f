"""Field types shared by the newer systems' request models (emails, currencies, domains...)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints

from sandbox.errors import validation_error

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
# ISO 4217, upper case (EUR, USD...).
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

# A host name such as acme.example: two labels or more, any case (kept in lower case).
DOMAIN_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
Domain = Annotated[
    str,
    StringConstraints(max_length=253, pattern=DOMAIN_PATTERN),
    BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value),
]


def refuse_nulls(changes: dict[str, Any], fields: tuple[str, ...]) -> None:
    """A PATCH may clear optional fields with null, not these; a 422 naming the first one."""
    for name in fields:
        if name in changes and changes[name] is None:
            raise validation_error(f"body.{name}: may not be null")
