"""The runbook's commands per section, rendered for one target.

The commands are the runbook's own (parsed by :mod:`offgridflow_runbook.runbook`), so an edited
runbook changes what triage prints. For a target, ``-n offgridflow`` becomes its namespace (and kube
context), the runbook's API host its base URL (``:8081/metrics`` its metrics URL), and the image
repository that of the running image. The runbook is written for Kubernetes: where the target's
platform carries a line out otherwise (on Docker, :mod:`offgridflow_runbook.platforms.docker.commands`),
the line keeps its ``kubectl`` form and says what the suite does instead; the platform is asked
through :class:`~offgridflow_runbook.platforms.commands.RunbookCommands`, never by its name.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from offgridflow_runbook.platforms import RunbookLine, runbook_commands
from offgridflow_runbook.targets import Target

if TYPE_CHECKING:  # the parser is imported where the runbook is read: triage of a healthy target never is
    from offgridflow_runbook.runbook.document import Command

__all__ = [
    "known_good_tag",
    "platform_equivalent",
    "render_command",
    "render_commands",
    "target_url",
]

_RUNBOOK_NAMESPACE = re.compile(r"(?<!\S)-n offgridflow(?!\S)")
_URL = re.compile(r"https?://[^\s'\"|]+")
_IMAGE = re.compile(r"(?<![\w/.-])([\w.-]+(?::\d+)?/[\w./-]*offgridflow-api):([\w][\w.-]*)")
_JSON_ARGUMENT = re.compile(r"'(\s*[\[{].*?[\]}]\s*)'")
METRICS_PORT = 8081
_PLACEHOLDER_IMAGE = "ghcr.io/your-org/offgridflow-api:latest"  # the image when the running one is unknown


def _compact_json(match: re.Match[str]) -> str:
    """A JSON payload the runbook spreads over lines, on one line (``kubectl patch -p '{...}'``)."""
    try:
        return "'" + json.dumps(json.loads(match.group(1)), separators=(",", ":")) + "'"
    except ValueError:
        return match.group(0)


def known_good_tag() -> str:
    """The tag Fix 4 sets (``kubectl set image ... api=<repository>:<tag>``)."""
    from offgridflow_runbook.runbook.document import load_runbook

    for command in load_runbook().step("Fix 4").commands:
        if command.argv[:3] == ("kubectl", "set", "image"):
            for arg in command.argv:
                if arg.startswith("api=") and (match := _IMAGE.search(arg)):
                    return match.group(2)
    raise LookupError("the runbook's Fix 4 sets no image tag (kubectl set image ... api=<image>:<tag>)")


def target_url(url: str, target: Target) -> str:
    """The runbook's URL on ``target``: its API host -> ``base_url``, ``:8081/metrics`` -> ``metrics_url``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    base = target.base_url.rstrip("/")
    if parts.port == METRICS_PORT:
        if target.metrics_url:
            metrics = urlsplit(target.metrics_url)
            return f"{metrics.scheme}://{metrics.netloc}{path}"
        host = urlsplit(base)
        return f"{host.scheme}://{host.hostname}:{METRICS_PORT}{path}"
    return base + path


def _good_image(image: str | None, tag: str) -> str:
    repository = (image or _PLACEHOLDER_IMAGE).rsplit("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}:{tag}"


def _rendered(command: Command, target: Target, image: str | None) -> str:
    ns = f"-n {shlex.quote(target.namespace)}"
    if target.kube_context:
        ns += f" --context {shlex.quote(target.kube_context)}"
    line = _RUNBOOK_NAMESPACE.sub(lambda _: ns, command.text)
    line = _JSON_ARGUMENT.sub(_compact_json, line)
    line = _URL.sub(lambda m: target_url(m.group(0), target), line)
    if image:
        line = _IMAGE.sub(lambda m: image if m.group(2) == "latest" else _good_image(image, m.group(2)), line)
    return line


def platform_equivalent(
    command: Command, target: Target, *, image: str | None = None, rendered: str | None = None
) -> str | None:
    """What ``target``'s platform does instead of ``command`` (None: the command itself runs there,
    or the platform knows nothing else). ``rendered``: the command already rendered for ``target``."""
    line = rendered if rendered is not None else _rendered(command, target, image)
    instead = runbook_commands(target.platform).instead(
        RunbookLine(
            step=command.step,
            text=" ".join(_RUNBOOK_NAMESPACE.sub("", command.text).split()),
            rendered=line,
            base_url=target.base_url.rstrip("/"),
            metrics_url=target.metrics_url or target_url(f"http://api:{METRICS_PORT}/metrics", target),
            image=image or _PLACEHOLDER_IMAGE,
            good_image=lambda: _good_image(image, known_good_tag()),
        )
    )
    return None if instead == line else instead


def render_command(command: Command, target: Target, *, image: str | None = None) -> str:
    """One runbook command for ``target`` (see the module docstring)."""
    line = _rendered(command, target, image)
    instead = platform_equivalent(command, target, image=image, rendered=line)
    if instead is not None:
        line += f"    # on {target.platform}: {instead}"
    return line


def render_commands(section: str, target: Target, *, image: str | None = None) -> list[str]:
    """The commands of runbook ``section`` for ``target`` (empty for a section without commands)."""
    from offgridflow_runbook.runbook.document import load_runbook

    runbook = load_runbook()
    if not any(step.id == section for step in runbook.steps):
        return []
    return [render_command(c, target, image=image) for c in runbook.step(section).commands]
