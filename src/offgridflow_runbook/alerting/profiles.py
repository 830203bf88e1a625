"""Alert profiles: ``production`` is ``deploy/prometheus`` as written; ``fast`` scales each rule's
``for`` down to a few seconds, scales each ``rate()`` window and each hold (``min_over_time``) alike
(the error ratio Verification 5
judges is the alert's own expression, so its 5-minute window shrinks with the rule instead of holding
a game day for five minutes after every outage), and evaluates often, so a game day sees an alert fire
within seconds of its floor instead of minutes, and Prometheus' lookback is scaled too
(:data:`FAST_LOOKBACK_DELTA`). The local stack renders both
(offgridflow_runbook.environments.local); on kind ``render_kind_overlay`` writes a kustomize overlay
that swaps the monitoring ConfigMaps of a base overlay for the profile's (scripts/kind-up.sh applies
it)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from offgridflow_runbook.alerting import fast_route

__all__ = [
    "FAST_LOOKBACK_DELTA",
    "MONITOR_DEPLOYMENT",
    "MONITOR_EVERY",
    "MONITOR_RULE_GROUP",
    "PROFILES",
    "fast_expression",
    "fast_for",
    "fast_hold",
    "fast_monitor_for",
    "fast_rules",
    "fast_window",
    "prometheus_flags",
    "render_kind_overlay",
    "seconds",
]

PROFILES = ("fast", "production")
_FAST_FOR_DIVISOR = 30
_FAST_FOR_BOUNDS = (3, 15)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
# a rate() window: at least this many seconds, so a 2 s scrape still leaves several samples in it
# for a rate over sparse traffic
_FAST_WINDOW_LOW = 15
# a hold, min_over_time/max_over_time(<selector>[<window>]) (how long a state must last: PodCrashLooping
# ends once a container has been ready for that long, a wait like a `for`): at least three of kind's 2 s
# scrapes (six of the local stack's). A hold reads a state, not a rate, so it needs no more samples:
# at 15 s, every test after a crash-looping fault waited 16 s for the all-clear (7 such waits, 114 s,
# in one fresh-clone run's Docker tier).
_FAST_HOLD_LOW = 6
# rate(<selector>[<window>]) and the holds; increase() counts events (restarts) and keeps its span
_SCALED_RATE = re.compile(r"(\brate\([^\[\]()]*\[)((?:\d+(?:ms|s|m|h|d))+)(\])")
_SCALED_HOLD = re.compile(r"(\b(?:min_over_time|max_over_time)\([^\[\]()]*\[)((?:\d+(?:ms|s|m|h|d))+)(\])")
# kind's Prometheus discovers pods through the API server and scrapes about ten targets: every 2 s
# keeps the floor low without loading a 2-core machine (the local stack's 1 s scrapes 4 static targets).
KIND_FAST_INTERVAL = "2s"
# how often the synthetic monitor runs the runbook's checks. Its page waits for a failing run and its
# all-clear for a passing one, so every test and game day that waits for a quiet stack waits up to one
# interval for it: the fast profile runs it every 5 s. A healthy run takes 0.03-0.1 s of one process
# (measured on both platforms), about 2 % of a core; a run slowed by a fault (up to 30 s, its probes'
# time-outs) is never joined by the next (monitor.schedule).
MONITOR_EVERY = {"fast": "5s", "production": "60s"}
# The synthetic monitor's own rules (deploy/prometheus/rules/offgridflow-synthetic.rules.yml): their
# `for` counts the monitor's runs ("two failed runs in a row page; one is a blip"), so the fast profile
# scales it as it scales the monitor's interval, not by a thirtieth: 2m at every 60 s is 10 s at
# every 5 s, and one failed fast run stays a blip as one failed production run does.
MONITOR_RULE_GROUP = "offgridflow-synthetic"
MONITOR_DEPLOYMENT = "offgridflow-synthetic-monitor"
# How far back an instant query looks for a series' last sample (Prometheus' default: 5m). A
# Prometheus that dies (a node restart, a killed container) writes no staleness markers, so once
# restarted it still sees a vanished target's last `up == 0` for the whole lookback: after the kind
# node restarted, PostgreSQLDown fired for the old database pod's address for four minutes
# (fresh-clone run 46), holding every wait for a quiet cluster. The fast profile scrapes every 1-2 s,
# so 30 s is fifteen scrapes or more: a scrape late on a busy machine is never a missing series.
FAST_LOOKBACK_DELTA = "30s"
PROMETHEUS_DEPLOYMENT = "prometheus"


def seconds(duration: str) -> float:
    """A Prometheus duration (``1m30s``) in seconds."""
    return sum(int(amount) * _UNITS[unit] for amount, unit in _DURATION.findall(duration))


def fast_for(duration: str) -> str:
    """A production ``for`` in the fast profile: a thirtieth, at least 3 s and at most 15 s."""
    low, high = _FAST_FOR_BOUNDS
    return f"{round(min(max(seconds(duration) / _FAST_FOR_DIVISOR, low), high))}s"


def fast_monitor_for(duration: str) -> str:
    """A production ``for`` of the monitor's rules in the fast profile: scaled as the monitor's
    interval is (:data:`MONITOR_EVERY`), so it counts as many of the monitor's runs."""
    ratio = seconds(MONITOR_EVERY["fast"]) / seconds(MONITOR_EVERY["production"])
    return f"{round(seconds(duration) * ratio)}s"


