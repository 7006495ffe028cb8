#!/bin/sh
# Run by the postgres image once, on the first start of an empty data volume
# (/docker-entrypoint-initdb.d; docker-compose.yml). The application connects as
# APP_DB_USER: it owns APP_DB_NAME (so `migrate` can create and alter its tables) but is
# not a superuser. btree_gist (ONE-1's exclusion constraint, certificates migration 0002)
# is created here by the superuser; the migration's CREATE EXTENSION IF NOT EXISTS then
# finds it. tests/test_production.py runs this script against a real PostgreSQL.
set -eu
: "${APP_DB_USER:?}" "${APP_DB_PASSWORD:?}" "${APP_DB_NAME:?}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
  --dbname "${POSTGRES_DB:-postgres}" \
  --set app_user="$APP_DB_USER" --set app_password="$APP_DB_PASSWORD" \
  --set app_db="$APP_DB_NAME" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user" ENCODING 'UTF8' TEMPLATE template0;
\connect :"app_db"
CREATE EXTENSION IF NOT EXISTS btree_gist;
SQL
