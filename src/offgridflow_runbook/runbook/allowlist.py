"""The command lines ``drift`` may run: an allowlist of exact read-only shapes, judged on the words
``shlex`` gives (drift runs no shell).

A line is run only when every part of it is on the list:

- ``kubectl get | describe | logs | top | rollout status | rollout history | wait`` with resource
  kinds from :data:`KUBECTL_KINDS`, names that are plain Kubernetes names, and the options of
  :data:`KUBECTL_OPTIONS` for that verb (``-o`` only in a format that prints). The target's namespace,
  context and kubeconfig replace the line's own (``-n``, ``--context``), and drift sets the timeouts.
- ``curl`` sending GET (or HEAD) to one ``http(s)`` URL, with the options of :data:`CURL_OPTIONS`:
  nothing that sends data, writes or reads a file, or goes through a proxy. ``$TOKEN`` only in a
  ``-H`` header, which drift hands to curl on its standard input, never on its command line.
- after ``|``, only filters that write nothing: :data:`FILTER_OPTIONS` (``grep``, ``head``, ``tail``,
  ``wc``, ``sort``, ``uniq``, ``cut``, ``jq``) with their known options and no file arguments.
- ``watch`` before a command: drift runs the command once.

No redirection, ``;``, ``&``, ``&&``, ``||``, subshells, command substitution, variables other than
``$TOKEN`` or ``NAME=value`` prefixes. Anything else raises :class:`NotReadOnly` with the reason, and
drift reports the line ``not run``. Options are parsed as the programs parse them: combined short
options (``-sXDELETE``) are split and each judged, ``--option=value`` is the option with its value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "CURL_OPTIONS",
    "CURL_REFUSED",
    "FILTER_OPTIONS",
    "KUBECTL_KINDS",
    "KUBECTL_OPTIONS",
    "KUBECTL_REFUSED",
    "TOKEN_VARIABLE",
    "NotReadOnly",
    "ReadOnly",
    "read_only",
]

TOKEN_VARIABLE = "$TOKEN"


class NotReadOnly(ValueError):
    """The line is not one of the shapes drift may run; the message says why."""


@dataclass(frozen=True)
class ReadOnly:
    """A line drift may run. ``argv`` is the command itself without ``watch`` and without the options
    drift sets for the target (kubectl: ``-n``, ``--context``, timeouts; curl: ``--max-time`` and the
    headers that hold ``$TOKEN``, which are in ``token_headers``); ``filters`` the ``|`` segments."""

    program: str  # "kubectl" or "curl"
    argv: tuple[str, ...]
    filters: tuple[tuple[str, ...], ...] = ()
    verb: str = ""  # kubectl: "get", "rollout status"...; curl: the method
    url: str = ""  # curl: the one URL
    token_headers: tuple[str, ...] = ()  # curl: -H values naming $TOKEN


# -- option grammar ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """The options a program may be given: name -> how many values it takes (0, 1 or 2), and names
    known to be unsafe with the reason (a clearer line than "not on the allowlist")."""

    takes: Mapping[str, int]
    refused: Mapping[str, str]
    # pflag (kubectl) reads "-n=x" as "-n x"; getopt and curl keep the "="
    short_equals: bool = False
    # curl has no "--option=value"
    long_equals: bool = True


Option = tuple[str, tuple[str, ...], list[str]]  # name, its values, the words it was written as


def _options(program: str, args: list[str], spec: Spec) -> tuple[list[Option], list[tuple[int, str]]]:
    """(options, positionals with their index in ``args``), parsed as ``program`` parses them."""
    options: list[Option] = []
    positionals: list[tuple[int, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "-" or not arg.startswith("-"):
            positionals.append((i - 1, arg))
            continue
        if arg == "--":
            raise NotReadOnly(f"{program}: `--` (what follows would go to another program)")
        if arg.startswith("--"):
            name, equals, inline = arg.partition("=")
            _refuse(program, name, spec)
            if equals and not spec.long_equals:
                raise NotReadOnly(f"{program} takes no {name}=value (it would not read {arg!r} as meant)")
            takes = spec.takes[name]
            values: list[str] = [inline] if equals else []
            if equals and takes == 0 and inline not in ("true", "false"):
                raise NotReadOnly(f"{program} {name} takes no value, not {inline!r}")
            if takes and not equals:
                values, i = args[i : i + takes], i + takes
            elif takes > 1:
                values, i = [inline, *args[i : i + takes - 1]], i + takes - 1
            if takes and len(values) < takes:
                raise NotReadOnly(f"{program} {name} needs a value")
            written = [arg, *values[1:]] if equals else [arg, *values]
            options.append((name, tuple(values), written))
            continue
        # short options, possibly combined: -sS, -sXDELETE, -A5, -n=ns (pflag)
        letters = arg[1:]
        while letters:
            name, letters = "-" + letters[0], letters[1:]
            _refuse(program, name, spec)
            takes = spec.takes[name]
            if not takes:
                options.append((name, (), [name]))
                continue
            if spec.short_equals:
                letters = letters.removeprefix("=")
            if letters:
                values, letters = [letters, *args[i : i + takes - 1]], ""
                i += takes - 1
            else:
                values, i = args[i : i + takes], i + takes
            if len(values) < takes:
                raise NotReadOnly(f"{program} {name} needs a value")
            options.append((name, tuple(values), [name, *values]))
    return options, positionals


def _refuse(program: str, name: str, spec: Spec) -> None:
    if name in spec.refused:
        raise NotReadOnly(f"{program} {name} {spec.refused[name]}")
    if name not in spec.takes:
        raise NotReadOnly(f"{program} option {name} is not on drift's allowlist")


def _table(*groups: tuple[int, str]) -> dict[str, int]:
    """``(arity, "-a --all -b")`` groups -> {name: arity}."""
    return {name: takes for takes, names in groups for name in names.split()}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _reasons(*groups: tuple[str, str]) -> dict[str, str]:
    return {name: reason for reason, names in groups for name in names.split()}


# -- the shell around the words ------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$(\{?)([A-Za-z_][A-Za-z0-9_]*)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _shell_problem(text: str) -> str | None:
    """What in ``text`` a shell would treat as more than words and ``|`` (None: nothing). Quotes are
    followed as a shell follows them: inside single quotes nothing is special, inside double quotes
    ``$`` and backticks still are."""
    quote = ""
    i = 0
    while i < len(text):
        char, rest = text[i], text[i:]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            i += 1  # the next character is taken literally
        elif char == "`" or rest.startswith("$("):
            return "command substitution"
        elif char == "$":
            match = _VARIABLE.match(rest)
            if not (match and match.group(2) == "TOKEN" and not match.group(1)):
                return f"shell variable {rest.split()[0]!r} (drift runs no shell; only $TOKEN is known)"
        elif quote == '"':
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char in "<>":
            return "redirection (`<`, `>`, `>>`, `2>`, `<(...)`) reads or writes files"
        elif char == ";":
            return "`;` runs a second command"
        elif char == "&":
            return "`&` / `&&` runs a second command or a background job"
        elif rest.startswith("||"):
            return "`||` runs a second command"
        elif rest.startswith("|&"):
            return "`|&` (stderr into the pipe)"
        elif char in "()":
            return "a subshell or grouping `( )`"
        i += 1
    return None


def _segments(text: str) -> list[list[str]]:
    problem = _shell_problem(text)
    if problem:
        raise NotReadOnly(problem)
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    lexer.commenters = ""  # a `#` is part of a word: drift judges every word it would run
    try:
        words = list(lexer)
    except ValueError as error:
        raise NotReadOnly(f"cannot read the line: {error}") from None
    segments: list[list[str]] = [[]]
    for word in words:
        if word == "|":
            segments.append([])
        else:
            segments[-1].append(word)
    if any(not segment for segment in segments):
        raise NotReadOnly("an empty command in the pipeline")
    for segment in segments:
        if _ASSIGNMENT.match(segment[0]):
            raise NotReadOnly(f"environment assignment {segment[0].split('=')[0]}=... changes the program")
    return segments


# -- kubectl -------------------------------------------------------------------------------------------
KUBECTL_KINDS = _words(
    """pods pod po deployments deployment deploy statefulsets statefulset sts replicasets replicaset rs
    daemonsets daemonset ds services service svc endpoints ep endpointslices endpointslice
    ingresses ingress ing events event ev configmaps configmap cm secrets secret nodes node no
    namespaces namespace ns jobs job cronjobs cronjob cj persistentvolumeclaims persistentvolumeclaim
    pvc horizontalpodautoscalers horizontalpodautoscaler hpa poddisruptionbudgets poddisruptionbudget
    pdb"""
)
_ROLLOUT_KINDS = _words("deployments deployment deploy statefulsets statefulset sts daemonsets daemonset ds")
_TOP_KINDS = _words("pods pod po nodes node no")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# -o formats that print; the *-file ones read a local file
_OUTPUTS = frozenset({"wide", "yaml", "json", "name"})
_OUTPUT_PREFIXES = ("jsonpath=", "jsonpath-as-json=", "custom-columns=")
# options drift drops because it sets them for the target
KUBECTL_TARGET_OPTIONS = frozenset({"-n", "--namespace", "--context", "--request-timeout", "--timeout"})

_KUBECTL_COMMON = ((1, "-n --namespace --context --request-timeout -l --selector"),)
KUBECTL_OPTIONS: dict[str, dict[str, int]] = {
    "get": _table(
        *_KUBECTL_COMMON,
        (0, "-A --all-namespaces --show-labels --no-headers --ignore-not-found --show-kind"),
        (1, "-o --output --sort-by --field-selector -L --label-columns --chunk-size"),
    ),
    "describe": _table(*_KUBECTL_COMMON, (0, "-A --all-namespaces --show-events"), (1, "--chunk-size")),
    "logs": _table(
        *_KUBECTL_COMMON,
        (0, "-p --previous --all-containers --timestamps --prefix --ignore-errors"),
        (1, "--tail -c --container --since --since-time --limit-bytes --max-log-requests"),
    ),
    "top": _table(
        *_KUBECTL_COMMON, (0, "-A --all-namespaces --containers --no-headers --sum"), (1, "--sort-by")
    ),
    "rollout status": _table(*_KUBECTL_COMMON, (1, "--timeout --revision")),
    "rollout history": _table(*_KUBECTL_COMMON, (1, "--revision -o --output")),
    "wait": _table(*_KUBECTL_COMMON, (0, "--all"), (1, "--for --timeout")),
}
KUBECTL_REFUSED = _reasons(
    ("never ends (drift runs each command once)", "-w --watch --watch-only --follow"),
    ("follows logs forever (--follow) or reads manifests from a file (--filename)", "-f"),
    (
        "points kubectl at another cluster or identity than the target's",
        "--kubeconfig --cluster --user -s --server --token --as --as-group --as-uid --username --password",
    ),
    ("writes files", "--cache-dir --log-file --profile-output --log-dir"),
    ("skips TLS verification", "--insecure-skip-tls-verify"),
    ("reads local files", "--filename -k --kustomize --template"),
)

_KUBECTL_VERBS_REFUSED = _reasons(
    (
        "starts a process in a container (RBAC: create pods/exec), which is not reading",
        "exec attach debug cp port-forward proxy run",
    ),
)
_ANY_KUBECTL = Spec(
    {name: takes for table in KUBECTL_OPTIONS.values() for name, takes in table.items()},
    KUBECTL_REFUSED,
    short_equals=True,
)


def _kubectl(args: list[str]) -> ReadOnly:
    # The verb is the first word that is neither an option nor an option's value: found by parsing
    # with every verb's options (one arity each), so an unknown option before the verb
    # (`kubectl --cache-dir get delete pod x`) is refused before it can hide the verb.
    # (what follows `--` goes to a container's process or a plugin: never part of the verb)
    head = args[: args.index("--")] if "--" in args else args
    _, words = _options("kubectl", head, _ANY_KUBECTL)
    verb_words = words[:2] if words and words[0][1] == "rollout" else words[:1]
    verb = " ".join(word for _, word in verb_words)
    if not verb:
        raise NotReadOnly("kubectl without a command")
    if verb not in KUBECTL_OPTIONS:
        why = _KUBECTL_VERBS_REFUSED.get(verb, "is not a read-only command drift knows")
        raise NotReadOnly(f"kubectl {verb} {why}")
    at = {index for index, _ in verb_words}
    rest = [arg for index, arg in enumerate(args) if index not in at]
    options, nouns = _options(
        "kubectl", rest, Spec(KUBECTL_OPTIONS[verb], KUBECTL_REFUSED, short_equals=True)
    )
    for name, values, _ in options:
        _kubectl_value(name, values)
    positionals = [word for _, word in nouns]
    _kubectl_resources(verb, positionals)
    kept = [word for name, _, written in options if name not in KUBECTL_TARGET_OPTIONS for word in written]
    return ReadOnly("kubectl", ("kubectl", *verb.split(), *positionals, *kept), verb=verb)


def _kubectl_value(name: str, values: tuple[str, ...]) -> None:
    value = values[0] if values else ""
    if name in ("-o", "--output") and not (value in _OUTPUTS or value.startswith(_OUTPUT_PREFIXES)):
        raise NotReadOnly(
            f"kubectl -o {value}: only the formats that print ({', '.join(sorted(_OUTPUTS))}, jsonpath=...)"
        )
    if name == "--for" and not value.startswith(("condition=", "jsonpath=")):
        raise NotReadOnly(f"kubectl wait --for={value}: only condition= or jsonpath=")
    if name in (
        "--tail",
        "--chunk-size",
        "--limit-bytes",
        "--max-log-requests",
        "--revision",
    ) and not re.fullmatch(r"-?\d+", value):
        raise NotReadOnly(f"kubectl {name} {value!r}: a number")


def _kubectl_resources(verb: str, positionals: list[str]) -> None:
    """The nouns: a kind (or kinds), then names; or kind/name. ``logs`` also takes a pod name."""
    if not positionals:
        if verb == "logs":
            return  # -l chooses the pods
        raise NotReadOnly(f"kubectl {verb} without a resource kind")
    first, names = positionals[0], positionals[1:]
    kinds_allowed = (
        _ROLLOUT_KINDS if verb.startswith("rollout") else _TOP_KINDS if verb == "top" else KUBECTL_KINDS
    )
    kind, slash, name = first.partition("/")
    if slash:
        if kind not in kinds_allowed or not _NAME.match(name):
            raise NotReadOnly(f"kubectl {verb} {first}: not a known kind/name")
    elif verb == "logs":
        if not _NAME.match(first):
            raise NotReadOnly(f"kubectl logs {first}: not a pod name")
    elif not all(k in kinds_allowed for k in first.split(",")):
        raise NotReadOnly(f"kubectl {verb} {first}: not a resource kind drift knows")
    for extra in names:
        if not _NAME.match(extra):
            raise NotReadOnly(f"kubectl {verb} {extra!r}: not a resource name")


# -- curl ----------------------------------------------------------------------------------------------
CURL_OPTIONS = _table(
    (
        0,
        "-s --silent -S --show-error -f --fail --fail-with-body -i --include -I --head -g --globoff "
        "--compressed --http1.1 --http2 -4 --ipv4 -6 --ipv6",
    ),
    (1, "-H --header -X --request -A --user-agent -m --max-time --connect-timeout"),
)
CURL_REFUSED = _reasons(
    (
        "sends data",
        "-d --data --data-ascii --data-binary --data-raw --data-urlencode --json -F --form --form-string "
        "-T --upload-file -G --get",
    ),
    (
        "writes a file",
        "-o --output -O --remote-name --remote-name-all -J --remote-header-name -D --dump-header "
        "-c --cookie-jar --trace --trace-ascii --libcurl --stderr --output-dir --create-dirs --etag-save "
        "--hsts --alt-svc",
    ),
    ("reads its options from a file", "-K --config"),
    ("reads cookies from a file", "-b --cookie"),
    ("sets the status line drift reads itself (and -w @file reads a file)", "-w --write-out"),
    ("sends through a proxy", "-x --proxy --socks4 --socks5 --preproxy"),
    ("puts credentials on the command line", "-u --user -E --cert --oauth2-bearer"),
    ("skips TLS verification", "-k --insecure"),
    ("follows redirects to hosts other than the target's", "-L --location --location-trusted"),
    ("sends more than one request", "-: --next -Z --parallel --retry"),
    ("names the URL in an option: give it as the argument", "--url"),
)
CURL_METHODS = frozenset({"GET", "HEAD"})
# curl options drift sets itself
CURL_TARGET_OPTIONS = frozenset({"-m", "--max-time"})
_CURL = Spec(CURL_OPTIONS, CURL_REFUSED, long_equals=False)


def _curl(args: list[str]) -> ReadOnly:
    options, positionals = _options("curl", args, _CURL)
    method = "GET"
    kept: list[str] = []
    token_headers: list[str] = []
    for name, values, written in options:
        value = values[0] if values else ""
        if name in ("-X", "--request"):
            # methods are case-sensitive: `-X get` sends "get", which is not GET
            if value not in CURL_METHODS:
                raise NotReadOnly(f"curl {name} {value} sends {value} (drift sends GET or HEAD)")
            method = value
        elif name in ("-I", "--head"):
            method = "HEAD"
        elif name in ("-H", "--header"):
            if value.startswith("@"):
                raise NotReadOnly(f"curl {name} {value} reads headers from a file")
            if TOKEN_VARIABLE in value:
                token_headers.append(value)
                continue
        if TOKEN_VARIABLE in value:
            raise NotReadOnly(f"curl {name}: $TOKEN outside a -H header would be on the command line")
        if name not in CURL_TARGET_OPTIONS:
            kept.extend(written)
    urls = [word for _, word in positionals]
    if len(urls) != 1:
        raise NotReadOnly(f"curl with {len(urls)} URLs (drift sends one request)")
    url = urls[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotReadOnly(f"curl {url}: not an http(s) URL")
    if "@" in parts.netloc or TOKEN_VARIABLE in url:
        raise NotReadOnly(f"curl {url}: credentials in the URL would be on the command line")
    if set("[]{}") & set(url):
        raise NotReadOnly(f"curl {url}: a URL pattern sends several requests")
    return ReadOnly("curl", ("curl", *kept, url), verb=method, url=url, token_headers=tuple(token_headers))


# -- filters -------------------------------------------------------------------------------------------
_NOT_A_FILTER = "writes files or runs programs"
FILTER_OPTIONS: dict[str, Spec] = {
    "grep": Spec(
        _table(
            (
                0,
                "-i --ignore-case -v --invert-match -c --count -E --extended-regexp -F --fixed-strings "
                "-w --word-regexp -x --line-regexp -n --line-number -o --only-matching -s --no-messages "
                "-q --quiet",
            ),
            (1, "-A --after-context -B --before-context -C --context -m --max-count -e --regexp"),
        ),
        _reasons(("reads files", "-f --file -r --recursive -R --dereference-recursive")),
    ),
    "head": Spec(_table((1, "-n --lines -c --bytes")), {}),
    "tail": Spec(
        _table((1, "-n --lines -c --bytes")),
        _reasons(("never ends (drift runs each command once)", "-f --follow -F")),
    ),
    "wc": Spec(_table((0, "-l --lines -c --bytes -w --words -m --chars -L --max-line-length")), {}),
    "sort": Spec(
        _table(
            (
                0,
                "-r --reverse -n --numeric-sort -u --unique -h --human-numeric-sort -V --version-sort "
                "-f --ignore-case -b --ignore-leading-blanks -s --stable",
            ),
            (1, "-k --key -t --field-separator"),
        ),
        _reasons(
            ("writes a file", "-o --output -T --temporary-directory"),
            ("runs a program", "--compress-program"),
            ("reads files", "--files0-from"),
        ),
    ),
    "uniq": Spec(_table((0, "-c --count -d --repeated -u --unique -i --ignore-case"), (1, "-f -s")), {}),
    "cut": Spec(_table((0, "-s --only-delimited --complement"), (1, "-d --delimiter -f --fields -c -b")), {}),
    "jq": Spec(
        _table(
            (
                0,
                "-r --raw-output -c --compact-output -e --exit-status -S --sort-keys -j --join-output "
                "-a --ascii-output -M --monochrome-output --tab",
            ),
            (1, "--indent"),
            (2, "--arg --argjson"),
        ),
        _reasons(
            ("reads files", "-f --from-file --rawfile --slurpfile -L"),
        ),
    ),
}
_JQ_ENVIRONMENT = re.compile(r"\$ENV\b|\benv\b")
_ONE_ARGUMENT = {"grep": "the pattern", "jq": "the filter"}


def _filter(segment: list[str]) -> tuple[str, ...]:
    program, args = segment[0], segment[1:]
    if program not in FILTER_OPTIONS:
        reason = (
            _NOT_A_FILTER
            if program in ("tee", "xargs", "awk", "sed", "sh", "bash", "env")
            else "not a known filter"
        )
        raise NotReadOnly(f"| {program}: {reason} (filters: {', '.join(sorted(FILTER_OPTIONS))})")
    options, positionals = _options(program, args, FILTER_OPTIONS[program])
    if program == "jq" and any(_JQ_ENVIRONMENT.search(word) for _, word in positionals):
        raise NotReadOnly("| jq: a filter reading the environment (where the token is)")
    allowed = (
        1 if program in _ONE_ARGUMENT and not any(name in ("-e", "--regexp") for name, _, _ in options) else 0
    )
    if len(positionals) != allowed:
        what = _ONE_ARGUMENT.get(program, "no argument")
        raise NotReadOnly(
            f"| {program} takes {what if allowed else 'no argument'} here; "
            f"{len(positionals)} given (a file argument reads or writes a file)"
        )
    return tuple(segment)


# -- a line --------------------------------------------------------------------------------------------
def read_only(text: str) -> ReadOnly:
    """The shape of ``text`` if drift may run it; raises :class:`NotReadOnly` with the reason."""
    first, *rest = _segments(text)
    if first[0] == "watch":
        if len(first) < 2 or first[1].startswith("-"):
            raise NotReadOnly("watch with options (drift runs the command once, as `watch CMD`)")
        first = first[1:]
    program, args = first[0], first[1:]
    if program == "kubectl":
        shape = _kubectl(args)
    elif program == "curl":
        shape = _curl(args)
    else:
        raise NotReadOnly(f"{program}: drift runs only kubectl and curl read commands")
    filters = tuple(_filter(segment) for segment in rest)
    return ReadOnly(shape.program, shape.argv, filters, shape.verb, shape.url, shape.token_headers)
