"""The approval inbox, served by the API app: server-rendered pages for approvers (sign-in,
"Waiting for me", "Decided", deciding with a comment) and the approve-by-link pages the approval
emails point to. Not part of the JSON API's OpenAPI document."""

import logging

from fastapi import APIRouter

from runtime.redaction import RedactingFilter
from starters.api.inbox import link_pages, sign_in, views

router = APIRouter(include_in_schema=False)
router.include_router(sign_in.router)
router.include_router(views.router)
router.include_router(link_pages.router)

# A link's token is a credential until used: the access log shows its path without it, even
# where uvicorn runs with its own log configuration (runtime.logs redacts every line anyway).
_access_log = logging.getLogger("uvicorn.access")
if not any(isinstance(f, RedactingFilter) for f in _access_log.filters):
    _access_log.addFilter(RedactingFilter())

__all__ = ["router"]
