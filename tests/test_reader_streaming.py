"""The reader streams captures: memory stays flat in a capture's size, on every output path.

A capture given as a binary stream is read in bounded chunks, batch by batch, and a batch
header's length is checked against the largest batch the driver can write before its body is
read. Streaming must change nothing else: the same records, the same errors at the same byte
offsets, the same resynchronisation with ``skip_bad``, whatever the chunk size and however
short the stream's reads. The command line replays a capture of a few hundred MiB in a few
tens of MiB, through the writers and ``--stats`` (standard library and NumPy).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT
from test_reader import (
    BREAKERS,
    COVER_SPEC,
    FILETIME_2024,
    Capture,
    Reader,
    _check_columns,
    _compare,
    _render_reader,
    _ring_variant,
    json_lines,
    make_capture,
    run_reader,
)

from wfpgen.records import encode_batch, encode_record

HAVE_NUMPY = importlib.util.find_spec("numpy") is not None
BIG_SPEC = """\
version: 1
driver: {name: BigTails, description: Long process paths}
layers: [ale_auth_connect_v4]
fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port]
metadata: [process_id, process_path]
sink: {kind: ring, max_blob: 4096}
"""


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reader]:
    base = tmp_path_factory.mktemp("streaming")
    specs = base / "specs"
    specs.mkdir()
    cover = specs / "cover-all.yaml"
    cover.write_text(COVER_SPEC, encoding="utf-8")
    big = specs / "big-tails.yaml"
    big.write_text(BIG_SPEC, encoding="utf-8")
    paths = [_ring_variant(ROOT / "specs" / "monitor.yaml", specs), cover, big]
    return {p.stem: _render_reader(p, base / p.stem) for p in paths}


class Trickle:
    """A binary stream handing out at most ``step`` bytes per read, as a pipe may; counts what it gave."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.step = step
        self.position = 0
        self.largest_request = 0

    def read(self, size: int, /) -> bytes:
        self.largest_request = max(self.largest_request, size)
        piece = self.data[self.position:self.position + min(size, self.step)]
        self.position += len(piece)
        return piece


class Endless:
    """A stream that never ends: zeros after a prefix."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.given = 0

    def read(self, size: int, /) -> bytes:
        piece = self.prefix[self.given:self.given + size] or bytes(size)
        self.given += len(piece)
        return piece


@pytest.fixture
def small_chunks(readers: dict[str, Reader], monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of 64 bytes: every batch and every record header straddles a read."""
    for reader in readers.values():
        monkeypatch.setattr(reader.module("decode"), "READ_CHUNK", 64)


def _outcome(decode: ModuleType, source: Any, skip_bad: bool) -> tuple[Any, ...]:
    """Records as JSON, the error (offset, message) if any, and the skip report."""
    report = decode.SkipReport()
    records: list[dict[str, Any]] = []
    try:
        records.extend(r.to_json() for r in decode.iter_records(source, skip_bad, report))
    except decode.DecodeError as error:
        return tuple(records), (error.offset, error.message), None
    return tuple(records), None, (report.batches, report.bytes, [(e.offset, e.message) for e in report.errors])


STREAMS = {"whole": lambda data: io.BytesIO(data), "trickle-1": lambda data: Trickle(data, 1),
           "trickle-13": lambda data: Trickle(data, 13)}


@pytest.mark.parametrize("name", ["monitor", "cover-all"])
@pytest.mark.parametrize("breaker", [None, *BREAKERS])
def test_streams_decode_as_memory_does(readers: dict[str, Reader], name: str, breaker: str | None,
                                       small_chunks: None) -> None:
    reader = readers[name]
    decode = reader.module("decode")
    capture = make_capture(reader.model, seed=21, batch_sizes=[4, 6, 0, 5])
    data = capture.data if breaker is None else BREAKERS[breaker](capture).data
    for skip_bad in (False, True):
        expected = _outcome(decode, data, skip_bad)
        for stream_name, stream in STREAMS.items():
            assert _outcome(decode, stream(data), skip_bad) == expected, (stream_name, skip_bad)
    if breaker is None:
        _compare(list(_outcome(decode, Trickle(data, 5), False)[0]), capture.expected())


