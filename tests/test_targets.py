import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from offgridflow_runbook.targets import (
    ChaosNotAllowed,
    Identity,
    Target,
    TargetError,
    load_target,
    load_targets,
    profile_target,
    require_chaos_allowed,
    target_from_options,
)

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_targets_file_never_allows_chaos_in_production() -> None:
    targets = load_targets(ROOT / "targets.yaml")
    assert {"local", "kind", "staging", "production"} <= set(targets)
    assert targets["production"].allow_chaos is False
    assert targets["production"].allow_writes is False


def test_an_unknown_target_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"known targets .*local"):
        load_target("prod", ROOT / "targets.yaml")


def test_an_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "targets:\n  x:\n    platform: docker\n    base_url: http://127.0.0.1:1\n    colour: red\n"
    )
    with pytest.raises(TargetError, match="unknown keys \\['colour'\\]"):
        load_targets(path)


# -- the strict schema ------------------------------------------------------------------------------------
GOOD = "targets:\n  t:\n    platform: none\n    base_url: http://127.0.0.1:9\n"


def _load(tmp_path: Path, text: str | bytes) -> dict[str, Target]:
    path = tmp_path / "targets.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load_targets(path)


def _error(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(TargetError) as raised:
        _load(tmp_path, text)
    message = str(raised.value)
    assert "\n" not in message
    assert "\r" not in message
    return message


@pytest.mark.parametrize(
    "slip", ['"false"', "'no'", '"off"', "0", "1", '"true"', "yes-please", "[true]", "~"]
)
def test_allow_chaos_is_only_ever_a_yaml_boolean(tmp_path: Path, slip: str) -> None:
    message = _error(tmp_path, GOOD + f"    allow_chaos: {slip}\n")
    assert message.startswith(f"{tmp_path / 'targets.yaml'}: target 't': allow_chaos must be true or false")
    assert "(a YAML boolean), not " in message


def test_the_message_names_file_target_key_and_the_quoted_string(tmp_path: Path) -> None:
    assert _error(tmp_path, GOOD + '    allow_chaos: "false"\n') == (
        f"{tmp_path / 'targets.yaml'}: target 't': allow_chaos must be true or false (a YAML boolean), "
        "not the string 'false'"
    )


@pytest.mark.parametrize(
    "text",
    [
        GOOD + "    allow_chaos: false\n    allow_chaos: true\n",  # in a profile
        GOOD + "  t:\n    platform: none\n    base_url: http://127.0.0.1:9\n",  # a profile twice
        "targets: {}\n" + GOOD,  # the top level
        GOOD + "    identity:\n      stack_label: a\n      stack_label: b\n",  # the identity
    ],
)
def test_a_key_written_twice_is_refused_at_any_level(tmp_path: Path, text: str) -> None:
    assert "is written twice in one mapping" in _error(tmp_path, text)


def test_a_yaml_merge_key_may_still_be_overridden(tmp_path: Path) -> None:
    text = (
        "defaults: &d {platform: none, base_url: 'http://127.0.0.1:9'}\n"
        "targets:\n  t:\n    <<: *d\n    base_url: http://127.0.0.1:10\n"
    )
    # anchors live under targets only: an unknown top-level key is refused, so put them inline
    assert "unknown top-level keys ['defaults']" in _error(tmp_path, text)
    inline = (
        "targets:\n  a: &d {platform: none, base_url: 'http://127.0.0.1:9'}\n"
        "  b:\n    <<: *d\n    base_url: http://127.0.0.1:10\n"
    )
    assert _load(tmp_path, inline)["b"].base_url == "http://127.0.0.1:10"


@pytest.mark.parametrize(
    ("profile", "shown"),
    [("3", "the number 3"), ("[a, b]", "a list"), ("~", "null"), ("''", "the string ''")],
)
def test_a_profile_that_is_not_a_mapping_is_refused(tmp_path: Path, profile: str, shown: str) -> None:
    assert _error(tmp_path, f"targets:\n  t: {profile}\n").endswith(
        f"target 't' must be a mapping of keys, not {shown}"
    )


@pytest.mark.parametrize(
    "document", ["", "[]", "targets: 3", "targets: []", "targets:\n", "other: {}\n", "just text"]
)
def test_the_top_level_must_be_a_targets_mapping(tmp_path: Path, document: str) -> None:
    assert "needs a top-level 'targets:' mapping of profiles" in _error(tmp_path, document)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("token_env: ~", "token_env must be the name of an environment variable"),
        ("token_env: 'MY TOKEN'", "token_env must be the name of an environment variable"),
        ("token_env: 1TOKEN", "token_env must be the name of an environment variable"),
        ("namespace: Off_Grid", "namespace must be a namespace: a DNS-1123 label"),
        ("namespace: " + "a" * 64, "namespace must be a namespace: a DNS-1123 label"),
        ("namespace: -x", "namespace must be a namespace: a DNS-1123 label"),
        ("description: 3", "description must be a string, not the number 3"),
        ("kubeconfig: [a]", "kubeconfig must be a non-empty string, not a list"),
        ("kube_context: ''", "kube_context must be a non-empty string"),
        ("metrics_url: ftp://127.0.0.1/metrics", "needs the scheme http:// or https://"),
        ("metrics_url: http:///metrics", "needs a host"),
        ("metrics_url: 'http://127.0.0.1:99999/'", "cannot be parsed"),
        ("metrics_url: 'http://u:p@127.0.0.1/'", "must not carry credentials"),
        ("prometheus_url: 9090", "prometheus_url must be an http:// or https:// URL, not the number 9090"),
        ("alertmanager_url: ~", "alertmanager_url must be an http:// or https:// URL, not null"),
        ("platform: openstack", "platform must be one of ['docker', 'kubernetes', 'none']"),
        ("colour: red", "unknown keys ['colour']; known: ['alert_receiver_url', 'alertmanager_url'"),
    ],
)
def test_every_key_is_typed(tmp_path: Path, line: str, expected: str) -> None:
    text = GOOD.replace("    platform: none\n", "") if line.startswith("platform") else GOOD
    assert expected in _error(tmp_path, text + f"    {line}\n")


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("{colour: red}", "identity: unknown keys ['colour']; known: ['api_server', 'docker_host'"),
        ("[kind]", "identity must be a mapping of keys, not a list"),
        ("{kind_cluster: 3}", "identity: kind_cluster must be a non-empty string, not the number 3"),
        ("{api_server: remote}", "identity: api_server must be 'loopback' or the API server's http"),
        ("{nodes: node-1}", "identity: nodes must be a list of names (strings), not the string 'node-1'"),
        ("{nodes: [1]}", "identity: nodes must be a list of names (strings), not a list"),
        ("{docker_host: /var/run/docker.sock}", "identity: docker_host must be a Docker engine endpoint"),
        ("{docker_host: 'tcp://127.0.0.1'}", "identity: docker_host must be a Docker engine endpoint"),
        ("{stack_label: true}", "identity: stack_label must be a non-empty string, not the boolean true"),
    ],
)
def test_the_identity_is_checked_as_strictly(tmp_path: Path, identity: str, expected: str) -> None:
    assert expected in _error(tmp_path, GOOD + f"    identity: {identity}\n")


