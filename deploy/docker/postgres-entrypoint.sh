#!/bin/sh
# First start: initdb, then the application role and database from OFFGRIDFLOW_DATABASE_* variables.
set -eu
: "${OFFGRIDFLOW_DATABASE_USER:=offgridflow}"
: "${OFFGRIDFLOW_DATABASE_NAME:=offgridflow}"
: "${OFFGRIDFLOW_DATABASE_PASSWORD:?the database password is required}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --auth-local=trust --auth-host=scram-sha-256 --username=postgres -D "$PGDATA" >/dev/null
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
  psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d postgres \
    -v user="$OFFGRIDFLOW_DATABASE_USER" -v password="$OFFGRIDFLOW_DATABASE_PASSWORD" \
    -v dbname="$OFFGRIDFLOW_DATABASE_NAME" >/dev/null <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"dbname" OWNER :"user";
SQL
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "initialised the database cluster"
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c port=5432 -c fsync=on \
  -c unix_socket_directories=/var/run/postgresql
