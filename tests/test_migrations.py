"""The app database's migrations, on SQLite and on the test run's PostgreSQL: an empty database
migrates to exactly the models, data survives an upgrade, a database made by the old create_all
is stamped (or refused, unchanged, when its tables differ), and the worker, the API and the CLI
refuse a schema that is behind with one line naming `backoffice deploy migrate`."""

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

import runtime.schema
from runtime.db import (
    AuditRow,
    Base,
    InboxSession,
    SignInFailures,
    UsedApprovalLink,
    UsedCodecTicket,
    WebhookEvent,
    make_engine,
)
from runtime.migrations.versions.rev_0001_initial_schema import METADATA as BEFORE_MIGRATIONS
from runtime.schema import (
    MIGRATE_COMMAND,
    SchemaNotCurrent,
    head_revision,
    require_current_schema,
    schema_differences,
    upgrade_schema,
)

# A revision after this code's head, as the next version would ship it (tests of upgrading).
NEXT = "0099"


ROOT = Path(__file__).resolve().parents[1]
AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    postgres = request.getfixturevalue("postgres")
    return str(postgres.create_database(f"migrations_{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _write_rows(engine: Engine) -> None:
    """One row in each table, as the API and the worker write them."""
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                AuditRow(
                    at=AT, workflow_id="invoice-C1", attempt=2, system="billing", method="POST",
                    path="/v1/invoices", status=201, latency_ms=12.5,
                ),
                WebhookEvent(
                    system="esign", event_id="evt-1", event_type="envelope.completed",
                    status="delivered", workflow_id="lead-D1", signal="envelope_signed",
                    payload="{}", deliveries=1, received_at=AT, updated_at=AT,
                ),
                InboxSession(
                    id_hash="a" * 64, approver_id="ana", csrf_token="c" * 32, created_at=AT,
                    expires_at=AT + timedelta(hours=8),
                ),
                SignInFailures(approver_id="bo", failures=2, first_failed_at=AT),
                UsedApprovalLink(
                    token_hash="t" * 64, workflow_id="vendor-V1", approval_id="ap-1",
                    approver_id="ana", decision="approve", used_at=AT, outcome="approved",
                ),
                UsedCodecTicket(ticket_hash="k" * 64, used_at=AT, expires_at=AT),
            ]
        )  # fmt: skip


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """What a user would look at: the rows of every table, their key fields."""
    with Session(engine) as session:
        return {
            "audit": [
                (r.workflow_id, r.attempt, r.system, r.status, r.latency_ms)
                for r in session.scalars(select(AuditRow))
            ],
            "webhooks": [
                (r.system, r.event_id, r.status, r.signal)
                for r in session.scalars(select(WebhookEvent))
            ],
            "sessions": [(r.id_hash, r.approver_id) for r in session.scalars(select(InboxSession))],
            "failures": [
                (r.approver_id, r.failures) for r in session.scalars(select(SignInFailures))
            ],
            "links": [
                (r.token_hash, r.decision, r.outcome)
                for r in session.scalars(select(UsedApprovalLink))
            ],
            "tickets": [(r.ticket_hash,) for r in session.scalars(select(UsedCodecTicket))],
        }


