"""Redaction of personal data and secrets, in one place: the logs of every process and the
summaries of the audit rows go through it.

`redact_text` rewrites free text (a log message, an exception, a summary); `redact_value`
rewrites a mapping or list, replacing the values of sensitive keys and redacting the text of the
others. Both are idempotent, so text redacted twice reads the same.
"""

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
# An approve/reject link's token is a credential until used: its path shows without it.
LINK_TOKEN_MARK = "<token>"  # noqa: S105 (a placeholder, not a token)

# Keys (compared in lower case without `_`/`-`) whose values are never shown.
_SENSITIVE_KEYS = frozenset(
    {
        "name",
        "fullname",
        "firstname",
        "lastname",
        "legalname",
        "contactname",
        "displayname",
        "username",
        "secretid",
        "cookie",
        "setcookie",
        "bic",
        "swift",
        "ssn",
        "tin",
        "vatid",
        "vatnumber",
        "dateofbirth",
        "birthdate",
    }
)
_SENSITIVE_KEY_ENDINGS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "credentials",
    "privatekey",
    "iban",
    "accountnumber",
    "bankaccount",
    "taxid",
    "email",
    "phone",
    "address",
)


def is_sensitive_key(key: str) -> bool:
    """True for a key whose value is personal or secret (`contact_email`, `api-key`, `IBAN`)."""
    folded = key.lower().replace("_", "").replace("-", "")
    return folded in _SENSITIVE_KEYS or folded.endswith(_SENSITIVE_KEY_ENDINGS)


def _mark(match: re.Match[str]) -> str:
    return REDACTED


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return REDACTED if _luhn_valid(digits) else match.group(0)


def _sensitive_pair(match: re.Match[str]) -> str:
    if not is_sensitive_key(match.group("key")):
        return match.group(0)
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('lead')}{quote}{REDACTED}{quote}"


_NOT_REDACTED_YET = r"(?![\s\"']*\[redacted\])"
_EU_VAT_PREFIXES = (
    "AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK"
)

# Applied in this order: credentials, personal data by its shape, then whatever value a
# sensitive key names (`password=...`, `"contact_name": "..."`).
_RULES: tuple[tuple[re.Pattern[str], Any], ...] = (
    # The token of an emailed approve/reject link.
    (re.compile(r"(/inbox/links/)[^\s?#\"'<>]+"), rf"\1{LINK_TOKEN_MARK}"),
    # The ticket of a one-time codec sign-in link (`/codec/session?ticket=...`).
    (re.compile(r"(/codec/session\?ticket=)[^\s&#\"'<>]+"), rf"\1{LINK_TOKEN_MARK}"),
    # A password in a URL: scheme://user:password@host
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    # The whole value of an Authorization header, however it is written.
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
            + _NOT_REDACTED_YET
            + r"[^\s\"',}][^\"'\r\n,}]*"
        ),
        rf"\1{REDACTED}",
    ),
    # Bearer credentials anywhere; Basic ones where they look like base64 (not "Basic checks").
    (
        re.compile(r"(?i)\b(bearer)\s+" + _NOT_REDACTED_YET + r"[A-Za-z0-9._~+/=:-]{6,}"),
        rf"\1 {REDACTED}",
    ),
    (
        re.compile(r"(?i)\b(basic)\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"),
        rf"\1 {REDACTED}",
    ),
    # Vault / OpenBao tokens (hvs., hvb., hvr., and the older s., b., r.).
    (re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}"), _mark),
    # Email addresses, also URL-encoded (`dana%40acme.example`).
    (
        re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        _mark,
    ),
    # IBANs, compact or in groups of four, also inside identifiers (`iban_DE89...`).
    (
        re.compile(
            r"(?<![A-Z0-9])[A-Z]{2}\d{2}"
            r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Z0-9])"
        ),
        _mark,
    ),
    # Card numbers (13 to 19 digits, spaced or not, that pass the Luhn check).
    (re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), _card),
    # Bank account numbers named as such.
    (
        re.compile(r"(?i)\b(account\s*(?:number|no\.?|#))(\s*[:=]?\s*)\d[\d -]{4,}\d"),
        rf"\1\2{REDACTED}",
    ),
    # Tax ids: EU VAT numbers, US EIN and SSN.
    (re.compile(rf"(?<![A-Z0-9])(?:{_EU_VAT_PREFIXES})U?\d{{8,12}}(?![A-Z0-9])"), _mark),
    (re.compile(r"\b\d{2}-\d{7}\b|\b\d{3}-\d{2}-\d{4}\b"), _mark),
    # key=value and "key": "value" pairs whose key is sensitive.
    (
        re.compile(
            r"(?P<lead>(?P<q>[\"']?)(?P<key>[A-Za-z][A-Za-z0-9_-]*)(?P=q)\s*[:=]\s*)"
            + _NOT_REDACTED_YET
            + r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&}\]\"']+)"
        ),
        _sensitive_pair,
    ),
)


def redact_text(text: str) -> str:
    """`text` with every secret and piece of personal data it holds replaced by `[redacted]`."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """A copy of `value` (mapping, list, text, anything else) safe to log or store: values of
    sensitive keys become `[redacted]`, other text is redacted as free text."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if isinstance(k, str) and is_sensitive_key(k) and v is not None
            else redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Redacts a record's message arguments where it is logged, for loggers whose handlers this
    project does not own (uvicorn's access log under its own log configuration)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The arguments keep their shape: uvicorn's access formatter unpacks them.
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_text(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, Mapping):
            record.args = redact_value(record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True
