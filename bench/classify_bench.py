#!/usr/bin/env python3
"""Classify cost of the ring sink in the bench build, against a floor measured in the same run.

The default spec (specs/monitor.yaml, ring sink) is built with the bench flavour of the host
runtime (-O2, HOSTWDK_BENCH: plain spin locks, no checking, no call counters) into one shared
library together with bench/classify_direct.c, which is loaded here with ctypes. The classify
figures use the spec as it is (1 MiB of rings); the end-to-end figure a copy with 16 MiB
(END_TO_END_CAPACITY), so that a reader busy decoding one batch does not lose the next.
classify_direct.c owns the timed loops: worker threads are created before anything is timed,
each pinned to its own CPU and playing its own processor, and released together by a barrier;
the timed region holds nothing but the calls measured, and rings are drained between rounds,
untimed, so no record is dropped (a drop is cheaper than a store).

Printed, from one run:

* ns/event of the driver's classifyFn on 1 thread, and its ratio to the floor: the bare copy of
  the same record into a ring, with the same spin lock and the same timestamp, per event (and
  the timestamp's own cost);
* events/s of 2 threads on 2 CPUs as a ratio of 1 thread's, the floor's own ratio beside it;
* end to end: 2 paced classify threads -> the rings -> IOCTL READ through the host runtime ->
  the generated reader's decode_batch decoding every record, at the highest offered rate found
  with zero loss and a reader that kept up, as a ratio of decode_batch's bare rate on full
  batches of the same size.

Each figure is a median over rounds that really ran as intended: a round in which a thread
moved off its CPU or was descheduled (its CPU time under 95% of its wall time) is discarded, and
so is a two-thread round whose threads shared less than half of it; a figure with fewer than 3
good rounds is refused. Two threads that both ran without a break on their own CPUs for most of
the same interval ran in parallel; a round in which one finished earlier than the other still
counts, with the longer span, so the aggregate is not picked from the best-balanced rounds. Run with:

    python bench/classify_bench.py [--rounds N] [--seconds S] [--notes]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wfpgen.checks.scenario import Scenario
from wfpgen.hostsim.binding import STATUS_PENDING, ntstatus
from wfpgen.hostsim.build import build_shared
from wfpgen.output import write
from wfpgen.pipeline import generate

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "monitor.yaml"
FLOW_SPEC = ROOT / "specs" / "monitor-process.yaml"  # the same layer with flows.attribution
FLOW_PATH = r"\device\harddiskvolume3\program files\mozilla firefox\firefox.exe"  # the flow's process
END_TO_END_CAPACITY = 16 << 20  # the end-to-end ring: 8 MiB per processor, ~170,000 records each
READ_BYTES = 1 << 20  # the reader's READ buffer: one batch of at most 1 MiB
ROUND_EVENTS = 10_000  # per thread and round: fits one ring of the default capacity (512 KiB each)
CLASSIFY, FLOOR, TIMESTAMP = 0, 1, 2
TARGET_FLOOR_RATIO = 1.5
TARGET_SCALING = 1.8
TARGET_END_TO_END = 0.8
MIN_GOOD_ROUNDS = 3
ON_CPU = 0.95  # the share of its wall time each thread must have been on its CPU
OVERLAP = 0.5  # the share of a round the threads' intervals must share


class Result(ctypes.Structure):
    _fields_ = [("start_ns", ctypes.c_uint64), ("end_ns", ctypes.c_uint64), ("cpu_ns", ctypes.c_uint64),
                ("events", ctypes.c_uint64), ("cpu_at_start", ctypes.c_int32), ("cpu_at_end", ctypes.c_int32)]


@dataclass
class Round:
    """One round of ``threads`` workers: wall interval, CPU time and whether it counts."""

    results: list[Result]
    cpus: list[int]

    @property
    def span_ns(self) -> int:
        return max(r.end_ns for r in self.results) - min(r.start_ns for r in self.results)

    @property
    def events(self) -> int:
        return sum(r.events for r in self.results)

    def problem(self) -> str | None:
        """Why the round does not count, or None."""
        for result, cpu in zip(self.results, self.cpus):
            if result.cpu_at_start != cpu or result.cpu_at_end != cpu:
                return f"a thread ran on CPU {result.cpu_at_start}/{result.cpu_at_end}, not {cpu}"
            wall = result.end_ns - result.start_ns
            if result.cpu_ns < ON_CPU * wall:
                return f"a thread was on its CPU {result.cpu_ns / wall:.0%} of its wall time"
        if len(self.results) > 1:
            overlap = min(r.end_ns for r in self.results) - max(r.start_ns for r in self.results)
            if overlap < OVERLAP * self.span_ns:
                return f"the threads overlapped for {max(overlap, 0) / self.span_ns:.0%} of the round"
        return None


class Bench:
    """The benchmark library: the driver loaded (2 processors), the device open, workers waiting."""

    def __init__(self, work: Path, cpus: list[int], capacity: int | None = None, spec_path: Path = SPEC) -> None:
        """The spec's own capacity, or ``capacity``."""
        data = yaml.safe_load(spec_path.read_text())
        if capacity is not None:
            data.setdefault("sink", {"kind": "ring"})["capacity"] = capacity
        work.mkdir(parents=True)
        spec = work / "bench.yaml"
        spec.write_text(yaml.safe_dump(data))
        model, files = generate(spec)
        project = work / "project"
        write(project, files, force=True)
        layer = model.layers[0]
        harness = work / "harness.c"
        flow = (f"#define FLOW_CONTEXT_TYPE {model.flows.context_type}\n"
                f"#define FLOW_PRESENT ({model.upper}_FLOW_PROCESS_ID | {model.upper}_FLOW_PROCESS_PATH)\n"
                f"#define FLOW_PATH L\"{FLOW_PATH.replace(chr(92), chr(92) * 2)}\"\n"
                if model.flows else "")
        harness.write_text(f"#define CLASSIFY_FN {layer.classify_fn}\n"
                           f"#define RECORD_TYPE {model.upper}_RECORD_{layer.upper}\n{flow}"
                           f'#include "{ROOT / "bench" / "classify_direct.c"}"\n')
        library = build_shared(project, work / "bench.so", "bench", model.build_defines, extra_sources=[harness])
        self.scenario = Scenario(library, project, work / "out", "bench")
        self.model = model
        self.driver = self.scenario.driver
        self.driver.reset()
        self.driver.set_processor_count(len(cpus))
        if self.driver.load() != 0:
            raise SystemExit("DriverEntry failed in the bench build")
        self.scenario.handle = self.driver.open(model.channel.user_path)
        self.read_code = model.channel.ioctl("READ").code
        self.lib: Any = self.driver.lib
        self.lib.Bench_Start.argtypes = [ctypes.c_uint32, ctypes.POINTER(ctypes.c_int32), ctypes.c_uint32]
        self.lib.Bench_Run.argtypes = [ctypes.c_int, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_double,
                                       ctypes.POINTER(Result)]
        self.lib.Bench_FloorDropped.restype = ctypes.c_uint64
        self.lib.Bench_FloorDrain.restype = ctypes.c_uint64
        self.cpus = cpus
        self.capacity = model.channel.capacity
        self.ring_bytes = (self.capacity // len(cpus)) & ~7
        pinned = (ctypes.c_int32 * len(cpus))(*cpus)
        if self.lib.Bench_Start(len(cpus), pinned, self.ring_bytes) != 0:
            raise SystemExit("could not start the worker threads")
        self.decode = self.scenario.reader
        self.buffer = ctypes.create_string_buffer(READ_BYTES)

    def close(self) -> None:
        self.lib.Bench_Stop()
        self.driver.close(self.scenario.handle)
        self.driver.unload()

    def run(self, mode: int, threads: int, events: int, rate: float = 0.0) -> Round:
        results = (Result * threads)()
        if self.lib.Bench_Run(mode, threads, events, rate, results) != 0:
            raise SystemExit("Bench_Run refused its arguments")
        return Round(list(results), self.cpus[:threads])

    def read(self) -> bytes:
        """One READ into a buffer of READ_BYTES, as the generated reader issues it (one buffer,
        reused; the bytes returned copied out): waits 50 ms for a pended READ, then cancels it."""
        information = ctypes.c_uint64()
        request = ctypes.c_int64()
        status = ntstatus(self.lib.HostWdk_DeviceIoControl(self.scenario.handle, self.read_code, None, 0,
                                                           self.buffer, READ_BYTES, ctypes.byref(information),
                                                           ctypes.byref(request)))
        if status == STATUS_PENDING and ntstatus(
                self.lib.HostWdk_Wait(request.value, 50, ctypes.byref(information))) == STATUS_PENDING:
            self.lib.HostWdk_Cancel(request.value)
            self.lib.HostWdk_Wait(request.value, 5000, ctypes.byref(information))
        return ctypes.string_at(self.buffer, information.value)

    def drain(self) -> tuple[int, int]:
        """Read every record (not timed): (records, the driver's drop count so far)."""
        records = 0
        while self.scenario.stats()["used"] > 0:
            data = self.read()
            if len(data) >= 16:
                records += int.from_bytes(data[8:12], "little")
        return records, self.scenario.stats()["dropped"]


Figure = tuple[float, int, float, float]  # median events/s, good rounds, first and third quartile


def interleaved(bench: Bench, rounds: int, notes: list[str]) -> dict[tuple[int, int], Figure | None]:
    """Rounds of classify and floor on 1 and 2 threads, taken in turn, so that every figure and
    every ratio between them comes from the same stretch of time on the machine; until each has
    ``rounds`` good rounds, or 4 times as many have run. Keyed by (mode, threads)."""
    kinds = [(mode, threads) for threads in (1, 2) for mode in (CLASSIFY, FLOOR)] + [(TIMESTAMP, 1)]
    collected: dict[tuple[int, int], list[float]] = {kind: [] for kind in kinds}
    for _ in range(4 * rounds):
        if min(len(rates) for rates in collected.values()) >= rounds:
            break
        for mode, threads in kinds:
            round_ = bench.run(mode, threads, ROUND_EVENTS)
            if mode == CLASSIFY:
                read, dropped = bench.drain()
                if read != round_.events or dropped:
                    raise SystemExit(f"a classify round lost records: {read} of {round_.events} read, "
                                     f"{dropped} dropped")
            elif mode == FLOOR:
                if bench.lib.Bench_FloorDropped():
                    raise SystemExit("the floor's rings overflowed")
                bench.lib.Bench_FloorDrain()  # as the classify rounds' rings are drained, from this thread
            why = round_.problem()
            if why is None:
                collected[(mode, threads)].append(round_.events * 1e9 / round_.span_ns)
            else:
                notes.append(f"{('classify', 'floor', 'timestamp')[mode]} on {threads} thread(s): round "
                             f"discarded: {why}")
    figures: dict[tuple[int, int], Figure | None] = {}
    for kind, rates in collected.items():
        if len(rates) < MIN_GOOD_ROUNDS:
            figures[kind] = None
            continue
        quartiles = statistics.quantiles(rates[:rounds], n=4)
        figures[kind] = (statistics.median(rates[:rounds]), len(rates[:rounds]), quartiles[0], quartiles[2])
    return figures


def attribution_cost(plain: Bench, attributed: Bench, rounds: int, notes: list[str]) -> tuple[Figure, Figure] | None:
    """classify on 1 thread without and with flows.attribution (the flow's process id and path copied
    from its context into every record), in alternate rounds; None when too few rounds ran well."""
    rates: tuple[list[float], list[float]] = ([], [])
    for _ in range(4 * rounds):
        if min(len(r) for r in rates) >= rounds:
            break
        for bench, collected in zip((plain, attributed), rates):
            round_ = bench.run(CLASSIFY, 1, ROUND_EVENTS)
            read, dropped = bench.drain()
            if read != round_.events or dropped:
                raise SystemExit(f"a classify round lost records: {read} of {round_.events} read, {dropped} dropped")
            why = round_.problem()
            if why is None:
                collected.append(round_.events * 1e9 / round_.span_ns)
            else:
                notes.append(f"classify{' with attribution' if bench is attributed else ''} on 1 thread: round "
                             f"discarded: {why}")
    if min(len(r) for r in rates) < MIN_GOOD_ROUNDS:
        return None
    figures = []
    for collected in rates:
        quartiles = statistics.quantiles(collected[:rounds], n=4)
        figures.append((statistics.median(collected[:rounds]), len(collected[:rounds]), quartiles[0], quartiles[2]))
    return figures[0], figures[1]


def bare_decode_rate(bench: Bench, repeats: int) -> tuple[float, int]:
    """decode_batch's records/s on full READ_BYTES batches, and the records per batch. Each batch
    is decoded once untimed first, so that the timed decoding finds it in the cache as the
    end-to-end reader finds a batch READ has just copied: the reader at its fastest."""
    bench.run(CLASSIFY, 1, int(bench.ring_bytes / bench.model.layers[0].record.size * 0.9))
    batches = []
    while bench.scenario.stats()["used"] > 0:
        batches.append(bench.read())
    full = [b for b in batches if len(b) > READ_BYTES - 4096]
    decode_batch: Callable[[bytes], tuple[list[Any], int]] = bench.decode.decode_batch  # type: ignore[union-attr]
    rates = []
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        for _ in range(repeats):
            elapsed, count = 0.0, 0
            for batch in full:
                decode_batch(batch)
                start = time.perf_counter()
                records, _ = decode_batch(batch)
                elapsed += time.perf_counter() - start
                count += len(records)
                del records
            rates.append(count / elapsed)
    finally:
        gc.enable()
        gc.unfreeze()
    per_batch = int.from_bytes(full[0][8:12], "little")
    return statistics.median(rates), per_batch


@dataclass
class Offered:
    rate: float
    achieved: float
    decoded: int
    sent: int
    dropped: int
    behind_s: float  # how long the reader took after the last classify

    @property
    def clean(self) -> bool:
        return self.dropped == 0 and self.decoded == self.sent


def end_to_end(bench: Bench, rate: float, seconds: float) -> Offered:
    """2 classify threads paced at ``rate`` events/s in all while this thread READs and decodes."""
    threads = len(bench.cpus)
    events = int(rate * seconds / threads)
    decode_batch = bench.decode.decode_batch  # type: ignore[union-attr]
    dropped_before = bench.scenario.stats()["dropped"]
    holder: dict[str, Round] = {}

    def classify() -> None:
        holder["round"] = bench.run(CLASSIFY, threads, events, rate / threads)

    producer = threading.Thread(target=classify)
    decoded = 0
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        start = time.perf_counter()
        producer.start()
        last = start
        while True:
            data = bench.read()
            if len(data) > 16:
                records, _ = decode_batch(data)
                decoded += len(records)
                last = time.perf_counter()
            elif not producer.is_alive() and bench.scenario.stats()["used"] == 0:
                break
        producer.join()
    finally:
        gc.enable()
        gc.unfreeze()
    round_ = holder["round"]
    finished = max(r.end_ns for r in round_.results) / 1e9
    behind = max(0.0, last - start - (finished - min(r.start_ns for r in round_.results) / 1e9))
    dropped = bench.scenario.stats()["dropped"] - dropped_before
    return Offered(rate, decoded / (last - start), decoded, events * threads, dropped, behind)


def search(bench: Bench, bare: float, seconds: float, notes: list[str]) -> Offered | None:
    """The highest offered rate, within 3%, at which nothing was lost and the reader kept up
    (finished within 5% of the offering time after the last classify)."""
    good: Offered | None = None
    low, high = 0.0, 1.3 * bare
    rate = 0.6 * bare
    for _ in range(7):
        trial = end_to_end(bench, rate, seconds)
        kept_up = trial.behind_s <= 0.05 * seconds
        notes.append(f"end to end: offered {rate:,.0f}/s: decoded {trial.decoded:,} of {trial.sent:,} at "
                     f"{trial.achieved:,.0f}/s, {trial.dropped:,} dropped, reader done {trial.behind_s:.2f} s "
                     f"after the last classify")
        if trial.clean and kept_up:
            good = trial if good is None or trial.achieved > good.achieved else good
            low = rate
        else:
            high = rate
        if high - low < 0.03 * bare:
            break
        rate = (low + high) / 2
    return good


def verdict(value: float, target: float, higher: bool) -> str:
    ok = value >= target if higher else value <= target
    return "PASS" if ok else "SHORT"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41, help="good rounds per figure (default 41)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per end-to-end trial (default 2)")
    parser.add_argument("--notes", action="store_true", help="also print every discarded round and trial")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        raise SystemExit("the benchmark needs 2 CPUs: one thread per CPU")
    work = Path(tempfile.mkdtemp(prefix="wfpgen-bench-"))
    notes: list[str] = []
    try:
        bench = Bench(work / "default", cpus)
        try:
            capacity = bench.capacity
            record_size = bench.model.layers[0].record.size
            figures = interleaved(bench, args.rounds, notes)
        finally:
            bench.close()
        # Both at the end-to-end capacity: a round's records with paths do not fit the default rings.
        bench = Bench(work / "plain-large", cpus, END_TO_END_CAPACITY)
        attributed = Bench(work / "attribution", cpus, END_TO_END_CAPACITY, spec_path=FLOW_SPEC)
        try:
            flow_record_size = attributed.model.layers[0].record.size
            attribution = attribution_cost(bench, attributed, args.rounds, notes)
        finally:
            attributed.close()
            bench.close()
        bench = Bench(work / "end-to-end", cpus, END_TO_END_CAPACITY)
        try:
            before, per_batch = bare_decode_rate(bench, 5)
            best = search(bench, before, args.seconds, notes)
            after, _ = bare_decode_rate(bench, 5)
            bare = max(before, after)  # the reader's best: the ratio errs low, never high
        finally:
            bench.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"spec {SPEC.relative_to(ROOT)}, ring sink at its capacity of {capacity:,} B ({len(cpus)} rings); bench "
          f"build (-O2, HOSTWDK_BENCH); workers pinned to CPUs {cpus[0]} and {cpus[1]}; {ROUND_EVENTS:,} events "
          f"per thread and round, median of {args.rounds} good rounds each")
    refused = "REFUSED: fewer than 3 rounds ran as intended"
    classify1, floor1 = figures[(CLASSIFY, 1)], figures[(FLOOR, 1)]
    classify2, floor2 = figures[(CLASSIFY, 2)], figures[(FLOOR, 2)]
    if classify1 and floor1:
        ratio = floor1[0] / classify1[0]
        print(f"classify, 1 thread: {1e9 / classify1[0]:.1f} ns/event (middle half of the rounds "
              f"{1e9 / classify1[3]:.1f}-{1e9 / classify1[2]:.1f}); floor (timestamp + lock + copy of the same "
              f"{record_size}-byte record): {1e9 / floor1[0]:.1f} ns/event; classify/floor {ratio:.2f}x  target <= "
              f"{TARGET_FLOOR_RATIO}x  {verdict(ratio, TARGET_FLOOR_RATIO, False)}")
        stamp = figures[(TIMESTAMP, 1)]
        if stamp:
            print(f"  of both, the timestamp (KeQuerySystemTimePrecise: clock_gettime(CLOCK_REALTIME)) alone: "
                  f"{1e9 / stamp[0]:.1f} ns/event")
    else:
        print(f"classify, 1 thread: {refused}")
    if classify1 and floor1 and classify2 and floor2:
        scaling, floor_scaling = classify2[0] / classify1[0], floor2[0] / floor1[0]
        print(f"classify, 2 threads on 2 CPUs: {classify2[0]:,.0f} events/s (middle half {classify2[2]:,.0f}-"
              f"{classify2[3]:,.0f}) = {scaling:.2f}x 1 thread  target >= {TARGET_SCALING}x  "
              f"{verdict(scaling, TARGET_SCALING, True)}  (floor: {floor2[0]:,.0f} events/s = {floor_scaling:.2f}x "
              "its 1 thread)")
    else:
        print(f"classify, 2 threads on 2 CPUs: {refused}")
    if attribution is not None:
        (plain, _, plain_low, plain_high), (flows, _, flows_low, flows_high) = attribution
        path_bytes = 2 * len(FLOW_PATH) + 2
        print(f"classify with flows.attribution ({FLOW_SPEC.relative_to(ROOT)}: process id and a {path_bytes}-byte "
              f"path from the flow context, a {flow_record_size}-byte record + path; rings of {END_TO_END_CAPACITY:,} B for both), "
              f"1 thread: {1e9 / flows:.1f} ns/event "
              f"(middle half {1e9 / flows_high:.1f}-{1e9 / flows_low:.1f}) against {1e9 / plain:.1f} ns/event "
              f"without (middle half {1e9 / plain_high:.1f}-{1e9 / plain_low:.1f}), in alternate rounds: "
              f"+{1e9 / flows - 1e9 / plain:.1f} ns")
    else:
        print(f"classify with flows.attribution, 1 thread: {refused}")
    print(f"reader alone: decode_batch on full {READ_BYTES >> 10} KiB batches ({per_batch:,} records): {bare:,.0f} "
          f"records/s (the better of {before:,.0f} before and {after:,.0f} after the search; gc frozen and "
          "disabled around decoding, as in the end-to-end loop)")
    if best is not None and best.achieved > 1.05 * bare:
        print(f"end to end: REFUSED: {best.achieved:,.0f} records/s decoded end to end, more than the reader alone "
              f"({bare:,.0f}/s) can decode: the machine's load changed during the run")
    elif best is not None:
        ratio = best.achieved / bare
        print(f"end to end, capacity {END_TO_END_CAPACITY:,} B, 2 classify threads -> rings -> READ -> "
              f"decode_batch: {best.achieved:,.0f} records/s "
              f"decoded with zero loss (offered {best.rate:,.0f}/s for {args.seconds:.0f} s, {best.decoded:,} of "
              f"{best.sent:,}) = {ratio:.2f}x the reader alone  target >= {TARGET_END_TO_END}x  "
              f"{verdict(ratio, TARGET_END_TO_END, True)}")
    else:
        print("end to end: no offered rate was lossless")
    if args.notes:
        for note in notes:
            print("  " + note)
    else:
        print(f"({len([n for n in notes if 'discarded' in n])} rounds discarded; --notes lists them and every "
              "end-to-end trial)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
