"""The generator's own code passes the checkers its configuration names (pyproject.toml):
mypy --strict over wfpgen/, ruff over the project's own Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The project's own Python; generated readers are checked by tests/test_reader.py (mypy --strict).
SOURCES = ("wfpgen", "tests", "scripts", "bench")


@pytest.mark.parametrize("tool", ["mypy", "ruff"])
def test_checker_is_clean(tool: str) -> None:
    pytest.importorskip(tool)
    command = [sys.executable, "-m", "mypy"] if tool == "mypy" else [sys.executable, "-m", "ruff", "check", *SOURCES]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
