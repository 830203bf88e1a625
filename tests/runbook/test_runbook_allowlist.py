"""The shapes drift may run: hostile runbook lines are refused with the reason, the runbook's own read
lines are accepted with the target-specific options taken out."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.runbook.allowlist import CURL_REFUSED, KUBECTL_REFUSED, NotReadOnly, read_only

API = "http://api.offgridflow.com"

# (line, a fragment of the reason it is refused)
HOSTILE: list[tuple[str, str]] = [
    # the examples
    (f"curl -XPOST {API}/v1/activities", "-X POST sends POST"),
    (f"curl -sXDELETE {API}/v1/activities/1", "-X DELETE sends DELETE"),
    (f"curl -o FILE {API}/health/live", "curl -o writes a file"),
    (f"curl -K FILE {API}/health/live", "curl -K reads its options from a file"),
    (f"curl {API}:8081/metrics | sort -o FILE", "sort -o writes a file"),
    ("kubectl --cache-dir get delete pod postgres-0", "kubectl --cache-dir writes files"),
    # combined short options, split and each judged
    (f"curl -sSfXPUT {API}/v1/activities/1", "-X PUT sends PUT"),
    (f"curl -sfo out {API}/health/live", "curl -o writes a file"),
    (f"curl -sSd x=1 {API}/v1/activities", "curl -d sends data"),
    (f"curl -Xget {API}/", "sends get"),  # methods are case-sensitive: not GET
    ("kubectl get pods -Aw", "kubectl -w never ends"),
    ("kubectl logs -pf deploy/offgridflow-api", "kubectl -f follows logs forever"),
    ("kubectl logs --follow deploy/offgridflow-api", "kubectl --follow never ends"),
    ("kubectl get pods -ojsonpath-file=/etc/passwd", "only the formats that print"),
    ("kubectl get pods -o=go-template-file=/x", "only the formats that print"),
    ("kubectl get pods -sX", "kubectl -s points kubectl at another cluster"),
    # long options, with = and quoted
    (f'curl "--output=x" {API}/health/live', "curl --output writes a file"),
    (f"curl '--data-binary' @/etc/passwd {API}/v1/activities", "curl --data-binary sends data"),
    (f"curl --request=POST {API}/v1/activities", "takes no --request=value"),
    (f"curl --request DELETE {API}/v1/activities/1", "--request DELETE sends DELETE"),
    (f"curl --upload-file x {API}/", "sends data"),
    (f"curl -F a=@/etc/passwd {API}/", "sends data"),
    (f"curl -T x {API}/", "sends data"),
    (f"curl -D headers.txt {API}/", "writes a file"),
    (f"curl -c jar {API}/", "writes a file"),
    (f"curl --trace-ascii t {API}/", "writes a file"),
    (f"curl --libcurl src.c {API}/", "writes a file"),
    (f"curl -w @fmt {API}/", "-w sets the status line"),
    (f"curl --config cfg {API}/", "reads its options from a file"),
    (f"curl -H @/etc/shadow {API}/", "reads headers from a file"),
    (f"curl -x http://proxy:3128 {API}/", "sends through a proxy"),
    (f"curl -L {API}/", "follows redirects"),
    (f"curl -k {API}/", "skips TLS verification"),
    (f"curl --outp x {API}/", "--outp is not on drift's allowlist"),  # abbreviations are unknown
    (f"curl {API}/a {API}/b", "2 URLs"),
    (f"curl {API}/v1/activities/[1-100]", "a URL pattern sends several requests"),
    (f"curl {API}/?token=$TOKEN", "credentials in the URL"),
    (f"curl -A $TOKEN {API}/", "$TOKEN outside a -H header"),
    ("curl file:///etc/passwd", "not an http(s) URL"),
    # environment prefixes, kubectl pointed elsewhere, other verbs
    ("KUBECONFIG=/x kubectl get pods", "environment assignment KUBECONFIG="),
    (f"http_proxy=http://evil:1 curl {API}/", "environment assignment http_proxy="),
    ("kubectl --kubeconfig=/x delete pod postgres-0", "kubectl --kubeconfig points kubectl at another"),
    ("kubectl --server https://evil get pods", "kubectl --server points kubectl at another"),
    ("kubectl --as system:admin get pods", "kubectl --as points kubectl at another"),
    ("kubectl -n offgridflow delete pod postgres-0", "kubectl delete is not a read-only command"),
    ("kubectl get delete pod postgres-0", "kubectl get delete: not a resource kind drift knows"),
    ("kubectl rollout undo deployment/offgridflow-api", "kubectl rollout undo is not"),
    ("kubectl rollout restart deployment/offgridflow-api", "kubectl rollout restart is not"),
    ("kubectl exec deploy/offgridflow-api -- pg_isready", "kubectl exec starts a process in a container"),
    ("kubectl get pods -- delete", "`--`"),
    ("kubectl plugin-thing get pods", "kubectl plugin-thing is not"),
    ("kubectl get pods --raw /api", "--raw is not on drift's allowlist"),
    ("kubectl get pods/../../x", "not a known kind/name"),
    ("kubectl wait pod --for=delete -l app=postgres", "only condition= or jsonpath="),
    ("kubectl rollout status pod/x", "not a known kind/name"),
    ("kubectl top deployments", "not a resource kind drift knows"),
    ("docker pull ghcr.io/your-org/offgridflow-api:latest", "drift runs only kubectl and curl"),
    ("watch -n 1 kubectl get pods", "watch with options"),
    # filters that write, run programs or read files
    ("kubectl get pods | xargs kubectl delete pod", "| xargs: writes files or runs programs"),
    (f"curl {API}/ | tee out.txt", "| tee: writes files or runs programs"),
    (f"curl {API}/ | awk '{{system(\"rm x\")}}'", "| awk: writes files or runs programs"),
    (f"curl {API}/ | sed -n w/tmp/x", "| sed: writes files or runs programs"),
    (f"curl {API}/ | sort --compress-program=sh", "sort --compress-program runs a program"),
    (f"curl {API}/ | uniq - out.txt", "| uniq takes no argument here; 2 given"),
    (f"curl {API}/ | grep x /etc/shadow", "| grep takes the pattern here; 2 given"),
    (f"curl {API}/ | grep -f patterns", "grep -f reads files"),
    (f"curl {API}/ | jq --rawfile a /etc/passwd .", "jq --rawfile reads files"),
    (f"curl {API}/ | jq -r '$ENV.HOME'", "jq: a filter reading the environment"),
    (f"curl {API}/ | tail -f", "tail -f never ends"),
    # the shell around the words
    (f"curl {API}/ > out.txt", "redirection"),
    (f"curl {API}/ >> out.txt", "redirection"),
    (f"curl {API}/ 2> err.txt", "redirection"),
    (f"curl {API}/ | grep x <(cat /etc/passwd)", "redirection"),
    (f"curl {API}/; kubectl delete pod postgres-0", "`;` runs a second command"),
    (f"curl {API}/ && kubectl delete pod postgres-0", "`&` / `&&`"),
    (f"curl {API}/ & kubectl delete pod postgres-0", "`&` / `&&`"),
    (f"curl {API}/ || kubectl delete pod postgres-0", "`||` runs a second command"),
    (f"curl {API}/`rm -rf x`", "command substitution"),
    (f"curl {API}/$(rm -rf x)", "command substitution"),
    (f'curl "{API}/$(rm -rf x)"', "command substitution"),
    (f"curl {API}/$HOME", "shell variable"),
    (f"curl {API}/${{TOKEN}}", "shell variable"),
    (f"(curl {API}/)", "a subshell"),
    (f"curl {API}/ |", "an empty command in the pipeline"),
    (f"curl '{API}/", "cannot read the line"),
]


@pytest.mark.parametrize(("line", "reason"), HOSTILE, ids=[line for line, _ in HOSTILE])
def test_a_hostile_line_is_refused_with_its_reason(line: str, reason: str) -> None:
    with pytest.raises(NotReadOnly) as refused:
        read_only(line)
    assert reason in str(refused.value)


# (line, argv drift builds on, filters)
ALLOWED: list[tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]] = [
    (
        "kubectl get pods -n offgridflow -l app=offgridflow-api",
        ("kubectl", "get", "pods", "-l", "app=offgridflow-api"),
        (),
    ),
    (  # pflag's forms: -n=x, -oyaml, --context dropped for the target's
        "kubectl -n=offgridflow --context prod get secret offgridflow-secrets -oyaml",
        ("kubectl", "get", "secret", "offgridflow-secrets", "-o", "yaml"),
        (),
    ),
    (
        "kubectl logs -n offgridflow -l app=offgridflow-api --tail=100 --previous",
        ("kubectl", "logs", "-l", "app=offgridflow-api", "--tail=100", "--previous"),
        (),
    ),
    (
        "kubectl rollout status deployment/offgridflow-api -n offgridflow --timeout=300s",
        ("kubectl", "rollout", "status", "deployment/offgridflow-api"),
        (),
    ),
    (
        "watch kubectl top pods -n offgridflow -l app=offgridflow-api",
        ("kubectl", "top", "pods", "-l", "app=offgridflow-api"),
        (),
    ),
    (
        "kubectl get pods -o 'jsonpath={.items[*].metadata.name}'",
        ("kubectl", "get", "pods", "-o", "jsonpath={.items[*].metadata.name}"),
        (),
    ),
    (
        f"curl -sSf -H 'Accept: application/json' {API}/health/ready | jq -r .status | grep -c healthy",
        ("curl", "-s", "-S", "-f", "-H", "Accept: application/json", f"{API}/health/ready"),
        (("jq", "-r", ".status"), ("grep", "-c", "healthy")),
    ),
    (f"curl -m 3 -X GET {API}/health/live", ("curl", "-X", "GET", f"{API}/health/live"), ()),
    (  # a quoted | or || is part of the pattern, not a pipe
        f"curl {API}/metrics | grep -E 'http_requests_total|process_||x'",
        ("curl", f"{API}/metrics"),
        (("grep", "-E", "http_requests_total|process_||x"),),
    ),
]


@pytest.mark.parametrize(("line", "argv", "filters"), ALLOWED, ids=[line for line, _, _ in ALLOWED])
def test_a_read_line_keeps_its_words_without_the_targets_options(
    line: str, argv: tuple[str, ...], filters: tuple[tuple[str, ...], ...]
) -> None:
    shape = read_only(line)
    assert (shape.argv, shape.filters) == (argv, filters)


def test_a_header_naming_the_token_is_kept_apart_from_the_argv() -> None:
    shape = read_only(f'curl -H "Authorization: Bearer $TOKEN" {API}/v1/activities?limit=1')
    assert shape.token_headers == ("Authorization: Bearer $TOKEN",)
    assert shape.argv == ("curl", f"{API}/v1/activities?limit=1")
    assert (shape.verb, shape.url) == ("GET", f"{API}/v1/activities?limit=1")


def test_head_is_read_only_but_named() -> None:
    assert read_only(f"curl -I {API}/health/live").verb == "HEAD"
    assert read_only(f"curl -sX HEAD {API}/health/live").verb == "HEAD"


def test_the_runbook_changing_lines_are_refused_and_its_read_lines_accepted() -> None:
    accepted, refused = [], []
    for command in load_runbook().commands:
        try:
            read_only(command.text)
            accepted.append(command.line)
        except NotReadOnly:
            refused.append(command.line)
    # Quick Fix, Fix 1 (twice), 2, 3, 4 change the system; Triage 2B's exec starts a process
    assert refused == [59, 92, 108, 114, 124, 155, 168, 171]
    assert len(accepted) == 25


# -- any refused option, anywhere, in any spelling, refuses a line that was accepted -------------------
def _accepted(program: str) -> list[str]:
    lines = []
    for command in load_runbook().commands:
        try:
            shape = read_only(command.text)
        except NotReadOnly:
            continue
        if shape.program == program and not shape.filters:
            lines.append(command.text.removeprefix("watch "))
    return lines


def _spellings(program: str, option: str, value: str) -> list[list[str]]:
    """The ways ``program`` would read ``option`` with ``value`` (drift must refuse each)."""
    if option.startswith("--"):
        forms = [[option, value]]
        if program == "kubectl":
            forms.append([f"{option}={value}"])
        return forms
    forms = [[option, value], [option + value]]
    # behind a short option that takes no value, as one word (-sXDELETE, -Aw)
    harmless = "-s" if program == "curl" else "-A"
    forms.append([harmless + option[1:], value])
    forms.append([harmless + option[1:] + value])
    return forms


@st.composite
def spoiled(draw: st.DrawFn) -> tuple[str, list[str]]:
    program = draw(st.sampled_from(["curl", "kubectl"]))
    line = draw(st.sampled_from(_accepted(program)))
    refused = CURL_REFUSED if program == "curl" else KUBECTL_REFUSED
    option = draw(st.sampled_from(sorted(refused)))
    value = draw(st.sampled_from(["x", "/tmp/out", "DELETE", "get"]))
    words = draw(st.sampled_from(_spellings(program, option, value)))
    program_word, *rest = line.split()
    at = draw(st.sampled_from([0, len(rest)]))  # right after the program, or at the end
    return line, [program_word, *rest[:at], *words, *rest[at:]]


@settings(max_examples=300, deadline=None)
@given(spoiled())
def test_a_refused_option_in_any_spelling_or_place_refuses_the_line(case: tuple[str, list[str]]) -> None:
    _, words = case
    with pytest.raises(NotReadOnly):
        read_only(shlex.join(words))
