"""The runbook as a model: its steps, their commands (with line numbers), budgets, SLA and alerts.

:func:`parse_runbook` reads the Markdown runbook (``docs/runbooks/offgridflow-api-down.md``) into a
:class:`Runbook`. The steps are those of its three procedures:

- ``## Triage``: ``### 1. Confirm the Issue (2 minutes)`` is step ``Triage 1``; under
  ``### 2. ...`` each ``#### A. Pod Crash Loop`` is ``Triage 2A``;
- ``## Resolution Steps``: each ``### Quick Fix (...)`` / ``### Fix 1: ...`` heading is a step named by
  the text before ``:`` or ``(``;
- ``## Verification (3 minutes)``: one ``bash`` block whose ``# 1. Check pod health`` comments start
  ``Verification 1``..``5``; ``# Expected: ...`` and ``# Verify: ...`` lines are the expected shapes.

Every fenced ``bash`` block is read into commands (backslash continuations and quotes spanning lines
joined), each classified read-only or changing by :func:`classify` (anything it does not know is
changing, so nothing unknown is ever executed against a target). A runbook the parser cannot read
raises :class:`RunbookError` naming the file and line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

# defined beside the parser (see .location) and still importable from here
from offgridflow_runbook.files import read_user_text
from offgridflow_runbook.runbook.location import RUNBOOK_ENV, RunbookError, runbook_path

__all__ = [
    "ERROR_RATE_STEP",
    "RUNBOOK_ENV",
    "Command",
    "Runbook",
    "RunbookError",
    "Step",
    "classify",
    "load_runbook",
    "parse_runbook",
    "runbook_path",
]

_FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BUDGET = re.compile(r"\((?:[^()]*?-\s*)?(\d+)\s+minutes?\)\s*$")
_ALERT = re.compile(r"^\*\*Alert Name\*\*:\s*`([^`]+)`")
_SLA = re.compile(r"\*\*SLA Impact\*\*:.*?after\s+(\d+)\s+minutes?", re.IGNORECASE)
_RELATED = re.compile(r"^-\s+`([A-Za-z][\w]*)`")
_TRIAGE_STEP = re.compile(r"^(\d+)\.\s+(.*)$")
_TRIAGE_CAUSE = re.compile(r"^([A-Z])\.\s+(.*)$")
_FIX_STEP = re.compile(r"^(Quick Fix|Fix\s+\d+)\b\s*[:(]?\s*(.*?)\)?$")
_VERIFICATION_ITEM = re.compile(r"^#\s*(\d+)\.\s+(.*)$")
_EXPECTED = re.compile(r"^#\s*(?:Expected|Verify):\s*(.*)$")
# Verification 5's "# Verify: Error rate < 1%": the share of requests that may fail
_ERROR_RATE = re.compile(r"\berror rate\s*<\s*(\d+(?:\.\d+)?)\s*%", re.IGNORECASE)
ERROR_RATE_STEP = "Verification 5"

PROCEDURES = {"Triage": "triage", "Resolution Steps": "fix", "Verification": "verification"}


@dataclass(frozen=True)
class Command:
    """One command line of a runbook step, as written (continuations joined)."""

    step: str
    line: int
    text: str  # as written, backslash-newlines joined, whitespace collapsed
    pipeline: tuple[tuple[str, ...], ...]  # argv of each ``|`` segment
    read_only: bool
    why: str  # why it is (not) read-only
    comment: str = ""  # the comment line above it ("Check restart count")
    expected: tuple[str, ...] = ()  # "Expected:"/"Verify:" lines after it

    @property
    def argv(self) -> tuple[str, ...]:
        """The first segment of the pipeline (the command itself, before any filter)."""
        return self.pipeline[0]

    @property
    def program(self) -> str:
        """``kubectl``, ``curl``, ``docker``...; ``watch X`` is X."""
        argv = self.argv[1:] if self.argv[0] == "watch" else self.argv
        return argv[0]


@dataclass(frozen=True)
class Step:
    """A Triage check, a Fix or a Verification item."""

    id: str  # "Triage 1", "Triage 2A", "Quick Fix", "Fix 2", "Verification 3"
    title: str
    kind: str  # "triage", "fix" or "verification"
    line: int
    budget_s: float | None = None
    commands: tuple[Command, ...] = ()
    expected: tuple[str, ...] = ()  # Verification: "Expected:"/"Verify:" lines; manual notes
    notes: tuple[str, ...] = ()  # comment lines that are neither a command's title nor expected


@dataclass(frozen=True)
class Runbook:
    path: Path
    title: str
    alert: str
    alert_line: int
    sla_s: float
    steps: tuple[Step, ...]
    # budgets by procedure heading: "Triage 1", "Triage 2", "Quick Fix", "Verification"
    budgets_s: dict[str, float] = field(default_factory=dict)
    related_alerts: dict[str, int] = field(default_factory=dict)  # name -> line
    # commands in bash blocks outside the three procedures (none in the project's runbook)
    stray_commands: tuple[Command, ...] = ()

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"{self.path}: the runbook has no step {step_id!r}")

    @property
    def commands(self) -> tuple[Command, ...]:
        return tuple(command for step in self.steps for command in step.commands) + self.stray_commands

    @property
    def error_rate_limit(self) -> float:
        """The share of requests that may fail, from Verification 5's ``Error rate < N%`` (0.01 for
        1%): what the scorecard's error budget treats as the SLO (``1 - limit`` of requests succeed)."""
        step = self.step(ERROR_RATE_STEP)
        for line in step.expected:
            if match := _ERROR_RATE.search(line):
                return float(match.group(1)) / 100
        raise RunbookError(
            f"{self.path}:{step.line}: {ERROR_RATE_STEP} states no 'Error rate < N%' "
            "(it sets the error budget)"
        )

    def budget(self, heading: str) -> float:
        try:
            return self.budgets_s[heading]
        except KeyError:
            raise RunbookError(
                f"{self.path}: no time budget '(N minutes)' on the {heading} heading"
            ) from None