def test_a_full_identity_loads(tmp_path: Path) -> None:
    identity = _load(
        tmp_path,
        GOOD + "    identity: {kind_cluster: k, api_server: 'https://127.0.0.1:6443', nodes: [n1, n2],"
        " docker_host: 'tcp://127.0.0.1:2375', stack_label: s}\n",
    )["t"].identity
    assert identity == Identity("k", "https://127.0.0.1:6443", ("n1", "n2"), "tcp://127.0.0.1:2375", "s")


@pytest.mark.parametrize("name", ["'bad name'", "'../up'", "3", "~", "'-x'"])
def test_a_target_name_is_plain_characters(tmp_path: Path, name: str) -> None:
    assert "must be 1-63 letters, digits" in _error(
        tmp_path, f"targets:\n  {name}:\n    platform: none\n    base_url: http://127.0.0.1:9\n"
    )


def test_files_that_cannot_be_read_are_one_line(tmp_path: Path) -> None:
    assert "is not UTF-8 text (byte 9: invalid start byte)" in _error(tmp_path, b"targets:\n\xff\xfe")
    # libyaml's wording ("did not find expected") or PyYAML's, whichever parses
    assert re.search(
        r"is not valid YAML: line 2, column 1: .*expected ',' or '\]'",
        _error(tmp_path, "targets: [unclosed\n"),
    )
    with pytest.raises(TargetError, match=r"is a directory, not a YAML file$"):
        load_targets(tmp_path)
    with pytest.raises(TargetError, match=r"not found \(set --targets-file or OFFGRIDFLOW_TARGETS\)$"):
        load_targets(tmp_path / "absent.yaml")
    # /proc/self/mem refuses a plain read whoever asks (root included): an unreadable file
    with pytest.raises(TargetError, match=r"/proc/self/mem cannot be read: Input/output error$"):
        load_targets("/proc/self/mem")


