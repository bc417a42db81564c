"""Fuzzing the generated reader's replay decoder (``reader/<pkg>/decode.py``).

Captures are random bytes, or valid captures (``wfpgen.records.encode_record``/``encode_batch``)
with bytes flipped, cut, spliced, and record or batch sizes and counts set to 0 or huge.
Properties: strict decoding returns records or raises the package's ``DecodeError`` only, whose
message starts ``byte N:`` with N inside the data; ``skip_bad=True`` never raises, ends in
bounded time and yields no more records (and reports no more skips) than the data can hold;
decoded records render (text, JSON) without error; the bulk paths agree with it on
``skip_bad``; the same capture read as a stream, in windows of a few bytes with short reads,
decodes to the same records, errors and skips. Whatever the blobs hold, the table, CSV and JSON
lines writers print no control, bidi, invisible or lone surrogate character raw.
Valid captures decode to exactly what was encoded.
"""

from __future__ import annotations

import importlib
import io
import re
import struct
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fuzzbudget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from wfpgen.output import write
from wfpgen.pipeline import generate, model_for
from wfpgen.records import encode_batch, encode_record

REPO = Path(__file__).resolve().parents[2]
SPECS = ["monitor.yaml", "ale-connect.yaml"]
ERROR = re.compile(r"^byte (\d+): \S")
TIME_LIMIT = 5.0  # CPU seconds for one capture of at most a few hundred KiB
HEADER = 32  # the smallest record
# What the writers must never print raw (newline only as the line terminator): the policy in
# the reader's output.py, restated.
HIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
                    r"\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")


class Reader:
    def __init__(self, spec: str, root: Path) -> None:
        _, files = generate(REPO / "specs" / spec, spec)
        write(root, files)
        self.model = model_for(root / "wfpgen.yaml")
        package = next((root / "reader").glob("*_reader")).name
        sys.path.insert(0, str(root / "reader"))
        try:
            self.decode: ModuleType = importlib.import_module(f"{package}.decode")
            self.output: ModuleType = importlib.import_module(f"{package}.output")
        finally:
            sys.path.remove(str(root / "reader"))


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reader]:
    base = tmp_path_factory.mktemp("reader-fuzz")
    return {spec: Reader(spec, base / spec.removesuffix(".yaml")) for spec in SPECS}


# Paths a hostile process could have: terminal controls, bidi and invisible characters, lone
# surrogates, backslashes that look like escapes, among ordinary characters.
HOSTILE_TEXT = st.lists(st.one_of(
    st.sampled_from(["\x1b", "[", "]", "2J", "\x07", "\r", "\n", "\x00", "\x7f", "\x9b", "\x85", "\u202e",
                     "\u2066", "\u2069", "\u200f", "\u061c", "\u2028", "\u200b", "\ufeff", "\U000e0041", "\ud800",
                     "\udc00", "\\", "x", "u", "U", "1b", "0041", "e"]),
    st.characters()), max_size=60).map("".join)


