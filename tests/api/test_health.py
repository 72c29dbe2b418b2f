"""`/healthz` and `/readyz`: no credential needed; readiness names each dependency, and says
why one is not ready only in the log."""

import httpx

from runtime.settings import load_settings
from starters.api.app import create_app


async def test_healthz_answers_ok(api):
    answer = await api.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


async def test_readyz_checks_temporal_vault_and_the_database(api):
    answer = await api.get("/readyz")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ok"
    assert body["checks"] == {
        "temporal": {"ok": True},
        "vault": {"ok": True},
        "database": {"ok": True},
    }


async def test_readyz_is_503_naming_what_is_down_and_nothing_about_it(stack, caplog):
    settings = load_settings(vault_addr="http://127.0.0.1:9")  # nothing listens on port 9
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            answer = await http.get("/readyz")
            health = await http.get("/healthz")
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["temporal"] == {"ok": True}
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["vault"]["ok"] is False
    # Anyone may ask: no address and no exception text in the answer, only in the log.
    assert "127.0.0.1" not in answer.text and "Error" not in answer.text
    assert body["error"]["code"] == "NOT_READY" and "vault" in body["error"]["message"]
    assert any("127.0.0.1:9" in r.getMessage() for r in caplog.records)
    assert health.status_code == 200
