from __future__ import annotations

from pathlib import Path

import pytest
from triage_fakes import TOKEN, rules_file


@pytest.fixture(autouse=True)
def unit_token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UNIT_TEST_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return rules_file(tmp_path)
