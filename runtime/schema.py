"""The app database's schema: upgraded by Alembic (`runtime/migrations/`) with one command,
`backoffice deploy migrate` (`upgrade_schema`), and checked by every process that uses it, which
refuses a database that is behind instead of creating tables itself (`require_current_schema`).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, make_url, text
from sqlalchemy.exc import OperationalError

from runtime.db import Base, make_engine

MIGRATE_COMMAND = "backoffice deploy migrate"
# The revision whose tables are those the old `create_all` made (its module's METADATA).
FIRST_REVISION = "0001"
MIGRATIONS = Path(__file__).parent / "migrations"
# Alembic says at INFO which dialect it uses and each step it runs, at every start of the worker
# and the API: `upgrade_schema` says what it did in one line instead.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
log = logging.getLogger("backoffice.schema")
# Any fixed number: the PostgreSQL advisory lock that serialises migrations, so that the init
# step, a dev stack and a second host starting at once do not run one migration twice.
_SCHEMA_LOCK = 0x6261636B  # "back"


class DatabaseNotReady(Exception):
    """The app database cannot be used as it is; the message says why and what to do, and
    `exit_code` is the process's exit status (docs/operations.md)."""

    exit_code = 2


class SchemaNotCurrent(DatabaseNotReady):
    """The app database's schema is not the one this code needs; the message says which command
    fixes it. Nothing was changed."""


class DatabaseUnreachable(DatabaseNotReady):
    """The app database does not answer (or refuses the login); the message names it, without
    its password."""

    exit_code = 3  # not running


def where(url: str) -> str:
    """The database's URL as it may be shown: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, f"no migration in {MIGRATIONS / 'versions'}"
    return head


def upgrade_schema(url: str) -> str:
    """Bring the app database at `url` to the newest revision, and say what was done.

    An empty database gets every migration; one at an older revision the missing ones; one made
    before migrations (its tables, no alembic_version) is stamped at the first revision when its
    tables match that revision's (tables it lacks are created first), then upgraded; else it is
    refused naming each difference, with nothing changed."""
    engine = make_engine(url)
    try:
        with _locked(engine, url) as conn:
            current = _revision(conn)
            head = head_revision()
            if current == head:
                return f"the app database ({where(url)}) is at revision {head} already"
            if current is None and _app_tables(conn):
                return _stamp_made_before_migrations(conn, url, head)
            if current is not None and current not in _known_revisions():
                raise SchemaNotCurrent(
                    f"{_ahead(url, current)}; this version cannot migrate it: run the newer "
                    "version's `backoffice deploy migrate`, or none"
                )
            command.upgrade(_config(conn), "head")
            before = "an empty database" if current is None else f"revision {current}"
            return f"the app database ({where(url)}) upgraded from {before} to revision {head}"
    finally:
        engine.dispose()


def require_current_schema(engine: Engine) -> None:
    """Refuse (SchemaNotCurrent) a database whose schema is behind this code's newest revision,
    or that has none: the worker and the API check before they start, they never create tables
    themselves. A database a newer version migrated is used, with a warning: migrations only
    add while an older version may still run (docs/deploying.md), and the older version's
    workers must be able to restart while its pinned runs drain."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.connect() as conn:
            current = _revision(conn)
            made_before = current is None and bool(_app_tables(conn))
    except OperationalError as exc:
        raise DatabaseUnreachable(_unreachable(url, exc)) from None
    head = head_revision()
    if current == head:
        return
    if current is None:
        state = "was made before migrations" if made_before else "has no tables yet"
    elif current in _known_revisions():
        state = f"is at revision {current}, behind this code's {head}"
    else:
        log.warning("%s; using it as it is", _ahead(url, current))
        return
    raise SchemaNotCurrent(
        f"the app database ({where(url)}) {state}: run `{MIGRATE_COMMAND}`, then start again"
    )


def schema_differences(conn: Connection, metadata: MetaData = Base.metadata) -> list[str]:
    """How the app's tables in this database differ from `metadata` (the models of `runtime.db`
    by default), one line per difference; tables of others in the same database are left out."""

    def only_app_tables(name: str | None, kind: str, _: Any) -> bool:
        return kind != "table" or name in metadata.tables

    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_name": only_app_tables}
    )
    return [_describe(diff) for diff in compare_metadata(context, metadata)]


def _stamp_made_before_migrations(conn: Connection, url: str, head: str) -> str:
    """A database the old `create_all` made: its missing tables are created (create_all added
    tables as the code gained them, never columns), then what is there must match the first
    revision's tables exactly."""
    scripts = ScriptDirectory.from_config(_config())
    first: MetaData = scripts.get_revision(FIRST_REVISION).module.METADATA
    present = set(inspect(conn).get_table_names())
    missing = [t for name, t in first.tables.items() if name not in present]
    first.create_all(conn, tables=missing)
    differences = schema_differences(conn, first)
    if differences:
        conn.rollback()  # the tables just created go too: nothing changed
        raise SchemaNotCurrent(
            f"the app database ({where(url)}) was made before migrations and its tables differ "
            f"from this code's: {'; '.join(differences)}. Nothing was changed: make them match "
            f"(or restore a backup of that version), then run `{MIGRATE_COMMAND}` again"
        )
    command.stamp(_config(conn), FIRST_REVISION)
    command.upgrade(_config(conn), "head")
    created = f"; created {', '.join(t.name for t in missing)}" if missing else ""
    upgraded = f", upgraded to {head}" if head != FIRST_REVISION else ""
    return (
        f"the app database ({where(url)}) was made before migrations: its tables match, "
        f"stamped at revision {FIRST_REVISION}{upgraded}{created}"
    )


@contextmanager
def _locked(engine: Engine, url: str) -> Iterator[Connection]:
    """One transaction that no other migration of this database runs beside: PostgreSQL's
    advisory lock, SQLite's write lock taken at BEGIN (each waits for the other to finish)."""
    try:
        with engine.connect() as conn:  # its first statement begins the transaction
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            yield conn
            conn.commit()
    except OperationalError as exc:
        raise DatabaseUnreachable(_unreachable(url, exc)) from None


def _config(conn: Connection | None = None) -> Config:
    """Alembic's configuration, made here: no alembic.ini for users (`env.py` migrates `conn`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def _known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _app_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) & set(Base.metadata.tables)


def _ahead(url: str, current: str) -> str:
    return (
        f"the app database ({where(url)}) is at revision {current}, which this code does not "
        f"know (its newest is {head_revision()}): a newer version migrated it"
    )


def _unreachable(url: str, exc: OperationalError) -> str:
    reason = str(exc.orig or exc).strip().splitlines()[0]
    return f"cannot reach the app database ({where(url)}): {reason}"


def _describe(diff: Any) -> str:
    """One line for one difference of compare_metadata (a tuple, or a list of column changes)."""
    if isinstance(diff, list):
        return "; ".join(_describe(change) for change in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {diff[1].name}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = diff[1]
        return f"{kind} {obj.name or ''} on {obj.table.name}({', '.join(obj.columns.keys())})"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name}"
    if kind.startswith("modify_"):  # (kind, schema, table, column, info, old, new)
        return f"{kind} {diff[2]}.{diff[3]}: {diff[5]!r} here, {diff[6]!r} in the code"
    return str(kind)
