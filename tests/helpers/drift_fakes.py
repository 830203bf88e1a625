"""A fake OffGridFlow API on 127.0.0.1 (for the runbook's curl lines) and a fake kubectl that answers
the runbook's read-only commands as a cluster with a hashed ConfigMap would, logging every call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from helpers.local_http import serving

TOKEN = "drift-test-token-0123456789"
HEALTHY: dict[str, tuple[int, str]] = {
    "/health/live": (200, '{"status":"alive"}'),
    "/health/ready": (200, '{"status":"healthy","database":"ok"}'),
    "/v1/activities?limit=1": (200, '{"activities":[{"id":1}]}'),
    "/metrics": (200, 'http_requests_total{path="/health/live"} 3.0\n'),
}


@dataclass(frozen=True)
class Seen:
    """One request the fake API received, and every process whose command line held the token at
    that moment (the client that sent it is still running then)."""

    method: str
    path: str
    authorization: str | None
    token_in_argv: tuple[str, ...]


def processes_with(secret: str) -> tuple[str, ...]:
    """The command lines (``/proc/<pid>/cmdline``) that contain ``secret``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # the process ended meanwhile
            if secret.encode() in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return tuple(found)


@contextmanager
def fake_api(
    answers: dict[str, tuple[int, str]] | None = None, seen: list[Seen] | None = None
) -> Iterator[str]:
    """Serve ``answers`` (path -> status, body) on 127.0.0.1; yields the base URL. The activities
    path answers 401 without ``Bearer TOKEN``. Every request, whatever its method, is appended to
    ``seen``; only GET has answers."""
    routes = {**HEALTHY, **(answers or {})}

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            if seen is not None:
                authorization = self.headers.get("Authorization")
                seen.append(Seen(self.command, self.path, authorization, processes_with(TOKEN)))

        def do_GET(self) -> None:
            self._record()
            status, body = routes.get(self.path, (404, '{"detail":"Not Found"}'))
            if self.path.startswith("/v1/") and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, '{"detail":"unauthorized"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def _refuse(self) -> None:
            self._record()
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

        def log_message(self, *args: object) -> None:  # keep pytest's output clean
            pass

    with serving(Handler) as url:
        yield url


# POSIX sh, so that each of the ~20 calls of a drift run starts in milliseconds on a busy machine
FAKE_KUBECTL = r"""#!/bin/sh
# one write per call: drift runs several at once, and their lines must not interleave
line=$(printf '%s\t' "$@"); printf '%s\n' "$line" >> "$FAKE_KUBECTL_LOG"
verb=; noun=; previous=
for a in "$@"; do
  case "$a" in
    --previous) previous=1 ;;
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$a; elif [ -z "$noun" ]; then noun=$a; fi ;;
  esac
done
case "$verb $noun" in
  "get configmap")
    echo 'Error from server (NotFound): configmaps "offgridflow-config" not found' >&2; exit 1 ;;
  "get ingress") echo "No resources found in shop namespace." >&2; exit 0 ;;
  "get secret") printf 'apiVersion: v1\nkind: Secret\ndata:\n  OFFGRIDFLOW_API_TOKENS: c2VjcmV0\n'; exit 0 ;;
  "get events") printf 'LAST SEEN   TYPE     REASON    OBJECT\n1m   Normal   Started   pod/x\n'; exit 0 ;;
  "get "*) printf 'NAME   READY   STATUS    RESTARTS\n%s-1   1/1     Running   0\n' "$noun"; exit 0 ;;
  "describe "*) printf 'Name: offgridflow-api-1\n    Limits:\n      memory:  512Mi\n'; exit 0 ;;
  "logs "*)
    if [ -n "$previous" ]; then
      echo 'Error from server (BadRequest): previous terminated container "api" in pod "x" not found' >&2
      exit 1
    fi
    echo '{"event": "started"}'; exit 0 ;;
  "exec "*) echo "postgres-service:5432 - accepting connections"; exit 0 ;;
  "top "*) echo "error: Metrics API not available" >&2; exit 1 ;;
  "rollout status"|"rollout history")
    printf 'deployment "offgridflow-api" successfully rolled out\nREVISION  CHANGE-CAUSE\n1  <none>\n'
    exit 0 ;;
  "wait "*) echo "pod/postgres-0 condition met"; exit 0 ;;
esac
echo "fake kubectl: $verb would change the cluster" >&2; exit 99
"""


def write_fake_kubectl(directory: Path) -> Path:
    path = directory / "kubectl"
    path.write_text(FAKE_KUBECTL)
    path.chmod(0o755)
    return path


def kubectl_calls(log: Path) -> list[list[str]]:
    """Each call's arguments (the fake writes them tab-separated, one call a line)."""
    return [line.split("\t")[:-1] for line in log.read_text().splitlines()] if log.exists() else []
