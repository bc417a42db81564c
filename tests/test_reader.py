"""The generated Python reader decodes exactly what the record layout says the driver writes.

Every spec in specs/ (as a ring-sink variant) and a spec that covers every display kind are
rendered to a temporary folder; records with pseudo-random values are encoded with
``wfpgen.records`` (the independent oracle), written as a capture and decoded by the
generated reader, both through its command line and in process (standard library and NumPy).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import importlib
import importlib.util
import ipaddress
import json
import os
import random
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import SPECS

from wfpgen.model import ProjectModel, RecordItem
from wfpgen.pipeline import model_for
from wfpgen.protocol import INFO_FORMAT, INFO_MAGIC
from wfpgen.records import encode_batch, encode_record, sid_bytes
from wfpgen.render import project_files, render_file

# Every display kind: IPv4 and IPv6, paths, peer names and SIDs in the tail (64 bytes at most,
# so long SIDs are truncated), flags, directions, handles; a layer without blobs; a description
# that needs escaping.
COVER_SPEC = """\
version: 1
driver:
  name: CoverAll
  description: 'Covers "every" display kind \\\\ with ''quotes'' <and> more: é 😀'
layers:
  - ale_auth_connect_v4
  - ale_auth_connect_v6
  - layer: inbound_transport_v6
    fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port, flags]
    metadata: [flow_handle, current_process_id]
fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port, ale_app_id, flags,
         interface_index, peer_name, ale_package_id, ip_local_interface, original_icmp_type]
