#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (the official image's
# /docker-entrypoint-initdb.d): one login role per component, each with its own password from
# the environment. Temporal's role may create its two databases (the temporal-schema step does);
# the app owns one database (the demo profile's sandbox keeps its own SQLite file).
set -eu

: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD in .env}"
: "${BACKOFFICE_DB_PASSWORD:?set BACKOFFICE_DB_PASSWORD in .env}"

# psql reads the passwords from the environment (\getenv) and quotes them (:'name'): they are
# never on a command line.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv temporal_password TEMPORAL_DB_PASSWORD
\getenv backoffice_password BACKOFFICE_DB_PASSWORD
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
CREATE ROLE backoffice LOGIN PASSWORD :'backoffice_password';
CREATE DATABASE backoffice OWNER backoffice;
SQL
