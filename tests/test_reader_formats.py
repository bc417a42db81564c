"""The reader's fast writers print exactly what its generic writers print.

For a layout whose records are one blob-free fixed part, the generated writers format a
record straight from its unpacked fixed part (per-layer code that wfpgen/readerformat.py
decides); everything else goes through ``Record``. Here every committed capture and random
records (hypothesis) are written both ways, in every format, and the bytes compared (SQLite:
the dump of the database). Also: each batch is written sorted stably by timestamp, and
``--stats`` reports sequence gaps per processor.
"""

from __future__ import annotations

import importlib
import io
import json
import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfpgen.model import ProjectModel
from wfpgen.pipeline import model_for
from wfpgen.records import encode_batch, encode_record
from wfpgen.render import project_files, render_file

# Two layers of one blob-free layout showing every display kind the fast code formats:
# protocol, IPv4 addresses, ports, flags, a direction, decimals (a 64-bit one), hex.
UNIFORM_SPEC = """\
version: 1
driver:
  name: UniformAll
  description: Every display kind of a blob-free layout
layers: [ale_auth_connect_v4, ale_auth_recv_accept_v4]
fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port, flags, interface_index]
metadata: [process_id, packet_direction, compartment_id, token]
sink: {kind: ring}
"""
# IPv6 addresses in a blob-free layout.
UNIFORM_V6_SPEC = """\
version: 1
driver:
  name: UniformSix
  description: IPv6 transport
layers: [inbound_transport_v6, outbound_transport_v6]
fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port]
sink: {kind: ring}
"""
CAPTURES = sorted((ROOT / "tests" / "data").glob("*.bin"))
FORMATS = ("table", "jsonl", "csv", "sqlite", "ecs")
FILETIME_2024 = 133_485_408_000_000_000
FILETIME_MAX = (1 << 64) - 1  # far past year 9999: printed as the number


class Reader:
    """A rendered reader package, imported from its own folder."""

    def __init__(self, spec: Path, folder: Path) -> None:
        self.model: ProjectModel = model_for(spec)
        files = project_files(self.model)
        for entry in files:
            if entry.path.startswith("reader/"):
                target = folder / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(render_file(self.model, entry, files))
        package = self.model.reader_package
        for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
            del sys.modules[name]  # another test's copy of the same package: import this one
        sys.path.insert(0, str(folder / "reader"))
        try:
            self.decode: ModuleType = importlib.import_module(f"{package}.decode")
            self.output: ModuleType = importlib.import_module(f"{package}.output")
            self.cli: ModuleType = importlib.import_module(f"{package}.cli")
        finally:
            sys.path.remove(str(folder / "reader"))

    @property
    def uniform(self) -> bool:
        return self.decode.UNIFORM_FORMAT is not None


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reader]:
    base = tmp_path_factory.mktemp("reader-formats")
    specs = {path.stem: ROOT / "specs" / f"{path.stem}.yaml" for path in CAPTURES}
    for name, text in (("uniform", UNIFORM_SPEC), ("uniform-v6", UNIFORM_V6_SPEC)):
        specs[name] = base / f"{name}.yaml"
        specs[name].write_text(text, encoding="utf-8")
    return {name: Reader(spec, base / name) for name, spec in specs.items()}


def _write(reader: Reader, kind: str, batches: list[Any], fast: bool, folder: Path) -> bytes:
    """The bytes one format writes for sorted batches: through ``write_decoded`` (fast where it
    applies) or through ``write_batch`` with the batches' records (generic only)."""
    stream = io.StringIO(newline="")
    database = folder / f"{kind}-{'fast' if fast else 'generic'}.db"
    writer = reader.output.make_writer(kind, stream, str(database))
    try:
        for batch in batches:
            if fast:
                writer.write_decoded(batch)
            else:
                writer.write_batch(batch.records())
    finally:
        writer.close()
    if kind != "sqlite":
        return stream.getvalue().encode("utf-8", "surrogatepass")
    connection = sqlite3.connect(database)
    try:
        return "\n".join(connection.iterdump()).encode("utf-8", "surrogatepass")
    finally:
        connection.close()
        database.unlink()


def _same_both_ways(reader: Reader, data: bytes, folder: Path) -> dict[str, bytes]:
    batches = list(reader.decode.iter_sorted_batches(data))
    written = {}
    for kind in FORMATS:
        fast = _write(reader, kind, batches, True, folder)
        generic = _write(reader, kind, batches, False, folder)
        assert fast == generic, f"{kind}: the fast code writes different bytes"
        written[kind] = fast
    return written


@pytest.mark.parametrize("capture", CAPTURES, ids=[path.stem for path in CAPTURES])
def test_committed_captures_write_the_same_both_ways(readers: dict[str, Reader], capture: Path,
                                                     tmp_path: Path) -> None:
    reader = readers[capture.stem]
    data = capture.read_bytes()
    written = _same_both_ways(reader, data, tmp_path)
    batches = list(reader.decode.iter_sorted_batches(data))
    assert all((batch.rows is not None) == reader.uniform for batch in batches)
    assert len(written["jsonl"].splitlines()) == sum(len(batch) for batch in batches)


def test_the_fast_code_exists_where_it_should(readers: dict[str, Reader]) -> None:
    """Blob-free layouts of one format get per-layer code for every format; others none."""
    for name, reader in readers.items():
        for formatter in ("_JSONL_ROWS", "_CSV_ROWS", "_TABLE_ROWS", "_SQLITE_ROWS", "_ECS_ROWS"):
            assert (getattr(reader.output, formatter) is not None) == reader.uniform, (name, formatter)
    assert {name for name, reader in readers.items() if reader.uniform} >= {"monitor", "uniform", "uniform-v6"}


