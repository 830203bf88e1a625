"""environments.arguments: a wait given on the command line is a finite number of seconds above 0."""

from __future__ import annotations

import argparse
import re

import pytest

from offgridflow_runbook.environments.arguments import seconds_above_zero


@pytest.mark.parametrize(("text", "seconds"), [("0.001", 0.001), ("300", 300.0), ("1e3", 1000.0)])
def test_a_positive_finite_number_is_the_seconds_it_says(text, seconds):
    assert seconds_above_zero(text) == seconds


@pytest.mark.parametrize("text", ["0", "-0.5", "nan", "inf", "-inf", "soon", ""])
def test_zero_a_negative_an_endless_or_a_word_is_refused_with_what_was_given(text):
    refusal = f"must be a number of seconds above 0, not {text!r}"
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(refusal)):
        seconds_above_zero(text)
