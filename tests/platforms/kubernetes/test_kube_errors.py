"""Unreachable, unauthorized, forbidden and misconfigured clusters give one-line messages."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from helpers.kube_fake_server import write_kubeconfig
from offgridflow_runbook.platforms import PlatformError
from offgridflow_runbook.platforms.kubernetes.driver import KubernetesPlatform


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_kubeconfig_names_the_file(kube_fake, tmp_path):
    target = replace(kube_fake.target, kubeconfig=str(tmp_path / "nope.yaml"))
    with pytest.raises(PlatformError) as caught:
        KubernetesPlatform(target)
    assert str(caught.value) == (
        f"target 'kube-fake': kubeconfig {tmp_path / 'nope.yaml'} not found "
        "(set 'kubeconfig' for the target in the targets file, or KUBECONFIG)"
    )


def test_missing_context_lists_the_contexts_there(kube_fake):
    target = replace(kube_fake.target, kube_context="kind-offgridflow")
    with pytest.raises(
        PlatformError, match=r"context 'kind-offgridflow' is not in .*contexts there: kube-fake\)"
    ):
        KubernetesPlatform(target)


def test_unreachable_api_server(kube_fake, tmp_path):
    port = _closed_port()
    kubeconfig = write_kubeconfig(tmp_path / "dead", f"http://127.0.0.1:{port}")
    platform = KubernetesPlatform(replace(kube_fake.target, kubeconfig=str(kubeconfig)))
    try:
        with pytest.raises(PlatformError) as caught:
            platform.api_workloads()
    finally:
        platform.close()
    message = str(caught.value)
    assert message.startswith(
        f"Kubernetes API http://127.0.0.1:{port} (context 'kube-fake') is unreachable "
        "while trying to list pods -l app=offgridflow-api: "
    )
    assert message.endswith("Connection refused")
    assert "HTTPConnection(" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "rejected the credentials (401 Unauthorized) while trying to list pods -l app=offgridflow-api"),
        (403, "may not list pods -l app=offgridflow-api in namespace 'offgridflow' (403 Forbidden)"),
        (500, "could not list pods -l app=offgridflow-api (500 Internal Server Error)"),
    ],
)
def test_http_errors_have_distinct_messages(kube_fake, status, expected):
    kube_fake.fake.fail_with = status
    with pytest.raises(PlatformError) as caught:
        kube_fake.platform().api_workloads()
    assert expected in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_exec_refused_by_the_server_is_a_platform_error(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.add_api_pod("api-1")
    platform = kube_fake.platform()
    kube_fake.fake.fail_with = 403
    with pytest.raises(PlatformError):
        platform.pg_isready()


def test_an_exec_whose_upgrade_does_not_come_is_a_platform_error_at_its_deadline(kube_fake, monkeypatch):
    # kubernetes' websocket client waits for the upgrade with no timeout of its own
    from offgridflow_runbook.platforms.kubernetes import exec as kube_exec

    kube_fake.seed_runbook_namespace()
    kube_fake.add_api_pod("api-1")
    kube_fake.fake.exec_seconds = 3.0
    monkeypatch.setattr(kube_exec, "EXEC_DEADLINE_SECONDS", 0.5)
    platform = kube_fake.platform()
    started = time.monotonic()
    with pytest.raises(PlatformError) as caught:
        platform.pg_isready()
    assert time.monotonic() - started < 2.5
    assert str(caught.value).endswith(
        "could not exec pg_isready -h postgres-service -p 5432 in pod api-1: no answer within 0.5s"
    )


def test_an_exec_within_its_deadline_gives_its_exit_code_and_output(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.add_api_pod("api-1")
    kube_fake.fake.exec_results[("pg_isready", "-h", "postgres-service", "-p", "5432")] = (2, "no response\n")
    result = kube_fake.platform().pg_isready()
    assert (result.exit_code, result.output) == (2, "no response\n")


def test_each_platform_has_its_own_client_and_never_the_global_default(kube_fake, tmp_path):
    from kubernetes.client import Configuration

    before = Configuration.get_default_copy().host
    other = write_kubeconfig(tmp_path / "other", "http://127.0.0.1:1")
    first = kube_fake.platform()
    second = KubernetesPlatform(replace(kube_fake.target, kubeconfig=str(other)))
    try:
        assert first._connection.host != second._connection.host
        assert Configuration.get_default_copy().host == before
    finally:
        second.close()


def test_a_silent_api_server_is_a_timeout_not_unreachable(kube_fake, tmp_path, monkeypatch):
    from offgridflow_runbook.platforms.kubernetes import client

    monkeypatch.setattr(client, "REQUEST_TIMEOUT", (1.0, 0.3))
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        kubeconfig = write_kubeconfig(tmp_path / "silent", f"http://127.0.0.1:{silent.getsockname()[1]}")
        platform = KubernetesPlatform(replace(kube_fake.target, kubeconfig=str(kubeconfig)))
        try:
            with pytest.raises(PlatformError, match=r"did not answer within 0.3s while trying to list pods"):
                platform.api_workloads()
        finally:
            platform.close()


# -- malformed kubeconfigs: one line naming the file, never an error from inside the client library ------
STRING_CONTEXT = "contexts:\n- name: kube-fake\n  context: oops\n"
STRING_CLUSTER = (
    "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
    "clusters:\n- name: k\n  cluster: 'http://127.0.0.1:1'\nusers: [{name: u, user: {}}]\n"
)
NUMBER_SERVER = STRING_CLUSTER.replace("cluster: 'http://127.0.0.1:1'", "cluster: {server: 5}")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"apiVersion: v1\n\xff\xfe", "is not UTF-8 text (byte 15: invalid start byte)"),
        ("- a\n- b\n", "must be a mapping (clusters, contexts, users), not a list"),
        ("hello\n", "must be a mapping (clusters, contexts, users), not the string 'hello'"),
        ("contexts: {c: 1}\n", ": contexts must be a list of mappings, not a mapping"),
        ("users: [u]\n", ": users must be a list of mappings, not of the string 'u'"),
        (STRING_CONTEXT, ": contexts entry 'kube-fake': context must be a mapping, not the string 'oops'"),
        (
            STRING_CLUSTER,
            ": clusters entry 'k': cluster must be a mapping, not the string 'http://127.0.0.1:1'",
        ),
        ("contexts: [\n", "is not valid YAML: line 2, column 1: "),
        (NUMBER_SERVER, ": cannot use kubeconfig"),  # what only the library notices
    ],
)
def test_a_malformed_kubeconfig_is_one_line_naming_the_file(kube_fake, tmp_path, content, expected):
    path = tmp_path / "bad-kubeconfig"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    target = replace(kube_fake.target, kubeconfig=str(path), kube_context=None)
    with pytest.raises(PlatformError) as caught:
        KubernetesPlatform(target)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert message.startswith("target 'kube-fake': ")
    assert "\n" not in message


UNKNOWN_HOME = "~offgridflow-no-such-user/kubeconfig"


@pytest.mark.parametrize(
    ("option", "variable", "source"), [(UNKNOWN_HOME, "", "the target"), (None, UNKNOWN_HOME, "KUBECONFIG")]
)
def test_a_kubeconfig_in_a_home_directory_that_does_not_exist_is_one_line(
    kube_fake, monkeypatch, option, variable, source
):
    monkeypatch.setenv("KUBECONFIG", variable)
    with pytest.raises(PlatformError) as caught:
        KubernetesPlatform(replace(kube_fake.target, kubeconfig=option))
    assert str(caught.value) == (
        f"target 'kube-fake': kubeconfig {UNKNOWN_HOME!r} (from {source}): "
        "cannot expand '~offgridflow-no-such-user': no such user, or no home directory"
    )


# -- answers that trickle or never end: bounded by the request's deadline and a size ----------------------
PODS = b'{"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}'


@contextlib.contextmanager
def answering(pieces: Iterator[bytes], pause: float) -> Iterator[int]:
    """A server on 127.0.0.1 that answers each request 200 with ``pieces`` sent ``pause`` apart (no
    Content-Length: the answer ends when the connection closes); yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _ = server.accept()
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(4096)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                )
                for piece in pieces:
                    if stop.wait(pause):
                        return
                    connection.sendall(piece)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


