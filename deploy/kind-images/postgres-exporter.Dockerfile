# The PostgreSQL exporter from Debian bookworm (0.11), for the offline kind overlay. It reads the same
# DATA_SOURCE_URI / DATA_SOURCE_USER / DATA_SOURCE_PASS variables as the upstream image.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-postgres-exporter \
 && rm -rf /var/lib/apt/lists/*
USER nobody
ENTRYPOINT ["/usr/bin/prometheus-postgres-exporter"]
