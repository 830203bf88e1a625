"""Property: every malformed targets file or override is one line on stderr and exit 64 (never a
traceback, never 1, which means "drift found"); every well-formed file loads as written.

Malformed files are made wrong by construction (a value of the wrong kind, a key written twice, an
unknown key, a profile that is not a mapping, bytes that are not UTF-8, ...), so each case is known to
be wrong without asking the code under test. Their URLs are closed ports on 127.0.0.1 with platform
``none``: should a case wrongly pass the schema, ``diagnose`` fails fast against nothing, and the
property fails on its exit code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from helpers.cli_exit import exit_code
from offgridflow_runbook.cli import EXIT_USAGE, main
from offgridflow_runbook.reporting import printable
from offgridflow_runbook.targets import TARGET_OPTIONS, TargetError, load_targets, target_from_options


def examples(count: int) -> settings:
    """``count`` cases, no deadline (a whole CLI run each), the tmp folder and capsys shared by them."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


NAME = "t"
BASE = {"platform": "none", "base_url": "http://127.0.0.1:9"}

# -- values of each kind ----------------------------------------------------------------------------------
# sampled, not generated from regular expressions: a few thousand cases must stay well under a minute
names = st.sampled_from(["a", "t", "local", "kind-2", "x9", "offgridflow", "a" * 63])
hosts = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "api.example.com"])
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https"]),
    hosts,
    st.sampled_from(["", ":1", ":8080", ":65535"]),
    st.sampled_from(["", "/", "/metrics", "/a/b"]),
)
env_names = st.sampled_from(["OFFGRIDFLOW_TOKEN", "_", "a1", "T", "MY_TOKEN_2"])
namespaces = st.sampled_from(["offgridflow", "a", "0", "a-b", "a" * 63, "9x-y"])
# the Basic Multilingual Plane: JSON writes others as surrogate pairs, which YAML keeps as two characters
bmp_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=20)
texts = bmp_text.filter(str.strip)
identities = st.fixed_dictionaries(
    {},
    optional={
        "kind_cluster": names,
        "api_server": st.one_of(st.just("loopback"), urls),
        "nodes": st.lists(names, max_size=3),
        "docker_host": st.one_of(
            st.just("unix:///var/run/docker.sock"),
            st.builds("tcp://127.0.0.1:{}".format, st.integers(1, 65535)),
        ),
        "stack_label": names,
    },
)
# every key a profile may hold, and values it accepts
VALID: dict[str, st.SearchStrategy[Any]] = {
    "description": bmp_text,
    "platform": st.sampled_from(["docker", "kubernetes", "none"]),
    "base_url": urls,
    "metrics_url": urls,
    "prometheus_url": urls,
    "alertmanager_url": urls,
    "alert_receiver_url": urls,
    "kube_context": texts,
    "kubeconfig": st.just("/nowhere/kubeconfig"),
    "namespace": namespaces,
    "token_env": env_names,
    "allow_chaos": st.booleans(),
    "allow_writes": st.booleans(),
    "identity": identities,
}
valid_profiles = st.fixed_dictionaries(
    {"platform": VALID["platform"], "base_url": VALID["base_url"]},
    optional={key: strategy for key, strategy in VALID.items() if key not in ("platform", "base_url")},
)