def _api_workloads_at(kube_fake, tmp_path, port: int) -> list:
    """The API pods as a platform on the server at ``port`` lists them (its client closed after)."""
    kubeconfig = write_kubeconfig(tmp_path / "answering", f"http://127.0.0.1:{port}")
    platform = KubernetesPlatform(replace(kube_fake.target, kubeconfig=str(kubeconfig)))
    try:
        return platform.api_workloads()
    finally:
        platform.close()


def test_an_answer_trickled_past_the_deadline_is_cut_there_and_named(kube_fake, tmp_path, monkeypatch):
    from offgridflow_runbook.platforms.kubernetes import client

    # a byte every 0.1 s never waits out the 0.5 s read timeout: only the whole answer's 0.7 s can stop it
    monkeypatch.setattr(client, "REQUEST_TIMEOUT", (0.2, 0.5))
    cut = r"did not finish answering within 0.7s while trying to list pods"
    with answering((PODS[i : i + 1] for i in range(len(PODS))), pause=0.1) as port:
        started = time.monotonic()
        with pytest.raises(PlatformError, match=cut):
            _api_workloads_at(kube_fake, tmp_path, port)
    assert time.monotonic() - started < 2


def test_an_answer_finished_within_the_deadline_is_read_whole(kube_fake, tmp_path, monkeypatch):
    from offgridflow_runbook.platforms.kubernetes import client

    monkeypatch.setattr(client, "REQUEST_TIMEOUT", (0.5, 1.0))
    thirds = [PODS[: len(PODS) // 3], PODS[len(PODS) // 3 : 2 * len(PODS) // 3], PODS[2 * len(PODS) // 3 :]]
    with answering(iter(thirds), pause=0.3) as port:  # 0.9 s in all: inside 1.5 s, each wait inside 1 s
        assert _api_workloads_at(kube_fake, tmp_path, port) == []


def test_an_answer_larger_than_the_cap_is_not_read_further(kube_fake, tmp_path, monkeypatch):
    from offgridflow_runbook.platforms.kubernetes import client

    monkeypatch.setattr(client, "MAX_ANSWER_BYTES", 100_000)
    endless = itertools.repeat(b" " * 65536, 1000)  # 64 MiB of whitespace, bounded
    too_large = r"answered more than 100,000 bytes while trying to list pods"
    with answering(endless, pause=0) as port, pytest.raises(PlatformError, match=too_large):
        _api_workloads_at(kube_fake, tmp_path, port)
