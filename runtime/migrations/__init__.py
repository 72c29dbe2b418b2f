"""The app database's Alembic migrations: `env.py`, and one module per revision in `versions/`
(run by `runtime.schema.upgrade_schema`, that is `backoffice deploy migrate`)."""
