"""``--top``: the generated reader sums flow records per process or remote endpoint.

specs/bandwidth.yaml (flow accounting) is rendered; a capture of flows is encoded with
``wfpgen.records`` (IPv4 and IPv6, several processes, interim and final records of one flow, a
flow without a process path, one without any process, a port reused by a later flow, a hostile
path, and a packet record that ``--top`` must ignore). The sums the reader prints are checked
against sums computed here from the encoded values; rates against total / capture span.
A driver without flow records refuses ``--top`` with one line; on a terminal the table is
redrawn in place.
"""

from __future__ import annotations

import importlib
import io
import re
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT
from test_reader import FILETIME_2024, FakeKernel32, Reader, _render_reader

from wfpgen.protocol import INFO_FORMAT, INFO_MAGIC
from wfpgen.records import encode_batch, encode_record

SECOND = 10_000_000  # FILETIME ticks
CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
SVCHOST = "C:\\Windows\\System32\\svchost.exe"
HOSTILE = "C:\\x\x1b[2J\u202eevil.exe"  # a terminal escape and a bidi control in a process's file name
INTERIM, ENDED = 1, 0


@dataclass
class Flow:
    """One flow and the counts of each of its records (bytes in, bytes out, packets in, packets out)."""

    version: int
    protocol: int
    local: str
    local_port: int
    remote: str
    remote_port: int
    direction: int
    pid: int | None
    path: str | None
    first_seen: int
    counts: list[tuple[int, int, int, int]] = field(default_factory=list)
    ends: bool = True  # its last record ends it (else every record is an interim one)

    @property
    def layer(self) -> str:
        return f"flow_v{self.version}"

    def values(self, index: int) -> dict[str, object]:
        bytes_in, bytes_out, packets_in, packets_out = self.counts[index]
        last = index == len(self.counts) - 1
        return {"ip_protocol": self.protocol, "ip_local_address": self.local, "ip_local_port": self.local_port,
                "ip_remote_address": self.remote, "ip_remote_port": self.remote_port,
                "direction": self.direction, "process_id": self.pid, "process_path": self.path,
                "packets_in": packets_in, "packets_out": packets_out, "bytes_in": bytes_in, "bytes_out": bytes_out,
                "first_seen": self.first_seen, "last_seen": self.first_seen + (index + 1) * SECOND,
                "end_reason": ENDED if last and self.ends else INTERIM}

    def process(self) -> str:
        if self.path:
            return self.path
        return f"pid {self.pid}" if self.pid is not None else "(unknown)"

    def endpoint(self) -> str:
        host = f"[{self.remote}]" if self.version == 6 else self.remote
        return f"{host}:{self.remote_port}"


T0 = FILETIME_2024
FLOWS = [
    Flow(4, 6, "10.0.0.5", 50000, "93.184.216.34", 443, 0, 100, CHROME, T0,
         [(150_000, 2_000, 120, 40), (1_200_000, 9_000, 900, 100), (30, 40, 1, 2)]),
    Flow(6, 6, "2001:db8::5", 50001, "2001:db8::1", 443, 0, 100, CHROME, T0 + SECOND,
         [(2_500_000, 80_000, 1800, 600)]),
    Flow(4, 17, "10.0.0.5", 53000, "8.8.8.8", 53, 0, 200, SVCHOST, T0 + 2 * SECOND, [(512, 64, 1, 1)]),
    Flow(6, 17, "2001:db8::5", 53001, "2001:db8::53", 53, 0, 300, None, T0, [(700, 90, 3, 3), (700, 90, 3, 3)]),
    Flow(4, 6, "10.0.0.5", 50002, "93.184.216.34", 443, 1, None, None, T0 + 3 * SECOND, [(4_000, 100_000, 8, 80)]),
    # The port of the first flow, reused by a later connection: another flow.
    Flow(4, 6, "10.0.0.5", 50000, "93.184.216.34", 443, 0, 100, CHROME, T0 + 9 * SECOND, [(10, 20, 1, 1)]),
    # Still going when the capture ends: interim records only.
    Flow(6, 6, "2001:db8::5", 50003, "2001:db8::1", 443, 1, 400, SVCHOST, T0 + 4 * SECOND,
         [(5_000, 6_000, 5, 6), (7_000, 8_000, 7, 8)], ends=False),
    Flow(4, 6, "10.0.0.5", 50004, "198.51.100.7", 8443, 0, 666, HOSTILE, T0 + 5 * SECOND, [(1, 2, 1, 1)]),
]


