"""Text from outside (names, reasons, comments) made safe for an email before it is sent.

A header gets one line: every control character, line or paragraph separator and bidirectional
override becomes a space, runs of spaces collapse, and it is cut at `HEADER_LIMIT` characters.
A body keeps its line breaks and tabs (CR LF and a lone CR become LF), loses every other control
character and override, and is cut at `BODY_LIMIT`. A cut ends with an ellipsis, so a reader
sees that something was left out. The same input always gives the same text, so a retried
send is the same message.
"""

import re
import unicodedata

HEADER_LIMIT = 250
BODY_LIMIT = 20_000
ELLIPSIS = "…"

# Unicode's explicit embeddings, overrides and isolates: they reorder what a reader sees.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES = re.compile(r"[ \t]+")


def _unsafe(char: str) -> bool:
    """Control characters (Cc), line and paragraph separators (Zl, Zp), bidi controls."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def header_text(value: str, limit: int = HEADER_LIMIT) -> str:
    """`value` as one clean line of at most `limit` characters."""
    spaced = "".join(" " if _unsafe(char) else char for char in value)
    return _cut(_SPACES.sub(" ", spaced).strip(), limit)


def body_text(value: str, limit: int = BODY_LIMIT) -> str:
    """`value` with LF line breaks and tabs kept, other control characters dropped, at most
    `limit` characters."""
    lines = value.replace("\r\n", "\n")
    for separator in "\r\u2028\u2029":
        lines = lines.replace(separator, "\n")
    kept = "".join(char for char in lines if char in "\n\t" or not _unsafe(char))
    return _cut(kept, limit)