@pytest.mark.parametrize("name", ["monitor", "cover-all"])
def test_column_chunks_add_up_to_the_columns(readers: dict[str, Reader], name: str, small_chunks: None) -> None:
    reader = readers[name]
    decode = reader.module("decode")
    capture = make_capture(reader.model, seed=22, batch_sizes=[30, 7, 50])
    data = BREAKERS["size-past-batch"](capture).data  # batches 0 and 2 decode, 1 is skipped
    records = list(decode.iter_records(data, skip_bad=True))
    chunks = list(decode.iter_column_chunks(Trickle(data, 9), False, True, None, 1))
    assert len(chunks) == 2  # a chunk per good batch: the limit is one byte
    assert _joined_lists(chunks) == decode.decode_lists(data, skip_bad=True)
    if HAVE_NUMPY:
        chunks = list(decode.iter_column_chunks(Trickle(data, 9), True, True, None, 1))
        assert len(chunks) == 2
        _check_columns(_joined_arrays(chunks), records, reader)
        _check_columns(decode.decode_columns(io.BytesIO(data), skip_bad=True), records, reader)
        whole = list(decode.iter_column_chunks(data, True, True))
        assert len(whole) == 1  # the default chunk holds this small capture
        _check_columns(whole[0], records, reader)


def _joined_lists(chunks: list[dict[str, dict[str, list[Any]]]]) -> dict[str, dict[str, list[Any]]]:
    return {layer: {name: [v for chunk in chunks for v in chunk[layer][name]] for name in columns}
            for layer, columns in chunks[0].items()}


