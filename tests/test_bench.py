"""The bench build of the host runtime and bench/classify_bench.py's harness, run once.

* the ``bench`` variant (-O2, ``HOSTWDK_BENCH``) builds with the driver and classify_direct.c into
  one library; its pinned workers classify, every record comes back through READ and decodes to
  the values classify_direct.c sends, the floor loop runs, and a paced end-to-end trial loses
  nothing;
* the bench runtime keeps no checking state on the classify path: no lock holds measured, no
  calls counted, while the plain build of the same driver measures and counts them;
* bench/lock_hold_bench.py runs a few rounds and reports holds of at most one slice (its timings
  are printed, never asserted).

Skipped without gcc.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from wfpgen.hostsim.binding import HostDriver
from wfpgen.hostsim.build import build_shared

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="gcc is not installed")


@pytest.fixture(scope="module")
def classify_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("classify_bench", ROOT / "bench" / "classify_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["classify_bench"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_bench_build_classifies_and_reads_back(classify_bench: ModuleType, tmp_path: Path) -> None:
    cpus = sorted(os.sched_getaffinity(0))[:2]
    bench = classify_bench.Bench(tmp_path / "bench", cpus)
    try:
        round_ = bench.run(classify_bench.CLASSIFY, len(cpus), 100)
        assert [r.events for r in round_.results] == [100] * len(cpus)
        assert all(r.cpu_at_start == cpu and r.cpu_at_end == cpu for r, cpu in zip(round_.results, cpus))
        records = bench.decode.decode_batch(bench.read())[0]
        assert len(records) == 100 * len(cpus)
        assert sorted({r.processor for r in records}) == list(range(len(cpus))), "one ring per worker"
        values = records[0].decoded()
        assert values["ip_local_port"] == 51000 and values["ip_remote_port"] == 443, values
        assert bench.scenario.stats()["dropped"] == 0

        bench.run(classify_bench.FLOOR, 1, 100)
        assert bench.lib.Bench_FloorDropped() == 0
        assert bench.scenario.stats()["used"] == 0, "the floor never touches the driver's rings"

        holds = bench.driver.lock_holds()
        assert holds.holds == 0 and holds.longest_ns == 0 and holds.most_bytes == 0, \
            "the bench runtime measures no lock hold"
        assert bench.driver.call_counts().get("KeAcquireInStackQueuedSpinLock", 0) == 0
        assert bench.driver.violations() == []

        trial = classify_bench.end_to_end(bench, 20_000.0, 0.2)
        assert trial.clean and trial.decoded == trial.sent == 4000
    finally:
        bench.close()


def test_the_checked_build_still_measures_what_the_bench_build_does_not(tmp_path: Path) -> None:
    from wfpgen.output import write
    from wfpgen.pipeline import generate

    model, files = generate(ROOT / "specs" / "monitor.yaml")
    write(tmp_path / "project", files, force=True)
    driver = HostDriver(build_shared(tmp_path / "project", tmp_path / "plain.so", "plain", model.build_defines))
    driver.reset()
    assert driver.load() == 0
    driver.classify(driver.layer_id(model.layers[0].name), [])
    assert driver.call_counts().get("KeAcquireInStackQueuedSpinLock", 0) >= 1
    assert driver.lock_holds().holds >= 1
    assert driver.unload() == 0


def test_the_lock_hold_benchmark_runs() -> None:
    import re
    import subprocess

    result = subprocess.run([sys.executable, str(ROOT / "bench" / "lock_hold_bench.py"), "--rounds", "3"],
                            check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    copied = re.search(r"largest hold copied (\d+) bytes \(slice (\d+) bytes", result.stdout)
    assert copied, result.stdout
    assert 0 < int(copied[1]) <= int(copied[2]), result.stdout
    assert re.search(r"longest hold per READ, us: min [\d.]+  median [\d.]+  p90 [\d.]+  max [\d.]+\n",
                     result.stdout), result.stdout
    assert re.search(r"median / target 10 us: [\d.]+  (PASS|SHORT)\n", result.stdout), result.stdout
