"""Static analysis of a generated driver on the host: gcc ``-fanalyzer`` and clang-tidy.

Both run against the host-simulation headers (``wfpgen/hostsim/include``, built with
``-fshort-wchar``), which pair ``ExAllocatePool2`` / ``ExAllocatePoolWithTag`` with
``ExFreePoolWithTag`` for gcc; clang-tidy gets the same pairing (and an NT_ASSERT without
``sizeof``) from ``analysis/clang_tidy_prelude.h``, forced into each translation unit.  So
both report use after free, double free and mismatched deallocation of pool memory.

Each function returns the problems as text: the tools' diagnostics for every file that
failed, or ``""`` when the driver is clean. A source found clean is remembered in the cache
(:mod:`wfpgen.cachedir`) under a hash of the tool's identity, the whole command, the source and
every header the command can read besides the system's (the project's ``driver/`` headers, the
host headers, the clang-tidy prelude), so an unchanged driver is not analysed
twice; problems are never cached.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from wfpgen import cachedir
from wfpgen.hostsim import INCLUDE_DIR as HOSTSIM_INCLUDE_DIR
from wfpgen.tools import find_tool, pip_install

__all__ = [
    "CLANG_TIDY",
    "CLANG_TIDY_CHECKS",
    "CLANG_TIDY_CHECK_LIST",
    "CLANG_TIDY_PRELUDE",
    "FANALYZER_FLAGS",
    "GCC",
    "AnalyzerMissing",
    "clang_tidy_binary",
    "clang_tidy_command",
    "clang_tidy_install",
    "fanalyzer_command",
    "run_clang_tidy",
    "run_fanalyzer",
]

GCC = "gcc"
CLANG_TIDY = "clang-tidy"
CLANG_TIDY_PIN = "clang-tidy==23.1.4"
CLANG_TIDY_PRELUDE = Path(__file__).resolve().parent / "analysis" / "clang_tidy_prelude.h"

HOST_FLAGS: tuple[str, ...] = ("-std=c11", "-fshort-wchar")
FANALYZER_FLAGS: tuple[str, ...] = (*HOST_FLAGS, "-Wall", "-Wextra", "-Werror", "-fanalyzer")

#: The curated clang-tidy checks.  Left out, because the WDK's idioms trip them on every
#: driver: reserved identifiers (_WFPGEN_..., SAL), signed bitwise (FWP_ACTION_*, CTL_CODE),
#: RtlZeroMemory/RtlCopyMemory as "insecure" memset/memcpy, easily swappable parameters,
#: assignments in if conditions; and optin.performance.Padding, which asks to reorder the
#: members of small constant tables for a few bytes.
CLANG_TIDY_CHECK_LIST: tuple[str, ...] = (
    "-*",
    "clang-analyzer-*",
    "-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling",
    "-clang-analyzer-optin.performance.Padding",
    "bugprone-*",
    "-bugprone-easily-swappable-parameters",
    "-bugprone-reserved-identifier",
    "-bugprone-signed-bitwise",
    "-bugprone-assignment-in-if-condition",
    "cert-err33-c",
    "cert-int09-c",
    "cert-msc30-c",
    "misc-redundant-expression",
    "misc-misplaced-const",
    "readability-misleading-indentation",
    "readability-non-const-parameter",
    "readability-inconsistent-declaration-parameter-name",
)
CLANG_TIDY_CHECKS = ",".join(CLANG_TIDY_CHECK_LIST)


class AnalyzerMissing(RuntimeError):
    """gcc or clang-tidy is not installed."""


def _require(tool: str, how: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise AnalyzerMissing(f"{tool} is not installed ({how})")
    return path


def clang_tidy_binary() -> str | None:
    """The clang-tidy to run: the one installed beside wfpgen's interpreter first, then PATH's."""
    return find_tool(CLANG_TIDY, package="clang_tidy")


def clang_tidy_install() -> str:
    """The command that installs the pinned clang-tidy where :func:`clang_tidy_binary` finds it."""
    return pip_install(CLANG_TIDY_PIN)


def _sources(project_dir: Path) -> list[Path]:
    sources = sorted((project_dir / "driver").glob("*.c"))
    if not sources:
        raise FileNotFoundError(f"no driver/*.c under {project_dir}")
    return sources


def _host_flags(project_dir: Path, defines: Sequence[str]) -> list[str]:
    return [
        *(f"-D{define}" for define in defines),
        "-I",
        str(project_dir / "driver"),
        "-I",
        str(HOSTSIM_INCLUDE_DIR),
    ]


def fanalyzer_command(source: Path, project_dir: Path, defines: Sequence[str] = ()) -> list[str]:
    """The gcc -fanalyzer command for one source (object code is discarded)."""
    return [GCC, *FANALYZER_FLAGS, *_host_flags(project_dir, defines), "-c", str(source), "-o", "/dev/null"]


def clang_tidy_command(source: Path, project_dir: Path, defines: Sequence[str] = (),
                       binary: str | None = None) -> list[str]:
    """The clang-tidy command for one source; diagnostics in the project's headers count too."""
    header_filter = "^" + re.escape(str((project_dir / "driver").resolve())) + "/"
    return [
        binary or clang_tidy_binary() or CLANG_TIDY,
        "--quiet",
        f"--checks={CLANG_TIDY_CHECKS}",
        "--warnings-as-errors=*",
        f"--header-filter={header_filter}",
        str(source.resolve()),
        "--",
        *HOST_FLAGS,
        *_host_flags(project_dir.resolve(), defines),
        "-include",
        str(CLANG_TIDY_PRELUDE),
    ]