WRITTEN = {
    "audit": [("invoice-C1", 2, "billing", 201, 12.5)],
    "webhooks": [("esign", "evt-1", "delivered", "envelope_signed")],
    "sessions": [("a" * 64, "ana")],
    "failures": [("bo", 2)],
    "links": [("t" * 64, "approve", "approved")],
    "tickets": [("k" * 64,)],
}


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _differences(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return schema_differences(conn)


def test_an_empty_database_migrates_to_exactly_the_models(database_url, engine):
    """Fails when a model of runtime/db.py changes without a migration."""
    said = upgrade_schema(database_url)

    assert f"upgraded from an empty database to revision {head_revision()}" in said
    assert _tables(engine) == {*Base.metadata.tables, "alembic_version"}
    assert _differences(engine) == [], (
        "the models (runtime/db.py) and the migrations differ: write a migration "
        "(docs/deploying.md, 'Changing the schema')"
    )
    require_current_schema(engine)  # the worker and the API start on it
    assert "at revision" in upgrade_schema(database_url)  # and again: nothing to do


def test_the_comparison_sees_a_schema_that_drifted(database_url, engine):
    """The check above can fail: a missing index and an extra column are named."""
    upgrade_schema(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_http_audit_system"))
        conn.execute(text("ALTER TABLE sign_in_failures ADD COLUMN note VARCHAR(20)"))

    differences = _differences(engine)

    assert any("add_index ix_http_audit_system" in d for d in differences), differences
    assert any("remove_column sign_in_failures.note" in d for d in differences), differences


def test_a_database_made_by_create_all_is_stamped_and_keeps_its_rows(database_url, engine):
    BEFORE_MIGRATIONS.create_all(engine)  # what every process did before migrations
    _write_rows(engine)
    with pytest.raises(SchemaNotCurrent, match="made before migrations: run `backoffice deploy"):
        require_current_schema(engine)

    said = upgrade_schema(database_url)

    assert "its tables match, stamped at revision 0001" in said
    assert _rows(engine) == WRITTEN
    require_current_schema(engine)


def test_a_create_all_database_of_an_older_version_gets_its_missing_table(database_url, engine):
    older = [t for name, t in BEFORE_MIGRATIONS.tables.items() if name != "used_codec_tickets"]
    BEFORE_MIGRATIONS.create_all(engine, tables=older)

    said = upgrade_schema(database_url)

    assert said.endswith("created used_codec_tickets"), said
    assert _differences(engine) == []
    require_current_schema(engine)


def test_a_create_all_database_whose_tables_differ_is_refused_and_left_unchanged(
    database_url, engine
):
    older = [t for name, t in BEFORE_MIGRATIONS.tables.items() if name != "used_codec_tickets"]
    BEFORE_MIGRATIONS.create_all(engine, tables=older)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE http_audit ADD COLUMN tenant VARCHAR(20)"))
    before = _tables(engine)

    with pytest.raises(SchemaNotCurrent) as refused:
        upgrade_schema(database_url)

    message = str(refused.value)
    assert "remove_column http_audit.tenant" in message
    assert "Nothing was changed" in message and MIGRATE_COMMAND in message
    assert _tables(engine) == before  # no alembic_version, no used_codec_tickets either


def _with_next_revision(tmp_path: Path, monkeypatch) -> Path:
    """This code's migrations plus a revision NEXT after its head (a column added to
    sign_in_failures), as the next version of the code would ship them."""
    migrations = tmp_path / "migrations"
    shutil.copytree(runtime.schema.MIGRATIONS, migrations)
    (migrations / "versions" / "rev_next_sign_in_note.py").write_text(
        '"""A note on sign-in failures."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "{NEXT}"\ndown_revision = "{head_revision()}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.add_column("sign_in_failures", sa.Column("note", sa.String(20), nullable=True))\n'
        "\n\ndef downgrade() -> None:\n"
        '    op.drop_column("sign_in_failures", "note")\n'
    )
    monkeypatch.setattr(runtime.schema, "MIGRATIONS", migrations)
    return migrations


def test_a_database_at_the_first_revision_with_rows_upgrades_keeping_them(
    database_url, engine, tmp_path, monkeypatch
):
    head = head_revision()
    upgrade_schema(database_url)  # this code's head
    _write_rows(engine)
    _with_next_revision(tmp_path, monkeypatch)
    with pytest.raises(SchemaNotCurrent) as refused:
        require_current_schema(engine)
    assert str(refused.value).endswith(
        f"is at revision {head}, behind this code's {NEXT}: run `backoffice deploy migrate`, "
        "then start again"
    )

    said = upgrade_schema(database_url)

    assert f"upgraded from revision {head} to revision {NEXT}" in said
    assert _rows(engine) == WRITTEN
    columns = {c["name"] for c in inspect(engine).get_columns("sign_in_failures")}
    assert "note" in columns
    require_current_schema(engine)


def test_a_database_at_the_first_revision_upgrades_to_the_circuit_breakers_keeping_its_rows(
    database_url, engine, tmp_path, monkeypatch
):
    """Revision 0002 (the circuit breakers' table) on a database the first revision made, with
    rows in it: the rows stay, the table is there, the schema is current."""
    shipped = runtime.schema.MIGRATIONS
    first_only = tmp_path / "migrations"
    shutil.copytree(shipped, first_only)
    (first_only / "versions" / "rev_0002_circuit_breakers.py").unlink()
    monkeypatch.setattr(runtime.schema, "MIGRATIONS", first_only)
    upgrade_schema(database_url)  # the version before: revision 0001
    _write_rows(engine)
    monkeypatch.setattr(runtime.schema, "MIGRATIONS", shipped)
    with pytest.raises(SchemaNotCurrent, match="is at revision 0001, behind this code's"):
        require_current_schema(engine)

    said = upgrade_schema(database_url)

    assert f"upgraded from revision 0001 to revision {head_revision()}" in said
    assert _rows(engine) == WRITTEN
    assert "circuit_breakers" in inspect(engine).get_table_names()
    require_current_schema(engine)


def test_a_create_all_database_is_stamped_at_the_first_revision_then_upgraded(
    database_url, engine, tmp_path, monkeypatch
):
    BEFORE_MIGRATIONS.create_all(engine)
    _write_rows(engine)
    _with_next_revision(tmp_path, monkeypatch)

    said = upgrade_schema(database_url)

    assert f"its tables match, stamped at revision 0001, upgraded to {NEXT}" in said
    assert _rows(engine) == WRITTEN
    require_current_schema(engine)


def test_an_older_version_runs_on_a_database_a_newer_one_migrated_but_does_not_migrate_it(
    database_url, engine, caplog
):
    """During a rollout the older version's workers drain their pinned runs, and may restart."""
    upgrade_schema(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))

    require_current_schema(engine)

    assert "at revision 0099, which this code does not know" in caplog.text
    with pytest.raises(SchemaNotCurrent, match="this version cannot migrate it"):
        upgrade_schema(database_url)


def test_migrations_started_at_once_wait_for_each_other(database_url, engine):
    """The init step, a second host and a dev stack may migrate together: each waits (advisory
    lock on PostgreSQL, SQLite's write lock), one creates, the others find it done."""
    start = threading.Barrier(4)
    said: list[str] = []
    failed: list[BaseException] = []

    def migrate() -> None:
        start.wait()
        try:
            said.append(upgrade_schema(database_url))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failed == []
    assert sum("upgraded from an empty database" in line for line in said) == 1, said
    assert _differences(engine) == []


def test_a_migration_opening_a_new_sqlite_file_another_is_writing_waits_for_it(tmp_path):
    """The first connection to an empty SQLite file turns it to WAL; one that does so while
    another writes the file got "database is locked" at once (SQLite's own wait does not cover
    it), so one of several migrations started together failed now and then."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    other = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    said: list[str] = []
    failed: list[BaseException] = []

    def migrate() -> None:
        try:
            said.append(upgrade_schema(url))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=migrate)
    thread.start()
    thread.join(timeout=1)
    waited = thread.is_alive()
    other.commit()
    other.close()
    thread.join(timeout=60)

    assert failed == []
    assert waited, "the migration returned while another connection held the write lock"
    assert said == [
        f"the app database ({url}) upgraded from an empty database to revision {head_revision()}"
    ]


# The commands, as an operator runs them.


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    env.update(
        BACKOFFICE_ENV_FILE=str(tmp_path / "absent.env"),
        BACKOFFICE_DATA_DIR=str(tmp_path / "data"),
        BACKOFFICE_DATABASE_URL=database_url,
        # Enough settings to get past loading them; nothing listens on port 9.
        BACKOFFICE_VAULT_ADDR="http://127.0.0.1:9",
        BACKOFFICE_VAULT_ROLE_ID="role",
        BACKOFFICE_VAULT_SECRET_ID="secret",
        TEMPORAL_ADDRESS="127.0.0.1:9",
    )
    return env


def _backoffice(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("process", [["worker"], ["api", "--port", "9"]])
def test_the_worker_and_the_api_refuse_a_database_without_the_schema(
    process, database_url, engine, tmp_path
):
    done = _backoffice(_env(database_url, tmp_path), *process)

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"backoffice {process[0]}: the app database ({engine.url}) has no tables yet: "
        "run `backoffice deploy migrate`, then start again"
    ]
    assert _tables(engine) == set()  # it created nothing


def test_the_migrate_command_upgrades_then_finds_nothing_to_do(database_url, engine, tmp_path):
    env = _env(database_url, tmp_path)

    first = _backoffice(env, "deploy", "migrate")
    again = _backoffice(env, "deploy", "migrate")

    assert first.returncode == 0, first.stderr
    assert f"upgraded from an empty database to revision {head_revision()}" in first.stdout
    assert again.returncode == 0, again.stderr
    assert f"is at revision {head_revision()} already" in again.stdout
    require_current_schema(engine)


def test_the_migrate_command_refuses_a_create_all_database_that_differs(
    database_url, engine, tmp_path
):
    BEFORE_MIGRATIONS.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_webhook_events_status"))

    done = _backoffice(_env(database_url, tmp_path), "deploy", "migrate")

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "add_index ix_webhook_events_status on webhook_events(status)" in line
    assert "alembic_version" not in _tables(engine)


def test_a_database_that_does_not_answer_is_one_line_without_its_password(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the probe is closed
    url = f"postgresql+psycopg://backoffice:s3cret-pw@127.0.0.1:{port}/backoffice"

    for args in (["deploy", "migrate"], ["worker"]):
        done = _backoffice(_env(url, tmp_path), *args)
        assert done.returncode == 3, done.stdout + done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert (
            f"cannot reach the app database (postgresql+psycopg://backoffice:***@127.0.0.1:{port}/"
            in line
        )
        assert "s3cret-pw" not in done.stdout + done.stderr


def test_the_dev_stack_migrates_its_database_before_the_api_and_the_worker_start(stack):
    """The test run's stack (PostgreSQL) is up: `dev up` migrated it, the processes checked it."""
    engine = make_engine(stack.config.resolved_database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
                (head_revision(),)
            ]
        require_current_schema(engine)
    finally:
        engine.dispose()