@dataclass
class Sums:
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    flows: int = 0


def expected(by: str) -> dict[str, Sums]:
    sums: dict[str, Sums] = {}
    for flow in FLOWS:
        entry = sums.setdefault(flow.process() if by == "process" else flow.endpoint(), Sums())
        entry.flows += 1
        for bytes_in, bytes_out, packets_in, packets_out in flow.counts:
            entry.bytes_in += bytes_in
            entry.bytes_out += bytes_out
            entry.packets_in += packets_in
            entry.packets_out += packets_out
    return sums


@dataclass
class Rendered:
    reader: Reader
    modules: dict[str, ModuleType]

    @property
    def cli(self) -> ModuleType:
        return self.modules["cli"]

    @property
    def top(self) -> ModuleType:
        return self.modules["top"]


def _import(reader: Reader) -> Iterator[Rendered]:
    """Import the rendered package from its folder; put back whatever copy was imported before."""
    package = reader.package
    saved = {name: module for name, module in sys.modules.items()
             if name == package or name.startswith(package + ".")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(reader.root))
    try:
        modules = {name: importlib.import_module(f"{package}.{name}") for name in ("cli", "top", "decode", "device")}
        yield Rendered(reader, modules)
    finally:
        sys.path.remove(str(reader.root))
        for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def bandwidth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    reader = _render_reader(ROOT / "specs" / "bandwidth.yaml", tmp_path_factory.mktemp("bandwidth"))
    yield from _import(reader)


@pytest.fixture(scope="module")
def monitor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    reader = _render_reader(ROOT / "specs" / "monitor.yaml", tmp_path_factory.mktemp("monitor"))
    yield from _import(reader)


def _layer_index(reader: Reader, name: str) -> int:
    return next(kind.index for kind in reader.model.record_kinds if kind.name == name)


def flow_batches(reader: Reader) -> tuple[list[bytes], int]:
    """The capture's batches, and the span of its flow records' timestamps."""
    records: list[tuple[int, int, dict[str, object]]] = []  # timestamp, layer index, values
    for flow in FLOWS:
        for index in range(len(flow.counts)):
            stamp = flow.first_seen + (index + 1) * SECOND
            records.append((stamp, _layer_index(reader, flow.layer), flow.values(index)))
    records.sort(key=lambda entry: entry[0])
    packet = _layer_index(reader, "inbound_transport_v4")
    records.insert(3, (T0 + 2 * SECOND, packet, {"ip_protocol": 6, "ip_local_address": "10.0.0.5",
                                                  "ip_local_port": 1, "ip_remote_address": "10.0.0.9",
                                                  "ip_remote_port": 2}))
    encoded = [encode_record(reader.model, index, values, sequence, stamp, sequence % 3)
               for sequence, (stamp, index, values) in enumerate(records)]
    batches = [encode_batch(encoded[:4]), encode_batch(encoded[4:9]), encode_batch([]), encode_batch(encoded[9:])]
    flow_stamps = [stamp for stamp, index, _ in records if index != packet]
    return batches, max(flow_stamps) - min(flow_stamps)


ROW = re.compile(r"^\s*(\d+|-)\s+(\d+|-)\s+(\d+)\s+(\d+)\s+(\d+|-)\s+(\d+|-)\s+(\d+)  (.*)$")


def parse_table(text: str) -> tuple[str, list[tuple[str, tuple[str, ...]]], str, tuple[str, ...]]:
    """The title, the rows (key, cells), what follows them, and the totals' cells."""
    lines = text.splitlines()
    title, header, *body = lines
    assert header.split()[:2] == ["bytes", "in"]
    *rows, total = body
    more = ""
    if rows and rows[-1].startswith("("):
        more = rows.pop()
    parsed = []
    for line in rows:
        match = ROW.match(line)
        assert match, line
        parsed.append((match.group(8), match.groups()[:7]))
    match = ROW.match(total)
    assert match and match.group(8).startswith("(total: "), total
    return title, parsed, more, match.groups()[:7]


def _cells(sums: Sums, span: int) -> tuple[str, ...]:
    return (str(sums.bytes_in), str(sums.bytes_out), str(sums.packets_in), str(sums.packets_out),
            str(round(sums.bytes_in * SECOND / span)), str(round(sums.bytes_out * SECOND / span)), str(sums.flows))


