"""Driver lifecycle under concurrency, under ThreadSanitizer: ring-sink driver of specs/monitor.yaml.

``lifecycle_runner.py`` runs in a subprocess with ``sanitizer_env("tsan")`` (a TSan report
aborts it with a non-zero exit):

1. drain: 3 threads classify while one thread drains the ring through READ (pend / wait loop)
   and another repeatedly issues a READ and cancels it;
2. unload: 4 threads classify while the main thread unloads the driver. Unload waits for
   in-flight classifyFn calls (the runtime holds its engine lock for reading across classifyFn
   and flags a callout unregistered while its classifyFn runs); a READ pended there ends
   STATUS_CANCELLED; classifies after unload find no filter and invoke no callout;
3. cycles: repeated load / traffic / unload.

Properties: exit 0 (no TSan report), no runtime violation (except the handle the harness keeps
open across unload on purpose, to hold a READ pended there), every counter 0 after each unload.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_kernel_fuzz import GCC, build

from wfpgen.hostsim.build import sanitizer_env

RUNNER = Path(__file__).resolve().parent / "lifecycle_runner.py"

pytestmark = pytest.mark.skipif(GCC is None, reason="gcc is not installed: the host simulation cannot be built")


def test_lifecycle_under_tsan(tmp_path: Path) -> None:
    try:
        env = sanitizer_env("tsan")
    except Exception as exc:  # noqa: BLE001 - gcc without libtsan
        pytest.skip(f"no ThreadSanitizer runtime: {exc}")
    project, library = build("monitor.yaml", tmp_path, "tsan")
    result = subprocess.run([sys.executable, str(RUNNER), str(library), str(project), "5", "4"],
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        f"lifecycle under TSan failed, exit {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-12000:]}")
    for phase in ("drain", "unload", "cycles"):
        assert f"ok {phase}" in result.stdout, result.stdout