not_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
)
slips = st.sampled_from(["false", "true", "no", "off", "yes", "on", "0", "1", "False", ""])
bad_url_texts = st.one_of(
    st.sampled_from(
        [
            "",
            "127.0.0.1:9",
            "ftp://127.0.0.1/",
            "http://",
            "http:///path",
            "file:///etc/passwd",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:port/",
            "http://user:secret@127.0.0.1/",
            "http://127.0.0.1/a b",
            "http://127.0.0.1/\x1b[2J",
            "javascript:alert(1)",
        ]
    ),
    st.text(max_size=20).filter(lambda t: "://" not in t),
)
bad_urls = st.one_of(not_strings, bad_url_texts)
bad_namespaces = st.sampled_from(["", "Off", "off_grid", "-a", "a-", "a" * 64, "a.b", "ñ", "a\nb"])
bad_env_names = st.sampled_from(["", "1A", "MY TOKEN", "A-B", "A=B", "$A", "Ä"])
# every key, and values of the wrong kind for it
WRONG: dict[str, st.SearchStrategy[Any]] = {
    "description": st.one_of(
        st.booleans(), st.integers(), st.lists(st.text(max_size=3), max_size=2), st.none()
    ),
    "platform": st.one_of(
        not_strings, st.text(max_size=12).filter(lambda t: t not in ("docker", "kubernetes", "none"))
    ),
    "base_url": bad_urls,
    "metrics_url": bad_urls,
    "prometheus_url": bad_urls,
    "alertmanager_url": bad_urls,
    "alert_receiver_url": bad_urls,
    "kube_context": st.one_of(not_strings, st.sampled_from(["", " ", "\t"])),
    "kubeconfig": st.one_of(not_strings, st.sampled_from(["", "  "])),
    "namespace": st.one_of(not_strings, bad_namespaces),
    "token_env": st.one_of(not_strings, bad_env_names),
    "allow_chaos": st.one_of(slips, st.integers(), st.none(), st.lists(st.booleans(), max_size=2)),
    "allow_writes": st.one_of(slips, st.integers(), st.none(), st.lists(st.booleans(), max_size=2)),
    "identity": st.one_of(not_strings, st.text(max_size=5)),
}
WRONG_IDENTITY: dict[str, st.SearchStrategy[Any]] = {
    "kind_cluster": st.one_of(not_strings, st.just("")),
    "api_server": st.one_of(not_strings, st.sampled_from(["remote", "", "127.0.0.1:6443", "ftp://x"])),
    "nodes": st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=5),
        st.lists(st.integers(), min_size=1, max_size=2),
    ),
    "docker_host": st.one_of(
        not_strings,
        st.sampled_from(
            ["/var/run/docker.sock", "unix://relative", "tcp://127.0.0.1", "http://127.0.0.1:2375", ""]
        ),
    ),
    "stack_label": st.one_of(not_strings, st.just("")),
}
unknown_keys = st.text(min_size=1, max_size=15).filter(lambda k: k not in VALID and k != "<<")


# -- rendering: JSON is YAML flow syntax, so each value reads back as the very value ------------------------
def render(profiles: dict[str, Any], extra_lines: tuple[str, ...] = ()) -> str:
    lines = ["targets:"]
    for name, profile in profiles.items():
        if not isinstance(profile, dict):
            lines.append(f"  {json.dumps(name)}: {json.dumps(profile)}")
            continue
        lines.append(f"  {json.dumps(name)}:")
        lines += [f"    {json.dumps(key)}: {json.dumps(value)}" for key, value in profile.items()]
    return "\n".join([*lines, *extra_lines]) + "\n"


@st.composite
def malformed_files(draw: st.DrawFn) -> bytes:
    """A targets file that is wrong in one way, chosen at random."""
    profile = {**draw(valid_profiles), **BASE}
    kind = draw(st.integers(0, 11))
    if kind == 0:  # a value of the wrong kind
        key = draw(st.sampled_from(sorted(WRONG)))
        return render({NAME: {**profile, key: draw(WRONG[key])}}).encode()
    if kind == 1:  # a wrong value inside the identity
        key = draw(st.sampled_from(sorted(WRONG_IDENTITY)))
        identity = {**draw(identities), key: draw(WRONG_IDENTITY[key])}
        return render({NAME: {**profile, "identity": identity}}).encode()
    if kind == 2:  # an unknown key in the profile or in its identity
        key = draw(unknown_keys)
        if draw(st.booleans()):
            return render({NAME: {**profile, key: draw(st.text(max_size=5))}}).encode()
        unknown = key if key not in WRONG_IDENTITY else key + "_"
        return render({NAME: {**profile, "identity": {unknown: "x"}}}).encode()
    if kind == 3:  # a key written twice (YAML would silently keep the last)
        key = draw(st.sampled_from(sorted(profile)))
        return (render({NAME: profile}) + f"    {json.dumps(key)}: {json.dumps(profile[key])}\n").encode()
    if kind == 4:  # a profile written twice
        return (render({NAME: profile}) + render({NAME: profile}).removeprefix("targets:\n")).encode()
    if kind == 5:  # a profile that is not a mapping
        value = draw(st.one_of(not_strings, st.text(max_size=8), st.lists(st.text(max_size=3), max_size=3)))
        return render({NAME: value}).encode()
    if kind == 6:  # a required key missing
        key = draw(st.sampled_from(["platform", "base_url"]))
        return render({NAME: {k: v for k, v in profile.items() if k != key}}).encode()
    if kind == 7:  # not UTF-8
        text = render({NAME: profile}).encode()
        at = draw(st.integers(0, len(text)))
        return (
            text[:at]
            + draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xe2\x82", b"\x80"]))
            + text[at:]
        )
    if kind == 8:  # the top level
        top = draw(
            st.sampled_from(
                ["", "targets:\n", "targets: []\n", "targets: 3\n", "- targets\n", "3\n", "targets: {}\n"]
            )
        )
        extra = f"{json.dumps(draw(unknown_keys.filter(lambda k: k != 'targets')))}: 1\n"
        return (top if draw(st.booleans()) else render({NAME: profile}) + extra).encode()
    if kind == 9:  # broken YAML syntax
        broken = draw(st.sampled_from(["  [unclosed", "\t- tab", "  key: 'open", "  - item", "  {a: 1"]))
        return (render({NAME: profile}) + broken + "\n").encode()
    if kind == 10:  # a target name that is not plain characters
        name = draw(st.sampled_from(["", " ", "a b", "../x", "-x", "a/b", "a" * 64, "t\x1b[2J"]))
        return render({name: profile}).encode()
    # kind 11: a name that is not a string
    key = draw(st.sampled_from(["1", "true", "null", "[a]", "1.5"]))
    return render({NAME: profile}).replace(f"  {json.dumps(NAME)}:", f"  {key}:", 1).encode()


