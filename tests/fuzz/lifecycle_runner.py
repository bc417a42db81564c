"""Driver lifecycle under concurrency, for a ring-sink project, in its own (sanitized) process.

    python tests/fuzz/lifecycle_runner.py LIB PROJECT CYCLES [UNLOAD_ROUNDS]

LIB is a library built by ``wfpgen.hostsim.build.build_shared`` (tsan in the test, run with
``sanitizer_env("tsan")``: a report aborts this process). Three phases:

drain: classify on 3 threads while one thread drains the ring through READ (pend, wait in
    short slices, re-issue) and another repeatedly issues a READ and cancels it. Every record
    read decodes to what was sent; nothing is read twice; every request completes once.
unload: classify on 4 threads (short C loops, so each thread calls in and out of the engine
    many times) while the main thread unloads the driver with a READ pended. Unload returns
    only when no classifyFn runs (the runtime flags the opposite at unregistration); the pended
    READ ends cancelled; after unload every classify finds no filter and invokes no callout.
cycles: CYCLES load / traffic (2 threads + a reader) / unload rounds.

Exit 0 when every property held; 1 (with the reason printed) when one failed.
"""
# ruff: noqa: B023 - each round's closures run (and their threads are joined) within that round

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from wfpgen.checks.scenario import Scenario, fixed_size_values
from wfpgen.hostsim.binding import STATUS_CANCELLED, STATUS_PENDING, STATUS_SUCCESS, status_text

# The harness keeps its handle open across unload on purpose (to hold a READ pended there);
# the runtime notes that as the harness's doing. Nothing else is excused.
HARNESS_VIOLATION = "handle(s) are still open (the harness did not close them)"


class Failure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


