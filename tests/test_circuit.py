"""The circuit breaker's states on a real database file shared by several "workers" (engines),
without a stack: closed → open after the failures of a window, one probe at a time once the
cool-down is over, closed by the probe's success or open again by its failure, and by hand."""

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.circuit import (
    Admission,
    Circuit,
    CircuitOpen,
    CircuitPolicy,
    CircuitState,
    close_by_hand,
    open_by_hand,
    read_all,
    view,
)
from runtime.db import make_engine
from runtime.schema import upgrade_schema

POLICY = CircuitPolicy(
    failures=3,
    window=timedelta(seconds=60),
    cool_down=timedelta(seconds=0.5),
    probe_timeout=timedelta(seconds=30),
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade_schema(url)
    return url


def worker(url: str, policy: CircuitPolicy = POLICY) -> Circuit:
    """The breaker as one worker process sees it: its own engine on the shared database."""
    return Circuit(make_engine(url), "erp", policy)


def state(url: str) -> CircuitState:
    return view("erp", read_all(make_engine(url)).get("erp")).state


async def test_the_failures_of_one_window_open_it_for_every_worker(url: str) -> None:
    one, two = worker(url), worker(url)
    await one.failed(await one.admit())
    await two.failed(await two.admit())
    assert state(url) is CircuitState.CLOSED
    await one.succeeded(await one.admit())  # a success in between does not reset the window
    await two.failed(await two.admit())
    assert state(url) is CircuitState.OPEN
    for circuit in (one, two, worker(url)):
        with pytest.raises(CircuitOpen) as refused:
            await circuit.admit()
        assert timedelta(0) < refused.value.retry_in <= POLICY.cool_down
        assert "erp" in str(refused.value) and "open" in str(refused.value)


async def test_failures_older_than_the_window_are_not_counted(url: str) -> None:
    short = POLICY.model_copy(update={"window": timedelta(seconds=0.3)})
    circuit = worker(url, short)
    for _ in range(2):
        await circuit.failed(await circuit.admit())
    time.sleep(0.4)
    await circuit.failed(await circuit.admit())
    assert state(url) is CircuitState.CLOSED
    assert read_all(make_engine(url))["erp"].failures == 1


async def test_after_the_cool_down_one_probe_at_a_time_across_workers(url: str) -> None:
    circuit = worker(url)
    for _ in range(3):
        await circuit.failed(await circuit.admit())
    time.sleep(0.6)
    workers = [worker(url) for _ in range(8)]
    outcomes: list[Admission | CircuitOpen] = []

    def try_one(c: Circuit) -> None:
        try:
            outcomes.append(c._admit())
        except CircuitOpen as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=try_one, args=(c,)) for c in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    probes = [o for o in outcomes if isinstance(o, Admission)]
    assert [p.probe for p in probes] == [True]
    assert all(o.state is CircuitState.HALF_OPEN for o in outcomes if isinstance(o, CircuitOpen))
    assert state(url) is CircuitState.HALF_OPEN


async def test_a_failed_probe_opens_it_again_and_a_good_one_closes_it(url: str) -> None:
    circuit = worker(url)
    for _ in range(3):
        await circuit.failed(await circuit.admit())
    time.sleep(0.6)
    probe = await circuit.admit()
    assert probe.probe
    await circuit.failed(probe)
    assert state(url) is CircuitState.OPEN
    with pytest.raises(CircuitOpen):
        await circuit.admit()
    time.sleep(0.6)
    probe = await circuit.admit()
    await circuit.succeeded(probe)
    assert state(url) is CircuitState.CLOSED
    assert not (await circuit.admit()).probe
    assert read_all(make_engine(url))["erp"].failures == 0


async def test_opened_by_hand_it_stays_open_until_closed_by_hand(url: str) -> None:
    engine = make_engine(url)
    open_by_hand(engine, "erp", "ERP upgrade (by ops@host)")
    time.sleep(0.6)  # longer than the cool-down: no probe for a planned outage
    with pytest.raises(CircuitOpen) as refused:
        await worker(url).admit()
    assert "by hand" in str(refused.value)
    shown = view("erp", read_all(engine)["erp"])
    assert shown.opened_by_hand == "ERP upgrade (by ops@host)" and shown.probe_at is None
    close_by_hand(engine, "erp")
    assert not (await worker(url).admit()).probe
    assert state(url) is CircuitState.CLOSED
