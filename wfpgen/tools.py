"""Finding the command-line tools wfpgen runs, and saying how to install a missing one.

A tool installed from PyPI (clang-tidy, clang-format) lands in the scripts directory of the
environment wfpgen runs in. ``venv/bin/wfpgen`` run without activating the venv, or a pipx
install, does not have that directory on PATH, so it is searched first: beside the
interpreter (``sys.executable``), then the environment's scripts directory, then PATH.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path


def tool_dirs() -> list[Path]:
    """The directories searched before PATH: the interpreter's, then the environment's scripts."""
    found: list[Path] = []
    for directory in (Path(sys.executable).parent if sys.executable else None, sysconfig.get_path("scripts")):
        if directory and Path(directory) not in found:
            found.append(Path(directory))
    return found


def find_tool(name: str, package: str | None = None) -> str | None:
    """The path of the executable ``name``, or None: beside the interpreter, in the environment's
    scripts, in the ``data/bin`` of the PyPI ``package`` that ships it (an importable package
    whose scripts went elsewhere), then on PATH."""
    dirs = tool_dirs()
    if package is not None:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            dirs.append(Path(spec.origin).parent / "data" / "bin")
    beside = shutil.which(name, path=os.pathsep.join(str(d) for d in dirs))
    return beside or shutil.which(name)


def pip_install(requirement: str) -> str:
    """The command that installs ``requirement`` into the environment wfpgen runs in."""
    return f"{shlex.quote(sys.executable or 'python3')} -m pip install {shlex.quote(requirement)}"