CACHE_KIND = "analysis"


def _tool_identity(tool: str) -> str:
    """The resolved path, size and modification time of ``tool`` (an upgrade changes them)."""
    found = shutil.which(tool) or tool
    real = os.path.realpath(found)
    try:
        stat = os.stat(real)
    except OSError:
        return real
    return f"{real} {stat.st_size} {stat.st_mtime_ns}"


def _headers(project_dir: Path) -> list[bytes | str]:
    """Every header an analysis command can read, apart from the system's: names and bytes."""
    files = sorted((project_dir / "driver").glob("*.h")) + sorted(HOSTSIM_INCLUDE_DIR.glob("*.h"))
    parts: list[bytes | str] = []
    for path in [*files, CLANG_TIDY_PRELUDE]:
        parts += [str(path), path.read_bytes()]
    return parts


def _run_each(commands: list[tuple[Path, list[str]]], project_dir: Path) -> str:
    reports = []
    headers = _headers(project_dir)
    identities: dict[str, str] = {}
    for source, command in commands:
        tool = identities.setdefault(command[0], _tool_identity(command[0]))
        key = cachedir.digest([tool, *command, source.read_bytes(), *headers])
        if cachedir.lookup(CACHE_KIND, key) is not None:
            continue
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            reports.append(f"== {source.name} (exit {result.returncode})\n{output}")
        else:
            cachedir.store_text(CACHE_KIND, key, "clean\n")
    return "\n".join(reports)


def run_fanalyzer(project_dir: str | Path, defines: Sequence[str] = ()) -> str:
    """gcc -fanalyzer -Werror over every ``driver/*.c``; ``""`` when clean."""
    project = Path(project_dir)
    _require(GCC, "apt-get install gcc")
    return _run_each([(s, fanalyzer_command(s, project, defines)) for s in _sources(project)], project)


def run_clang_tidy(project_dir: str | Path, defines: Sequence[str] = ()) -> str:
    """clang-tidy with :data:`CLANG_TIDY_CHECKS`, every warning an error; ``""`` when clean."""
    project = Path(project_dir)
    binary = clang_tidy_binary()
    if binary is None:
        raise AnalyzerMissing(f"{CLANG_TIDY} is not installed: {clang_tidy_install()}")
    return _run_each([(s, clang_tidy_command(s, project, defines, binary)) for s in _sources(project)],
                     project)
