# The monitoring and delivery tools of the local stack, all from Debian packages, in one image:
# Prometheus, Alertmanager, the PostgreSQL exporter, the image registry, the alert receiver, the event
# recorder and the API's Service (the routing proxy api_service.py).
# Each container of the stack runs one of them (its command picks which).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      prometheus prometheus-alertmanager prometheus-postgres-exporter docker-registry \
      python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY alert_receiver.py /usr/local/bin/alert-receiver
COPY event_recorder.py /usr/local/bin/event-recorder
COPY api_service.py /usr/local/bin/api-service
# what the recorder and the Service share, beside them: Python finds it first there
COPY stack_engine.py /usr/local/bin/stack_engine.py
# The data folders belong to the user the services run as: a named volume mounted on one starts as a
# copy of it (owner included), so Prometheus' TSDB and Alertmanager's silences survive a restart.
RUN chmod 0755 /usr/local/bin/alert-receiver /usr/local/bin/event-recorder /usr/local/bin/api-service \
 && mkdir -p /data /prometheus /alertmanager \
 && chown nobody:nogroup /data /prometheus /alertmanager
USER nobody
CMD ["prometheus", "--version"]
