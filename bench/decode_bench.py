"""How fast the generated reader decodes and writes a capture, against a plain struct parser.

Builds a capture of N records (default 1,000,000) of the default layout (inbound and outbound
transport, IPv4: protocol, local and remote address and port), from four processors' rings as
READ returns them (ring after ring in each batch, so the writers' timestamp sort has work to
do), with ``wfpgen.records``; renders the reader for that layout into a temporary folder; and
times, in one run, each path the same number of times (``--repeat``, default 3; the fastest
run counts, since the machine may be shared):

- the anchor: ``struct.iter_unpack`` over a packed buffer of the same five values per record,
  the fastest plain parser of these flows in a few lines of Python;
- the reader's standard-library decoding (``iter_batches``: every record to a ``Record``),
  the rate the writers are measured against;
- its NumPy decoding (``decode_columns``), against the anchor;
- each output format exactly as ``--replay FILE --format F`` runs it: ``iter_sorted_batches``
  into the CLI's ``write_batches``, with the capture already in memory (no file read);
  JSON lines, CSV, the table and ECS documents written to the null device, SQLite to a new
  database file in the system's temporary folder (ECS is also given as a ratio of JSON lines,
  the format it is the ECS-shaped counterpart of);
- for information only, dpkt reading a pcap of the same flows (skipped without dpkt).

Run from the repository root:  pip install -e '.[bench]' && python bench/decode_bench.py
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from wfpgen.model import ProjectModel
from wfpgen.pipeline import model_for
from wfpgen.records import encode_batch, encode_record
from wfpgen.render import project_files, render_file

SPEC = """\
# The default layout: inbound and outbound transport, IPv4, the five tutorial fields.
version: 1
driver:
  name: BenchMonitor
  description: Decoding benchmark
sink: {kind: ring}
"""
FILETIME_2024 = 133_485_408_000_000_000
PCAP_EPOCH_OFFSET = 11_644_473_600  # seconds from 1601-01-01 to 1970-01-01
PROCESSORS = 4  # rings the records come from
ANCHOR_FORMAT = "<BIHIH"  # protocol, local address and port, remote address and port
NUMPY_TARGET = 5.0  # x the anchor
WRITER_TARGETS = {"jsonl": 0.7, "csv": 0.7, "table": None, "sqlite": 0.4, "ecs": None}  # x the stdlib decoding rate


@dataclass(frozen=True)
class Flow:
    """The five values both encodings carry."""

    inbound: bool
    protocol: int
    local: int
    local_port: int
    remote: int
    remote_port: int


def make_flows(count: int, seed: int) -> list[Flow]:
    """Pseudo-random flows, TCP and UDP, in and out."""
    rng = random.Random(seed)
    return [Flow(rng.random() < 0.5, rng.choice((6, 17)), rng.getrandbits(32), rng.randrange(1024, 65536),
                 rng.getrandbits(32), rng.choice((53, 80, 443, rng.randrange(65536)))) for _ in range(count)]


def build_capture(model: ProjectModel, flows: list[Flow], batch: int) -> bytes:
    """The capture: batches of ``batch`` records, as READ would return them.

    Event n happens on processor n mod PROCESSORS, which numbers it with its own sequence; a
    batch holds each ring's records of its stretch of time in turn.
    """
    index = {layer.name: layer.index for layer in model.layers}
    batches = []
    sequences = [0] * PROCESSORS
    for start in range(0, len(flows), batch):
        rings: list[list[bytes]] = [[] for _ in range(PROCESSORS)]
        for number, flow in enumerate(flows[start:start + batch], start):
            processor = number % PROCESSORS
            sequences[processor] += 1
            layer = index["inbound_transport_v4" if flow.inbound else "outbound_transport_v4"]
            values = {"ip_protocol": flow.protocol, "ip_local_address": flow.local,
                      "ip_local_port": flow.local_port, "ip_remote_address": flow.remote,
                      "ip_remote_port": flow.remote_port}
            rings[processor].append(encode_record(model, layer, values, sequences[processor],
                                                  FILETIME_2024 + number * 10, processor))
        batches.append(encode_batch([record for ring in rings for record in ring]))
    return b"".join(batches)


def build_packed(flows: list[Flow]) -> bytes:
    """The anchor's input: the five values of each flow, packed back to back."""
    pack = struct.Struct(ANCHOR_FORMAT).pack
    return b"".join(pack(f.protocol, f.local, f.local_port, f.remote, f.remote_port) for f in flows)