# -- read-only or changing ---------------------------------------------------------------------------
_KUBECTL_READ = frozenset({"get", "describe", "logs", "top", "explain", "api-resources", "version", "wait"})
_KUBECTL_ROLLOUT_READ = frozenset({"status", "history"})
_EXEC_READ = frozenset({"pg_isready"})
_FILTERS = frozenset({"grep", "head", "tail", "wc", "jq", "sort"})
_CURL_WRITE_OPTIONS = ("-d", "--data", "-F", "--form", "-T", "--upload-file", "--json")
_DOCKER_READ = frozenset({"ps", "inspect", "logs", "images", "version"})


def _positionals(argv: tuple[str, ...]) -> list[str]:
    """kubectl's verb and nouns: the arguments that are not options or their values."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg.startswith("-"):
            # -n X, -l X, -o X, -c X, -p X take a value; --x=y does not take the next one
            skip = arg in {"-n", "-l", "-o", "-c", "-p", "--namespace", "--selector", "--context", "--tail"}
        else:
            out.append(arg)
    return out


def _classify_one(argv: tuple[str, ...]) -> tuple[bool, str]:
    program = argv[0]
    if program == "watch":
        inner, _ = _classify_one(argv[1:]) if len(argv) > 1 else (False, "")
        return inner, "watch of a read-only command (run once)" if inner else "watch of a changing command"
    if program == "kubectl":
        words = _positionals(argv[1:])
        verb = words[0] if words else ""
        if verb in _KUBECTL_READ:
            return True, f"kubectl {verb} reads"
        if verb == "rollout" and len(words) > 1 and words[1] in _KUBECTL_ROLLOUT_READ:
            return True, f"kubectl rollout {words[1]} reads"
        if verb == "exec" and "--" in argv:
            executed = argv[argv.index("--") + 1 :]
            if executed and executed[0] in _EXEC_READ:
                return True, f"kubectl exec of {executed[0]} reads"
            return False, "kubectl exec of a command not known to be read-only"
        return False, f"kubectl {' '.join(words[:2])} changes the cluster"
    if program == "curl":
        method = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in {"-X", "--request"}), "GET")
        if method.upper() not in {"GET", "HEAD"} or any(a.startswith(_CURL_WRITE_OPTIONS) for a in argv):
            return False, "curl sends data"
        return True, "curl GET reads"
    if program in _FILTERS:
        return True, f"{program} filters"
    if program == "docker":
        verb = argv[1] if len(argv) > 1 else ""
        if verb in _DOCKER_READ:
            return True, f"docker {verb} reads"
        return False, f"docker {verb} changes this machine's image store or containers"
    return False, f"{program}: not known to be read-only"


def classify(pipeline: tuple[tuple[str, ...], ...]) -> tuple[bool, str]:
    """(read-only, why) for a pipeline: read-only only when every segment is."""
    verdicts = [_classify_one(segment) for segment in pipeline]
    changing = [why for read_only, why in verdicts if not read_only]
    return (False, changing[0]) if changing else (True, verdicts[0][1])


# -- parsing -----------------------------------------------------------------------------------------
def _split_pipeline(text: str, where: str) -> tuple[tuple[str, ...], ...]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|;&")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as error:
        raise RunbookError(f"{where}: cannot read the command: {error}") from None
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            segments.append([])
        elif set(token) <= set(";&"):
            raise RunbookError(f"{where}: one command per line, please: {token!r} in {text!r}")
        else:
            segments[-1].append(token)
    if any(not segment for segment in segments):
        raise RunbookError(f"{where}: an empty command in the pipeline {text!r}")
    return tuple(tuple(segment) for segment in segments)


def _complete(text: str) -> bool:
    """No quote left open (a JSON payload in single quotes spans lines)."""
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


@dataclass
class _Block:
    line: int  # the opening fence
    body: list[tuple[int, str]]


@dataclass
class _StepDraft:
    id: str
    title: str
    kind: str
    line: int
    budget_s: float | None = None
    blocks: list[_Block] = field(default_factory=list)


def _commands(block: _Block, step: str, source: Path) -> tuple[list[Command], list[str], list[str]]:
    """The commands of one bash block, and its expected and other comment lines."""
    commands: list[Command] = []
    expected: list[str] = []
    notes: list[str] = []
    comment = ""
    pending: list[str] = []
    start = 0

    def finish() -> None:
        text = " ".join(" ".join(pending).split())
        where = f"{source}:{start}"
        pipeline = _split_pipeline(text, where)
        read_only, why = classify(pipeline)
        commands.append(Command(step, start, text, pipeline, read_only, why, comment))

    for number, raw in block.body:
        line = raw.strip()
        if pending:
            pending.append(line.removesuffix("\\").strip() if line.endswith("\\") else raw.rstrip())
            joined = " ".join(pending)
            if not line.endswith("\\") and _complete(joined):
                finish()
                pending = []
            continue
        if not line:
            comment = ""
        elif line.startswith("#"):
            if match := _EXPECTED.match(line):
                expected.append(match.group(1).strip())
                if commands:  # "# Expected:" under a command is that command's expected answer
                    last = commands[-1]
                    commands[-1] = replace(last, expected=(*last.expected, match.group(1).strip()))
            else:
                comment = line.lstrip("#").strip()
                notes.append(comment)
        else:
            start = number
            pending = [line.removesuffix("\\").strip() if line.endswith("\\") else line]
            if not line.endswith("\\") and _complete(line):
                finish()
                pending = []
    if pending:
        raise RunbookError(
            f"{source}:{start}: the command never ends (a quote left open or a trailing backslash) "
            f"before the block closes at line {block.body[-1][0] + 1 if block.body else block.line}"
        )
    return commands, expected, notes


def _split_verification(block: _Block, source: Path) -> list[tuple[int, str, _Block]]:
    """The Verification block cut at its ``# N. title`` comments."""
    items: list[tuple[int, str, _Block]] = []
    for number, raw in block.body:
        if match := _VERIFICATION_ITEM.match(raw.strip()):
            items.append((int(match.group(1)), match.group(2).strip(), _Block(number, [])))
        elif items:
            items[-1][2].body.append((number, raw))
        elif raw.strip():
            raise RunbookError(
                f"{source}:{number}: Verification lines must follow a numbered '# N. title' comment"
            )
    return items


