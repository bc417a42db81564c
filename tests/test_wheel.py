"""The built wheel carries the templates and catalog: an installed wfpgen works outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from conftest import ROOT


def test_wheel_installs_and_generates(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(dist.glob("wfpgen-*.whl"))
    env = tmp_path / "venv"
    # Dependencies come from the running interpreter; wfpgen itself only from the wheel.
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "monitor.yaml").write_bytes((ROOT / "specs" / "monitor.yaml").read_bytes())
    where = subprocess.run([str(python), "-c", "import wfpgen; print(wfpgen.__file__)"], cwd=work,
                           check=True, capture_output=True, text=True).stdout
    assert str(env) in where, f"wfpgen imported from outside the venv: {where}"
    result = subprocess.run([str(env / "bin" / "wfpgen"), "new", "monitor.yaml", "-o", "out"], cwd=work, check=False,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    golden = ROOT / "generated" / "MonitorNetwork"
    for path in golden.rglob("*"):
        if path.is_file():
            assert (work / "out" / path.relative_to(golden)).read_bytes() == path.read_bytes(), path