@st.composite
def record_values(draw: st.DrawFn, model: Any, layer_index: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in model.layers[layer_index].record.value_items:
        if draw(st.integers(0, 4)) == 0:
            continue
        if item.display == "utf16" and draw(st.booleans()):
            values[item.name] = draw(HOSTILE_TEXT).encode("utf-16-le", "surrogatepass")
        elif item.is_blob:
            values[item.name] = draw(st.binary(max_size=model.max_blob + 40))
        elif item.struct_format == "16s":
            values[item.name] = draw(st.binary(min_size=16, max_size=16))
        else:
            values[item.name] = draw(st.integers(0, (1 << (8 * item.size)) - 1))
    return values


@st.composite
def capture(draw: st.DrawFn, model: Any) -> tuple[bytes, list[tuple[int, dict[str, Any]]]]:
    batches = []
    sent = []
    sequence = 0
    for _ in range(draw(st.integers(0, 4))):
        records = []
        for _ in range(draw(st.integers(0, 5))):
            index = draw(st.integers(0, len(model.layers) - 1))
            values = draw(record_values(model, index))
            records.append(encode_record(model, index, values, sequence, draw(st.integers(0, (1 << 64) - 1))))
            sent.append((index, values))
            sequence += 1
        batches.append(encode_batch(records, draw(st.integers(0, (1 << 32) - 1))))
    return b"".join(batches), sent


U32 = st.sampled_from([0, 1, 7, 8, 15, 16, 24, 32, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF8, 0xFFFFFFFF])
U16 = st.sampled_from([0, 1, 2, 3, 0xFF, 0x7FFF, 0xFFFF])


@st.composite
def mutated(draw: st.DrawFn, model: Any) -> bytes:
    data, _ = draw(capture(model))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "splice", "u32", "u16", "insert", "dup", "random"]))
        if kind == "random" or not buf:
            buf = bytearray(draw(st.binary(max_size=600)))
            continue
        at = draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del buf[at:]
        elif kind == "splice":
            other, _ = draw(capture(model))
            cut = draw(st.integers(0, len(other)))
            buf = buf[:at] + bytearray(other[cut:])
        elif kind == "u32" and at + 4 <= len(buf):
            at -= at % 4  # sizes, lengths, counts, presence masks, blob references live at 4-byte offsets
            struct.pack_into("<I", buf, at, draw(U32))
        elif kind == "u16" and at + 2 <= len(buf):
            at -= at % 2
            struct.pack_into("<H", buf, at, draw(U16))
        elif kind == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=24))
        elif kind == "dup":
            buf += buf[at:]
    return bytes(buf)


