"""Shared fixtures: paths of the repository's specs, cases and goldens; hypothesis profiles.

Fuzz tests (tests/fuzz):

The default run is bounded (a handful of examples per test, well under a minute in all).
Run longer with either

* ``WFPGEN_FUZZ_EXAMPLES=N python -m pytest tests/fuzz``: N examples per hypothesis test,
  and N cases per subprocess run of the kernel and IOCTL fuzzers; or
* ``python -m pytest tests/fuzz --hypothesis-profile=long``: 500 examples per hypothesis test
  (the subprocess fuzzers keep their default unless WFPGEN_FUZZ_EXAMPLES is set).

``WFPGEN_FUZZ_SEED=S`` fixes the seed of the subprocess fuzzers (printed on failure).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))

# Builds cache the host runtime and analysis results (wfpgen.cachedir): the tests share a cache of
# their own, never the user's, unless WFPGEN_CACHE names one. Subprocesses inherit it.
if not os.environ.get("WFPGEN_CACHE"):
    os.environ["WFPGEN_CACHE"] = tempfile.mkdtemp(prefix="wfpgen-test-cache-")
    atexit.register(shutil.rmtree, os.environ["WFPGEN_CACHE"], True)
UPDATE = os.environ.get("WFPGEN_UPDATE_GOLDENS") == "1"


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (the scripts are not a package) to call its functions."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


#: A spec for Windows 10 RTM (NTDDI_WIN10): the NTDDI gate tests plant GATED_FIELD into its classify.c.
WIN10_SPEC: dict[str, Any] = {
    "version": 1,
    "driver": {"name": "GateCheck", "description": "Reads two ale_auth_connect_v4 fields", "target": "win10"},
    "layers": ["ale_auth_connect_v4"],
    "fields": ["ip_protocol", "ip_remote_port"],
    "metadata": [],
}
#: Declared by fwpsk.h from NTDDI_WIN10_RS2 (1703) on, so not for WIN10_SPEC's target.
GATED_FIELD = "FWPS_FIELD_ALE_AUTH_CONNECT_V4_COMPARTMENT_ID"


SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
            HealthCheck.filter_too_much]

settings.register_profile("wfpgen-fuzz", deadline=None, suppress_health_check=SUPPRESS, print_blob=True)
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=SUPPRESS,
                          print_blob=True)
if settings._current_profile in (None, "default"):  # pragma: no branch - only when no profile was asked for
    settings.load_profile("wfpgen-fuzz")