def fast_window(duration: str) -> str:
    """A production ``rate()`` window in the fast profile: the same thirtieth as ``for``, at least 15 s."""
    return f"{round(max(seconds(duration) / _FAST_FOR_DIVISOR, _FAST_WINDOW_LOW))}s"


def fast_hold(duration: str) -> str:
    """A production hold (``min_over_time``/``max_over_time``) in the fast profile: the same thirtieth
    as ``for``, at least 6 s."""
    return f"{round(max(seconds(duration) / _FAST_FOR_DIVISOR, _FAST_HOLD_LOW))}s"


def fast_expression(expression: str) -> str:
    """``expression`` with each ``rate(...[window])`` scaled by :func:`fast_window` and each hold
    (``min_over_time``/``max_over_time``) by :func:`fast_hold`: a fast game day waits seconds, not a
    minute, for a recovered container to count as recovered."""
    scaled = _SCALED_RATE.sub(lambda m: f"{m.group(1)}{fast_window(m.group(2))}{m.group(3)}", expression)
    return _SCALED_HOLD.sub(lambda m: f"{m.group(1)}{fast_hold(m.group(2))}{m.group(3)}", scaled)


def fast_rules(document: dict[str, Any], *, interval: str = "1s") -> None:
    """Make a rules file fast in place: each group evaluated every ``interval``, each ``for`` and each
    ``rate()`` window scaled (recording rules too: the dashboard's error ratio is the alert's); the
    monitor's rules' ``for`` by the monitor's interval (:func:`fast_monitor_for`)."""
    for group in document.get("groups", []):
        group["interval"] = interval
        scale_for = fast_monitor_for if group.get("name") == MONITOR_RULE_GROUP else fast_for
        for rule in group.get("rules", []):
            if "for" in rule:
                rule["for"] = scale_for(str(rule["for"]))
            if "expr" in rule:
                rule["expr"] = fast_expression(str(rule["expr"]))


def prometheus_flags(profile: str) -> list[str]:
    """The flags Prometheus runs with in ``profile``, beside its config and storage flags."""
    if profile not in PROFILES:
        raise ValueError(f"unknown alert profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return [f"--query.lookback-delta={FAST_LOOKBACK_DELTA}"] if profile == "fast" else []


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path} holds no YAML mapping")
    return document


def _args_patch(deployment: str, namespace: str, container: str, args: list[str]) -> dict[str, Any]:
    """A kustomize patch that runs ``container`` of Deployment ``deployment`` with ``args`` (its
    whole list: a strategic merge replaces a container's args)."""
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment, "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": container, "args": args}]}}},
    }
    target = {"kind": "Deployment", "name": deployment}
    return {"target": target, "patch": yaml.safe_dump(patch, sort_keys=False)}


def _monitor_every_patch(root: Path, every: str) -> dict[str, Any]:
    """A patch that runs the synthetic monitor's Deployment every ``every``: its container's args as
    the component gives them, with the value of ``--every`` swapped."""
    component = root / "deploy" / "kubernetes" / "components" / "synthetic-monitor" / "deployment.yaml"
    deployment = _load(component)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = [str(a) for a in container["args"]]
    if "--every" not in args[:-1]:
        raise ValueError(f"{component}: the monitor's args have no --every to scale")
    args[args.index("--every") + 1] = every
    return _args_patch(MONITOR_DEPLOYMENT, deployment["metadata"]["namespace"], container["name"], args)


