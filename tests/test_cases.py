"""Failing specs are goldens too: each tests/cases/<name>/spec.yaml has its exact error text.

Refresh after an intended change with: WFPGEN_UPDATE_GOLDENS=1 python -m pytest tests/test_cases.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, UPDATE
from typer.testing import CliRunner

from wfpgen.cli import app

CASES = sorted(p.parent for p in (ROOT / "tests" / "cases").glob("*/spec.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_failing_spec(case: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(case)
    result = CliRunner().invoke(app, ["new", "spec.yaml", "-o", str(tmp_path / "out")])
    expected = case / "expected.txt"
    if UPDATE:
        expected.write_text(result.stderr)
    assert result.exit_code == 2, result.output
    assert result.stderr == expected.read_text(), f"refresh with WFPGEN_UPDATE_GOLDENS=1 if intended ({case.name})"
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists(), "a failing spec must write nothing"


def test_every_case_has_expected_text() -> None:
    assert CASES, "no failing-spec cases found"
    for case in CASES:
        assert (case / "expected.txt").is_file(), f"{case.name} lacks expected.txt"
