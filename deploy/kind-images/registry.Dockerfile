# The image registry the kind cluster pulls from (Debian's docker-registry 2.8), reachable from the
# nodes on the kind network and from this host on 127.0.0.1 only. Debian's own config asks for
# htpasswd auth; ours (registry.yml) does not.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry \
 && rm -rf /var/lib/apt/lists/*
COPY registry.yml /etc/offgridflow/registry.yml
ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/offgridflow/registry.yml"]
