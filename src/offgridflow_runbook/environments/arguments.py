"""What the environments' small commands (``settle``, ``outlived``) share on their command line."""

from __future__ import annotations

import argparse
import math

__all__ = ["seconds_above_zero"]


def seconds_above_zero(text: str) -> float:
    """An argparse ``type``: a finite number of seconds above 0 (a wait that can end)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return value
