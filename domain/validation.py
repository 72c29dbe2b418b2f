"""Validation errors said one way everywhere: the field and what is wrong, never the value."""

from pydantic import ValidationError


def describe_errors(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        if err["type"] == "json_invalid":
            problems.append(
                f"not valid JSON: {err['ctx'].get('error', '') if 'ctx' in err else ''}"
            )
        elif err["type"] == "extra_forbidden":
            problems.append(f"{field}: unknown field")
        else:
            problems.append(f"{field or 'body'}: {err['msg']}")
    return problems


def ascii_int(text: str, max_digits: int) -> int | None:
    """`text` as a number when it is 1 to `max_digits` ASCII digits, else None; never raises
    (`str.isdigit` alone takes `²` and other digits `int` refuses, and `int` refuses more than
    4,300 digits)."""
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None
