"""Shared fixtures: paths of the repository's specs, cases and goldens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
UPDATE = os.environ.get("WFPGEN_UPDATE_GOLDENS") == "1"


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT
