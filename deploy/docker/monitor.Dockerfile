# The synthetic monitor (`offgridflow-runbook monitor`): the project's wheel and only what the command
# imports (monitor-requirements.txt: httpx, PyYAML and the docker and kubernetes clients, at the
# versions pyproject.toml pins), from the wheelhouse built on the host (no index inside the build).
# Not pytest, Chaos Toolkit or matplotlib: tests/monitor proves the command runs without them.
# The error-rate expression of Verification 5 is read from the alert rules copied beside the wheels.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/offgridflow \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin offgridflow
COPY wheelhouse/ /tmp/wheelhouse/
RUN /opt/offgridflow/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
      -r /tmp/wheelhouse/monitor-requirements.txt \
 && /opt/offgridflow/bin/pip install --no-cache-dir --no-index --no-deps /tmp/wheelhouse/offgridflow_runbook-*.whl \
 && mkdir -p /etc/offgridflow \
 && cp /tmp/wheelhouse/offgridflow.rules.yml /etc/offgridflow/offgridflow.rules.yml \
 && rm -rf /tmp/wheelhouse
ENV PATH=/opt/offgridflow/bin:$PATH PYTHONUNBUFFERED=1 OFFGRIDFLOW_RULES_FILE=/etc/offgridflow/offgridflow.rules.yml
USER offgridflow
EXPOSE 9097
ENTRYPOINT ["offgridflow-runbook"]
CMD ["monitor", "--help"]
