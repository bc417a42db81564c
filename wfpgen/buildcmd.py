"""``wfpgen build``: MSBuild on Windows; the host check plus the MinGW tier everywhere else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from wfpgen.errors import WfpgenError
from wfpgen.output import SPEC_COPY

Echo = Callable[[str], None]


def find_project(given: Path | None) -> Path:
    """The project to build: ``given``, this directory, or the only project under generated/."""
    if given is not None:
        if not (given / SPEC_COPY).is_file():
            raise WfpgenError(f"{given}: not a generated project (no {SPEC_COPY})")
        return given
    here = Path.cwd()
    if (here / SPEC_COPY).is_file():
        return here
    candidates = sorted(p for p in (here / "generated").glob("*") if (p / SPEC_COPY).is_file())
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise WfpgenError("no project here and none under generated/; run wfpgen new SPEC first or name one")
    names = ", ".join(str(p) for p in candidates)
    raise WfpgenError(f"several projects under generated/ ({names}); name the one to build")


def _vswhere() -> Path:
    root = Path(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)"))
    path = root / "Microsoft Visual Studio" / "Installer" / "vswhere.exe"
    if not path.is_file():
        raise WfpgenError(f"vswhere.exe not found at {path}: install Visual Studio 2022 with the C++ workload")
    return path


def find_msbuild() -> Path:
    """MSBuild of the newest Visual Studio, found with vswhere."""
    result = subprocess.run([str(_vswhere()), "-latest", "-products", "*", "-requires",
                             "Microsoft.Component.MSBuild", "-find", r"MSBuild\**\Bin\MSBuild.exe"],
                            capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        raise WfpgenError("vswhere found no MSBuild: install Visual Studio 2022 with the C++ workload")
    return Path(lines[0])


def wdk_installed() -> bool:
    """Whether a WDK is installed (its kernel-mode headers exist)."""
    kits = Path(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)")) / "Windows Kits" / "10" / "Include"
    return any((version / "km" / "ntddk.h").is_file() for version in kits.glob("10.*"))


def msbuild(project: Path, configuration: str, platform: str, echo: Echo) -> int:
    """Build the solution, restoring the WDK NuGet packages when no WDK is installed."""
    solutions = sorted(project.glob("*.sln"))
    if len(solutions) != 1:
        raise WfpgenError(f"{project}: expected one .sln, found {len(solutions)}")
    command = [str(find_msbuild()), str(solutions[0]), f"-p:Configuration={configuration}",
               f"-p:Platform={platform}", "-m", "-nologo", "-v:minimal"]
    if not wdk_installed():
        echo("no installed WDK: restoring the WDK NuGet packages (packages.config)")
        command[2:2] = ["-restore", "-p:RestorePackagesConfig=true"]
    echo("$ " + " ".join(command))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip())
    if process.returncode != 0:
        return process.returncode
    package = project / "driver" / platform / configuration
    for suffix in (".sys", ".inf", ".cat"):
        for path in sorted(package.rglob(f"*{suffix}")):
            echo(f"{suffix[1:]:>3}: {path}")
    return 0


def run_build(project: Path | None, configuration: str, platform: str, echo: Echo, wdk: Path | None = None) -> int:
    """``wfpgen build``: the exit code."""
    root = find_project(project)
    if sys.platform == "win32":
        return msbuild(root, configuration, platform, echo)
    from wfpgen.checks.check import run_check

    echo(f"{root}: no Windows here, so: the host-simulation check, the MinGW-w64 cross-build tier and, given "
         "a WDK include root, the real-header tier")
    if shutil.which("x86_64-w64-mingw32-gcc") is None:
        echo("note: x86_64-w64-mingw32-gcc is missing (apt-get install gcc-mingw-w64-x86-64); that step will fail")
    report = run_check(root, None, cross=True, wdk=wdk, echo=echo)
    echo(f"build: {report.tally()}")
    echo("A loadable driver needs the WDK on Windows: run wfpgen build there, or push the project and let "
         ".github/workflows/build.yml build it.")
    return 0 if report.ok else 1