# -- random records ----------------------------------------------------------------------------

PROTOCOLS = st.sampled_from([1, 6, 17, 58, 0, 255])
TIMESTAMPS = st.one_of(st.integers(FILETIME_2024, FILETIME_2024 + 30_000),  # ties and neighbours
                       st.integers(0, FILETIME_MAX), st.sampled_from([0, FILETIME_MAX, 2_650_467_743_999_999_999,
                                                                      2_650_467_744_000_000_000]))


@st.composite
def record_values(draw: st.DrawFn, model: ProjectModel, layer_index: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    absent_some = draw(st.integers(0, 3)) == 0  # mostly every value present: the fast code's case
    for item in model.layers[layer_index].record.items:
        if absent_some and draw(st.booleans()):
            continue
        if item.display == "protocol":
            values[item.name] = draw(PROTOCOLS)
        elif item.is_blob:
            values[item.name] = draw(st.binary(max_size=model.max_blob + 8))
        elif item.struct_format == "16s":
            values[item.name] = draw(st.binary(min_size=16, max_size=16))
        else:
            values[item.name] = draw(st.one_of(st.integers(0, (1 << (8 * item.size)) - 1),
                                               st.sampled_from([0, 1, (1 << (8 * item.size)) - 1])))
    return values


@st.composite
def captures(draw: st.DrawFn, model: ProjectModel) -> bytes:
    batches = []
    for _ in range(draw(st.integers(0, 3))):
        records = []
        for _ in range(draw(st.integers(0, 12))):
            index = draw(st.integers(0, len(model.layers) - 1))
            records.append(encode_record(model, index, draw(record_values(model, index)),
                                         draw(st.integers(0, (1 << 64) - 1)), draw(TIMESTAMPS),
                                         draw(st.integers(0, 0xFFFF))))
        batches.append(encode_batch(records))
    return b"".join(batches)


@pytest.mark.parametrize("name", ["uniform", "uniform-v6", "monitor", "monitor-v6", "ale-connect"])
def test_random_records_write_the_same_both_ways(readers: dict[str, Reader], name: str,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    reader = readers[name]
    folder = tmp_path_factory.mktemp("random")

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(captures(reader.model))
    def check(data: bytes) -> None:
        _same_both_ways(reader, data, folder)

    check()


# -- order and gaps ------------------------------------------------------------------------------


def _events(model: ProjectModel, batches: list[list[tuple[int, int, int]]]) -> bytes:
    """Batches of (processor, sequence, timestamp) records, each of the first layer, every value present."""
    layer = model.layers[0]
    values: dict[str, object] = {}
    for item in layer.record.items:
        if item.display == "protocol":
            values[item.name] = 6
        elif item.display == "ipv4":
            values[item.name] = "10.0.0.1"
        elif item.display == "ipv6":
            values[item.name] = "2001:db8::1"
        elif item.is_blob:
            values[item.name] = "C:\\app.exe" if item.display == "utf16" else b"\x01"
        else:
            values[item.name] = 1
    return b"".join(encode_batch([encode_record(model, 0, values, sequence, FILETIME_2024 + tick, processor)
                                  for processor, sequence, tick in batch]) for batch in batches)


@pytest.mark.parametrize("name", ["uniform", "ale-connect"])
def test_each_batch_is_written_in_time_order(readers: dict[str, Reader], name: str) -> None:
    """A batch holds ring after ring: its records are written sorted by timestamp, ties in the
    order READ returned them; a later batch is written after, whatever its times."""
    reader = readers[name]
    data = _events(reader.model, [
        [(0, 1, 50), (0, 2, 30), (1, 1, 50), (1, 2, 10), (2, 7, 30)],  # ring 0, then 1, then 2
        [(0, 3, 20), (1, 3, 5)],  # earlier than some of the first batch: still after it
    ])
    stream = io.StringIO()
    reader.cli.write_batches(reader.decode.iter_sorted_batches(data), "jsonl", stream)
    written = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["processor"], r["sequence"]) for r in written] == [
        (1, 2), (0, 2), (2, 7), (0, 1), (1, 1),
        (1, 3), (0, 3),
    ]
    # The decoding API keeps the driver's order.
    assert [(r.processor, r.sequence) for r in reader.decode.iter_records(data)][:3] == [(0, 1), (0, 2), (1, 1)]
    cut = io.StringIO()
    reader.cli.write_batches(reader.decode.iter_sorted_batches(data), "jsonl", cut, count=3)
    assert cut.getvalue().splitlines() == stream.getvalue().splitlines()[:3]


@pytest.mark.parametrize("numpy", [True, False])
@pytest.mark.parametrize("name", ["uniform", "ale-connect"])
def test_stats_report_gaps_per_processor(readers: dict[str, Reader], name: str, numpy: bool) -> None:
    if numpy:
        pytest.importorskip("numpy")
    reader = readers[name]
    data = _events(reader.model, [
        [(0, 1, 1), (0, 2, 2), (1, 10, 3), (1, 11, 4), (7, 1, 5)],
        [(0, 3, 6), (0, 5, 7), (1, 12, 8), (7, 4, 9)],  # processor 0 lost 4, processor 7 lost 2 and 3
    ])
    lines = reader.cli.capture_summary(reader.decode.iter_column_chunks(data, numpy))
    gaps = lines[lines.index(next(line for line in lines if line.startswith("sequence gaps"))) + 2:]
    assert [line.split() for line in gaps] == [
        ["0", "1", "5", "4", "1"],
        ["1", "10", "12", "3", "0"],
        ["7", "1", "4", "2", "2"],
        ["all", "9", "3"],
    ]
    assert lines[len(reader.model.layers) + 1].split() == ["all", "9"]
