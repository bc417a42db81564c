"""Capture text is hostile: the reader's writers never hand it to a terminal or a parser raw.

Any local user names their own process's file, so a process path or app id may hold terminal
escape sequences (CSI, OSC), BEL, CR/LF that forge a table row, other C0 and C1 controls, bidi
controls that disguise a file name, invisible characters and invalid UTF-16. Each payload goes
through the command line in every format, and the bytes written are checked: the table and CSV
show such characters as ``\\xNN``/``\\uNNNN`` escapes that map back to exactly the value, JSON lines
escape them (and still decode to the value), SQLite stores the value itself.

The ICMP rendering of the table (type and code instead of ports) is checked here too.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from test_reader import FILETIME_2024, Reader, _render_reader, run_reader

from wfpgen.records import encode_batch, encode_record

SPEC = """\
version: 1
driver: {name: HostileText, description: Records what hostile process names look like}
layers: [ale_auth_connect_v4, ale_auth_connect_v6]
fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port, ale_app_id,
         ale_package_id]
metadata: [process_id, process_path]
sink: {kind: ring, max_blob: 512}
"""

# Written here from the policy, not taken from the reader: what the table and CSV must never show raw.
HIDDEN = frozenset(chr(c) for c in [
    *range(0x20), *range(0x7F, 0xA0), 0xAD, 0x061C, 0x180E, *range(0x200B, 0x2010), *range(0x2028, 0x202F),
    *range(0x2060, 0x2070), 0xFEFF, 0xFFF9, 0xFFFA, 0xFFFB, *range(0xD800, 0xE000), *range(0xE0000, 0xE0080)])
# JSON lines may hold C0 only as JSON's own escapes, so none of the set raw either.
ESCAPE = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))")

# name: the text a hostile process's path holds (or its raw UTF-16LE bytes, for invalid UTF-16)
PAYLOADS: dict[str, str | bytes] = {
    "csi-clear-screen": "C:\\x\x1b[2J\x1b[3J\x1b[H.exe",
    "osc-title-bel": "\x1b]0;owned\x07app.exe",
    "osc-hyperlink-st": "\x1b]8;;http://evil.example/\x1b\\innocent\x1b]8;;\x1b\\.exe",
    "bel": "beep\x07\x07.exe",
    "crlf-forged-row": ("a.exe\r\n2024-01-01T00:00:00.000000Z ale_auth_connect_v4 outbound tcp 10.0.0.1:1 "
                        "10.0.0.2:2 4 C:\\Windows\\explorer.exe"),
    "lone-cr-and-lf": "one\rtwo\nthree",
    "c0-nul-backspace-del": "\x00a\x01\x08\x08\x7fb.exe",
    "c1-csi-osc-nel": "\x9b2J\x9d0;t\x9c\x85\x90\x9f.exe",
    "bidi-rlo": "C:\\Users\\x\\invoice\u202egpj.exe",
    "bidi-every-control": "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
    "line-paragraph-separators": "line\u2028para\u2029.exe",
    "invisible": "expl\u200borer\u200c\u200d\u2060\ufeff\xad\u180e\ufff9\U000e0041.exe",
    "escape-lookalikes": "C:\\x1b\\u202e\\U0001F600\\x41.exe",
    "unc-and-plain-unicode": "\\\\server\\share\\José\\漢字😀.exe",
    "lone-high-surrogate": "ab".encode("utf-16-le") + b"\x00\xd8" + "cd\0".encode("utf-16-le"),
    "lone-low-surrogate": b"\x00\xdc" + "x.exe\0".encode("utf-16-le"),
    "reversed-pair": "😀".encode("utf-16-le")[2:] + "😀".encode("utf-16-le")[:2],
    "odd-length": "ab".encode("utf-16-le") + b"\x1b",
}


def text_of(payload: str | bytes) -> str:
    """The exact text of a payload: lone surrogates stay (the reader's utf16_text decoding)."""
    if isinstance(payload, str):
        return payload
    whole = len(payload) & ~1
    text = payload[:whole].decode("utf-16-le", "surrogatepass") + ("\ufffd" if whole != len(payload) else "")
    return text.rstrip("\0")


def unicode_of(payload: str | bytes) -> str:
    """What a format that must be valid Unicode (JSON, SQLite) carries: lone surrogates as U+FFFD."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text_of(payload))


def unescape(text: str) -> str:
    """The inverse of the table's and CSV's escaping, as the README describes it."""
    return ESCAPE.sub(lambda m: chr(int(next(g for g in m.groups() if g), 16)), text)


TABLE_COLUMNS = ("time", "layer", "direction", "proto", "local", "remote", "pid", "process")


def table_cells(header: str, line: str) -> dict[str, str]:
    """A table line's cells, cut where the header's column names start (no cell here overflows)."""
    starts = [header.index(name) for name in TABLE_COLUMNS] + [len(line)]
    cells = {name: line[start:end].strip() for name, start, end in zip(TABLE_COLUMNS, starts, starts[1:])}
    cells["process"] = line[starts[-2]:]
    return cells


def assert_nothing_hidden(text: str) -> list[str]:
    """``text`` split at its newlines; no line holds a hidden or terminal-active character."""
    lines = text.split("\n")
    assert lines[-1] == "", "output ends with a newline"
    for number, line in enumerate(lines[:-1]):
        raw = sorted({f"U+{ord(c):04X}" for c in line if c in HIDDEN})
        assert not raw, f"line {number} shows {raw} raw: {line!r}"
    return lines[:-1]


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Reader:
    base = tmp_path_factory.mktemp("hostile")
    spec = base / "hostile.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return _render_reader(spec, base / "hostile")


@pytest.fixture(scope="module")
def capture(reader: Reader, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One record per payload, in the path and the app id, in a batch of its own."""
    model = reader.model
    batches = []
    for sequence, payload in enumerate(PAYLOADS.values()):
        values = {"ip_protocol": 6, "ip_local_address": "10.0.0.5", "ip_local_port": 50000, "ip_remote_address":
                  "93.184.216.34", "ip_remote_port": 443, "ale_app_id": payload, "process_path": payload,
                  "process_id": 1000 + sequence, "ale_package_id": b"\x1b[2J\x07"}
        batches.append(encode_batch([encode_record(model, 0, values, sequence, FILETIME_2024 + sequence)]))
    path = tmp_path_factory.mktemp("hostile-capture") / "hostile.bin"
    path.write_bytes(b"".join(batches))
    return path


def _stdout(reader: Reader, capture: Path, *args: str) -> str:
    result = run_reader(reader, "--replay", str(capture), *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_table_escapes_every_payload(reader: Reader, capture: Path) -> None:
    lines = assert_nothing_hidden(_stdout(reader, capture))
    assert len(lines) == 1 + len(PAYLOADS), "a payload forged or swallowed a table row"
    for line, (name, payload) in zip(lines[1:], PAYLOADS.items()):
        cells = table_cells(lines[0], line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", cells["time"]) and cells["proto"] == "tcp", name
        assert unescape(cells["process"]) == text_of(payload), name
    assert "invoice\\u202egpj.exe" in lines[1 + list(PAYLOADS).index("bidi-rlo")]
    assert lines[1 + list(PAYLOADS).index("csi-clear-screen")].endswith("C:\\x\\x1b[2J\\x1b[3J\\x1b[H.exe")
    assert lines[1 + list(PAYLOADS).index("lone-high-surrogate")].endswith("ab\\ud800cd")
    assert lines[1 + list(PAYLOADS).index("escape-lookalikes")].endswith(
        "C:\\x5cx1b\\x5cu202e\\x5cU0001F600\\x5cx41.exe")
    assert lines[1 + list(PAYLOADS).index("unc-and-plain-unicode")].endswith("\\\\server\\share\\José\\漢字😀.exe")


def test_csv_escapes_every_payload(reader: Reader, capture: Path) -> None:
    text = _stdout(reader, capture, "--format", "csv")
    lines = assert_nothing_hidden(text)
    assert len(lines) == 1 + len(PAYLOADS), "a payload broke a CSV row"
    rows = list(csv.DictReader(io.StringIO(text)))
    for row, (name, payload) in zip(rows, PAYLOADS.items()):
        for column in ("ale_app_id", "process_path"):
            assert unescape(row[column]) == text_of(payload), (name, column)
        assert row["ale_package_id"] == b"\x1b[2J\x07".hex()  # a malformed SID shows as hex


def test_json_lines_escape_every_payload(reader: Reader, capture: Path) -> None:
    text = _stdout(reader, capture, "--format", "jsonl")
    lines = assert_nothing_hidden(text)
    assert len(lines) == len(PAYLOADS)
    for line, (name, payload) in zip(lines, PAYLOADS.items()):
        values = json.loads(line)["values"]
        assert values["ale_app_id"] == values["process_path"] == unicode_of(payload), name
    rlo = lines[list(PAYLOADS).index("bidi-rlo")]
    assert "invoice\\u202egpj.exe" in rlo and "\u202e" not in rlo
    separators = lines[list(PAYLOADS).index("line-paragraph-separators")]
    assert "line\\u2028para\\u2029.exe" in separators
    lone = lines[list(PAYLOADS).index("lone-high-surrogate")]
    assert "ab\ufffdcd" in lone, "a lone surrogate is U+FFFD: strict JSON readers refuse unpaired escapes"


def test_sqlite_stores_the_values(reader: Reader, capture: Path, tmp_path: Path) -> None:
    database = tmp_path / "records.db"
    result = run_reader(reader, "--replay", str(capture), "--format", "sqlite", "--output", str(database))
    assert result.returncode == 0, result.stderr
    connection = sqlite3.connect(database)
    rows = connection.execute('SELECT ale_app_id, process_path FROM "ale_auth_connect_v4" ORDER BY sequence')
    for (app_id, path), (name, payload) in zip(rows, PAYLOADS.items(), strict=True):
        assert app_id == path == unicode_of(payload), name
    connection.close()


def test_writers_in_process(reader: Reader, capture: Path) -> None:
    """The writers' escaping functions on every payload, and the escaping's inverse on the table's."""
    output = reader.module("output")
    for name, payload in PAYLOADS.items():
        text = text_of(payload)
        shown = output.display_text(text)
        assert not HIDDEN & set(shown), name
        assert unescape(shown) == text, name
        line = output.json_line(json.dumps(text, ensure_ascii=False))
        assert not HIDDEN & set(line) and json.loads(line) == unicode_of(payload), name
        assert output.sqlite_text(text) == unicode_of(payload), name


def test_truncation_halving_a_pair(reader: Reader, tmp_path: Path) -> None:
    """A path cut at max_blob between the halves of a surrogate pair ends in a lone high surrogate."""
    model = reader.model
    text = "p" * 255 + "😀"  # the pair's high half is bytes 510-511, the last kept of 512
    record = encode_record(model, 0, {"process_path": text, "ale_app_id": text}, 1, FILETIME_2024)
    path = tmp_path / "cut.bin"
    path.write_bytes(encode_batch([record]))
    table = assert_nothing_hidden(_stdout(reader, path))
    assert table[1].endswith("p" * 255 + "\\ud83d")
    (line,) = assert_nothing_hidden(_stdout(reader, path, "--format", "jsonl"))
    record_json = json.loads(line)
    assert record_json["values"]["process_path"] == "p" * 255 + "\ufffd"
    assert record_json["truncated"] == ["ale_app_id", "process_path"]


# -- ICMP in the table -----------------------------------------------------------------------


def _flow_capture(reader: Reader, path: Path, flows: list[tuple[int, dict[str, object]]]) -> Path:
    records = [encode_record(reader.model, index, values, sequence, FILETIME_2024 + sequence)
               for sequence, (index, values) in enumerate(flows)]
    path.write_bytes(encode_batch(records))
    return path


def test_table_shows_icmp_type_and_code(reader: Reader, tmp_path: Path) -> None:
    def flow(protocol: int, local: str, local_port: int | None, remote: str, remote_port: int | None
             ) -> dict[str, object]:
        return {"ip_protocol": protocol, "ip_local_address": local, "ip_local_port": local_port,
                "ip_remote_address": remote, "ip_remote_port": remote_port, "process_id": 7}

    flows = [
        (0, flow(1, "10.0.0.5", 8, "8.8.8.8", 0)),  # echo request
        (0, flow(1, "10.0.0.5", 3, "10.0.0.1", 4)),  # destination unreachable, fragmentation needed
        (1, flow(58, "fe80::1", 128, "fe80::2", 0)),  # ICMPv6 echo request
        (1, flow(58, "2001:db8::5", 135, "ff02::1:ff00:1", None)),  # no code recorded
        (0, flow(6, "10.0.0.5", 51000, "93.184.216.34", 443)),  # TCP keeps its ports
        (1, flow(17, "2001:db8::5", 53125, "2606:4700:4700::1111", 53)),
        (0, flow(2, "10.0.0.5", 8, "224.0.0.1", 0)),  # IGMP: not ICMP, whatever the numbers
    ]
    capture = _flow_capture(reader, tmp_path / "icmp.bin", flows)
    header, *lines = _stdout(reader, capture).splitlines()
    cells = [table_cells(header, line) for line in lines]
    assert [[c["proto"], c["local"], c["remote"]] for c in cells] == [
        ["icmp", "10.0.0.5", "8.8.8.8 type 8 code 0"],
        ["icmp", "10.0.0.5", "10.0.0.1 type 3 code 4"],
        ["icmpv6", "fe80::1", "fe80::2 type 128 code 0"],
        ["icmpv6", "2001:db8::5", "ff02::1:ff00:1 type 135"],
        ["tcp", "10.0.0.5:51000", "93.184.216.34:443"],
        ["udp", "[2001:db8::5]:53125", "[2606:4700:4700::1111]:53"],
        ["2", "10.0.0.5:8", "224.0.0.1:0"],
    ]
    # JSON lines and CSV keep their columns: the ports' names, whatever the protocol.
    records = [json.loads(line) for line in _stdout(reader, capture, "--format", "jsonl").splitlines()]
    assert records[0]["values"]["ip_local_port"] == 8 and records[0]["values"]["ip_remote_port"] == 0
    assert set(records[0]["values"]) == set(records[4]["values"])
    rows = list(csv.DictReader(io.StringIO(_stdout(reader, capture, "--format", "csv"))))
    assert (rows[2]["ip_local_port"], rows[2]["ip_remote_port"]) == ("128", "0")
    assert list(rows[0]) == list(rows[4])


def test_icmp_without_addresses(reader: Reader, tmp_path: Path) -> None:
    flows = [(0, {"ip_protocol": 1, "ip_local_port": 0, "ip_remote_port": 0}), (0, {"ip_protocol": 1})]
    header, *lines = _stdout(reader, _flow_capture(reader, tmp_path / "bare.bin", flows)).splitlines()
    cells = [table_cells(header, line) for line in lines]
    assert [(c["proto"], c["local"], c["remote"]) for c in cells] == [("icmp", "", "type 0 code 0"), ("icmp", "", "")]
