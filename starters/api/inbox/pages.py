"""Rendering the inbox: Jinja templates (autoescaped), the headers every page carries, the two
static files, and reading url-encoded forms."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain import contract
from domain.money import format_amount

HERE = Path(__file__).resolve().parent
STATIC = {"inbox.css": "text/css", "inbox.js": "text/javascript"}
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 20

# No inline script or style, no framing, no referrer (a link page's URL is its token).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

PROCESS_NAMES = {
    contract.VENDOR_ONBOARDING: "Vendor onboarding",
    contract.INVOICE_GENERATION: "Invoice",
    contract.LEAD_TO_CASH: "Lead to cash",
}


def amount(cents: int | None, currency: str | None) -> str:
    if cents is None:
        return "—"
    return format_amount(cents, currency) if currency else f"{cents:,} (minor units)"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def process_name(process: str) -> str:
    return PROCESS_NAMES.get(process, process)


_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(amount_of=amount, when=when, iso=iso, process_name=process_name)


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered template with the inbox's security headers."""
    context.setdefault("me", None)
    context.setdefault("csrf_token", "")
    context.setdefault("section", "")
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def problem(status_code: int, title: str, message: str, **context: Any) -> HTMLResponse:
    return page("problem.html", status_code, title=title, message=message, **context)


def json_answer(status_code: int, accepted: bool, message: str, **extra: Any) -> JSONResponse:
    body = {"accepted": accepted, "message": message, **extra}
    return JSONResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def static_file(name: str) -> Response:
    media_type = STATIC.get(name)
    if media_type is None:
        return problem(404, "Not found", "There is no such file.")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
    return FileResponse(HERE / "static" / name, media_type=media_type, headers=headers)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


class FormUnreadable(Exception):
    """Not a url-encoded form."""


async def read_form(request: Request) -> dict[str, str]:
    """The first value of every field of a url-encoded body (the inbox's only form encoding);
    no fields when there is no body."""
    body = await request.body()
    if not body:
        return {}
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != FORM_MEDIA_TYPE:
        raise FormUnreadable(f"send the form as {FORM_MEDIA_TYPE}")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise FormUnreadable("the form could not be read") from None
    return {name: values[0] for name, values in fields.items() if values}
