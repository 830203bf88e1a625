# A program built from its pinned Go module (tools/cluster) in an otherwise empty image, for the
# offline kind overlay: kube-state-metrics, metrics-server. Build arg BINARY names it.
FROM scratch
ARG BINARY
COPY ${BINARY} /usr/local/bin/entry
USER 65534
ENTRYPOINT ["/usr/local/bin/entry"]
