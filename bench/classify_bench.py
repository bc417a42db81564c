#!/usr/bin/env python3
"""Classify cost per event in the host build (-O2): ring sink versus dbgprint sink.

Prints figures and ratios measured in one run:

* ns per classify for the default spec (specs/monitor.yaml, ring sink) and the same driver with
  the dbgprint sink (its line formatting and DbgPrintEx), one thread and two threads;
* the sustained end-to-end rate: classify threads against a reader draining the device with
  READ, at the default ring capacity, with the number of records lost (the target is none).

The figures include the host simulation's own dispatch (building FWPS_INCOMING_VALUES0,
matching the filter, calling the callout): they are an upper bound on the driver's cost, and a
fair comparison between sinks since both pay the same dispatch. Run with:

    python bench/classify_bench.py [--events N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from wfpgen.checks.scenario import Scenario, fixed_size_values
from wfpgen.hostsim.binding import STATUS_PENDING
from wfpgen.hostsim.build import build_shared
from wfpgen.output import write
from wfpgen.pipeline import generate

ROOT = Path(__file__).resolve().parent.parent
TARGET_NS = 50.0
TARGET_RATIO = 10.0


def build(spec: Path, work: Path, sink: str) -> Scenario:
    """Render ``spec`` with ``sink``, build it at -O2 and load it."""
    data = yaml.safe_load(spec.read_text())
    data["sink"] = {"kind": sink}
    variant = work / f"{sink}.yaml"
    variant.write_text(yaml.safe_dump(data))
    model, files = generate(variant)
    project = work / sink
    write(project, files, force=True)
    library = build_shared(project, work / f"{sink}.so", "release", model.build_defines)
    scenario = Scenario(library, project, work / f"{sink}-out", "release")
    scenario.driver.reset()
    if scenario.driver.load() != 0:
        raise SystemExit(f"{sink}: DriverEntry failed")
    if scenario.ring:
        scenario.handle = scenario.driver.open(scenario.model.channel.user_path)
    return scenario


def direct_ns(scenario: Scenario, work: Path, events: int, threads: int) -> float:
    """ns per event calling the driver's classifyFn directly (bench/classify_direct.c, -O2)."""
    from wfpgen.hostsim import INCLUDE_DIR
    from wfpgen.hostsim.build import RUNTIME_DIR, compiler, runtime_sources

    model = scenario.model
    layer = model.layers[0]
    exe = work / f"direct-{model.sink}"
    if not exe.exists():
        device = model.channel.user_path.replace("\\", "\\\\") if model.sink == "ring" else ""
        command = [compiler(), "-std=c11", "-fshort-wchar", "-O2", "-pthread", "-w",
                   *(f"-D{d}" for d in model.build_defines),
                   f"-DCLASSIFY_FN={layer.classify_fn}", f'-DDEVICE_PATH="{device}"',
                   f"-DREAD_CODE={model.channel.ioctl('READ').code}u",
                   "-I", str(RUNTIME_DIR), "-I", str(INCLUDE_DIR), "-I", str(scenario.project / "driver"),
                   str(ROOT / "bench" / "classify_direct.c"), *map(str, sorted((scenario.project / "driver").glob("*.c"))),
                   *map(str, runtime_sources()), "-o", str(exe)]
        subprocess.run(command, check=True)
    output = subprocess.run([str(exe), str(events), str(threads)], check=True, capture_output=True, text=True)
    return float(output.stdout.split()[-1])


def drain(scenario: Scenario) -> None:
    """Empty the ring (not timed)."""
    code = scenario.model.channel.ioctl("READ").code
    while scenario.stats()["used"] > 0:
        scenario.driver.ioctl(scenario.handle, code, b"", scenario.model.channel.capacity + 64)


