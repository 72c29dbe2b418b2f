"""The CRM's OAuth2 token, as the worker's auth scheme holds it, against the real sandbox and
Vault: many concurrent calls fetch one token; it is renewed early (a tenth of its lifetime, at
most a minute, before it expires), once however many calls ask at that moment. The clock is
the scheme's own injectable one; every token request is a real HTTP call, counted on the way."""

import asyncio

import httpx
from pydantic import SecretStr

from activities.audit import AuditLog
from activities.auth import OAuth2ClientCredentials
from domain.systems import System
from runtime.db import make_engine
from runtime.vault import secret_store

CALLS = 20
LIFETIME = 3600  # the sandbox's default; renewal is due a minute before its end


async def test_concurrent_calls_share_one_token_renewed_early_once(settings, admin, stack):
    assert admin.get("/_admin/crm/token-lifetime").json() == {"seconds": LIFETIME}
    fetched: list[str] = []

    async def count(request: httpx.Request) -> None:
        if request.url.path.endswith("/oauth/token"):
            fetched.append(request.url.path)

    now = [0.0]
    engine = make_engine(settings.resolved_database_url)
    async with httpx.AsyncClient(event_hooks={"request": [count]}, timeout=30) as http:
        auth = OAuth2ClientCredentials(
            secret_store(_as_the_worker(settings, stack)),
            System.CRM,
            http,
            f"{settings.system_url(System.CRM)}/oauth/token",
            AuditLog(engine),
            clock=lambda: now[0],
        )

        async def tokens() -> set[str]:
            answers = await asyncio.gather(*(auth.headers() for _ in range(CALLS)))
            return {a["Authorization"] for a in answers}

        first = await tokens()
        assert len(first) == 1 and len(fetched) == 1
        now[0] = LIFETIME - 61  # just before the renewal point: the same token
        assert await tokens() == first and len(fetched) == 1
        now[0] = LIFETIME - 60  # the renewal point, long before the token really expires
        renewed = await tokens()
        assert len(renewed) == 1 and renewed != first and len(fetched) == 2
        (header,) = renewed
        async with httpx.AsyncClient(timeout=30) as crm:
            works = await crm.get(
                f"{settings.system_url(System.CRM)}/leads", headers={"Authorization": header}
            )
        assert works.status_code == 200
    engine.dispose()


def _as_the_worker(settings, stack):
    """The settings with the worker's AppRole (the one that may read system credentials)."""
    env = stack.worker_env()
    return settings.model_copy(
        update={
            "vault_role_id": env["BACKOFFICE_VAULT_ROLE_ID"],
            "vault_secret_id": SecretStr(env["BACKOFFICE_VAULT_SECRET_ID"]),
        }
    )
