"""The built wheel carries the templates and catalog: an installed wfpgen works outside the checkout.

The wheel is installed into a fresh venv, wfpgen from the wheel alone. Its dependencies come
from wherever the running interpreter found its own: a venv (the README's set-up), the
system's or a user's site-packages, each named in a .pth file of the new venv. Nothing of the
running process's environment that changes imports (PYTHONPATH pointing at a checkout, an
active VIRTUAL_ENV) reaches the new one.
"""

from __future__ import annotations

import importlib
import os
import site
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

#: wfpgen's run-time dependencies, by import name.
DEPENDENCIES = ("jinja2", "yaml", "typer", "pydantic", "clang_format", "clang_tidy", "dpkt")
#: Variables that would make the new venv import something other than what it installed.
IMPORT_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONUSERBASE",
                    "PYTHONNOUSERSITE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")


def clean_environment() -> dict[str, str]:
    """This process's environment without what redirects imports."""
    return {name: value for name, value in os.environ.items() if name not in IMPORT_VARIABLES}


def dependency_dirs() -> list[str]:
    """The directories the running interpreter imports wfpgen's dependencies from.

    Its site directories (a venv's, the system's, the user's), and the directory each
    dependency actually came from, for anything more unusual. A .pth file appends them after
    the new venv's own site-packages, so a wfpgen installed in one of them does not shadow the
    wheel's (and their own .pth files, an editable wfpgen's among them, are not processed).
    """
    found = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    for name in DEPENDENCIES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        origin = getattr(module, "__file__", None)
        if origin:
            found.append(str(Path(origin).resolve().parent.parent))
    unique = []
    for directory in found:
        if Path(directory).is_dir() and directory not in unique:
            unique.append(directory)
    return unique


def test_wheel_installs_and_generates(tmp_path: Path) -> None:
    environ = clean_environment()
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, env=environ)
    wheel = next(dist.glob("wfpgen-*.whl"))
    env = tmp_path / "venv"
    # A venv of the base interpreter (python -m venv from inside a venv uses the base), with its
    # own site-packages only; the dependencies are then added by path.
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, capture_output=True, env=environ)
    python = env / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True, env=environ).stdout.strip()
    (Path(purelib) / "wfpgen-test-dependencies.pth").write_text("\n".join(dependency_dirs()) + "\n",
                                                                encoding="utf-8")
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                             check=False, capture_output=True, text=True, env=environ)
    assert install.returncode == 0, install.stderr
    work = tmp_path / "work"
    work.mkdir()
    (work / "monitor.yaml").write_bytes((ROOT / "specs" / "monitor.yaml").read_bytes())
    where = subprocess.run([str(python), "-c", "import wfpgen; print(wfpgen.__file__)"], cwd=work,
                           check=True, capture_output=True, text=True, env=environ).stdout
    assert str(env) in where, f"wfpgen imported from outside the venv: {where}"
    result = subprocess.run([str(env / "bin" / "wfpgen"), "new", "monitor.yaml", "-o", "out"], cwd=work, check=False,
                            capture_output=True, text=True, env=environ)
    assert result.returncode == 0, result.stderr
    golden = ROOT / "generated" / "MonitorNetwork"
    for path in golden.rglob("*"):
        if path.is_file():
            assert (work / "out" / path.relative_to(golden)).read_bytes() == path.read_bytes(), path
