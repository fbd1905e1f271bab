#!/usr/bin/env bash
# Prepares a PostgreSQL database for Optinbase's tests and benchmarks:
#   an owner role that runs migrations, an application role that owns nothing
#   and cannot bypass row-level security, and a fresh database.
# Usage: scripts/prepare-postgres.sh [DBNAME]   (admin connection: PGADMIN_URL)
set -euo pipefail
DB="${1:-optinbase_test}"
ADMIN="${PGADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
OWNER="${PG_OWNER_ROLE:-optinbase_owner}"
APP="${PG_APP_ROLE:-optinbase_app}"

psql "$ADMIN" -v ON_ERROR_STOP=1 -q -At -o /dev/null <<SQL
SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid();
DROP DATABASE IF EXISTS "$DB";
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$OWNER') THEN
    CREATE ROLE "$OWNER" LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP') THEN
    CREATE ROLE "$APP" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END \$\$;
ALTER ROLE "$APP" NOSUPERUSER NOBYPASSRLS;
CREATE DATABASE "$DB" OWNER "$OWNER";
REVOKE ALL ON DATABASE "$DB" FROM PUBLIC;
GRANT CONNECT ON DATABASE "$DB" TO "$APP";
SQL
echo "DATABASE_URL=postgresql://$APP@127.0.0.1:5432/$DB"
echo "DATABASE_OWNER_URL=postgresql://$OWNER@127.0.0.1:5432/$DB"
