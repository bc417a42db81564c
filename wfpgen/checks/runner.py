"""``wfpgen check``: build a generated driver for the host simulation and prove it works.

For each build variant (warnings as errors; ASan+UBSan; TSan) the driver and the host
runtime are compiled into a shared library, and the scenario (``wfpgen.checks.scenario``)
runs in a subprocess — sanitizer runtimes must be preloaded into a fresh interpreter. Each
scenario step reports one JSON line; this module collects them into a report.
"""

from __future__ import annotations

import json
import re
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
    skipped: bool = False  # did not run (what it needs is absent); counts as neither passed nor failed

    def line(self) -> str:
        """One report line: ``PASS  name  (0.12 s)  detail``."""
        status = "SKIP" if self.skipped else "PASS" if self.ok else "FAIL"
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

    def tally(self) -> str:
        """``N passed, M failed`` (and ``, K skipped`` when a step did not run)."""
        skipped = sum(1 for step in self.steps if step.skipped)
        passed = sum(1 for step in self.steps if step.ok and not step.skipped)
        text = f"{passed} passed, {len(self.steps) - passed - skipped} failed"
        return text + (f", {skipped} skipped" if skipped else "")

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


#: The first line of a sanitizer's or the interpreter's own crash report.
_CRASH_HEADLINE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|UndefinedBehaviorSanitizer)|"
    r"WARNING: ThreadSanitizer|runtime error:|Fatal Python error")

#: Stack frames of the interpreter below the driver (ctypes, libffi, CPython, libc): noise.
_INTERPRETER_FRAME = re.compile(r"^\s+#\d+ .*(libffi|_ctypes|Python/|Objects/|Modules/|Include/|Parser/|libc\.so"
                                r"|libc_start|__libc_|in _start |python3?[.\d]*\+0x)")


def crash_report(output: str, limit: int = 40) -> str:
    """The part of a dead process's stderr that says what happened.

    A sanitizer's headline (``ERROR: AddressSanitizer: heap-buffer-overflow``, ``WARNING:
    ThreadSanitizer: data race``, ``runtime error:``) and its first stack frames come first in
    its report, followed by pages of shadow-memory legend: the bare tail of the output would
    show only the legend. Falls back to the last 25 lines when there is no recognised report.
    """
    lines = output.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if _CRASH_HEADLINE.search(line)), None)
    if start is None:
        return "\n".join(lines[-25:])
    report = []
    for line in lines[start:]:
        if line.startswith("Shadow bytes around the buggy address"):
            break
        if not _INTERPRETER_FRAME.search(line):
            report.append(line)
    summaries = [line for line in lines[start:] if line.startswith("SUMMARY:")]
    if len(report) > limit:
        report = report[:limit] + ["  ..."] + [s for s in summaries if s not in report[:limit]]
    return "\n".join(report)


def run_scenario(library: Path, project: Path, out: Path, variant: str, env: dict[str, str],
                 extra: Sequence[str] = (), timeout: float = 900) -> list[Step]:
    """Run the scenario against ``library`` in a subprocess and parse its step lines.

    The scenario announces each step before running it, so a process that dies (a sanitizer
    report, a crash, a timeout) fails the step it died in, with what it printed.
    """
    command = [sys.executable, *(["-X", "faulthandler"] if variant == "plain" else []),
               "-m", "wfpgen.checks.scenario", "--library", str(library), "--project",
               str(project), "--out", str(out), "--variant", variant, *extra]
    start = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=timeout)
        stdout, stderr, returncode = result.stdout, result.stderr, result.returncode
        death = f"exited with {returncode}"
    except subprocess.TimeoutExpired as exc:
        stdout, stderr = (_text(exc.stdout), _text(exc.stderr))
        returncode, death = -1, f"killed after the {timeout:.0f} s timeout"
    steps: list[Step] = []
    running: str | None = None  # announced and not finished
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if "begin" in data:
            running = str(data["begin"])
            continue
        running = None
        steps.append(Step(f"{variant}: {data['name']}", bool(data["ok"]), str(data.get("detail", "")),
                          float(data.get("seconds", 0.0))))
    # Exit code 1 with a failed step is the scenario's own verdict; anything else is a death.
    died = returncode != 0 and (running is not None or returncode != 1 or not steps or all(s.ok for s in steps))
    if died:
        report = crash_report(stderr or stdout)
        elapsed = time.perf_counter() - start
        name = f"{variant}: {running} (the process died in it)" if running else f"{variant}: scenario process"
        steps.append(Step(name, False, f"{death} after {elapsed:.1f} s:\n{report}"))
    return steps


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