metadata: [process_id, process_path, packet_direction, token, compartment_id]
sink: {kind: ring, max_blob: 64}
"""
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
DIRECTIONS = {0: "outbound", 1: "inbound"}
ATTRIBUTIONS = {0: "flow", 1: "no_context", 2: "no_flow"}  # flow_attribution
FLOW_ENDS = {0: "ended", 1: "interval"}  # end_reason of a flow record
FILETIME_2024 = 133_485_408_000_000_000  # 2024-01-01T00:00:00Z
TEXT_CHARS = "abcxyz_.\\/:éß€漢😀"


@dataclass
class Reader:
    """One rendered reader package and the model it came from."""

    model: ProjectModel
    spec: Path
    root: Path  # the folder holding the package: cwd for ``python -m``

    @property
    def package(self) -> str:
        return self.model.reader_package

    def module(self, name: str) -> ModuleType:
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        return importlib.import_module(f"{self.package}.{name}")


def _ring_variant(source: Path, folder: Path) -> Path:
    spec = yaml.safe_load(source.read_text(encoding="utf-8"))
    sink = {key: value for key, value in spec.get("sink", {}).items() if key != "etw_provider"}  # etw's only
    spec["sink"] = {**sink, "kind": "ring"}
    path = folder / source.name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _render_reader(spec: Path, dest: Path) -> Reader:
    model = model_for(spec)
    files = project_files(model)
    for entry in files:
        if entry.path.startswith("reader/"):
            target = dest / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(render_file(model, entry, files))
    return Reader(model, spec, dest / "reader")


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reader]:
    base = tmp_path_factory.mktemp("readers")
    specs = base / "specs"
    specs.mkdir()
    paths = [_ring_variant(s, specs) for s in SPECS]
    cover = specs / "cover-all.yaml"
    cover.write_text(COVER_SPEC, encoding="utf-8")
    paths.append(cover)
    return {p.stem: _render_reader(p, base / p.stem) for p in paths}


READER_NAMES = [s.stem for s in SPECS] + ["cover-all"]


# -- values and their expected JSON ---------------------------------------------------------


def _text(rng: random.Random, encoded_bytes: int) -> str:
    """Text whose UTF-16 form, terminating NUL included, is about ``encoded_bytes`` long."""
    chars: list[str] = []
    while (len("".join(chars)) + 1) * 2 < encoded_bytes:
        chars.append(rng.choice(TEXT_CHARS))
    return "".join(chars)


def _blob_length(rng: random.Random, max_blob: int) -> int:
    return rng.choice([0, 1, 7, max_blob - 2, max_blob - 1, max_blob, max_blob + 1, max_blob + 2, max_blob * 2])


def _blob_value(rng: random.Random, item: RecordItem, max_blob: int) -> object:
    if item.display == "sid":
        subs = [rng.getrandbits(32) for _ in range(rng.randrange(0, 16))]
        return "-".join(["S-1", str(rng.choice([5, 15, 16])), *map(str, subs)])
    if item.display == "utf16":
        return _text(rng, max(2, _blob_length(rng, max_blob)))
    return rng.randbytes(_blob_length(rng, max_blob))


def _scalar_value(rng: random.Random, item: RecordItem, model: ProjectModel) -> object:
    bits = 8 * item.size
    if item.display == "protocol":
        return rng.choice([1, 6, 17, 58, rng.getrandbits(bits)])
    if item.display == "ipv4":
        number = rng.getrandbits(32)
        return str(ipaddress.IPv4Address(number)) if rng.random() < 0.5 else number
    if item.display == "ipv6":
        return str(ipaddress.IPv6Address(rng.getrandbits(128)))
    if item.display == "bytes":
        return rng.randbytes(16)
    if item.display == "flags":
        value = 0
        for _, flag in rng.sample(model.condition_flags, 3):
            value |= flag if rng.random() < 0.5 else 0
        return value | (0x80000000 if rng.random() < 0.2 else 0)
    if item.display == "direction":
        return rng.choice([0, 1, 0, 1, 2])
    if item.display == "attribution":
        return rng.choice([0, 1, 2, 3])
    if item.display == "flow_end":
        return rng.choice([0, 1, 2])
    if item.display == "time":
        return rng.choice([FILETIME_2024 + rng.getrandbits(40), 0, (1 << 64) - 1])  # the last: past year 9999
    return rng.choice([0, 1, (1 << bits) - 1, rng.getrandbits(bits), rng.getrandbits(bits)])


def random_values(rng: random.Random, model: ProjectModel, layer_index: int) -> dict[str, object | None]:
    """Values for every item of a layer; about one in five absent (None or left out)."""
    values: dict[str, object | None] = {}
    for item in model.record_kinds[layer_index].record.items:
        roll = rng.random()
        if roll < 0.1:
            continue
        if roll < 0.2:
            values[item.name] = None
        elif item.is_blob:
            values[item.name] = _blob_value(rng, item, model.max_blob)
        else:
            values[item.name] = _scalar_value(rng, item, model)
    return values


def _blob_data(item: RecordItem, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    assert isinstance(value, str)
    return sid_bytes(value) if item.display == "sid" else (value + "\0").encode("utf-16-le")


def _expected_blob(item: RecordItem, value: object, max_blob: int) -> tuple[object, bool]:
    data = _blob_data(item, value)
    cut = len(data) > max_blob
    data = data[:max_blob]
    if item.display == "utf16":
        text = data.decode("utf-16-le", "replace").rstrip("\0")
        assert cut or text == value
        return text, cut
    if item.display == "sid":
        return (data.hex() if cut else value), cut
    return data.hex(), cut


def _expected_scalar(item: RecordItem, value: Any, model: ProjectModel) -> object:
    kind = item.display
    if kind == "ipv4":
        return str(ipaddress.IPv4Address(value))
    if kind == "ipv6":
        return str(ipaddress.IPv6Address(value)) if isinstance(value, str) else value.hex()
    if kind == "bytes":
        return value.hex()
    if kind == "protocol":
        return {"value": value, "name": PROTOCOLS.get(value, str(value))}
    if kind == "direction":
        return {"value": value, "name": DIRECTIONS.get(value, str(value))}
    if kind == "attribution":
        return {"value": value, "name": ATTRIBUTIONS.get(value, str(value))}
    if kind == "flow_end":
        return {"value": value, "name": FLOW_ENDS.get(value, str(value))}
    if kind == "time":
        try:
            moment = dt.datetime(1601, 1, 1) + dt.timedelta(microseconds=value // 10)
        except OverflowError:
            return str(value)
        return moment.isoformat(timespec="microseconds") + "Z"
    if kind == "flags":
        return {"value": value, "names": [name for name, bit in model.condition_flags if value & bit]}
    if kind == "hex":
        return f"0x{value:x}"
    return value


def expected_json(model: ProjectModel, layer_index: int, values: dict[str, object | None], sequence: int,
                  timestamp: int, processor: int = 0) -> dict[str, object]:
    """The JSON object the reader must print for a record encoded from ``values``."""
    layer = model.record_kinds[layer_index]
    shown: dict[str, object] = {}
    truncated = []
    for item in layer.record.items:
        value = values.get(item.name)
        if value is None:
            shown[item.name] = None
        elif item.is_blob:
            shown[item.name], cut = _expected_blob(item, value, model.max_blob)
            if cut:
                truncated.append(item.name)
        else:
            shown[item.name] = _expected_scalar(item, value, model)
    moment = dt.datetime(1601, 1, 1) + dt.timedelta(microseconds=timestamp // 10)
    return {"time": moment.isoformat(timespec="microseconds") + "Z", "timestamp": timestamp, "sequence": sequence,
            "processor": processor, "layer": layer.name, "layer_index": layer_index, "direction": layer.direction, "values": shown,
            "truncated": truncated}


# -- captures ---------------------------------------------------------------------------------


@dataclass
class Capture:
    """Encoded batches and the JSON each record must decode to."""

    batches: list[bytes]
    records: list[list[dict[str, object]]]  # expected JSON, per batch

    @property
    def data(self) -> bytes:
        return b"".join(self.batches)

    def offset(self, batch: int) -> int:
        return sum(len(b) for b in self.batches[:batch])

    def expected(self, batches: list[int] | None = None) -> list[dict[str, object]]:
        """The records in capture order: what decoding yields."""
        chosen = range(len(self.batches)) if batches is None else batches
        return [record for i in chosen for record in self.records[i]]

    def written(self, batches: list[int] | None = None) -> list[dict[str, object]]:
        """The records as the writers write them: each batch sorted stably by timestamp."""
        chosen = range(len(self.batches)) if batches is None else batches
        return [record for i in chosen for record in sorted(self.records[i], key=_timestamp)]


def _timestamp(record: dict[str, object]) -> int:
    value = record["timestamp"]
    assert isinstance(value, int)
    return value


def make_capture(model: ProjectModel, seed: int, batch_sizes: list[int]) -> Capture:
    """Batches of records with pseudo-random values (an empty batch included when asked for)."""
    rng = random.Random(seed)
    capture = Capture([], [])
    sequence = 1000
    for count in batch_sizes:
        encoded, expected = [], []
        for _ in range(count):
            index = rng.randrange(len(model.record_kinds))
            values = random_values(rng, model, index)
            timestamp = FILETIME_2024 + rng.getrandbits(40)
            processor = rng.randrange(4)
            encoded.append(encode_record(model, index, values, sequence, timestamp, processor))
            expected.append(expected_json(model, index, values, sequence, timestamp, processor))
            sequence += rng.choice([1, 1, 1, 2])
        capture.batches.append(encode_batch(encoded, dropped_total=sequence))
        capture.records.append(expected)
    return capture


def run_reader(reader: Reader, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", reader.package, *args], cwd=reader.root, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=60, check=False)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def _compare(decoded: list[dict[str, object]], expected: list[dict[str, object]]) -> None:
    assert len(decoded) == len(expected)
    for got, want in zip(decoded, expected):
        assert got == want, f"record {want['sequence']} ({want['layer']}) differs"


# -- the command line against the oracle ---------------------------------------------------


@pytest.mark.parametrize("name", READER_NAMES)
def test_replay_jsonl_matches_encoded(readers: dict[str, Reader], name: str, tmp_path: Path) -> None:
    reader = readers[name]
    capture = make_capture(reader.model, seed=len(name), batch_sizes=[5, 0, 40, 1, 80, 33])
    path = tmp_path / "capture.bin"
    path.write_bytes(capture.data)
    result = run_reader(reader, "--replay", str(path), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    _compare(json_lines(result.stdout), capture.written())


def test_cover_spec_exercises_everything(readers: dict[str, Reader]) -> None:
    model = readers["cover-all"].model
    kinds = {item.display for layer in model.layers for item in layer.record.items}
    assert kinds >= {"decimal", "hex", "ipv4", "ipv6", "port", "protocol", "flags", "direction", "utf16", "sid", "bytes"}
    capture = make_capture(model, seed=1, batch_sizes=[60, 60])
    records = capture.expected()
    assert any(r["truncated"] for r in records) and any(not r["truncated"] for r in records)
    values = [v for r in records for v in r["values"].values()]  # type: ignore[attr-defined]
    assert None in values
    assert any(isinstance(v, str) and v.startswith("S-1-") for v in values)


def test_count_and_text_formats(readers: dict[str, Reader], tmp_path: Path) -> None:
    reader = readers["cover-all"]
    capture = make_capture(reader.model, seed=7, batch_sizes=[10, 10, 10])
    path = tmp_path / "capture.bin"
    path.write_bytes(capture.data)
    limited = run_reader(reader, "--replay", str(path), "--format", "jsonl", "--count", "15")
    assert limited.returncode == 0 and len(limited.stdout.splitlines()) == 15
    table = run_reader(reader, "--replay", str(path))
    lines = table.stdout.splitlines()
    assert table.returncode == 0 and len(lines) == 31 and lines[0].split()[:3] == ["time", "layer", "direction"]
    assert any("]:" in line for line in lines), "IPv6 endpoints are [address]:port"
    csv_run = run_reader(reader, "--replay", str(path), "--format", "csv")
    header = csv_run.stdout.splitlines()[0].split(",")
    names = {item.name for layer in reader.model.layers for item in layer.record.items}
    assert set(header) == names | {"time", "timestamp", "sequence", "processor", "layer", "truncated"}
    assert len(header) == len(set(header))
    summaries = {run_reader(reader, "--replay", str(path), "--stats", flag).stdout for flag in ("--numpy", "--no-numpy")}
    if importlib.util.find_spec("numpy") is None:
        summaries = {run_reader(reader, "--replay", str(path), "--stats", "--no-numpy").stdout}
    (summary,) = summaries
    assert "all" in summary and " 30" in summary and "sequence" in summary


def test_sqlite_output(readers: dict[str, Reader], tmp_path: Path) -> None:
    reader = readers["cover-all"]
    capture = make_capture(reader.model, seed=8, batch_sizes=[20, 25])
    path = tmp_path / "capture.bin"
    path.write_bytes(capture.data)
    database = tmp_path / "records.db"
    for _ in range(2):  # the second run appends to the tables the first created
        result = run_reader(reader, "--replay", str(path), "--format", "sqlite", "--output", str(database))
        assert result.returncode == 0, result.stderr
    connection = sqlite3.connect(database)
    expected = capture.written()
    for layer in reader.model.layers:
        rows = connection.execute(f'SELECT * FROM "{layer.name}" ORDER BY rowid').fetchall()
        mine = [r for r in expected if r["layer"] == layer.name]
        assert len(rows) == 2 * len(mine)
        columns = [c[1] for c in connection.execute(f'PRAGMA table_info("{layer.name}")')]
        for row, want in zip(rows, mine):
            got = dict(zip(columns, row))
            assert got["sequence"] == want["sequence"] and got["time"] == want["time"]
            for item in layer.record.items:
                shown = want["values"][item.name]  # type: ignore[index]
                if shown is None:
                    assert got[item.name] is None
                elif item.display in ("ipv4", "ipv6", "utf16", "sid", "hex"):
                    assert got[item.name] == shown
                elif item.display == "bytes":
                    assert got[item.name].hex() == shown
    connection.close()


# -- in process: standard library against NumPy ----------------------------------------------


def _rows(records: list[Any], layer: str) -> list[Any]:
    return [r for r in records if r.layer == layer]


def _check_columns(columns: dict[str, dict[str, Any]], records: list[Any], reader: Reader) -> None:
    for layer in reader.model.layers:
        mine = _rows(records, layer.name)
        cols = columns[layer.name]
        assert len(cols["sequence"]) == len(mine)
        assert [int(s) for s in cols["sequence"]] == [r.sequence for r in mine]
        assert [int(t) for t in cols["timestamp"]] == [r.timestamp for r in mine]
        for item in layer.record.items:
            column = cols[item.name]
            for i, record in enumerate(mine):
                want = record.values[item.name]
                if item.is_blob:
                    assert column[i] == want
                elif want is None:
                    assert bool(column.mask[i].all())
                elif item.struct_format == "16s":
                    assert column.data[i].tobytes() == want
                else:
                    assert int(column.data[i]) == want and not column.mask[i]


@pytest.mark.parametrize("name", READER_NAMES)
def test_numpy_matches_stdlib(readers: dict[str, Reader], name: str) -> None:
    pytest.importorskip("numpy")
    reader = readers[name]
    decode = reader.module("decode")
    capture = make_capture(reader.model, seed=99, batch_sizes=[50, 0, 70, 3])
    records = list(decode.iter_records(capture.data))
    _compare([r.to_json() for r in records], capture.expected())
    _check_columns(decode.decode_columns(capture.data), records, reader)
    lists = decode.decode_lists(capture.data)
    bulk = decode.decode_bulk(capture.data, use_numpy=True)
    for layer in reader.model.layers:
        assert [int(p) for p in bulk[layer.name]["present"]] == lists[layer.name]["present"]
        assert [int(p) for p in bulk[layer.name]["truncated"]] == lists[layer.name]["truncated"]


def test_numpy_uniform_path_is_taken(readers: dict[str, Reader]) -> None:
    decode = readers["monitor"].module("decode")
    assert decode._UNIFORM_SIZE == readers["monitor"].model.layers[0].record.size
    assert readers["cover-all"].module("decode")._UNIFORM_SIZE == 0


# -- malformed captures ------------------------------------------------------------------------


def _patch(batch: bytes, at: int, fmt: str, *values: int) -> bytes:
    out = bytearray(batch)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


def _second_record(batch: bytes) -> int:
    return 16 + struct.unpack_from("<I", batch, 16)[0]


@dataclass
class Broken:
    """A capture A, B, C whose middle batch is broken in one way."""

    data: bytes
    offset: int  # where the error is
    message: str
    good: list[int]  # the batches --skip-bad still decodes


Breaker = Callable[[Capture], Broken]


def _three(capture: Capture, middle: bytes, offset: int, message: str) -> Broken:
    data = capture.batches[0] + middle + capture.batches[2]
    return Broken(data, capture.offset(1) + offset, message, [0, 2])


BREAKERS: dict[str, Breaker] = {
    "truncated-batch": lambda c: Broken(c.batches[0] + c.batches[1][:-24], c.offset(1), "truncated batch", [0]),
    "truncated-header": lambda c: Broken(c.batches[0] + c.batches[1][:10], c.offset(1), "truncated batch header",
                                         [0]),
    "length-past-data": lambda c: _three(c, _patch(c.batches[1], 4, "<I", 1 << 20), 0, "truncated batch"),
    "length-below-header": lambda c: _three(c, _patch(c.batches[1], 4, "<I", 8), 0, "smaller than the 16-byte"),
    "bad-magic": lambda c: _three(c, _patch(c.batches[1], 0, "<I", 0x58585858), 0, "bad batch magic"),
    "size-zero": lambda c: _three(c, _patch(c.batches[1], 16, "<I", 0), 16, "record size 0"),
    "size-not-aligned": lambda c: _three(c, _patch(c.batches[1], 16, "<I", 36), 16, "not a multiple of 8"),
    "size-past-batch": lambda c: _three(c, _patch(c.batches[1], _second_record(c.batches[1]), "<I", 1 << 16),
                                        _second_record(c.batches[1]), "runs past the end of its batch"),
    "size-below-fixed": lambda c: _three(c, _patch(c.batches[1], 16, "<I", 8), 16, "smaller than the"),
    "unknown-layer": lambda c: _three(c, _patch(c.batches[1], 20, "<H", 99), 16, "unknown layer index 99"),
    "count-too-high": lambda c: _three(c, _patch(c.batches[1], 8, "<I", 1 + struct.unpack_from("<I", c.batches[1],
                                                                                              8)[0]),
                                       len(c.batches[1]), "record count mismatch"),
    "count-too-low": lambda c: _three(c, _patch(c.batches[1], 8, "<I", 1), _second_record(c.batches[1]),
                                      "record count mismatch"),
}


def _broken_cases() -> Iterator[tuple[str, str]]:
    for reader in ("monitor", "cover-all"):
        for breaker in BREAKERS:
            yield reader, breaker


@pytest.mark.parametrize(("name", "breaker"), list(_broken_cases()))
def test_malformed_capture(readers: dict[str, Reader], name: str, breaker: str, tmp_path: Path) -> None:
    reader = readers[name]
    capture = make_capture(reader.model, seed=3, batch_sizes=[4, 6, 5])
    broken = BREAKERS[breaker](capture)
    path = tmp_path / "broken.bin"
    path.write_bytes(broken.data)

    failed = run_reader(reader, "--replay", str(path), "--format", "jsonl")
    assert failed.returncode == 3
    assert failed.stderr.startswith(f"error: {path}: byte {broken.offset}: "), failed.stderr
    assert broken.message in failed.stderr and failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr

    skipped = run_reader(reader, "--replay", str(path), "--format", "jsonl", "--skip-bad")
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped 1 bad batch" in skipped.stderr and f"first at byte {broken.offset}" in skipped.stderr
    _compare(json_lines(skipped.stdout), capture.written(broken.good))

    decode = reader.module("decode")
    with pytest.raises(decode.DecodeError) as error:
        list(decode.iter_records(broken.data))
    assert error.value.offset == broken.offset
    if importlib.util.find_spec("numpy") is not None:
        with pytest.raises(decode.DecodeError) as bulk_error:
            decode.decode_columns(broken.data)
        assert bulk_error.value.offset == broken.offset
        report = decode.SkipReport()
        columns = decode.decode_columns(broken.data, skip_bad=True, report=report)
        assert report.batches == 1
        good = [r for r in decode.iter_records(broken.data, skip_bad=True)]
        _check_columns(columns, good, reader)


def test_blob_outside_the_record(readers: dict[str, Reader], tmp_path: Path) -> None:
    reader = readers["cover-all"]
    model = reader.model
    item = model.layers[0].record.blobs[0]
    record = encode_record(model, 0, {item.name: b"abcdefgh"}, 1, FILETIME_2024)
    size = struct.unpack_from("<I", record)[0]
    bad = _patch(record, item.offset, "<HH", size - 4, 8)
    good = encode_batch([encode_record(model, 1, {}, 2, FILETIME_2024)])
    path = tmp_path / "blob.bin"
    path.write_bytes(encode_batch([bad]) + good)
    failed = run_reader(reader, "--replay", str(path), "--format", "jsonl")
    assert failed.returncode == 3 and failed.stderr.startswith(f"error: {path}: byte 16: blob {item.name}")
    skipped = run_reader(reader, "--replay", str(path), "--format", "jsonl", "--skip-bad")
    assert skipped.returncode == 0 and [r["sequence"] for r in json_lines(skipped.stdout)] == [2]


def test_absent_and_empty_blobs(readers: dict[str, Reader]) -> None:
    reader = readers["cover-all"]
    model = reader.model
    blobs = model.layers[0].record.blobs
    record = encode_record(model, 0, {blobs[0].name: b"", blobs[1].name: b"xy"}, 1, FILETIME_2024)
    size = struct.unpack_from("<I", record)[0]
    # The driver references an absent blob as an empty stretch at the end of the tail.
    record = _patch(record, blobs[2].offset, "<HH", size, 0)
    (decoded,) = reader.module("decode").iter_records(encode_batch([record]))
    assert decoded.values[blobs[0].name] == b"" and decoded.values[blobs[1].name] == b"xy"
    assert decoded.values[blobs[2].name] is None


def test_resynchronises_past_garbage(readers: dict[str, Reader]) -> None:
    reader = readers["monitor-v6"]
    decode = reader.module("decode")
    capture = make_capture(reader.model, seed=5, batch_sizes=[3, 3])
    garbage = random.Random(2).randbytes(64)
    data = garbage + capture.batches[0] + garbage[:24] + capture.batches[1]
    report = decode.SkipReport()
    records = [r.to_json() for r in decode.iter_records(data, skip_bad=True, report=report)]
    _compare(records, capture.expected())
    assert report.batches == 2 and report.bytes == 88


# -- GET_INFO, STATS and the device ----------------------------------------------------------


def test_get_info_is_checked(readers: dict[str, Reader]) -> None:
    reader = readers["cover-all"]
    device = reader.module("device")
    model = reader.model
    ours = int(model.fingerprint, 16)
    ring = model.channel.capacity // 4
    good = struct.pack(INFO_FORMAT, INFO_MAGIC, model.format_version, ours, 4 * ring,
                       len(model.layers), model.max_record_size, 4, ring)
    info = device.check_info(good)
    assert info.fingerprint == ours and info.max_record_size == model.max_record_size
    assert (info.ring_count, info.ring_capacity, info.capacity) == (4, ring, 4 * ring)
    wrong = struct.pack(INFO_FORMAT, INFO_MAGIC, model.format_version, ours ^ 0xDEAD, model.channel.capacity,
                        len(model.layers), model.max_record_size, 1, model.channel.capacity)
    with pytest.raises(device.DeviceError) as error:
        device.check_info(wrong)
    assert model.fingerprint in str(error.value) and f"{ours ^ 0xDEAD:016x}" in str(error.value)
    for bad, what in ((good[:-1], "bytes"), (b"XXXX" + good[4:], "magic"),
                      (_patch(good, 4, "<I", 99), "format 99")):
        with pytest.raises(device.DeviceError, match=what):
            device.check_info(bad)


def test_stats_are_parsed(readers: dict[str, Reader]) -> None:
    reader = readers["monitor"]
    device = reader.module("device")
    layers = reader.model.layers
    data = struct.pack("<QQII", 4096, 1024, len(layers), 1)
    data += b"".join(struct.pack("<QQQ", 10 * i + 3, 10 * i + 2, 1) for i in range(len(layers)))
    stats = device.parse_stats(data)
    assert (stats.high_water, stats.used, stats.pending_reads) == (4096, 1024, 1)
    assert [s.layer for s in stats.layers] == [layer.name for layer in layers]
    assert stats.layers[1].classified == 13
    lines = reader.module("cli").stats_lines(stats)
    assert any("4096" in line for line in lines)


def test_device_messages(readers: dict[str, Reader]) -> None:
    reader = readers["monitor"]
    device = reader.module("device")
    denied = str(device.open_error(device.ERROR_ACCESS_DENIED, "x"))
    assert "run from an elevated prompt (the device admits only SYSTEM and Administrators)" in denied
    missing = str(device.open_error(device.ERROR_FILE_NOT_FOUND, "x"))
    assert f"driver not loaded: run scripts\\install.ps1 / sc start {reader.model.service_name}" in missing
    if sys.platform != "win32":
        with pytest.raises(device.DeviceError, match="only on Windows"):
            device.open_device()
        result = run_reader(reader, "--format", "jsonl")
        assert result.returncode == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


class FakeKernel32:
    """Just enough of kernel32 (its method names) to drive ``device.py`` off Windows.

    GET_INFO and STATS complete at once; READ pends, completes with the queued batches, then
    keeps pending until "Ctrl-C" (a KeyboardInterrupt out of the fourth wait).
    """

    def __init__(self, device: ModuleType, info: bytes, stats: bytes, batches: list[bytes]) -> None:
        self.device = device
        self.replies = {device.layout.IOCTL_GET_INFO: info, device.layout.IOCTL_STATS: stats}
        self.batches = list(batches)
        self.pending: bytes | None = None
        self.waits = 0
        self.calls: list[str] = []
        self.last_error = 0

    def CreateFileW(self, path: str, *args: object) -> int:
        self.calls.append(f"open {path}")
        return 0x40

    def CreateEventW(self, *args: object) -> int:
        return 0x44

    def DeviceIoControl(self, handle: int, code: int, _in: object, _size: int, out: Any, out_size: int,
                        returned: Any, overlapped: Any) -> int:
        self.calls.append(f"ioctl 0x{code:08X}")
        if code in self.replies:
            ctypes.memmove(out, self.replies[code], len(self.replies[code]))
            returned._obj.value = len(self.replies[code])
            return 1
        self.pending = self.batches.pop(0) if self.batches else None
        self.out = out
        self.last_error = self.device.ERROR_IO_PENDING
        return 0

    def WaitForSingleObject(self, event: int, milliseconds: int) -> int:
        self.waits += 1
        if self.pending is not None:
            return 0
        if self.waits > 3:
            raise KeyboardInterrupt
        return self.device.WAIT_TIMEOUT

    def GetOverlappedResult(self, handle: int, overlapped: Any, returned: Any, wait: int) -> int:
        if self.pending is None:
            self.calls.append(f"result wait={wait}")
            return 0
        ctypes.memmove(self.out, self.pending, len(self.pending))
        returned._obj.value = len(self.pending)
        self.pending = None
        return 1

    def CancelIoEx(self, handle: int, overlapped: Any) -> int:
        self.calls.append("cancel")
        return 1

    def CloseHandle(self, handle: int) -> int:
        self.calls.append(f"close 0x{handle:X}")
        return 1


def _info(model: ProjectModel, fingerprint: int) -> bytes:
    return struct.pack(INFO_FORMAT, INFO_MAGIC, model.format_version, fingerprint, model.channel.capacity,
                       len(model.record_kinds), model.max_record_size, 1, model.channel.capacity)


def _fake(reader: Reader, monkeypatch: pytest.MonkeyPatch, fingerprint: int, batches: list[bytes]) -> FakeKernel32:
    device = reader.module("device")
    layers = len(reader.model.record_kinds)
    stats = struct.pack("<QQII", 512, 128, layers, 0) + struct.pack("<QQQ", 5, 4, 1) * layers
    fake = FakeKernel32(device, _info(reader.model, fingerprint), stats, batches)
    monkeypatch.setattr(device, "_kernel32", lambda: fake)
    monkeypatch.setattr(device, "_last_error", lambda: fake.last_error)
    return fake


def test_live_read_until_ctrl_c(readers: dict[str, Reader], monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    reader = readers["monitor-v6"]
    capture = make_capture(reader.model, seed=11, batch_sizes=[3, 4])
    fake = _fake(reader, monkeypatch, int(reader.model.fingerprint, 16), capture.batches)
    assert reader.module("cli").main(["--format", "jsonl"]) == 0
    _compare(json_lines(capsys.readouterr().out), capture.written())
    assert fake.calls[0] == f"open {reader.model.channel.user_path}"
    assert fake.calls[-4:] == ["cancel", "result wait=1", "close 0x44", "close 0x40"]


def test_live_count_and_stats(readers: dict[str, Reader], monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    reader = readers["monitor-v6"]
    capture = make_capture(reader.model, seed=12, batch_sizes=[3, 4])
    fake = _fake(reader, monkeypatch, int(reader.model.fingerprint, 16), capture.batches)
    assert reader.module("cli").main(["--format", "jsonl", "--count", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5 and "cancel" not in fake.calls
    _fake(reader, monkeypatch, int(reader.model.fingerprint, 16), [])
    assert reader.module("cli").main(["--stats"]) == 0
    out = capsys.readouterr().out
    assert "high-water mark 512 bytes" in out and all(layer.name in out for layer in reader.model.layers)


def test_live_refuses_another_layout(readers: dict[str, Reader], monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    reader = readers["monitor-v6"]
    other = int(reader.model.fingerprint, 16) ^ 1
    fake = _fake(reader, monkeypatch, other, [])
    assert reader.module("cli").main([]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: record layout mismatch") and f"{other:016x}" in error
    assert reader.model.fingerprint in error and fake.calls[-2:] == ["close 0x44", "close 0x40"]
    monkeypatch.setattr(reader.module("device"), "_last_error", lambda: reader.module("device").ERROR_ACCESS_DENIED)
    monkeypatch.setattr(fake, "CreateFileW", lambda *args: reader.module("device").INVALID_HANDLE_VALUE)
    assert reader.module("cli").main([]) == 1
    assert "run from an elevated prompt" in capsys.readouterr().err


# -- the package itself ------------------------------------------------------------------------


def test_layout_matches_model(readers: dict[str, Reader]) -> None:
    for reader in readers.values():
        layout = reader.module("layout")
        model = reader.model
        assert layout.FINGERPRINT == int(model.fingerprint, 16) and layout.FORMAT_VERSION == model.format_version
        assert layout.DEVICE_PATH == model.channel.user_path
        assert layout.BATCH_MAGIC == model.channel.batch_magic and layout.INFO_MAGIC == model.channel.info_magic
        assert {i.name: i.code for i in model.channel.ioctls} == {
            name: getattr(layout, f"IOCTL_{name}") for name in ("GET_INFO", "READ", "STATS")}
        for layer, mine in zip(model.record_kinds, layout.LAYERS, strict=True):
            assert (mine.index, mine.name, mine.direction, mine.size, mine.format) == (
                layer.index, layer.name, layer.direction, layer.record.size, layer.record.struct_format)
            assert [tuple(i[:5]) for i in mine.items] == [
                (i.name, i.bit, i.struct_format, i.display, i.blob_index) for i in layer.record.value_items]
        assert layout.DESCRIPTION == model.description


def test_generated_files(readers: dict[str, Reader]) -> None:
    tomllib = pytest.importorskip("tomllib")
    for reader in readers.values():
        model = reader.model
        package = reader.root / model.reader_package
        assert (package / "py.typed").read_bytes() == b""
        for path in [*package.glob("*.py"), reader.root / "pyproject.toml", reader.root / "README.md"]:
            data = path.read_bytes()
            assert data.endswith(b"\n") and b"\r" not in data and not data.startswith(b"\xef\xbb\xbf"), path
            first = data.decode("utf-8").splitlines()[0]
            assert f"enerated by wfpgen from {model.spec_name}" in first, path
        project = tomllib.loads((reader.root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        assert project["name"] == model.reader_distribution and project["dependencies"] == []
        assert project["optional-dependencies"] == {"fast": ["numpy"]}
        assert project["scripts"] == {model.reader_distribution: f"{model.reader_package}.cli:main"}


def test_standard_library_only(readers: dict[str, Reader]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for reader in readers.values():
        code = f"import sys, {reader.package}.cli, {reader.package}.device; assert 'numpy' not in sys.modules"
        result = subprocess.run([sys.executable, "-S", "-c", code], cwd=reader.root, env=env, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr


def test_mypy_strict(readers: dict[str, Reader], tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    packages = [str(r.root / r.package) for r in readers.values()]
    for platform in ("linux", "win32"):
        result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--platform",
                                 platform, "--cache-dir", str(tmp_path / platform), *packages],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


# -- the encoder ---------------------------------------------------------------------------------


def test_encoder_basics(readers: dict[str, Reader]) -> None:
    model = readers["cover-all"].model
    layer = model.layers[0].record
    empty = encode_record(model, 0, {}, 5, 6)
    assert len(empty) == layer.size and empty[32:] == bytes(layer.size - 32)
    assert struct.unpack_from("<IHHIIQQ", empty) == (layer.size, 0, 0, 0, 0, 5, 6)
    path = next(i for i in layer.items if i.display == "utf16")
    long = encode_record(model, 0, {path.name: "x" * 200}, 1, 2)
    size, _, _, present, truncated = struct.unpack_from("<IHHII", long)
    assert size == len(long) == layer.size + model.max_blob + (-(layer.size + model.max_blob)) % 8
    assert present == truncated == 1 << path.bit
    with pytest.raises(KeyError):
        encode_record(model, 0, {"no_such_value": 1}, 1, 2)
    batch = encode_batch([empty, long], dropped_total=(1 << 32) + 7)
    assert struct.unpack_from("<IIII", batch) == (model.channel.batch_magic, 16 + len(empty) + len(long), 2, 7)
    assert sid_bytes("S-1-5-21-1-2") == bytes([1, 3, 0, 0, 0, 0, 0, 5]) + struct.pack("<3I", 21, 1, 2)
