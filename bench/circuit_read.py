"""The circuit breaker's cost on the hot path (issue 22): every call to a system first reads its
breaker's row. Measured here on the stack's own app database, the way a worker's call does it
(`Circuit.admit` on a closed breaker), against the audit row every call writes anyway: the SQL
statements per admission, its wall time and CPU, and its CPU as a share of the application's
worker CPU per activity."""

import statistics
import time

from pydantic import BaseModel
from sqlalchemy import event

from activities.audit import AuditLog, attempt
from domain.systems import System
from runtime.circuit import Circuit
from runtime.db import make_engine
from runtime.settings import Settings


class CircuitReadFigure(BaseModel):
    calls: int
    statements_per_call: float  # SQL statements an admission sends (one indexed read)
    wall_p50_ms: float
    wall_p99_ms: float
    cpu_per_call_ms: float  # this process's CPU per admission
    audit_insert_cpu_ms: float  # the audit row each call writes anyway, for scale


def circuit_read_cost(settings: Settings, calls: int) -> CircuitReadFigure:
    """`calls` admissions of a closed breaker (a system nobody opened), one after another."""
    engine = make_engine(settings.resolved_database_url)
    circuit = Circuit(engine, System.ERP.value, settings.circuit_policy(System.ERP))
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    try:
        for _ in range(min(50, calls)):  # the pool's connection, the ORM's first compile
            circuit._admit()
        event.listen(engine, "before_cursor_execute", count)
        walls = []
        cpu_began = time.process_time()
        for _ in range(calls):
            began = time.perf_counter()
            circuit._admit()
            walls.append(time.perf_counter() - began)
        cpu = time.process_time() - cpu_began
        event.remove(engine, "before_cursor_execute", count)
        audit = AuditLog(engine)
        rows = max(1, calls // 10)
        cpu_began = time.process_time()
        for n in range(rows):
            audit._insert(
                attempt(
                    "bench", "GET", f"/circuit-read/{n}", 200, time.perf_counter(), None, None, b""
                )
            )
        audit_cpu = time.process_time() - cpu_began
    finally:
        engine.dispose()
    walls.sort()
    return CircuitReadFigure(
        calls=calls,
        statements_per_call=statements / calls,
        wall_p50_ms=1000 * statistics.median(walls),
        wall_p99_ms=1000 * walls[min(len(walls) - 1, int(0.99 * len(walls)))],
        cpu_per_call_ms=1000 * cpu / calls,
        audit_insert_cpu_ms=1000 * audit_cpu / rows,
    )
