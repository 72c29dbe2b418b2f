"""Outages answered as inbox pages (the JSON API answers them in its own error shape)."""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec

from fastapi.responses import Response
from temporalio.service import RPCError, RPCStatusCode

from runtime.vault import SecretUnavailable
from starters.api.inbox.pages import problem

log = logging.getLogger(__name__)

P = ParamSpec("P")


def html_errors(route: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Vault or Temporal not answering becomes a 503 page that says to try again."""

    @functools.wraps(route)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await route(*args, **kwargs)
        except SecretUnavailable as exc:
            log.warning("inbox: Vault unavailable: %s", exc)
            return problem(503, "Try again", "Credentials cannot be checked right now.")
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                raise
            log.warning("inbox: Temporal unavailable: %s", exc)
            return problem(503, "Try again", "The workflow service did not answer in time.")

    return guarded