def _packet(flow: Flow) -> bytes:
    source, destination = (flow.remote, flow.local) if flow.inbound else (flow.local, flow.remote)
    sport, dport = (flow.remote_port, flow.local_port) if flow.inbound else (flow.local_port, flow.remote_port)
    if flow.protocol == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8, 0)
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), 0, 0, 64, flow.protocol, 0, source, destination)
    ethernet = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
    return ethernet + ip + l4


def build_pcap(flows: list[Flow]) -> bytes:
    """A classic little-endian pcap (Ethernet link type) with one packet per flow."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    seconds = FILETIME_2024 // 10_000_000 - PCAP_EPOCH_OFFSET
    for number, flow in enumerate(flows):
        packet = _packet(flow)
        out.append(struct.pack("<IIII", seconds, number % 1_000_000, len(packet), len(packet)))
        out.append(packet)
    return b"".join(out)


def render_reader(folder: Path) -> tuple[ProjectModel, ModuleType, ModuleType]:
    """Render the default layout's reader into ``folder``; return the model and its decode and cli modules."""
    spec = folder / "bench.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    model = model_for(spec)
    files = project_files(model)
    for entry in files:
        if entry.path.startswith("reader/"):
            target = folder / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(render_file(model, entry, files))
    sys.path.insert(0, str(folder / "reader"))
    package = model.reader_package
    return model, importlib.import_module(f"{package}.decode"), importlib.import_module(f"{package}.cli")


def timed(work: Callable[[], int], repeat: int) -> tuple[int, float]:
    """Records handled and the seconds of the fastest of ``repeat`` runs of ``work`` (the machine
    is shared: the fastest run is the one least disturbed)."""
    best = None
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = work()
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    assert best is not None
    return count, best


def run_anchor(packed: bytes) -> int:
    return len(list(struct.iter_unpack(ANCHOR_FORMAT, packed)))


def run_stdlib(decode: ModuleType, data: bytes) -> int:
    return sum(len(records) for records in decode.iter_batches(data))


def run_numpy(decode: ModuleType, data: bytes) -> int:
    columns = decode.decode_columns(data)
    return sum(len(layer["sequence"]) for layer in columns.values())


def run_writer(decode: ModuleType, cli: ModuleType, data: bytes, kind: str, folder: str) -> int:
    """What ``--replay FILE --format kind`` does, from the capture's bytes in memory."""
    count = 0

    def counted() -> object:
        nonlocal count
        for batch in decode.iter_sorted_batches(data):
            count += len(batch)
            yield batch

    if kind == "sqlite":
        database = os.path.join(folder, "bench.db")
        cli.write_batches(counted(), kind, io.StringIO(), database)
        os.remove(database)
    else:
        with open(os.devnull, "w", encoding="utf-8", newline="") as sink:
            cli.write_batches(counted(), kind, sink)
    return count


def run_dpkt(dpkt: ModuleType, pcap: bytes) -> int:
    """Parse every packet to the same five values the records carry."""
    flows = []
    ethernet = dpkt.ethernet.Ethernet
    for _, frame in dpkt.pcap.Reader(io.BytesIO(pcap)):
        ip = ethernet(frame).data
        l4 = ip.data
        flows.append((ip.p, ip.src, ip.dst, l4.sport, l4.dport))
    return len(flows)


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


