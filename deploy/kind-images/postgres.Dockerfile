# PostgreSQL 15 from Debian bookworm for the offline kind overlay. It honours the environment of the
# upstream postgres image that the StatefulSet sets (POSTGRES_DB, POSTGRES_USER, POSTGRES_PASSWORD,
# PGDATA) and runs as uid/gid 999 like it (the pod's securityContext asks for 999).
FROM debian:bookworm-slim
RUN groupadd --gid 999 postgres && useradd --uid 999 --gid 999 --home-dir /var/lib/postgresql --no-create-home postgres \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R 999:999 /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-kind-entrypoint.sh /usr/local/bin/postgres-kind-entrypoint
RUN chmod 0755 /usr/local/bin/postgres-kind-entrypoint
USER 999
# Fast shutdown, as the upstream postgres image does: SIGTERM (the kubelet's default) asks PostgreSQL
# for a smart shutdown, which waits for every client to leave. The API's pool never leaves, so each
# pod deletion waited the whole grace period and ended in SIGKILL and crash recovery (31 s here).
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["postgres-kind-entrypoint"]