def _prometheus_flags_patch(root: Path, profile: str) -> dict[str, Any]:
    """A patch that runs kind's Prometheus with ``profile``'s flags after the args it has."""
    manifests = root / "deploy" / "kubernetes" / "overlays" / "kind" / "monitoring" / "prometheus.yaml"
    documents = yaml.safe_load_all(manifests.read_text(encoding="utf-8"))
    deployment = next(
        (d for d in documents if d and d.get("kind") == "Deployment"
         and d["metadata"]["name"] == PROMETHEUS_DEPLOYMENT),
        None,
    )  # fmt: skip
    if deployment is None:
        raise ValueError(f"{manifests}: no Deployment {PROMETHEUS_DEPLOYMENT}")
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == PROMETHEUS_DEPLOYMENT
    ]
    args = [*container["args"], *prometheus_flags(profile)]
    return _args_patch(PROMETHEUS_DEPLOYMENT, "monitoring", container["name"], args)


def render_kind_overlay(profile: str, *, base: Path, into: Path, root: Path) -> Path:
    """Write ``into/kustomization.yaml``: ``base`` with the ``profile``'s monitoring ConfigMaps.

    ``root`` is the repository (``deploy/prometheus`` and the kind overlay's prometheus.yml are read
    from it). For ``production`` the overlay is ``base`` unchanged, so both profiles are applied the
    same way. The ConfigMaps are generated, so a profile change renames them and rolls Prometheus and
    Alertmanager out with the new files."""
    if profile not in PROFILES:
        raise ValueError(f"unknown alert profile {profile!r}; choose one of {', '.join(PROFILES)}")
    into.mkdir(parents=True, exist_ok=True)
    for stale in into.glob("*.yml"):
        stale.unlink()
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(base.resolve(), into.resolve())],
    }
    if profile == "fast":
        generated = []
        rules = sorted((root / "deploy" / "prometheus" / "rules").glob("*.yml"))
        for path in rules:
            document = _load(path)
            fast_rules(document, interval=KIND_FAST_INTERVAL)
            (into / path.name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        generated.append({"name": "prometheus-rules", "files": [path.name for path in rules]})
        prometheus = _load(
            root / "deploy" / "kubernetes" / "overlays" / "kind" / "monitoring" / "prometheus.yml"
        )
        prometheus.setdefault("global", {}).update(
            {
                "scrape_interval": KIND_FAST_INTERVAL,
                "evaluation_interval": KIND_FAST_INTERVAL,
                "scrape_timeout": KIND_FAST_INTERVAL,
            }
        )
        prometheus["global"].setdefault("external_labels", {})["profile"] = "fast"
        (into / "prometheus.yml").write_text(yaml.safe_dump(prometheus, sort_keys=False), encoding="utf-8")
        generated.append({"name": "prometheus-config", "files": ["prometheus.yml"]})
        alertmanager = _load(root / "deploy" / "prometheus" / "alertmanager.yml")
        fast_route(alertmanager)
        (into / "alertmanager.yml").write_text(
            yaml.safe_dump(alertmanager, sort_keys=False), encoding="utf-8"
        )
        generated.append({"name": "alertmanager-config", "files": ["alertmanager.yml"]})
        kustomization["configMapGenerator"] = [
            {**entry, "namespace": "monitoring", "behavior": "replace"} for entry in generated
        ]
        kustomization["patches"] = [
            _monitor_every_patch(root, MONITOR_EVERY[profile]),
            _prometheus_flags_patch(root, profile),
        ]
    path = into / "kustomization.yaml"
    path.write_text(
        f"# Generated by offgridflow_runbook.alerting ({profile} alert profile); do not edit.\n"
        + yaml.safe_dump(kustomization, sort_keys=False),
        encoding="utf-8",
    )
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m offgridflow_runbook.alerting.profiles PROFILE BASE INTO``, from the repository's
    root (scripts/kind-up.sh): BASE with PROFILE's monitoring ConfigMaps, written to INTO."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m offgridflow_runbook.alerting.profiles", description=main.__doc__
    )
    parser.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
    parser.add_argument("base", type=Path, help="the kustomize overlay to start from")
    parser.add_argument("into", type=Path, help="where the generated overlay is written")
    arguments = parser.parse_args(argv)
    root = Path.cwd()
    if not (root / "deploy" / "prometheus" / "rules").is_dir():
        print(
            f"error: run this from the repository's root ({root} has no deploy/prometheus/rules)",
            file=sys.stderr,
        )
        return 2
    try:
        written = render_kind_overlay(arguments.profile, base=arguments.base, into=arguments.into, root=root)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