def test_overrides_are_checked_by_the_same_rules(tmp_path: Path) -> None:
    target = _load(tmp_path, GOOD)["t"]
    assert target.with_overrides(base_url="https://api.example.com", namespace=None).base_url == (
        "https://api.example.com"
    )
    with pytest.raises(TargetError, match=r"^target 't': override base_url must be an http:// or https://"):
        target.with_overrides(base_url="ftp://x")
    with pytest.raises(TargetError, match=r"^target 't': override namespace must be a namespace"):
        target.with_overrides(namespace="Bad_NS")
    with pytest.raises(TargetError, match=r"^target 't': cannot override \['colour'\]; known: "):
        target.with_overrides(colour="red")
    options = {"target": "t", "targets_file": tmp_path / "targets.yaml", "token_env": "not a name"}
    with pytest.raises(TargetError, match=r"^target 't': --token-env must be the name of an environment"):
        target_from_options(lambda dest: options.get(dest))


def test_the_guard_takes_only_the_boolean_true_as_permission() -> None:
    for permission in ("false", "yes", 1, "true"):
        target = Target(name="t", platform="none", base_url="http://127.0.0.1:9", allow_chaos=permission)  # type: ignore[arg-type]
        with pytest.raises(ChaosNotAllowed):
            require_chaos_allowed(target)
    require_chaos_allowed(Target(name="t", platform="none", base_url="http://127.0.0.1:9", allow_chaos=True))


def test_every_target_key_has_a_rule() -> None:
    # the schema and the model must not drift apart: a new Target field needs its rule
    profile = {f.name for f in fields(Target)} - {"name"}
    with pytest.raises(TargetError, match=r"^target 't': needs platform \(one of "):
        profile_target("t", {})
    for key in profile:
        with pytest.raises(TargetError) as wrong:
            profile_target("t", {"platform": "none", "base_url": "http://127.0.0.1:9", key: object()})
        assert "unknown keys" not in str(wrong.value), key
    assert {f.name for f in fields(Identity)} == {
        "kind_cluster",
        "api_server",
        "nodes",
        "docker_host",
        "stack_label",
    }


# -- where the targets file and a kubeconfig are -------------------------------------------------------
def test_a_kubeconfig_in_a_home_directory_is_kept_as_written_whether_or_not_that_home_exists(
    tmp_path: Path,
) -> None:
    # whether ~user exists depends on the machine: the platform says so when the target is used, and
    # the other profiles of the file still load
    for kubeconfig in ("~/.kube/config", "~offgridflow-no-such-user/kubeconfig"):
        assert _load(tmp_path, GOOD + f"    kubeconfig: '{kubeconfig}'\n")["t"].kubeconfig == kubeconfig
    assert _load(tmp_path, GOOD + "    kubeconfig: kube/config\n")["t"].kubeconfig == str(
        tmp_path / "kube/config"
    )


@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_targets_file_option_is_refused_not_taken_for_the_default(
    tmp_path: Path, empty: str
) -> None:
    options = {"target": "t", "targets_file": empty}
    with pytest.raises(
        TargetError, match=r"^--targets-file is empty: name the targets file, or leave the option out$"
    ):
        target_from_options(options.get)
    with pytest.raises(TargetError, match=r"^the targets file's name is empty$"):
        load_targets(empty)


def test_an_empty_offgridflow_targets_means_unset_as_every_offgridflow_variable_does() -> None:
    environment = {**os.environ, "OFFGRIDFLOW_TARGETS": ""}
    shown = subprocess.run(
        [sys.executable, "-c", "from offgridflow_runbook.targets import DEFAULT_TARGETS_FILE as f; print(f)"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "targets.yaml"
