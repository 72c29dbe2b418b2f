"""Seeding waits for a new KV v2 mount to finish upgrading its storage (classification only:
the real mount is exercised by every stack start)."""

from types import SimpleNamespace

import hvac.exceptions
import pytest

from devstack import vault_seed

UPGRADING = (
    "Upgrading from non-versioned to versioned data. This backend will be unavailable for a "
    "brief period and will resume service shortly."
)


class _Kv:
    def __init__(self, answers: list[Exception | None]) -> None:
        self.answers = answers
        self.reads = 0

    def read_configuration(self, mount_point: str) -> dict[str, object]:
        assert mount_point == vault_seed.KV_MOUNT
        self.reads += 1
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return {"data": {"max_versions": 0}}


def _client(answers: list[Exception | None]) -> SimpleNamespace:
    return SimpleNamespace(secrets=SimpleNamespace(kv=SimpleNamespace(v2=_Kv(answers))))


def test_seeding_waits_while_the_mount_upgrades():
    client = _client(
        [
            hvac.exceptions.VaultDown(),
            hvac.exceptions.InvalidRequest(UPGRADING),
            None,
        ]
    )
    vault_seed.wait_until_kv_serves(client)  # type: ignore[arg-type]
    assert client.secrets.kv.v2.reads == 3


def test_any_other_vault_error_is_raised_at_once():
    client = _client([hvac.exceptions.Forbidden("permission denied")])
    with pytest.raises(hvac.exceptions.Forbidden):
        vault_seed.wait_until_kv_serves(client)  # type: ignore[arg-type]
    assert client.secrets.kv.v2.reads == 1


def test_a_mount_that_never_finishes_is_named():
    client = _client([hvac.exceptions.VaultDown()] * 1000)
    with pytest.raises(RuntimeError, match="Vault mount secret/ still upgrading"):
        vault_seed.wait_until_kv_serves(client, timeout=0.3)  # type: ignore[arg-type]