def per_event_ns(scenario: Scenario, events: int, threads: int) -> float:
    """Mean wall-clock ns per classify with ``threads`` threads classifying concurrently."""
    layer = scenario.model.layers[0]
    values = fixed_size_values(scenario.model, layer)
    slots, metadata = scenario.inputs(layer, values)
    layer_id = scenario.layer_id(layer)
    chunk = 10_000  # fits the default ring with room to spare, so no record is dropped
    done, elapsed = 0, 0.0
    while done < events:
        count = min(chunk, events - done)
        per_thread = max(1, count // threads)
        workers = [threading.Thread(target=scenario.driver.classify_repeat, args=(layer_id, slots, metadata,
                                                                                    per_thread))
                   for _ in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed += time.perf_counter() - start
        done += per_thread * threads
        if scenario.ring:
            drain(scenario)
        else:
            scenario.driver.reset_log() if hasattr(scenario.driver, "reset_log") else None
    return elapsed * 1e9 / done


def sustained(scenario: Scenario, seconds: float, threads: int, rate: float = 0.0) -> tuple[float, int, int]:
    """Records/s read end to end by a draining reader while ``threads`` classify at ``rate``
    events/s in all (0: flat out)."""
    layer = scenario.model.layers[0]
    values = fixed_size_values(scenario.model, layer)
    slots, metadata = scenario.inputs(layer, values)
    layer_id = scenario.layer_id(layer)
    code = scenario.model.channel.ioctl("READ").code
    stop = threading.Event()
    read = [0]
    before = scenario.stats()

    def reader() -> None:
        while not stop.is_set() or scenario.stats()["used"] > 0:
            status, result = scenario.driver.ioctl(scenario.handle, code, b"", 1 << 20)
            if status == STATUS_PENDING:
                assert isinstance(result, int)
                status, data = scenario.driver.wait(result, 20)
                if status == STATUS_PENDING:
                    scenario.driver.cancel(result)
                    scenario.driver.wait(result, 1000)
                    continue
            else:
                data = result if isinstance(result, bytes) else b""
            if len(data) >= 16:
                read[0] += int.from_bytes(data[8:12], "little")

    def producer() -> None:
        chunk, sent, begin = 1_000, 0, time.perf_counter()
        while not stop.is_set():
            scenario.driver.classify_repeat(layer_id, slots, metadata, chunk)
            sent += chunk
            if rate > 0:
                ahead = sent / (rate / threads) - (time.perf_counter() - begin)
                if ahead > 0:
                    time.sleep(ahead)

    drainer = threading.Thread(target=reader)
    workers = [threading.Thread(target=producer) for _ in range(threads)]
    drainer.start()
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    drainer.join()
    after = scenario.stats()
    return read[0] / elapsed, after["emitted"] - before["emitted"], after["dropped"] - before["dropped"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wfpgen-bench-"))
    try:
        spec = ROOT / "specs" / "monitor.yaml"
        ring, dbg = build(spec, work, "ring"), build(spec, work, "dbgprint")
        rows = []
        for threads in (1, 2):
            ring_ns = direct_ns(ring, work, args.events, threads)
            dbg_ns = direct_ns(dbg, work, max(args.events // 10, 20_000), threads)
            rows.append((threads, ring_ns, dbg_ns))
        engine = [(threads, per_event_ns(ring, args.events // 4, threads), per_event_ns(dbg, 20_000, threads))
                  for threads in (1, 2)]
        rate, emitted, dropped = sustained(ring, args.seconds, 2)
        lossless = []
        for target in (500_000, 1_000_000, 2_000_000, 3_000_000):
            achieved, sent, lost = sustained(ring, args.seconds, 2, float(target))
            lossless.append((target, achieved, sent, lost))
        print(f"spec: {spec.relative_to(ROOT)}, host build -O2, {args.events:,} events per measurement")
        print("the driver's classifyFn called directly:")
        print(f"{'threads':>7} {'ring ns/event':>14} {'dbgprint ns/event':>18} {'dbgprint/ring':>14}")
        for threads, ring_ns, dbg_ns in rows:
            print(f"{threads:>7} {ring_ns:>14.1f} {dbg_ns:>18.1f} {dbg_ns / ring_ns:>13.1f}x")
        one = rows[0]
        print("through the simulated filter engine (dispatch included, an upper bound):")
        for threads, ring_ns, dbg_ns in engine:
            print(f"{threads:>7} {ring_ns:>14.1f} {dbg_ns:>18.1f} {dbg_ns / ring_ns:>13.1f}x")
        print(f"ring, 1 thread: {one[1]:.1f} ns/event   target <= {TARGET_NS:.0f} ns   "
              f"{'met' if one[1] <= TARGET_NS else 'NOT met'}")
        print(f"dbgprint/ring:  {one[2] / one[1]:.1f}x   target >= {TARGET_RATIO:.0f}x   "
              f"{'met' if one[2] / one[1] >= TARGET_RATIO else 'NOT met'}")
        print(f"sustained, 2 classify threads + 1 reader for {args.seconds:.0f} s at capacity "
              f"{ring.model.channel.capacity:,} B: {rate:,.0f} records/s read, {emitted:,} emitted, "
              f"{dropped:,} dropped")
        print("paced, 2 classify threads + 1 reader, default capacity:")
        for target, achieved, sent, lost in lossless:
            print(f"  offered {target:>9,}/s: read {achieved:>11,.0f}/s, {sent:>11,} emitted, {lost:,} dropped")
        clean = [t for t, _, _, lost in lossless if lost == 0]
        print(f"highest offered rate with zero loss: {max(clean):,}/s" if clean else "no paced rate was lossless")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
