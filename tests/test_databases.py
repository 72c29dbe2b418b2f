"""Which databases hold the data: the test stack's app and sandbox tables are on the test run's
PostgreSQL server (read here directly, not through the product); the dev stack's default stays
SQLite files in its data dir (as `tests/test_down_up.py` and `tests/test_demo.py` run it)."""

import asyncio
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, select

from devstack.config import StackConfig
from devstack.sandbox_server import server_command, server_env
from runtime.db import AuditRow
from runtime.db import Base as AppBase
from sandbox.db import Base as SandboxBase
from sandbox.db import RecordRow
from tests.helpers import start


def _read(engine: Engine, statement: Any) -> list[Any]:
    try:
        with engine.connect() as conn:
            return list(conn.execute(statement).all())
    finally:
        engine.dispose()


async def test_audit_rows_and_sandbox_records_are_in_postgresql(client, settings, stack, postgres):
    assert stack.config.database_url == postgres.url("backoffice")
    assert settings.resolved_database_url == postgres.url("backoffice")
    handle = await start(client, settings)
    result = await asyncio.wait_for(handle.result(), 60)

    audit = _read(
        create_engine(postgres.url("backoffice")),
        select(AuditRow).where(AuditRow.workflow_id == handle.id).order_by(AuditRow.id),
    )
    assert {(row.system, row.method) for row in audit} >= {("erp", "POST"), ("portal", "POST")}
    assert all(row.at.utcoffset() is not None for row in audit), "timestamps lost their zone"
    assert [row.id for row in audit] == sorted({row.id for row in audit})
    vendors = _read(
        create_engine(postgres.url("sandbox")),
        select(RecordRow).where(RecordRow.system == "erp", RecordRow.kind == "vendor"),
    )
    assert [row.id for row in vendors if row.external_ref == result.application_id] == [
        result.vendor_id
    ]
    # Nothing went to the SQLite files a default stack would use.
    assert not stack.paths.backoffice_db.exists()
    assert not stack.paths.sandbox_db.exists()


def test_every_table_is_created_in_postgresql(stack, postgres):
    for database, metadata in (("backoffice", AppBase.metadata), ("sandbox", SandboxBase.metadata)):
        engine = create_engine(postgres.url(database))
        try:
            assert set(inspect(engine).get_table_names()) >= set(metadata.tables), database
        finally:
            engine.dispose()


def test_the_dev_stack_defaults_to_sqlite_files(tmp_path):
    config = StackConfig(data_dir=tmp_path)
    assert config.database_url is None and config.sandbox_database_url is None
    assert config.resolved_database_url == f"sqlite:///{tmp_path}/backoffice.db"
    assert config.resolved_sandbox_database_url == f"sqlite:///{tmp_path}/sandbox/sandbox.db"
    argv = server_command(
        host="127.0.0.1", port=1, database_url=config.resolved_sandbox_database_url
    )
    assert argv[-2:] == ["--database-url", f"sqlite:///{tmp_path}/sandbox/sandbox.db"]


def test_a_database_password_stays_off_the_sandbox_command_line():
    url = "postgresql+psycopg://sandbox:s3cret-pass@db.internal/sandbox"
    assert not any(
        "s3cret-pass" in part for part in server_command(host="h", port=1, database_url=url)
    )
    assert server_env("token", url)["SANDBOX_DATABASE_URL"] == url
