"""How fast the generated reader decodes a capture, against dpkt parsing the same traffic from a pcap.

Builds a capture of N records (default 1,000,000) of the default layout (inbound and outbound
transport, IPv4: protocol, local and remote address and port) with ``wfpgen.records``, renders
the reader for that layout into a temporary folder, and times, once each:

- the standard-library path (``iter_batches``: every record decoded to a ``Record``),
- the NumPy path (``decode_columns``),
- JSON-lines output (standard-library decoding plus ``JsonLinesWriter`` to the null device),
- dpkt reading a pcap of N Ethernet/IPv4/TCP-or-UDP packets with the same five values,
  the alternative a Python user has today (skipped if dpkt is not installed).

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
TARGETS = (("numpy / dpkt", 20.0), ("stdlib / dpkt", 2.0))
NUMPY_TARGET = 1_000_000.0


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
    """The capture: batches of ``batch`` records, as READ would return them."""
    index = {layer.name: layer.index for layer in model.layers}
    batches = []
    for start in range(0, len(flows), batch):
        records = []
        for sequence, flow in enumerate(flows[start:start + batch], start):
            layer = index["inbound_transport_v4" if flow.inbound else "outbound_transport_v4"]
            values = {"ip_protocol": flow.protocol, "ip_local_address": flow.local,
                      "ip_local_port": flow.local_port, "ip_remote_address": flow.remote,
                      "ip_remote_port": flow.remote_port}
            records.append(encode_record(model, layer, values, sequence, FILETIME_2024 + sequence * 10))
        batches.append(encode_batch(records))
    return b"".join(batches)


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
    """Render the default layout's reader into ``folder``; return the model and its decode and output modules."""
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
    return model, importlib.import_module(f"{package}.decode"), importlib.import_module(f"{package}.output")


def timed(work: Callable[[], int]) -> tuple[int, float]:
    """Records handled and seconds taken, for one run of ``work``."""
    start = time.perf_counter()
    count = work()
    return count, time.perf_counter() - start


def run_stdlib(decode: ModuleType, data: bytes) -> int:
    return sum(len(records) for records in decode.iter_batches(data))


def run_numpy(decode: ModuleType, data: bytes) -> int:
    columns = decode.decode_columns(data)
    return sum(len(layer["sequence"]) for layer in columns.values())


def run_jsonl(decode: ModuleType, output: ModuleType, data: bytes) -> int:
    count = 0
    with open(os.devnull, "w", encoding="utf-8") as sink:
        writer = output.JsonLinesWriter(sink)
        for records in decode.iter_batches(data):
            writer.write_batch(records)
            count += len(records)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=4096, help="records per READ batch (default 4096)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model, decode, output = render_reader(Path(folder))
        flows = make_flows(args.records, args.seed)
        build_start = time.perf_counter()
        data = build_capture(model, flows, args.batch)
        print(f"capture: {args.records:,} records in {len(data):,} bytes ({len(data) / args.records:.0f} bytes each), "
              f"batches of {args.batch}, built in {time.perf_counter() - build_start:.1f} s")
        results: dict[str, tuple[int, float]] = {"stdlib": timed(lambda: run_stdlib(decode, data))}
        if decode.have_numpy():
            start = time.perf_counter()
            importlib.import_module("numpy")  # once per process: not part of the decoding rate
            print(f"numpy: imported in {time.perf_counter() - start:.2f} s (not counted below)")
            results["numpy"] = timed(lambda: run_numpy(decode, data))
        else:
            print("numpy: not installed, line skipped (pip install numpy)")
        results["jsonl"] = timed(lambda: run_jsonl(decode, output, data))
        dpkt = _import("dpkt")
        if dpkt is not None:
            pcap = build_pcap(flows)
            results["dpkt"] = timed(lambda: run_dpkt(dpkt, pcap))
        else:
            print("dpkt: not installed, line skipped (pip install dpkt)")
    report(results, args.records)
    return 0


LABELS = {
    "stdlib": "stdlib: iter_batches -> Record",
    "numpy": "numpy: decode_columns",
    "jsonl": "stdlib + JSON lines to null device",
    "dpkt": "dpkt: pcap Ethernet/IPv4/TCP|UDP",
}


def report(results: dict[str, tuple[int, float]], expected: int) -> None:
    """The table of rates and the ratios against the targets."""
    rates = {name: count / seconds for name, (count, seconds) in results.items()}
    print(f"\n{'path':<38} {'records':>10} {'seconds':>9} {'records/s':>12} {'vs dpkt':>8}")
    for name, (count, seconds) in results.items():
        versus = f"{rates[name] / rates['dpkt']:.1f}x" if "dpkt" in rates else "-"
        flag = "" if count == expected else f"  (expected {expected:,})"
        print(f"{LABELS[name]:<38} {count:>10,} {seconds:>9.3f} {rates[name]:>12,.0f} {versus:>8}{flag}")
    print()
    for label, target in TARGETS:
        path = label.split(" / ")[0]
        if path in rates and "dpkt" in rates:
            ratio = rates[path] / rates["dpkt"]
            print(f"{label:<16} {ratio:8.1f}x   target >= {target:.0f}x   {'met' if ratio >= target else 'MISSED'}")
    if "numpy" in rates:
        verdict = "met" if rates["numpy"] >= NUMPY_TARGET else "MISSED"
        print(f"{'numpy rate':<16} {rates['numpy']:>12,.0f}/s   target >= {NUMPY_TARGET:,.0f}/s   {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
