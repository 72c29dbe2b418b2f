"""Company-data stand-in (``/enrichment``, ``Authorization: Bearer``), with its own rate limit.

``GET /enrichment/companies/{domain}`` answers a profile derived from a hash of the domain,
so the same domain always gets the same company. Each API key has a token bucket (default
5 requests per second, burst 5; ``PUT /_admin/enrichment/rate-limit``): beyond it, 429
``RATE_LIMITED`` with ``Retry-After`` and the request is not served. This is the system's own
limit, apart from (and applied after) any injected fault.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from sandbox.auth import BearerKey, bearer_token
from sandbox.errors import ApiError
from sandbox.fields import Domain
from sandbox.settings import load_setting, save_setting
from sandbox.state import state_of
from sandbox.system import System

SYSTEM = System("enrichment", BearerKey())
router = SYSTEM.router

RATE_LIMIT = "enrichment.rate_limit"

INDUSTRIES = (
    "software",
    "manufacturing",
    "retail",
    "logistics",
    "financial services",
    "healthcare",
    "energy",
    "construction",
    "media",
    "education",
    "hospitality",
    "agriculture",
)
# ISO 3166-1 alpha-2 country, and the legal-form suffix of a company name there.
LEGAL_FORMS = {
    "DE": "GmbH",
    "AT": "GmbH",
    "CH": "AG",
    "FR": "SAS",
    "NL": "B.V.",
    "ES": "S.L.",
    "IT": "S.r.l.",
    "SE": "AB",
    "DK": "ApS",
    "PL": "sp. z o.o.",
    "GB": "Ltd",
    "IE": "Ltd",
    "US": "Inc.",
    "CA": "Inc.",
    "AU": "Pty Ltd",
}
_COUNTRIES = tuple(LEGAL_FORMS)
_DOMAIN = TypeAdapter(Domain)


class RateLimit(BaseModel):
    """The body of ``PUT /_admin/enrichment/rate-limit``; ``burst`` defaults to ``per_second``."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(default=5.0, gt=0, le=100_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)

    @property
    def bucket_size(self) -> int:
        return self.burst if self.burst is not None else max(1, math.ceil(self.per_second))

    def view(self, counts: dict[str, int]) -> dict[str, Any]:
        return {"per_second": self.per_second, "burst": self.bucket_size, **counts}


def company_profile(domain: str) -> dict[str, Any]:
    """The company behind ``domain``: the same answer every time, from a SHA-256 of it."""
    digest = hashlib.sha256(domain.encode()).digest()
    country = _COUNTRIES[digest[3] % len(_COUNTRIES)]
    label = domain.split(".")[0]
    words = " ".join(part.capitalize() for part in label.split("-") if part)
    spread = int.from_bytes(digest[:2], "big") / 65535
    return {
        "domain": domain,
        "name": f"{words} {LEGAL_FORMS[country]}",
        # From about 3 to about 30,000 people, evenly on a log scale.
        "employees": round(10 ** (0.5 + 4 * spread)),
        "industry": INDUSTRIES[digest[2] % len(INDUSTRIES)],
        "country": country,
        "founded": 1950 + int.from_bytes(digest[4:6], "big") % 75,
    }


def within_rate_limit(request: Request) -> None:
    """Take a token from the caller's bucket, or answer 429 with ``Retry-After``."""
    state = state_of(request)
    with state.store.transaction() as session:
        limit = load_setting(session, RATE_LIMIT, RateLimit)
    caller = bearer_token(request.headers) or ""
    wait = state.rate_limits.take(SYSTEM.name, caller, limit.per_second, limit.bucket_size)
    if wait is not None:
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"enrichment allows {limit.per_second:g} requests per second per API key "
            f"(burst {limit.bucket_size}); retry after {wait} s",
            {"Retry-After": str(wait)},
        )


@router.get("/companies/{domain}", dependencies=[Depends(within_rate_limit)])
def get_company(domain: str) -> dict[str, Any]:
    try:
        host = _DOMAIN.validate_python(domain)
    except ValidationError as exc:
        raise ApiError(
            422, "INVALID_DOMAIN", f"{domain[:100]!r} is not a domain such as acme.example"
        ) from exc
    return company_profile(host)


@SYSTEM.admin_router.get("/rate-limit")
def get_rate_limit(request: Request) -> dict[str, Any]:
    state = state_of(request)
    with state.store.transaction() as session:
        limit = load_setting(session, RATE_LIMIT, RateLimit)
    return limit.view(state.rate_limits.counts(SYSTEM.name))


@SYSTEM.admin_router.put("/rate-limit")
def put_rate_limit(limit: RateLimit, request: Request) -> dict[str, Any]:
    """Replace the limit; every bucket starts full again and the counts restart."""
    state = state_of(request)
    with state.store.transaction() as session:
        save_setting(session, RATE_LIMIT, limit)
    state.rate_limits.clear(SYSTEM.name)
    return limit.view(state.rate_limits.counts(SYSTEM.name))
