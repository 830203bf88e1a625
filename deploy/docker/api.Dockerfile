# The reference OffGridFlow API, installed from a wheelhouse built on the host (no index inside the build).
# postgresql-client: the runbook's Triage 2B runs `pg_isready -h postgres-service` inside an API pod.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/offgridflow \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin offgridflow
COPY wheelhouse/ /tmp/wheelhouse/
RUN /opt/offgridflow/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
      -r /tmp/wheelhouse/service-requirements.txt \
 && /opt/offgridflow/bin/pip install --no-cache-dir --no-index --no-deps /tmp/wheelhouse/offgridflow_runbook-*.whl \
 && rm -rf /tmp/wheelhouse
ARG OFFGRIDFLOW_VERSION=1.3.0
# The defect switch (docs/architecture.md): empty in every production build. Only the deploy gate's test
# candidate v1.3.1-broken-activities is built with --build-arg OFFGRIDFLOW_DEFECT=activities-500.
ARG OFFGRIDFLOW_DEFECT=
LABEL org.opencontainers.image.version=$OFFGRIDFLOW_VERSION
ENV PATH=/opt/offgridflow/bin:$PATH PYTHONUNBUFFERED=1 OFFGRIDFLOW_VERSION=$OFFGRIDFLOW_VERSION \
    OFFGRIDFLOW_DEFECT=$OFFGRIDFLOW_DEFECT
USER offgridflow
EXPOSE 8080 8081
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=2 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('OFFGRIDFLOW_HTTP_PORT', '8080') + '/health/live', timeout=2)"]
ENTRYPOINT ["offgridflow-api"]