LABELS = {
    "anchor": f"anchor: struct.iter_unpack {ANCHOR_FORMAT!r}",
    "stdlib": "reader stdlib: iter_batches -> Record",
    "numpy": "reader numpy: decode_columns",
    "jsonl": "--format jsonl (null device)",
    "csv": "--format csv (null device)",
    "table": "--format table (null device)",
    "sqlite": "--format sqlite (temp file)",
    "ecs": "--format ecs (null device)",
    "dpkt": "dpkt: pcap Ethernet/IPv4/TCP|UDP",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=4096, help="records per READ batch (default 4096)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path; the fastest counts (default 3)")
    parser.add_argument("--only", nargs="*", help="run only these paths (anchor and stdlib always run)")
    args = parser.parse_args()
    wanted = set(args.only or LABELS)
    results: dict[str, tuple[int, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        model, decode, cli = render_reader(Path(folder))
        flows = make_flows(args.records, args.seed)
        build_start = time.perf_counter()
        data = build_capture(model, flows, args.batch)
        packed = build_packed(flows)
        print(f"capture: {args.records:,} records in {len(data):,} bytes ({len(data) / args.records:.0f} bytes each), "
              f"batches of {args.batch} from {PROCESSORS} processors, built in {time.perf_counter() - build_start:.1f} s")
        results["anchor"] = timed(lambda: run_anchor(packed), args.repeat)
        results["stdlib"] = timed(lambda: run_stdlib(decode, data), args.repeat)
        if "numpy" in wanted and decode.have_numpy():
            start = time.perf_counter()
            importlib.import_module("numpy")  # once per process: not part of the decoding rate
            print(f"numpy: imported in {time.perf_counter() - start:.2f} s (not counted below)")
            results["numpy"] = timed(lambda: run_numpy(decode, data), args.repeat)
        elif "numpy" in wanted:
            print("numpy: not installed, line skipped (pip install numpy)")
        for kind in WRITER_TARGETS:
            if kind in wanted:
                results[kind] = timed(lambda kind=kind: run_writer(decode, cli, data, kind, folder), args.repeat)
        dpkt = _import("dpkt") if "dpkt" in wanted else None
        if dpkt is not None:
            pcap = build_pcap(flows)
            results["dpkt"] = timed(lambda: run_dpkt(dpkt, pcap), args.repeat)
        elif "dpkt" in wanted:
            print("dpkt: not installed, line skipped (pip install dpkt)")
    report(results, args.records)
    return 0


def _verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return "(no target)"
    return f"target >= {target:.1f}x  {'PASS' if ratio >= target else 'SHORT'}"


def report(results: dict[str, tuple[int, float]], expected: int) -> None:
    """The table of rates, each with the ratio it is judged by, its target and verdict."""
    rates = {name: count / seconds for name, (count, seconds) in results.items()}
    print(f"\n{'path':<42} {'records':>10} {'seconds':>8} {'records/s':>12}  ratio")
    for name, (count, seconds) in results.items():
        if name == "numpy":
            ratio = rates[name] / rates["anchor"]
            judged = f"{ratio:5.2f}x anchor   {_verdict(ratio, NUMPY_TARGET)}"
        elif name in WRITER_TARGETS:
            ratio = rates[name] / rates["stdlib"]
            judged = f"{ratio:5.2f}x stdlib   {_verdict(ratio, WRITER_TARGETS[name])}"
            if name == "ecs" and "jsonl" in rates:
                judged += f"  ({rates[name] / rates['jsonl']:.2f}x --format jsonl)"
        elif name in ("stdlib", "dpkt"):
            judged = f"{rates[name] / rates['anchor']:5.2f}x anchor   (information)"
        else:
            judged = " 1.00x anchor"
        flag = "" if count == expected else f"  (expected {expected:,})"
        print(f"{LABELS[name]:<42} {count:>10,} {seconds:>8.3f} {rates[name]:>12,.0f}  {judged}{flag}")


if __name__ == "__main__":
    raise SystemExit(main())
