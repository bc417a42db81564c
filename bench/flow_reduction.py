"""How many fewer events flow records make than per-packet records, on a capture.

Writes a pcap of plausible client traffic with dpkt (seeded, so every run writes the same
file): TCP connections whose packet counts follow a heavy-tailed distribution (most are a few
dozen packets, a few are bulk transfers of thousands), each with its handshake, data and
acknowledgements in both directions, and DNS queries over UDP (one query, one answer). Then
runs ``wfpgen check specs/bandwidth.yaml --pcap`` on it (plain build, no static analysis): the
check replays every packet through the generated driver's transport layers with each 5-tuple
established as a flow of its own process, and compares the flow records' packet and byte
totals with dpkt's count of the same capture, exactly. It prints the packets counted, the flow
records they became, and the ratio: the event rate a per-packet monitor
(``specs/monitor.yaml``: one record per packet) would have, over the flow-only monitor's.

Run from the repository root:  pip install -e '.[test]' && python bench/flow_reduction.py
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = "10.0.0.0/8"
CLIENT = "10.1.2.3"


def _frame(dpkt: object, source: str, destination: str, transport: object, protocol: int) -> bytes:
    import socket

    import dpkt as d  # type: ignore[import-untyped]

    ip = d.ip.IP(src=socket.inet_aton(source), dst=socket.inet_aton(destination), p=protocol, data=transport)
    ip.len = len(bytes(ip))
    ethernet = d.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02",
                                   type=d.ethernet.ETH_TYPE_IP, data=ip)
    return bytes(ethernet)


def write_capture(path: Path, connections: int, seed: int) -> int:
    """The capture; the number of frames written."""
    import dpkt  # type: ignore[import-untyped]

    rng = random.Random(seed)
    frames: list[bytes] = []
    for number in range(connections):
        server = f"198.51.{rng.randrange(100)}.{rng.randrange(1, 255)}"
        port = 49152 + number
        # DNS first: one query, one answer.
        query = dpkt.udp.UDP(sport=port, dport=53, data=bytes(rng.randrange(30, 60)))
        answer = dpkt.udp.UDP(sport=53, dport=port, data=bytes(rng.randrange(60, 300)))
        frames.append(_frame(dpkt, CLIENT, "192.0.2.53", query, 17))
        frames.append(_frame(dpkt, "192.0.2.53", CLIENT, answer, 17))
        # Then the connection: a Pareto number of data segments, acknowledged every second one.
        segments = min(20000, int(rng.paretovariate(1.2) * 12))
        sequence = [0, 0]
        for index in range(3 + segments):
            inbound = index in (1,) or (index >= 3 and rng.random() < 0.7)
            size = 0 if index < 3 else rng.choice((0, 0, 517, 1460, 1460, 1460, rng.randrange(1, 1460)))
            flags = dpkt.tcp.TH_SYN if index == 0 else (dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK) if index == 1 \
                else dpkt.tcp.TH_ACK
            tcp = dpkt.tcp.TCP(sport=443 if inbound else port, dport=port if inbound else 443,
                               seq=sequence[inbound], flags=flags, data=bytes(size))
            sequence[inbound] += size
            frames.append(_frame(dpkt, server if inbound else CLIENT, CLIENT if inbound else server, tcp, 6))
    with open(path, "wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for index, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + index / 1000)
    return len(frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=200, help="TCP connections (each after a DNS query)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    try:
        import dpkt  # noqa: F401  # type: ignore[import-untyped]
    except ImportError:
        print("dpkt is not installed: pip install -e '.[test]'", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        capture = Path(scratch) / "traffic.pcap"
        frames = write_capture(capture, args.connections, args.seed)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "wfpgen", "check", str(ROOT / "specs" / "bandwidth.yaml"), "--variant", "plain",
             "--no-analysis", "--pcap", str(capture), "--local", LOCAL, "--out", str(Path(scratch) / "out")],
            capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    line = next((line for line in result.stdout.splitlines() if "versus dpkt" in line), "")
    found = re.search(r"(\d+) flows: .*? exactly; (\d+) packets became (\d+) flow records", line)
    if result.returncode != 0 or not line.startswith("PASS") or found is None:
        print(result.stdout[-3000:] + result.stderr[-2000:], file=sys.stderr)
        print("the check failed: no figure", file=sys.stderr)
        return 1
    flows, packets, records = (int(group) for group in found.groups())
    print(f"capture: {frames:,} frames of {args.connections} TCP connections and {args.connections} DNS queries "
          f"(seed {args.seed}), written by dpkt")
    print(f"wfpgen check specs/bandwidth.yaml --pcap (plain build): PASS in {seconds:.1f} s; {flows:,} flows, "
          "their packet and payload byte totals per direction equal to dpkt's count")
    print(f"events: {packets:,} per-packet records (specs/monitor.yaml would write one per packet) against "
          f"{records:,} flow records (specs/bandwidth.yaml): {packets / records:.1f}x fewer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
