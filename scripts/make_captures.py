#!/usr/bin/env python3
"""Write tests/data/<spec>.bin: a replay capture of plausible traffic for every ring-sink spec.

A capture is what the driver's READ IOCTL returns, batch after batch; the generated reader
decodes it with ``python -m <name>_reader --replay tests/data/<spec>.bin``. The values are
fixed (no randomness), so the files are reproducible: ``--check`` compares instead of writing.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from wfpgen.model import FlowRecordKind, LayerModel, ProjectModel, RecordItem
from wfpgen.pipeline import model_for
from wfpgen.records import encode_batch, encode_record

ROOT = Path(__file__).resolve().parent.parent
BASE_TIME = 133_000_000_000_000_000  # 2022-06-16 in FILETIME units; any fixed value will do
FLOWS = [  # protocol, local address, local port, remote address, remote port
    (6, "10.0.0.5", 51000, "93.184.216.34", 443),
    (17, "10.0.0.5", 53124, "1.1.1.1", 53),
    (1, "10.0.0.5", 8, "8.8.8.8", 0),
    (6, "10.0.0.5", 3389, "192.168.1.20", 50422),
]
FLOWS_V6 = [
    (6, "2001:db8::5", 51001, "2606:2800:220:1::248", 443),
    (17, "2001:db8::5", 53125, "2606:4700:4700::1111", 53),
    (58, "fe80::1", 128, "fe80::2", 0),
]
APPS = [r"\device\harddiskvolume3\windows\system32\svchost.exe",
        r"\device\harddiskvolume3\program files\mozilla firefox\firefox.exe"]


def _apps(layer: LayerModel | FlowRecordKind) -> list[str]:
    """The application ids a layer records: the one its filter selects, if it names one."""
    conditions = layer.conditions if isinstance(layer, LayerModel) else ()
    wanted = [c.text for c in conditions if c.kind == "app_id" and c.match == "equal"]
    return wanted or APPS


def _value(item: RecordItem, flow: tuple[int, str, int, str, int], index: int, v6: bool,
           apps: list[str] = APPS) -> object | None:
    protocol, local, local_port, remote, remote_port = flow
    by_name: dict[str, object] = {
        "ip_protocol": protocol,
        "ip_local_address": ipaddress.ip_address(local),
        "ip_remote_address": ipaddress.ip_address(remote),
        "ip_local_port": local_port,
        "ip_remote_port": remote_port,
        "process_id": 4 if index % 5 == 4 else 1200 + 4 * (index % 3),
        "current_process_id": 4,
    }
    if item.name in by_name:
        return by_name[item.name]
    if item.source == "report":  # a flow record's counters (flows.accounting)
        return {"first_seen": BASE_TIME - 600_000_000 + index, "last_seen": BASE_TIME - index * 1000,
                "end_reason": index % 2, "packets_in": 3 + index * 5, "packets_out": 2 + index * 7,
                "bytes_in": 1200 * (index + 1) ** 3, "bytes_out": 40 * (index + 2) ** 2}[item.name]
    if item.name == "direction":
        return index % 2
    if item.display == "utf16":
        return None if index % 7 == 6 else apps[index % len(apps)]
    if item.display == "sid":
        return "S-1-15-2-1-2-3-4-5-6-7"
    if item.is_blob:
        return bytes(range(8))
    if item.display == "ipv4":
        return ipaddress.IPv4Address("10.0.0.1")
    if item.display == "ipv6":
        return ipaddress.IPv6Address("2001:db8::1" if v6 else "::ffff:10.0.0.1")
    return (index * 17) % (1 << (8 * min(item.size, 4)))


PROCESSORS = 3  # rings in the captures: READ returns each ring's records in turn
LOST = {(2, 3)}  # (processor, sequence) numbers skipped: a record that processor dropped


def _values(layer: LayerModel | FlowRecordKind) -> list[dict[str, object | None]]:
    flows = FLOWS_V6 if layer.ip_version == 6 else FLOWS
    records = []
    for index in range(6):
        flow = flows[index % len(flows)]
        values = {item.name: _value(item, flow, index, layer.ip_version == 6, _apps(layer))
                  for item in layer.record.items}
        if isinstance(layer, LayerModel) and layer.record.attribution is not None:
            # flows.attribution: a flow established before the driver, then a packet with no flow.
            code = {3: 1, 4: 2}.get(index, 0)
            values[layer.record.attribution.name] = code
            for item in layer.record.items:
                if item.source == "flow" and code:
                    values[item.name] = None
        recorded = [item for item in layer.record.items if item.source != "attribution"]  # the driver sets it
        if index == 5 and recorded:
            values[recorded[-1].name] = None  # one absent value per layer
        records.append(values)
    return records


def capture(model: ProjectModel) -> bytes:
    """Three batches of every layer's records from three processors, as READ would return them.

    Events happen in turn on processors 0, 1, 2, 0, ...; each processor numbers its own from 1
    (processor 2 loses one number). A batch holds each processor's records of its stretch of
    time, ring after ring, so records of different processors interleave in time.
    """
    kinds = [kind for kind in model.record_kinds if kind.emits]  # flows.packets: false silences some layers
    per_layer = [_values(kind) for kind in kinds]
    events = [(kind.index, values) for group in zip(*per_layer) for kind, values in zip(kinds, group)]
    numbered: list[tuple[int, int, bytes]] = []
    next_sequence = [1] * PROCESSORS
    for position, (layer_index, values) in enumerate(events):
        processor = position % PROCESSORS
        while (processor, next_sequence[processor]) in LOST:
            next_sequence[processor] += 1
        sequence = next_sequence[processor]
        next_sequence[processor] += 1
        record = encode_record(model, layer_index, values, sequence, BASE_TIME + position * 10_000, processor)
        numbered.append((processor, position, record))
    third = max(1, len(numbered) // 3)
    parts = [numbered[:third], numbered[third:2 * third], numbered[2 * third:]]
    return b"".join(encode_batch([record for _, _, record in sorted(part)], dropped_total=1 if i else 0)
                    for i, part in enumerate(parts) if part)


def main() -> int:
    """Write (or with --check, verify) the capture of every ring-sink spec."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a committed capture differs")
    args = parser.parse_args()
    out = ROOT / "tests" / "data"
    out.mkdir(parents=True, exist_ok=True)
    stale = []
    for spec in sorted((ROOT / "specs").glob("*.yaml")):
        model = model_for(spec)
        if not model.has_ring:
            continue
        target = out / f"{spec.stem}.bin"
        data = capture(model)
        if args.check:
            if not target.is_file() or target.read_bytes() != data:
                stale.append(target.name)
        else:
            target.write_bytes(data)
            print(f"{target.relative_to(ROOT)}: {len(data)} bytes")
    if stale:
        print(f"stale captures: {', '.join(stale)}; run python scripts/make_captures.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
