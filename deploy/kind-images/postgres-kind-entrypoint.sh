#!/bin/sh
# First start: initdb, then the role and database from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB
# (the upstream image's contract). Listens on every address of the pod: the Service reaches it there.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  initdb --auth-local=trust --auth-host=scram-sha-256 --username=postgres -D "$PGDATA" >/dev/null
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
  psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d postgres \
    -v user="$POSTGRES_USER" -v password="$POSTGRES_PASSWORD" -v dbname="$POSTGRES_DB" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
SQL
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "initialised the database cluster"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 -c unix_socket_directories=/var/run/postgresql
