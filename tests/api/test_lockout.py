"""Guessed passwords: `BACKOFFICE_SIGN_IN_MAX_FAILURES` wrong ones for an approver id, and that id
is refused (429, Retry-After) even with the right password until the lockout has passed; unknown
ids are counted alike; service keys are never locked. The count is a row in the app database."""

import asyncio
import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from runtime.db import SignInFailures, make_engine
from runtime.schema import upgrade_schema
from runtime.settings import SettingsError, load_settings
from starters.api.errors import ApiError
from starters.api.lockout import LOCKED, Lockout
from tests.api.checks import error_of

DORA = "dora"  # an approver no other API test signs in as


def _basic(approver_id: str, password: str) -> dict[str, str]:
    value = base64.b64encode(f"{approver_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


@pytest.fixture
def failures(settings) -> Iterator[list[str]]:
    """The ids a test locks: their rows are deleted after it."""
    ids: list[str] = []
    engine = make_engine(settings.resolved_database_url)

    def forget() -> None:
        with engine.begin() as conn:
            conn.execute(delete(SignInFailures).where(SignInFailures.approver_id.in_(ids)))

    yield ids
    forget()
    engine.dispose()


async def test_wrong_passwords_lock_the_id_even_for_the_right_one(
    api, credentials, settings, failures
):
    failures.append(DORA)
    wrong = _basic(DORA, "not-doras-password")
    for _ in range(settings.sign_in_max_failures):
        error_of(await api.get("/v1/approvals", headers=wrong), 401, "INVALID_CREDENTIALS")

    right = _basic(DORA, credentials["approvers"][DORA])
    locked = await api.get("/v1/approvals", headers=right)

    error = error_of(locked, 429, LOCKED)
    assert "approver id" in error["message"] and "not-doras" not in locked.text
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= settings.sign_in_lockout.total_seconds()
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        row = session.get(SignInFailures, DORA)
        assert row is not None and row.locked_until is not None
    engine.dispose()


async def test_an_unknown_id_is_locked_like_a_known_one(api, settings, failures):
    nobody = f"nobody-{uuid.uuid4().hex[:8]}"
    failures.append(nobody)
    for _ in range(settings.sign_in_max_failures):
        error_of(
            await api.get("/v1/approvals", headers=_basic(nobody, "x")), 401, "INVALID_CREDENTIALS"
        )
    error_of(await api.get("/v1/approvals", headers=_basic(nobody, "x")), 429, LOCKED)


async def test_service_keys_are_never_locked(api, credentials, settings):
    client_id, secret = credentials["api_clients"]["svc-reader"].split(".", 1)
    wrong = {"Authorization": f"Bearer {client_id}.not-{secret}"}
    for _ in range(settings.sign_in_max_failures + 1):
        error_of(await api.get("/v1/approvals", headers=wrong), 401, "INVALID_CREDENTIALS")
    right = {"Authorization": f"Bearer {client_id}.{secret}"}
    assert (await api.get("/v1/approvals", headers=right)).status_code == 200


async def test_a_burst_of_parallel_guesses_is_counted_before_any_is_checked(
    api, settings, failures
):
    nobody = f"burst-{uuid.uuid4().hex[:8]}"
    failures.append(nobody)
    burst = settings.sign_in_max_failures * 3
    answers = await asyncio.gather(
        *(api.get("/v1/approvals", headers=_basic(nobody, f"guess-{n}")) for n in range(burst))
    )
    codes = sorted(a.status_code for a in answers)
    # Only as many passwords are checked as the limit allows; the rest are refused unchecked.
    assert codes == [401] * settings.sign_in_max_failures + [429] * (
        burst - settings.sign_in_max_failures
    )


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def lockout(tmp_path) -> Iterator[tuple[Lockout, _Clock]]:
    upgrade_schema(f"sqlite:///{tmp_path / 'app.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    clock = _Clock()
    guard = Lockout(
        engine,
        max_failures=3,
        max_failures_per_address=5,
        period=timedelta(minutes=15),
        clock=clock,
    )
    yield guard, clock
    engine.dispose()


async def _refused(guard: Lockout, approver_id: str, address: str | None = None) -> ApiError | None:
    """One attempt (counted as a failure unless `succeeded` follows); its refusal, if any."""
    try:
        await guard.reserve(approver_id, address)
    except ApiError as refused:
        return refused
    return None


async def test_the_lock_lasts_the_period_then_counting_starts_again(lockout):
    guard, clock = lockout
    for _ in range(3):
        assert await _refused(guard, "pat") is None  # checked, and wrong
    refused = await _refused(guard, "pat")
    assert refused is not None and refused.status == 429 and refused.detail.code == LOCKED
    assert refused.headers == {"Retry-After": "900"}
    assert "approver id" in str(refused)
    assert await _refused(guard, "fiona") is None  # one id's lock is not another's

    clock.now += timedelta(minutes=15)
    assert await _refused(guard, "pat") is None
    assert await _refused(guard, "pat") is None  # a fresh count, not the old one


async def test_old_failures_and_a_success_are_forgotten(lockout):
    guard, clock = lockout
    await _refused(guard, "pat")
    await _refused(guard, "pat")
    clock.now += timedelta(minutes=16)
    await _refused(guard, "pat")  # the two before are past the period
    await _refused(guard, "pat")
    assert await _refused(guard, "pat") is None  # the third in this period is still checked
    await guard.succeeded("pat", None)
    await _refused(guard, "pat")
    await _refused(guard, "pat")
    assert await _refused(guard, "pat") is None


async def test_one_address_trying_many_ids_is_stopped(lockout):
    guard, _ = lockout
    for n in range(5):
        assert await _refused(guard, f"made-up-{n}", "10.9.9.9") is None
    refused = await _refused(guard, "pat", "10.9.9.9")  # a real id, from the same address
    assert refused is not None and "client address" in str(refused)
    assert await _refused(guard, "pat", "10.0.0.2") is None  # elsewhere, pat can still try


async def test_right_passwords_give_the_address_its_attempts_back(lockout):
    guard, _ = lockout
    for _ in range(20):  # a busy office behind one address, signing in all day
        assert await _refused(guard, "pat", "10.7.7.7") is None
        await guard.succeeded("pat", "10.7.7.7")


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("BACKOFFICE_SIGN_IN_MAX_FAILURES", "0", "greater than or equal to 1"),
        ("BACKOFFICE_SIGN_IN_LOCKOUT", "PT0S", "must be a positive duration"),
        ("BACKOFFICE_SIGN_IN_LOCKOUT", "soon", "duration"),
    ],
)
def test_a_bad_lockout_setting_is_named(monkeypatch, variable, value, problem):
    monkeypatch.setenv("BACKOFFICE_VAULT_ADDR", "http://127.0.0.1:8200")
    monkeypatch.setenv("BACKOFFICE_VAULT_ROLE_ID", "role")
    monkeypatch.setenv("BACKOFFICE_VAULT_SECRET_ID", "secret-id")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"{variable}: .*{problem}"):
        load_settings()