def assert_one_usage_line(code: int, out: str, err: str, *must_name: str) -> None:
    assert code == EXIT_USAGE, (err, *must_name)
    assert out == ""
    # "offgridflow-runbook: error:", or argparse's "offgridflow-runbook diagnose: error:" for a value
    # an option's own type refuses
    assert err.startswith("offgridflow-runbook"), err
    assert ": error: " in err.split("\n")[0], err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert printable(err[:-1], newlines=False) == err[:-1]  # no control character reaches the terminal
    for name in must_name:
        assert name in err


@examples(1500)
@given(content=malformed_files())
def test_every_malformed_targets_file_is_one_line_and_exit_64(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note(f"the file: {content!r}")
    path = tmp_path / "targets.yaml"
    path.write_bytes(content)
    code = main(["diagnose", "--target", NAME, "--targets-file", str(path)])
    captured = capsys.readouterr()
    assert_one_usage_line(code, captured.out, captured.err, str(path))


OVERRIDES = {option.dest: option.flag for option in TARGET_OPTIONS if option.dest in WRONG}
# what can be typed on a command line: the wrong strings of each key
WRONG_TEXT = {
    "base_url": bad_url_texts,
    "prometheus_url": bad_url_texts,
    "kube_context": st.sampled_from(["", " ", "\t"]),
    "kubeconfig": st.sampled_from(["", "  "]),
    "namespace": bad_namespaces,
    "token_env": bad_env_names,
}
wrong_overrides = st.sampled_from(sorted(OVERRIDES)).flatmap(
    lambda dest: st.tuples(st.just(dest), WRONG_TEXT[dest])
)


@examples(400)
@given(override=wrong_overrides)
def test_every_bad_override_is_one_line_and_exit_64(
    override: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest, value = override
    path = tmp_path / "targets.yaml"
    path.write_text(render({NAME: BASE}))
    # --flag=value: a value that starts with '-' is still the flag's
    # an empty value is refused by the option's own argparse type
    code = exit_code(
        ["diagnose", "--target", NAME, "--targets-file", str(path), f"{OVERRIDES[dest]}={value}"]
    )
    captured = capsys.readouterr()
    assert_one_usage_line(code, captured.out, captured.err, OVERRIDES[dest])


@examples(300)
@given(profiles=st.dictionaries(names, valid_profiles, min_size=1, max_size=3))
def test_every_well_formed_file_loads_as_written(profiles: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(render(profiles), encoding="utf-8")
    loaded = load_targets(path)
    assert set(loaded) == set(profiles)
    for name, profile in profiles.items():
        for key, value in profile.items():
            if key == "identity":
                seen = loaded[name].identity
                assert seen is not None
                for part, expected in value.items():
                    assert getattr(seen, part) == (tuple(expected) if part == "nodes" else expected)
            else:
                assert getattr(loaded[name], key) == value
    # and a target written back as its profile reads back as the very same target
    path.write_text(render({name: target.as_profile() for name, target in loaded.items()}), encoding="utf-8")
    assert load_targets(path) == loaded


# -- the pytest plugin reads the target through target_from_options, with config.getoption ----------------
def plugin_options(path: Path, **overrides: str) -> Callable[[str], Any]:
    given_options = {"target": NAME, "targets_file": str(path), **overrides}
    return lambda dest: given_options.get(dest)


@examples(800)
@given(content=malformed_files(), override=st.one_of(st.none(), wrong_overrides))
def test_the_plugins_target_loading_refuses_the_same_in_one_line(
    content: bytes, override: tuple[str, str] | None, tmp_path: Path
) -> None:
    path = tmp_path / "targets.yaml"
    if override is None:
        path.write_bytes(content)
        options = plugin_options(path)
    else:  # a good file, a bad override
        path.write_text(render({NAME: BASE}))
        options = plugin_options(path, **{override[0]: override[1]})
    with pytest.raises(TargetError) as raised:
        target_from_options(options)
    message = str(raised.value)
    assert message == printable(message, newlines=False)  # one line, no control character
    assert (str(path) if override is None else OVERRIDES[override[0]]) in message