class Lifecycle:
    def __init__(self, library: Path, project: Path) -> None:
        self.s = Scenario(library, project, project, "tsan")
        self.driver = self.s.driver
        self.model = self.s.model
        check(self.s.ring and self.s.reader is not None, "the project has no ring sink")
        self.read_code = self.model.channel.ioctl("READ").code
        self.length = max(65536, 4096 + self.model.max_record_size)
        self.layers = []
        for layer in self.model.layers:
            values = fixed_size_values(self.model, layer)
            slots, metadata = self.s.inputs(layer, values)
            self.layers.append((layer, self.s.layer_id(layer), slots, metadata))

    # -- helpers -----------------------------------------------------------------------------
    def load(self) -> None:
        status = self.driver.load()
        check(status == STATUS_SUCCESS, f"DriverEntry returned {status_text(status)}")
        check(not self.driver.violations(), f"violations at load: {self.driver.violations()}")
        self.s.handle = self.driver.open(self.model.channel.user_path)

    def classify_threads(self, count: int, per_thread: int, chunk: int, errors: list[str],
                         stop: threading.Event | None = None,
                         verdicts: list[tuple[float, float, int]] | None = None,
                         pause: float = 0.0) -> list[threading.Thread]:
        def work(index: int) -> None:
            _, layer_id, slots, metadata = self.layers[index % len(self.layers)]
            done = 0
            try:
                while done < per_thread and not (stop is not None and stop.is_set()):
                    began = time.monotonic()
                    verdict = self.driver.classify_repeat(layer_id, slots, metadata, chunk)
                    if verdicts is not None:  # when the chunk ran, what its last classify invoked
                        verdicts.append((began, time.monotonic(), verdict.callouts_invoked))
                    done += chunk
                    if pause:
                        time.sleep(pause)
            except Exception as exc:  # noqa: BLE001 - reported by the phase
                errors.append(f"classify thread {index}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        return threads

    def drainer(self, stop: threading.Event, got: list[Any], errors: list[str]) -> threading.Thread:
        """READ until ``stop``: pend, wait in 20 ms slices, cancel its own READ once stopped."""
        def drain() -> None:
            try:
                while True:
                    status, result = self.driver.ioctl(self.s.handle, self.read_code, b"", self.length)
                    if status == STATUS_PENDING:
                        assert isinstance(result, int)
                        while True:
                            status, data = self.driver.wait(result, 20)
                            if status != STATUS_PENDING:
                                break
                            if stop.is_set():
                                self.driver.cancel(result)
                        if status == STATUS_CANCELLED:
                            return
                    else:
                        data = result if isinstance(result, bytes) else b""
                    if status != STATUS_SUCCESS:
                        errors.append(f"drain READ returned {status_text(status)}")
                        return
                    records, end = self.s.reader.decode_batch(data, 0)
                    if end != len(data):
                        errors.append(f"a batch ends at {end} of {len(data)} bytes")
                        return
                    got.extend(records)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"drainer: {type(exc).__name__}: {exc}")

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        return thread

    def drain_rest(self, got: list[Any]) -> None:
        """READ what is left after the writers stopped (the drainer may have been cancelled first)."""
        for _ in range(1000):
            if self.s.stats()["used"] == 0:
                return
            got.extend(self.s.decode(self.s.read(self.length)))
        raise Failure("the ring never emptied")

    def check_records(self, got: list[Any], before: dict[str, int], sent: int) -> tuple[int, int]:
        after = self.s.stats()
        emitted = after["emitted"] - before["emitted"]
        dropped = after["dropped"] - before["dropped"]
        check(emitted + dropped == sent, f"emitted {emitted} + dropped {dropped} != classified {sent}")
        check(len(got) == emitted, f"read {len(got)} of {emitted} emitted records")
        check(len({r.sequence for r in got}) == len(got), "a record was read twice (duplicate sequence numbers)")
        return emitted, dropped

    def unload_and_audit(self, pended: list[int]) -> list[str]:
        """Unload (handle still open when READs are pended), check they end cancelled, close, audit."""
        if not pended and self.s.handle:
            self.driver.close(self.s.handle)
            self.s.handle = 0
        self.driver.unload()
        problems = [v for v in self.driver.violations() if not (pended and HARNESS_VIOLATION in v)]
        check(not problems, f"violations at unload: {problems}")
        for request in pended:
            status, data = self.driver.wait(request, 2000)
            check(status == STATUS_CANCELLED, f"a READ pended across unload ended {status_text(status)}")
            check(data == b"", f"a cancelled READ returned {len(data)} bytes")
        if self.s.handle:
            self.driver.close(self.s.handle)
            self.s.handle = 0
        left = self.driver.counters().nonzero()
        check(not left, f"left after unload: {left}")
        return problems

    # -- phases ------------------------------------------------------------------------------
    def drain_phase(self) -> str:
        self.driver.reset()
        self.load()
        before = self.s.stats()
        errors: list[str] = []
        got: list[Any] = []
        stop = threading.Event()
        cancels = {"cancelled": 0, "completed": 0}

        def canceller() -> None:
            other = self.driver.open(self.model.channel.user_path)
            try:
                while not stop.is_set():
                    status, result = self.driver.ioctl(other, self.read_code, b"", self.length)
                    if status == STATUS_PENDING:
                        assert isinstance(result, int)
                        self.driver.cancel(result)
                        status, data = self.driver.wait(result, 2000)
                        check(status in (STATUS_CANCELLED, STATUS_SUCCESS),
                              f"a cancelled READ ended {status_text(status)}")
                    else:
                        data = result if isinstance(result, bytes) else b""
                        check(status == STATUS_SUCCESS, f"canceller READ returned {status_text(status)}")
                    if status == STATUS_SUCCESS:  # won the race against the cancel: records are real
                        cancels["completed"] += 1
                        records, _ = self.s.reader.decode_batch(data, 0)
                        got.extend(records)
                    else:
                        check(data == b"", f"a cancelled READ returned {len(data)} bytes")
                        cancels["cancelled"] += 1
            except Exception as exc:  # noqa: BLE001
                errors.append(f"canceller: {type(exc).__name__}: {exc}")
            finally:
                self.driver.close(other)

        threads, per_thread = 3, 20000
        reader = self.drainer(stop, got, errors)
        cancel_thread = threading.Thread(target=canceller, daemon=True)
        cancel_thread.start()
        workers = self.classify_threads(threads, per_thread, 50, errors)
        for worker in workers:
            worker.join(60)
        stop.set()
        reader.join(15)
        cancel_thread.join(15)
        check(not reader.is_alive() and not cancel_thread.is_alive(), "a reader thread did not stop")
        check(not errors, "; ".join(errors))
        self.drain_rest(got)
        emitted, dropped = self.check_records(got, before, threads * per_thread)
        check(cancels["cancelled"] > 0, "no READ was ever cancelled")
        check(self.driver.counters().pending_irps == 0, "requests left pending")
        self.unload_and_audit([])
        return (f"{threads}x{per_thread} classifies, {emitted} read, {dropped} dropped; "
                f"{cancels['cancelled']} READs cancelled, {cancels['completed']} completed before their cancel")

    def unload_phase(self, rounds: int) -> str:
        """``rounds`` times: load; 4 classify threads and a draining reader; unload under traffic."""
        by_unload = completed_late = late_chunks = straddling = 0
        slowest = 0.0
        for round_ in range(rounds):
            self.driver.reset()
            self.load()
            errors: list[str] = []
            verdicts: list[tuple[float, float, int]] = []
            got: list[Any] = []
            stop = threading.Event()
            unloading = threading.Event()
            pending_now = threading.Event()  # the reader's READ is queued in the driver
            io_lock = threading.Lock()  # no READ is sent while DriverUnload runs (the I/O manager
            outcome: list[int] = []     # would not call it with a request on its way in)

            def drain() -> None:
                try:
                    while True:
                        with io_lock:
                            if unloading.is_set():
                                return
                            status, result = self.driver.ioctl(self.s.handle, self.read_code, b"", self.length)
                            if status == STATUS_PENDING:
                                pending_now.set()
                        if status == STATUS_PENDING:
                            assert isinstance(result, int)
                            status, data = self.driver.wait(result, 20)
                            while status == STATUS_PENDING:  # never cancelled here: only unload may
                                status, data = self.driver.wait(result, 20)
                            pending_now.clear()
                            if status == STATUS_CANCELLED:
                                if not unloading.is_set():
                                    errors.append("a READ was cancelled before unload")
                                check(data == b"", f"a cancelled READ returned {len(data)} bytes")
                                outcome.append(status)
                                return
                            if unloading.is_set():
                                outcome.append(status)  # a classify completed it just before unload
                        else:
                            data = result if isinstance(result, bytes) else b""
                        if status != STATUS_SUCCESS:
                            errors.append(f"drain READ returned {status_text(status)}")
                            return
                        records, _ = self.s.reader.decode_batch(data, 0)
                        got.extend(records)
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"drainer: {type(exc).__name__}: {exc}")

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            # Every record completes a queued READ, so a READ pended at unload and classifyFn
            # calls in flight at unload exclude each other; rounds alternate between them.
            # dense: every thread stays in C (long chunks, no pause): unload meets running classifies;
            # sparse: short bursts the reader keeps up with: unload meets a queued READ.
            dense = round_ % 2 == 0
            workers = self.classify_threads(4, 10**9, 200 if dense else 20, errors, stop, verdicts,
                                            pause=0.0 if dense else 0.005)
            time.sleep(0.15)  # traffic is flowing through the callouts into the ring and the reader
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # sparse: unload while the reader's READ is queued
                with io_lock:
                    if dense or pending_now.is_set() or time.monotonic() > deadline - 0.1:
                        unloading.set()
                        break
                time.sleep(0.0005)
            invoked_before = sum(n for _, _, n in verdicts)
            started = time.monotonic()
            self.driver.unload()
            returned = time.monotonic()
            reader.join(10)
            check(not reader.is_alive(), f"round {round_}: a READ pended across unload never completed")
            time.sleep(0.1)  # classify keeps hitting the engine after unload
            stop.set()
            for worker in workers:
                worker.join(30)
            check(not any(w.is_alive() for w in workers), "a classify thread did not stop")
            check(not errors, f"round {round_}: " + "; ".join(errors))
            check(invoked_before > 0, "no callout ran before unload")
            # a chunk that started after unload returned can only find no filter
            late = [n for t, _, n in verdicts if t > returned]
            running = sum(1 for t, e, _ in verdicts if t < started and e > started)  # in C when unload began
            straddling += running
            check(late, "no classify ran after unload")
            check(all(n == 0 for n in late), f"a callout was invoked after unload returned: {late[:10]}")
            late_chunks += len(late)
            for layer, layer_id, slots, metadata in self.layers:
                verdict = self.driver.classify(layer_id, slots, metadata)
                check(verdict.callouts_invoked == 0 and verdict.filters_matched == 0,
                      f"{layer.name}: after unload classify matched {verdict.filters_matched} filter(s), "
                      f"invoked {verdict.callouts_invoked} callout(s)")
            pended = bool(outcome) and outcome[-1] == STATUS_CANCELLED
            by_unload += pended
            completed_late += bool(outcome) and outcome[-1] == STATUS_SUCCESS
            # the reader's handle stays open across unload (its READ may be pending there)
            problems = [v for v in self.driver.violations() if HARNESS_VIOLATION not in v]
            check(not problems, f"round {round_}: violations at unload under traffic: {problems}")
            check(len({r.sequence for r in got}) == len(got), "a record was read twice")
            self.driver.close(self.s.handle)
            self.s.handle = 0
            left = self.driver.counters().nonzero()
            check(not left, f"round {round_}: left after unload: {left}")
            slowest = max(slowest, returned - started)
        check(by_unload > 0, f"in {rounds} rounds no READ was pending at unload")
        check(straddling > 0, f"in {rounds} rounds no classify was running when unload began")
        return (f"{rounds} unloads (dense/sparse) under 4 classify threads and a reader (slowest {1000 * slowest:.1f} ms); "
                f"{by_unload} READ(s) pended across unload ended cancelled, {completed_late} completed just "
                f"before it; {straddling} classify chunks were running when unload began; "
                f"{late_chunks} classify chunks after unload found no filter")

    def cycles_phase(self, cycles: int) -> str:
        self.driver.reset()
        total = 0
        for cycle in range(cycles):
            self.load()
            before = self.s.stats()
            errors: list[str] = []
            got: list[Any] = []
            stop = threading.Event()
            reader = self.drainer(stop, got, errors)
            workers = self.classify_threads(2, 2000, 50, errors)
            for worker in workers:
                worker.join(30)
            stop.set()
            reader.join(15)
            check(not reader.is_alive(), f"cycle {cycle}: the reader did not stop")
            check(not errors, f"cycle {cycle}: " + "; ".join(errors))
            self.drain_rest(got)
            emitted, _ = self.check_records(got, before, 4000)
            total += emitted
            self.unload_and_audit([])
        return f"{cycles} load/unload cycles, {total} records read"


def main(argv: list[str]) -> int:
    library, project, cycles = Path(argv[1]), Path(argv[2]), int(argv[3])
    rounds = int(argv[4]) if len(argv) > 4 else 4
    life = Lifecycle(library, project)
    try:
        for name, action in (("drain", life.drain_phase), ("unload", lambda: life.unload_phase(rounds)),
                             ("cycles", lambda: life.cycles_phase(cycles))):
            print(f"begin {name}", flush=True)
            started = time.monotonic()
            detail = action()
            print(f"ok {name} ({time.monotonic() - started:.2f} s): {detail}", flush=True)
    except Failure as failure:
        print(f"FAIL: {failure}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