def _budget(title: str) -> float | None:
    match = _BUDGET.search(title)
    return float(match.group(1)) * 60 if match else None


def _clean_title(title: str) -> str:
    return _BUDGET.sub("", title).strip()


def parse_runbook(text: str, path: Path | str = "runbook.md") -> Runbook:
    """The runbook in ``text`` as a :class:`Runbook`; :class:`RunbookError` with the line if unreadable."""
    source = Path(path)
    lines = text.splitlines()
    title = ""
    alert: tuple[str, int] | None = None
    sla_s: float | None = None
    related: dict[str, int] = {}
    budgets: dict[str, float] = {}
    drafts: list[_StepDraft] = []
    stray: list[_Block] = []
    procedure: str | None = None  # "triage", "fix", "verification" or None (elsewhere)
    section = ""
    triage_number = ""
    fence: tuple[int, str, str] | None = None  # (line, indent, language)
    block: list[tuple[int, str]] = []

    for number, raw in enumerate(lines, start=1):
        if fence is not None:
            opening = _FENCE.match(raw)
            if opening is not None and opening.group(2):
                # a closing fence has no language: this opens another block, so ours was never closed
                raise RunbookError(
                    f"{source}:{fence[0]}: the code block opened here is never closed "
                    f"(another opens at line {number})"
                )
            if raw.strip() == "```":
                opened_at, _, language = fence
                fence = None
                if language not in {"bash", "sh", "shell"}:
                    continue
                found = _Block(opened_at, block)
                if procedure is None or not drafts or drafts[-1].kind != procedure:
                    stray.append(found)
                else:
                    drafts[-1].blocks.append(found)
            else:
                block.append((number, raw))
            continue
        if match := _FENCE.match(raw):
            fence, block = (number, match.group(1), match.group(2).lower()), []
            continue
        if not title and raw.startswith("# "):
            title = raw[2:].strip()
            continue
        if match := _ALERT.match(raw):
            alert = (match.group(1), number)
            continue
        if match := _SLA.search(raw):
            sla_s = float(match.group(1)) * 60
            continue
        if section == "Related Alerts" and (match := _RELATED.match(raw.strip())):
            related[match.group(1)] = number
            continue
        heading = _HEADING.match(raw)
        if heading is None:
            continue
        level, heading_text = len(heading.group(1)), heading.group(2)
        budget = _budget(heading_text)
        name = _clean_title(heading_text)
        if level == 2:
            section = name
            procedure = PROCEDURES.get(name)
            if procedure == "verification":
                if budget is not None:
                    budgets["Verification"] = budget
                drafts.append(_StepDraft("Verification", name, "verification", number, budget))
            continue
        if procedure == "triage" and level == 3:
            match = _TRIAGE_STEP.match(name)
            if match is None:
                raise RunbookError(f"{source}:{number}: a Triage step needs a number: '### 1. Title'")
            triage_number = match.group(1)
            step_id = f"Triage {triage_number}"
            if budget is not None:
                budgets[step_id] = budget
            drafts.append(_StepDraft(step_id, match.group(2), "triage", number, budget))
        elif procedure == "triage" and level == 4:
            match = _TRIAGE_CAUSE.match(name)
            if match is None or not triage_number:
                raise RunbookError(
                    f"{source}:{number}: a Triage cause needs a letter under a numbered step: '#### A. Title'"
                )
            drafts.append(
                _StepDraft(f"Triage {triage_number}{match.group(1)}", match.group(2), "triage", number)
            )
        elif procedure == "fix" and level == 3:
            match = _FIX_STEP.match(name)
            if match is None:
                raise RunbookError(
                    f"{source}:{number}: a resolution step must be "
                    "'### Quick Fix (...)' or '### Fix N: Title'"
                )
            step_id = " ".join(match.group(1).split())
            if budget is not None:
                budgets[step_id] = budget
            drafts.append(_StepDraft(step_id, _clean_title(match.group(2)) or step_id, "fix", number, budget))

    if fence is not None:
        raise RunbookError(f"{source}:{fence[0]}: the code block opened here is never closed")
    if alert is None:
        raise RunbookError(f"{source}:1: no '**Alert Name**: `AlertName`' line")
    if sla_s is None:
        raise RunbookError(f"{source}:1: no '**SLA Impact**: ... breach after N minutes' line")
    for required in ("Triage", "Resolution Steps", "Verification"):
        if not any(d.kind == PROCEDURES[required] for d in drafts):
            raise RunbookError(f"{source}:{len(lines)}: no '## {required}' section with steps")

    steps: list[Step] = []
    for index, draft in enumerate(drafts):
        following = drafts[index + 1] if index + 1 < len(drafts) else None
        if not draft.blocks and following is not None and following.id[:-1] == draft.id:
            continue  # "### 2. Identify Root Cause (5 minutes)": its causes 2A-2D are the steps
        if draft.kind == "verification":
            if len(draft.blocks) != 1:
                raise RunbookError(
                    f"{source}:{draft.line}: Verification needs exactly one bash block, "
                    f"found {len(draft.blocks)}"
                )
            for item, item_title, part in _split_verification(draft.blocks[0], source):
                step_id = f"Verification {item}"
                commands, expected, notes = _commands(part, step_id, source)
                steps.append(
                    Step(step_id, item_title, "verification", part.line, None, tuple(commands),
                         tuple(expected), tuple(notes))
                )  # fmt: skip
            continue
        all_commands: list[Command] = []
        notes_all: list[str] = []
        for found in draft.blocks:
            commands, _, notes = _commands(found, draft.id, source)
            all_commands += commands
            notes_all += notes
        steps.append(
            Step(draft.id, draft.title, draft.kind, draft.line, draft.budget_s, tuple(all_commands),
                 (), tuple(notes_all))
        )  # fmt: skip
    seen: set[str] = set()
    for step in steps:
        if step.id in seen:
            raise RunbookError(f"{source}:{step.line}: step {step.id!r} appears twice")
        seen.add(step.id)
    stray_commands = [c for found in stray for c in _commands(found, "outside the procedures", source)[0]]
    return Runbook(
        path=source,
        title=title,
        alert=alert[0],
        alert_line=alert[1],
        sla_s=sla_s,
        steps=tuple(steps),
        budgets_s=budgets,
        related_alerts=related,
        stray_commands=tuple(stray_commands),
    )


@cache
def _load(path: Path) -> Runbook:
    try:
        text = read_user_text(path)
    except OSError as error:
        raise RunbookError(f"cannot read the runbook {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise RunbookError(f"cannot read the runbook {path}: not UTF-8 text (byte {error.start})") from None
    return parse_runbook(text, path)


def load_runbook(path: Path | str | None = None) -> Runbook:
    """The parsed runbook at ``path`` (see :func:`runbook_path`), read once per process."""
    return _load(runbook_path(path).resolve())