def _run(rendered: Rendered, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = rendered.cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("by", ["process", "remote"])
def test_replay_top_sums_match_the_encoded_values(bandwidth: Rendered, tmp_path: Path, by: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    batches, span = flow_batches(bandwidth.reader)
    path = tmp_path / "flows.bin"
    path.write_bytes(b"".join(batches))
    args = ["--replay", str(path), "--top"] + (["--top-by", by] if by == "remote" else [])
    code, out, err = _run(bandwidth, capsys, *args)
    assert (code, err) == (0, "")
    title, rows, more, total = parse_table(out)
    assert title.startswith(f"top by {by}: 12 flow records from ") and f"({span / SECOND:.3f} s)" in title
    want = expected(by)
    display = bandwidth.top.display_text
    assert {key: cells for key, cells in rows} == {display(key): _cells(sums, span) for key, sums in want.items()}
    order = sorted(want, key=lambda key: (-(want[key].bytes_in + want[key].bytes_out), key))
    assert [key for key, _ in rows] == [display(key) for key in order]
    assert more == ""
    every = Sums(*(sum(getattr(s, name) for s in want.values())
                   for name in ("bytes_in", "bytes_out", "packets_in", "packets_out", "flows")))
    assert total[:4] == _cells(every, span)[:4] and total[6] == str(len(FLOWS))
    # Deterministic: the same capture prints the same bytes.
    assert _run(bandwidth, capsys, *args)[1] == out


def test_replay_top_expectations_by_hand(bandwidth: Rendered, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A few sums spelled out, so that the oracle above cannot agree with the reader by accident."""
    path = tmp_path / "flows.bin"
    path.write_bytes(b"".join(flow_batches(bandwidth.reader)[0]))
    rows = dict(parse_table(_run(bandwidth, capsys, "--replay", str(path), "--top")[1])[1])
    assert rows[CHROME][:4] == ("3850040", "91060", "2822", "743") and rows[CHROME][6] == "3"
    assert rows["pid 300"][:4] == ("1400", "180", "6", "6") and rows["pid 300"][6] == "1"
    assert rows["(unknown)"][:4] == ("4000", "100000", "8", "80")
    assert rows[SVCHOST][6] == "2"  # a finished flow and one still going (two interim records)
    assert "C:\\x\\x1b[2J\\u202eevil.exe" in rows  # escaped, as the table writer escapes it
    remote = dict(parse_table(_run(bandwidth, capsys, "--replay", str(path), "--top", "--top-by", "remote")[1])[1])
    assert remote["93.184.216.34:443"][:2] == ("1354040", "111060") and remote["93.184.216.34:443"][6] == "3"
    assert remote["[2001:db8::1]:443"][6] == "2" and remote["[2001:db8::53]:53"][6] == "1"


def test_top_rows_and_count(bandwidth: Rendered, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flows.bin"
    path.write_bytes(b"".join(flow_batches(bandwidth.reader)[0]))
    code, out, _ = _run(bandwidth, capsys, "--replay", str(path), "--top", "--top-rows", "2")
    _, rows, more, total = parse_table(out)
    want = expected("process")
    assert code == 0 and [key for key, _ in rows] == [CHROME, "(unknown)"]
    assert more == f"({len(want) - 2} more)"
    assert total[6] == str(len(FLOWS))  # the totals cover every key, shown or not
    # --count: the first N records only (the packet record among them).
    _, rows, _, total = parse_table(_run(bandwidth, capsys, "--replay", str(path), "--top", "--count", "2")[1])
    assert total[:2] == ("150700", "2090")


@pytest.mark.parametrize("args", [["--top-by", "remote"], ["--top-rows", "3"], ["--top", "--stats"],
                                  ["--top", "--format", "jsonl"], ["--top", "--top-rows", "0"],
                                  ["--top", "--top-by", "port"]])
def test_usage_errors(bandwidth: Rendered, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bandwidth.cli.main(["--replay", "x.bin", *args])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize("replay", [True, False])
def test_driver_without_flow_records(monitor: Rendered, replay: bool, capsys: pytest.CaptureFixture[str]) -> None:
    assert not monitor.top.has_flows()
    code, out, err = _run(monitor, capsys, *(["--replay", "does-not-exist.bin"] if replay else []), "--top")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: --top needs flow records")
    assert "flows: {accounting: true}" in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _decoded(rendered: Rendered, batches: list[bytes]) -> list[Any]:
    return [rendered.modules["decode"].decode_sorted(batch) for batch in batches]


def test_terminal_redraws_in_place(bandwidth: Rendered) -> None:
    top = bandwidth.top
    batches, _ = flow_batches(bandwidth.reader)
    screen = FakeTerminal()
    flows = top.live_top(_decoded(bandwidth, batches), screen, interval=3600)
    text = screen.getvalue()
    # Drawn at the start and at the end, each time from the top left corner of a cleared screen.
    assert text.startswith(top.HOME_AND_CLEAR) and text.count(top.HOME_AND_CLEAR) == 2
    final = text.split(top.HOME_AND_CLEAR)[-1]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  top by process: 12 flow records, 8 flows", final)
    assert "3.7 MiB" in final and "B/s" in final and "\x1b[2J" not in final.replace(top.HOME_AND_CLEAR, "")
    assert flows.totals[CHROME].bytes_in == expected("process")[CHROME].bytes_in
    # The renderer alone: a fake terminal gets the clear/home sequence, a plain stream a block.
    lines = top.live_lines(flows, 1.0, rows=5, human=True)
    plain = io.StringIO()
    top.Screen(screen).show(lines)
    top.Screen(plain).show(lines)
    width = max(top.shutil.get_terminal_size().columns - 1, 20)
    assert screen.getvalue().endswith(top.HOME_AND_CLEAR + "".join(line[:width] + "\n" for line in lines))
    assert plain.getvalue() == "\n".join(lines) + "\n\n" and top.HOME_AND_CLEAR not in plain.getvalue()


def test_live_blocks_when_not_a_terminal(bandwidth: Rendered) -> None:
    """Each refresh a block under a timestamp line (the ticker's own thread), and a final block."""
    top = bandwidth.top
    batches = _decoded(bandwidth, flow_batches(bandwidth.reader)[0])
    shown = threading.Event()

    class Watched(top.Screen):  # type: ignore[name-defined,misc]
        def show(self, lines: list[str]) -> None:
            super().show(lines)
            shown.set()

    def slowly() -> Iterator[Any]:
        yield batches[0]
        assert shown.wait(10), "no refresh within 10 s"
        yield from batches[1:]

    out = io.StringIO()
    top.live_top(slowly(), out, interval=0.05, screen=Watched(out))
    blocks = [block for block in out.getvalue().split("\n\n") if block]
    assert len(blocks) >= 2 and top.HOME_AND_CLEAR not in out.getvalue()
    for block in blocks:
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  top by process: ", block)
    first = dict(parse_table(blocks[0])[1])
    assert first[CHROME][:2] == ("1350000", "11000")  # the first batch only: two records of the first flow
    final = dict(parse_table(blocks[-1])[1])
    want = expected("process")
    assert {key: cells[:4] for key, cells in final.items()} == {
        top.display_text(key): (str(s.bytes_in), str(s.bytes_out), str(s.packets_in), str(s.packets_out))
        for key, s in want.items()}


def test_live_top_through_the_device(bandwidth: Rendered, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``--top`` on the device: READ until Ctrl-C, then the final table (standard output is no terminal)."""
    reader = bandwidth.reader
    batches, _ = flow_batches(reader)
    model = reader.model
    kinds = len(model.record_kinds)  # the flow kinds count: test_reader's _info gives len(model.layers)
    info = struct.pack(INFO_FORMAT, INFO_MAGIC, model.format_version, int(model.fingerprint, 16),
                       model.channel.capacity, kinds, model.max_record_size, 1, model.channel.capacity)
    stats = struct.pack("<QQII", 512, 128, kinds, 0) + struct.pack("<QQQ", 5, 4, 1) * kinds
    device = bandwidth.modules["device"]
    fake = FakeKernel32(device, info, stats, batches)
    monkeypatch.setattr(device, "_kernel32", lambda: fake)
    monkeypatch.setattr(device, "_last_error", lambda: fake.last_error)
    code, out, err = _run(bandwidth, capsys, "--top", "--top-by", "remote")
    assert (code, err) == (0, "") and "cancel" in fake.calls
    final = dict(parse_table(out.split("\n\n")[-2])[1])
    want = expected("remote")
    assert {key: cells[6] for key, cells in final.items()} == {key: str(s.flows) for key, s in want.items()}


def test_human_bytes(bandwidth: Rendered) -> None:
    human = bandwidth.top.human_bytes
    assert [human(n) for n in (0, 1023, 1024, 1536, 1048575, 3 << 20, 5 << 30, 1 << 45)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "1.0 MiB", "3.0 MiB", "5.0 GiB", "32768.0 GiB"]
