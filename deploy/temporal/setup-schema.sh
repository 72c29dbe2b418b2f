#!/bin/sh
# The temporal-schema step (temporalio/admin-tools): create Temporal's two databases on
# PostgreSQL and bring their schemas to this server version. Safe to run on every `up`:
# setup-schema and update-schema skip what is already done. Without containers
# (`backoffice deploy local up`, docs/plain-hosts.md) the same script runs with the schema files
# of the server's Go module (TEMPORAL_SCHEMA_DIR) and temporal-sql-tool from PATH.
set -eu

: "${SQL_PASSWORD:?set TEMPORAL_DB_PASSWORD in .env}"
host=${POSTGRES_SEEDS:-postgresql}
port=${DB_PORT:-5432}
user=${POSTGRES_USER:-temporal}
schemas=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

for db in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  name=${db%%:*}
  kind=${db##*:}
  tool() { temporal-sql-tool --plugin postgres12 --ep "$host" -p "$port" -u "$user" --db "$name" "$@"; }
  echo "temporal-schema: database $name ($kind)"
  # `create` fails once the database exists; setup-schema below fails loudly if it does not.
  tool create || echo "temporal-schema: $name not created (it exists already?)"
  tool setup-schema -v 0.0
  tool update-schema -d "$schemas/$kind/versioned"
done
echo "temporal-schema: done"
