"""The approval inbox, served by the API app: server-rendered pages for approvers (sign-in,
"Waiting for me", "Decided", deciding with a comment) and the approve-by-link pages the approval
emails point to. Not part of the JSON API's OpenAPI document."""

import logging
import re

from fastapi import APIRouter

from starters.api.inbox import link_pages, sign_in, views

router = APIRouter(include_in_schema=False)
router.include_router(sign_in.router)
router.include_router(views.router)
router.include_router(link_pages.router)

_LINK_TOKEN = re.compile(r"(/inbox/links/)[^\s?#\"]+")


class RedactLinkTokens(logging.Filter):
    """A link's token is a credential until used: the access log shows its path without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LINK_TOKEN.sub(r"\1<token>", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


_access_log = logging.getLogger("uvicorn.access")
if not any(isinstance(f, RedactLinkTokens) for f in _access_log.filters):
    _access_log.addFilter(RedactLinkTokens())

__all__ = ["router"]