class Trickle:
    """A stream handing out at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.position = data, step, 0

    def read(self, size: int, /) -> bytes:
        piece = self.data[self.position:self.position + min(size, self.step)]
        self.position += len(piece)
        return piece


def outcome(decode: ModuleType, source: Any, skip_bad: bool) -> tuple[Any, ...]:
    """Records as JSON, the error (offset, message) if any, and the skip report."""
    report = decode.SkipReport()
    records: list[Any] = []
    try:
        records.extend(r.to_json() for r in decode.iter_records(source, skip_bad, report))
    except decode.DecodeError as error:
        return records, (error.offset, error.message)
    return records, (report.batches, report.bytes, [(e.offset, e.message) for e in report.errors])


def streamed_alike(decode: ModuleType, data: bytes) -> None:
    """Windows of 24 bytes, reads of 7: the stream decodes as the bytes do."""
    saved = decode.READ_CHUNK
    decode.READ_CHUNK = 24
    try:
        for skip_bad in (False, True):
            assert outcome(decode, Trickle(data, 7), skip_bad) == outcome(decode, data, skip_bad), skip_bad
    finally:
        decode.READ_CHUNK = saved


def written_safely(output: ModuleType, records: list[Any]) -> None:
    """The table, CSV and JSON lines of ``records`` show nothing hidden raw, and one line per record."""
    for kind in ("table", "csv", "jsonl"):
        stream = io.StringIO()
        writer = output.make_writer(kind, stream, None)
        writer.write_batch(records)
        writer.close()
        text = stream.getvalue()
        found = HIDDEN.search(text)
        assert found is None, f"{kind} prints U+{ord(found.group()):04X} raw"
        assert text.count("\n") == len(records) + (kind != "jsonl"), kind


def exercise(decode: ModuleType, data: bytes, output: ModuleType | None = None) -> None:
    """The properties, on one capture."""
    start = time.process_time()  # CPU time: other processes on the machine do not count
    first_error = None
    try:
        for record in decode.iter_records(data):
            record.to_json()
            record.text()
            record.decoded()
    except decode.DecodeError as error:
        match = ERROR.match(str(error))
        assert match, f"DecodeError message without a byte offset: {error}"
        assert int(match.group(1)) == error.offset and 0 <= error.offset <= len(data), (error.offset, len(data))
        first_error = error.offset
    # anything else propagates and fails the test

    report = decode.SkipReport()
    count = 0
    decoded = []
    for record in decode.iter_records(data, skip_bad=True, report=report):
        count += 1
        record.to_json()
        decoded.append(record)
        assert count <= len(data) // HEADER, "more records than the data can hold"
    if output is not None:
        written_safely(output, decoded)
    streamed_alike(decode, data)
    assert report.batches <= len(data) // 8 + 1, "more skips than the data has 8-byte steps"
    assert len(report.errors) == report.batches
    assert report.bytes <= len(data)
    for error in report.errors:
        assert ERROR.match(str(error)) and 0 <= error.offset <= len(data)
    report.summary()

    lists = decode.decode_lists(data, skip_bad=True)
    rows = sum(len(layer["sequence"]) for layer in lists.values())
    assert rows == count, f"decode_lists decoded {rows} records, iter_records {count}"
    if decode.have_numpy():
        strict_error = None
        try:
            decode.decode_columns(data)
        except decode.DecodeError as error:
            strict_error = error.offset
        assert strict_error == first_error, f"numpy path fails at {strict_error}, the stdlib path at {first_error}"
        columns = decode.decode_columns(data, skip_bad=True)
        rows = sum(len(layer["sequence"]) for layer in columns.values() if layer)
        assert rows == count, f"numpy path decoded {rows} records, the stdlib path {count}"
    assert time.process_time() - start < TIME_LIMIT, "decoding took too long"


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=examples(60))
@given(data=st.data())
def test_valid_captures_round_trip(readers: dict[str, Reader], spec: str, data: st.DataObject) -> None:
    reader = readers[spec]
    raw, sent = data.draw(capture(reader.model))
    records = list(reader.decode.iter_records(raw))
    assert len(records) == len(sent)
    for record, (index, values) in zip(records, sent):
        assert record.layer_index == index
        for item in reader.model.layers[index].record.value_items:
            want = values.get(item.name)
            if item.is_blob and want is not None:
                assert (item.name in record.truncated) == (len(want) > reader.model.max_blob)
                want = want[: reader.model.max_blob]
            assert record.values[item.name] == want, item.name
    exercise(reader.decode, raw, reader.output)


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=examples(150))
@given(data=st.data())
def test_mutated_captures(readers: dict[str, Reader], spec: str, data: st.DataObject) -> None:
    reader = readers[spec]
    exercise(reader.decode, data.draw(mutated(reader.model)), reader.output)


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=examples(60))
@given(raw=st.binary(max_size=2000))
def test_random_bytes(readers: dict[str, Reader], spec: str, raw: bytes) -> None:
    exercise(readers[spec].decode, raw, readers[spec].output)


@pytest.mark.parametrize("spec", SPECS)
def test_pathological_captures(readers: dict[str, Reader], spec: str) -> None:
    """Huge declared counts and lengths, magic everywhere, and a long run of empty batches."""
    decode = readers[spec].decode
    magic = struct.pack("<I", int.from_bytes(b"WFPB", "little"))
    cases = [
        b"",
        magic,
        magic * 4096,  # a magic at every 4 bytes: resynchronisation must still advance
        struct.pack("<IIII", int.from_bytes(b"WFPB", "little"), 16, 0xFFFFFFFF, 0),  # a huge count, no records
        struct.pack("<IIII", int.from_bytes(b"WFPB", "little"), 0xFFFFFFFF, 1, 0),
        struct.pack("<IIII", int.from_bytes(b"WFPB", "little"), 16, 0, 0) * 20000,  # many empty batches
        (struct.pack("<IIII", int.from_bytes(b"WFPB", "little"), 48, 1, 0) + struct.pack("<IHHIIQQ", 0, 0, 0, 0, 0,
                                                                                       0, 0)) * 1000,
        bytes(200_000),
    ]
    for data in cases:
        exercise(decode, data, readers[spec].output)
