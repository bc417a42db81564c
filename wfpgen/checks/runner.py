"""``wfpgen check``: build a generated driver for the host simulation and prove it works.

For each build variant (warnings as errors; ASan+UBSan; TSan) the driver and the host
runtime are compiled into a shared library, and the scenario (``wfpgen.checks.scenario``)
runs in a subprocess — sanitizer runtimes must be preloaded into a fresh interpreter. Each
scenario step reports one JSON line; this module collects them into a report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wfpgen.errors import WfpgenError

VARIANTS = ("plain", "asan", "tsan")


@dataclass(frozen=True)
class Step:
    """The outcome of one check step."""

    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        """One report line: ``PASS  name  (0.12 s)  detail``."""
        status = "PASS" if self.ok else "FAIL"
        detail = f"  {self.detail}" if self.detail else ""
        return f"{status}  {self.name:<44} {self.seconds:6.2f} s{detail}"


@dataclass
class Report:
    """Every step of one check, in order."""

    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every step passed (and there was at least one)."""
        return bool(self.steps) and all(step.ok for step in self.steps)

    def add(self, step: Step, echo: Callable[[str], None] | None) -> None:
        """Record ``step`` and print its line."""
        self.steps.append(step)
        if echo is not None:
            echo(step.line())


def timed(name: str, action: Callable[[], str]) -> Step:
    """Run ``action`` (returning a detail string; raising on failure) as one step."""
    start = time.perf_counter()
    try:
        detail = action()
    except WfpgenError as exc:
        return Step(name, False, str(exc), time.perf_counter() - start)
    return Step(name, True, detail, time.perf_counter() - start)


def run_scenario(library: Path, project: Path, out: Path, variant: str, env: dict[str, str],
                 extra: Sequence[str] = ()) -> list[Step]:
    """Run the scenario against ``library`` in a subprocess and parse its step lines."""
    command = [sys.executable, "-m", "wfpgen.checks.scenario", "--library", str(library), "--project",
               str(project), "--out", str(out), "--variant", variant, *extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=900)
    steps: list[Step] = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            steps.append(Step(f"{variant}: {data['name']}", bool(data["ok"]), str(data.get("detail", "")),
                              float(data.get("seconds", 0.0))))
    if result.returncode != 0 and (not steps or all(s.ok for s in steps)):
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-25:])
        steps.append(Step(f"{variant}: scenario process", False,
                          f"exited with {result.returncode} after {time.perf_counter() - start:.1f} s:\n{tail}"))
    return steps