def _joined_arrays(chunks: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    np = importlib.import_module("numpy")
    out: dict[str, dict[str, Any]] = {}
    for layer, columns in chunks[0].items():
        out[layer] = {}
        for name, column in columns.items():
            parts = [chunk[layer][name] for chunk in chunks]
            join = np.ma.concatenate if isinstance(column, np.ma.MaskedArray) else np.concatenate
            out[layer][name] = join(parts)
    return out


def test_batch_length_is_checked_before_the_body_is_read(readers: dict[str, Reader]) -> None:
    """A header declaring gigabytes is refused after 16 bytes, not after reading (or allocating) them."""
    decode = readers["monitor"].module("decode")
    layout = readers["monitor"].module("layout")
    assert decode.MAX_BATCH_LENGTH == layout.BATCH_HEADER_SIZE + layout.CAPACITY
    for length in (decode.MAX_BATCH_LENGTH + 8, 0x7FFFFFF8, 0xFFFFFFF8):
        stream = Endless(struct.pack("<IIII", layout.BATCH_MAGIC, length, 1, 0))
        with pytest.raises(decode.DecodeError) as error:
            next(decode.iter_batches(stream))
        assert error.value.offset == 0 and "larger than any batch the driver writes" in error.value.message
        assert stream.given <= 2 * decode.READ_CHUNK
    good = encode_batch([encode_record(readers["monitor"].model, 0, {}, 1, FILETIME_2024)])
    huge = struct.pack("<IIII", layout.BATCH_MAGIC, 0xFFFFFFF8, 1, 0) + bytes(64)
    report = decode.SkipReport()
    assert [len(b) for b in decode.iter_batches(io.BytesIO(good + huge + good), True, report)] == [1, 1]
    assert report.batches == 1 and report.errors[0].offset == len(good)


def test_reads_are_bounded(readers: dict[str, Reader]) -> None:
    """Reading a capture asks the stream for a chunk at a time (or one batch), never for the rest."""
    reader = readers["cover-all"]
    decode = reader.module("decode")
    capture = make_capture(reader.model, seed=23, batch_sizes=[500] * 30)
    assert len(capture.data) > 2 * decode.READ_CHUNK
    stream = Trickle(capture.data, len(capture.data))
    assert sum(len(b) for b in decode.iter_batches(stream)) == 500 * 30
    assert stream.largest_request <= max(decode.READ_CHUNK, max(len(b) for b in capture.batches))


@pytest.fixture(scope="module")
def far_capture(readers: dict[str, Reader]) -> tuple[Capture, int]:
    """About 5 MiB of batches, and the first batch starting past 2 MiB: errors well past the first read."""
    capture = make_capture(readers["cover-all"].model, seed=24, batch_sizes=[2000] * 14)
    middle = next(i for i in range(len(capture.batches)) if capture.offset(i) > 2 << 20)
    return capture, middle


@pytest.mark.parametrize("breaker", ["bad-magic", "unknown-layer", "count-too-high"])
def test_cli_reports_offsets_far_into_a_capture(readers: dict[str, Reader], far_capture: tuple[Capture, int],
                                                tmp_path: Path, breaker: str) -> None:
    reader = readers["cover-all"]
    capture, middle = far_capture
    pieces = Capture(capture.batches[middle - 1:middle + 2], capture.records[middle - 1:middle + 2])
    broken = BREAKERS[breaker](pieces)
    at = capture.offset(middle - 1) + broken.offset
    path = tmp_path / "far.bin"
    path.write_bytes(b"".join(capture.batches[:middle - 1]) + broken.data + b"".join(capture.batches[middle + 2:]))
    failed = run_reader(reader, "--replay", str(path), "--format", "jsonl")
    assert failed.returncode == 3
    assert failed.stderr.startswith(f"error: {path}: byte {at}: "), failed.stderr
    assert broken.message in failed.stderr and at > 2 << 20
    skipped = run_reader(reader, "--replay", str(path), "--format", "jsonl", "--skip-bad")
    assert skipped.returncode == 0 and "skipped 1 bad batch" in skipped.stderr and f"first at byte {at}" in skipped.stderr
    good = [*range(middle - 1), *(middle - 1 + i for i in broken.good), *range(middle + 2, len(capture.batches))]
    _compare(json_lines(skipped.stdout), capture.written(good))


# -- memory ----------------------------------------------------------------------------------

CAPTURE_BYTES = 208 << 20
PEAK_LIMIT = 96 << 20  # far below the capture: numpy and the interpreter take about 30 MiB of it
# Runs the reader, counts its output lines, and reports its peak resident set size.
MEASURE = """
import json, resource, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
lines, tail = 0, b""
for block in iter(lambda: child.stdout.read(1 << 16), b""):
    lines += block.count(b"\\n")
    tail = (tail + block)[-2000:]
errors = child.stderr.read()
code = child.wait()
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
print(json.dumps({"code": code, "lines": lines, "tail": tail.decode(), "stderr": errors.decode(), "peak": peak}))
"""


def _repeated(reader: Reader, path: Path, values: dict[str, object]) -> int:
    """A capture of about CAPTURE_BYTES: one full-ring batch written again and again. Returns its records."""
    model = reader.model
    records: list[bytes] = []
    size = 16
    while True:
        record = encode_record(model, len(records) % len(model.layers), values, len(records), FILETIME_2024)
        if size + len(record) > model.channel.capacity:
            break
        records.append(record)
        size += len(record)
    batch = encode_batch(records)
    copies = CAPTURE_BYTES // len(batch) + 1
    with path.open("wb") as out:
        for _ in range(copies):
            out.write(batch)
    return copies * len(records)


def _measure(reader: Reader, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OPENBLAS_NUM_THREADS"] = "1"
    result = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", reader.package, *args],
                            cwd=reader.root, env=env, capture_output=True, text=True, timeout=120, check=True)
    outcome: dict[str, Any] = json.loads(result.stdout)
    assert outcome["code"] == 0, outcome["stderr"]
    return outcome


def _runs(path: Path, tmp_path: Path, count: int, writers: bool) -> Iterator[tuple[list[str], int | None]]:
    """(arguments, expected output lines or None for a summary) for each output path."""
    if writers:
        yield ["--replay", str(path), "--format", "jsonl"], count
        yield ["--replay", str(path), "--format", "sqlite", "--output", str(tmp_path / "big.db")], 0
        yield ["--replay", str(path), "--stats", "--no-numpy"], None
    if HAVE_NUMPY:
        yield ["--replay", str(path), "--stats", "--numpy"], None


@pytest.mark.skipif(sys.platform == "win32", reason="peak RSS comes from the POSIX resource module")
@pytest.mark.parametrize("name", ["big-tails", "monitor"])
def test_replay_memory_is_flat_in_the_capture_size(readers: dict[str, Reader], tmp_path: Path, name: str) -> None:
    """A capture of 208 MiB replays in well under 96 MiB, whatever the output: streamed, not loaded."""
    if name == "monitor" and not HAVE_NUMPY:
        pytest.skip("the uniform-layout capture exercises the NumPy path")
    reader = readers[name]
    path = tmp_path / "big.bin"
    if name == "big-tails":  # few records, long paths: the writers, the standard library and blob columns
        values: dict[str, object] = {"ip_protocol": 6, "ip_remote_port": 443, "process_id": 4,
                                     "process_path": "\\device\\harddiskvolume3\\" + "x" * 2000}
    else:  # millions of small records: NumPy's uniform path (the writers would take a minute)
        values = {"ip_protocol": 17, "ip_local_address": "10.0.0.5", "ip_remote_port": 53}
    count = _repeated(reader, path, values)
    assert path.stat().st_size >= CAPTURE_BYTES
    for args, lines in _runs(path, tmp_path, count, writers=name == "big-tails"):
        outcome = _measure(reader, *args)
        assert outcome["peak"] < PEAK_LIMIT, f"{args}: peak RSS {outcome['peak'] >> 20} MiB"
        if lines is not None:
            assert outcome["lines"] == lines, args
        else:
            assert f"all{count}" in outcome["tail"].replace(" ", ""), outcome["tail"]
