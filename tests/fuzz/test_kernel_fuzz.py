"""Kernel input fuzzing: random classify inputs through the host simulation under ASan+UBSan.

``kernel_fuzz_runner.py`` runs in a subprocess with :func:`wfpgen.hostsim.build.sanitizer_env`
(a sanitizer report aborts it). Property: it exits 0: no sanitizer report, no runtime
violation, nothing left after unload, and every record READ back decodes with the generated
reader with wrongly typed and absent values as None and over-long blobs flagged truncated.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fuzzbudget import examples

from wfpgen.hostsim.build import Variant, build_shared, sanitizer_env
from wfpgen.output import write
from wfpgen.pipeline import generate

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().parent / "kernel_fuzz_runner.py"
GCC = shutil.which("gcc")

pytestmark = pytest.mark.skipif(GCC is None, reason="gcc is not installed: the host simulation cannot be built")


def render(spec: str, root: Path) -> Path:
    """``specs/<spec>`` rendered to ``root`` (driver, reader and the spec copy)."""
    _, files = generate(REPO / "specs" / spec, spec)
    write(root, files)
    return root


def build(spec: str, base: Path, variant: Variant) -> tuple[Path, Path]:
    project = render(spec, base / spec.removesuffix(".yaml"))
    from wfpgen.pipeline import model_for

    model = model_for(project / "wfpgen.yaml")
    library = build_shared(project, base / f"{project.name}-{variant}.so", variant,
                           getattr(model, "build_defines", ()))
    return project, library


def seed() -> int:
    value = os.environ.get("WFPGEN_FUZZ_SEED")
    return int(value) if value else random.randrange(1 << 32)


def run(library: Path, project: Path, count: int, mode: str, variant: Variant) -> None:
    chosen = seed()
    result = subprocess.run(
        [sys.executable, str(RUNNER), str(library), str(project), str(chosen), str(count), mode],
        env=sanitizer_env(variant), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, (
        f"{mode} fuzz of {project.name} ({variant}) failed, exit {result.returncode}; "
        f"reproduce with WFPGEN_FUZZ_SEED={chosen}\n{result.stdout[-6000:]}\n{result.stderr[-10000:]}")


@pytest.fixture(scope="module")
def asan_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("kernel-fuzz")
    return {spec: build(spec, base, "asan") for spec in ("ale-connect.yaml", "monitor-v6.yaml")}


@pytest.mark.parametrize("spec", ["ale-connect.yaml", "monitor-v6.yaml"])
def test_kernel_inputs_under_asan(asan_builds: dict[str, tuple[Path, Path]], spec: str) -> None:
    project, library = asan_builds[spec]
    run(library, project, examples(300), "kernel", "asan")
