"""The reader's ``--format ecs`` writes Elastic Common Schema documents that ECS itself accepts.

Every document written for every committed capture (``python -m <reader> --replay FILE --format
ecs``), and for pseudo-random records of a spec that covers every mapping, is checked against the
table ``scripts/extract_ecs_fields.py`` extracted from Elastic's published field list
(``wfpgen/data/ecs_fields.json``): every leaf field exists in ECS (not as a multi-field) or lies
under the custom namespace; every value has the JSON shape of its ECS type; fields with a closed
list of values take only those; the custom namespace is no ECS name. Then the document is read
back into the record's values, which must equal what ``--format jsonl`` gives for the same record:
nothing lost, nothing invented, every address, port, counter and process on the side its
direction puts it. The extraction script is checked on a small fixture of the published CSV.
"""

from __future__ import annotations

import datetime as dt
import importlib
import ipaddress
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT, load_script

from wfpgen.ecs import CUSTOM_NAMESPACE, MAPPING, EcsField, EcsTable, ecs_table, mapping_table, parse_table
from wfpgen.model import ProjectModel
from wfpgen.pipeline import model_for
from wfpgen.records import encode_batch, encode_record
from wfpgen.render import project_files, render_file

CAPTURES = sorted((ROOT / "tests" / "data").glob("*.bin"))
TABLE = ecs_table()
# A layer of fixed direction with packet_direction besides; one without a direction of its own (its
# `direction` field says); SIDs, app ids, flags, handles, current_process_id; and flow records.
COVER_SPEC = """\
version: 1
driver:
  name: EcsCover
  description: Every value an ECS document maps
layers:
  - ale_auth_connect_v4
  - layer: ale_flow_established_v6
    fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port, direction,
             ale_package_id, ale_app_id]
    metadata: [process_id]
  - layer: inbound_transport_v4
    fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port, flags]
    metadata: [current_process_id]
  - layer: outbound_transport_v6
    fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port]
    metadata: []
fields: [ip_protocol, ip_local_address, ip_local_port, ip_remote_address, ip_remote_port, ale_app_id, ale_package_id,
         flags]
metadata: [process_id, process_path, packet_direction, token]
flows: {accounting: true}
sink: {kind: ring, max_blob: 64}
"""
# The writer's own custom fields (the rest under the namespace are values, named as JSON lines name them).
OWN = {"driver", "layer", "processor", "timestamp", "sequence", "truncated", "icmp_type", "icmp_code"}
TRANSPORTS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}  # IANA keywords, lower case
DIRECTIONS = {"outbound": "egress", "inbound": "ingress"}  # host-based monitoring: the host's view
FLOW_ENDS = {"ended": 0, "interval": 1}
LONG = 1 << 63
FILETIME_2024 = 133_485_408_000_000_000


# -- readers -----------------------------------------------------------------------------------


class Reader:
    """A reader package rendered from a spec into its own folder, imported from there."""

    def __init__(self, spec: Path, folder: Path) -> None:
        self.model: ProjectModel = model_for(spec)
        self.root = folder / "reader"
        files = project_files(self.model)
        for entry in files:
            if entry.path.startswith("reader/"):
                target = folder / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(render_file(self.model, entry, files))

    def module(self, name: str) -> ModuleType:
        package = self.model.reader_package
        for loaded in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[loaded]  # another test's copy of the same package: import this one
        sys.path.insert(0, str(self.root))
        try:
            return importlib.import_module(f"{package}.{name}")
        finally:
            sys.path.remove(str(self.root))

    def run(self, *args: str) -> list[dict[str, Any]]:
        result = subprocess.run([sys.executable, "-m", self.model.reader_package, *args], cwd=self.root,
                                capture_output=True, text=True, encoding="utf-8", check=False)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reader]:
    base = tmp_path_factory.mktemp("reader-ecs")
    specs = {path.stem: ROOT / "specs" / f"{path.stem}.yaml" for path in CAPTURES}
    specs["cover"] = base / "ecs-cover.yaml"
    specs["cover"].write_text(COVER_SPEC, encoding="utf-8")
    return {name: Reader(spec, base / name) for name, spec in specs.items()}


# -- checking a document against the table -----------------------------------------------------


def leaves(document: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every value that is not an object, by dotted path (a list is a value)."""
    for key, value in document.items():
        assert isinstance(key, str) and key and "." not in key, f"key {prefix}{key!r}: ECS documents nest"
        if isinstance(value, dict):
            assert value, f"{prefix}{key}: an empty object"
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _date(value: object) -> bool:
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    try:
        moment = dt.datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return False
    return moment.utcoffset() == dt.timedelta(0) and "." in value  # sub-second digits


def _ip(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


SHAPES = {
    "keyword": lambda v: isinstance(v, str),
    "constant_keyword": lambda v: isinstance(v, str),
    "wildcard": lambda v: isinstance(v, str),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool) and -LONG <= v < LONG,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(1 << 31) <= v < 1 << 31,
    "boolean": lambda v: isinstance(v, bool),
    "ip": _ip,
    "date": _date,
}


def _shape_ok(field: EcsField, value: object) -> bool:
    check = SHAPES.get(field.type)
    assert check is not None, f"no JSON shape known for the ECS type {field.type}: add one"
    if field.array:  # ECS normalizes it to a list; a single value is accepted too
        return all(check(item) for item in value) and len(value) > 0 if isinstance(value, list) else check(value)
    return not isinstance(value, list) and check(value)


def check_document(document: dict[str, Any], table: EcsTable = TABLE) -> None:
    """Assert that ``document`` is an ECS document of ``table``'s version, custom fields aside."""
    assert document["ecs"]["version"] == table.version
    assert set(document) - table.top_level_names <= {CUSTOM_NAMESPACE}, "a top-level name ECS does not have"
    custom = document[CUSTOM_NAMESPACE]
    assert "@timestamp" in document or "timestamp" in custom
    for name, value in leaves(document):
        assert value is not None, f"{name}: null (an absent value is left out)"
        if name.split(".", 1)[0] == CUSTOM_NAMESPACE:
            continue
        field = table.fields.get(name)
        assert field is not None and not field.multi_field, f"{name} is no ECS {table.version} field"
        assert _shape_ok(field, value), f"{name}: {value!r} is not an ECS {field.type}"
        allowed = table.allowed(name)
        if allowed:
            assert set(value if isinstance(value, list) else [value]) <= set(allowed), (name, value)
    event = document["event"]
    for category in event["category"]:
        assert set(event["type"]) <= set(table.expected_event_types[category]), (category, event["type"])


# -- reading a document back into the record's values ------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON lines value without its name: {"value": 6, "name": "tcp"} is 6."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


def expected_direction(record: dict[str, Any]) -> str | None:
    """egress or ingress from what JSON lines say: the layer's direction, else its direction value."""
    if record["direction"]:
        return DIRECTIONS[record["direction"]]
    for name in ("direction", "packet_direction"):
        value = record["values"].get(name)
        if value is not None:
            return DIRECTIONS.get(value["name"])
    return None


def values_of(document: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The record's values as the document holds them, named and shaped as JSON lines give them
    (named numbers as their number)."""
    recorded = set(record["values"])
    custom = document[CUSTOM_NAMESPACE]
    values = {name: _plain(value) for name, value in custom.items() if name not in OWN}
    network = document.get("network", {})
    direction = network.get("direction")
    if direction:
        local, remote = ("source", "destination") if direction == "egress" else ("destination", "source")
        for side, end in (("local", document.get(local, {})), ("remote", document.get(remote, {}))):
            values.update({f"ip_{side}_address": end[key] for key in ["ip"] if key in end})
            values.update({f"ip_{side}_port": end[key] for key in ["port"] if key in end})
            way = "out" if side == "local" else "in"  # the local end sends what goes out
            values.update({f"{unit}_{way}": end[unit] for unit in ("bytes", "packets") if unit in end})
        if record["direction"] is None:
            name = next(n for n in ("direction", "packet_direction") if n in recorded)
            values[name] = 0 if direction == "egress" else 1
    if "icmp_type" in custom:
        values["ip_local_port"] = custom["icmp_type"]
    if "icmp_code" in custom:
        values["ip_remote_port"] = custom["icmp_code"]
    if "iana_number" in network:
        values["ip_protocol"] = int(network["iana_number"])
    process = document.get("process", {})
    if "pid" in process:
        values["process_id"] = process["pid"]
    if "executable" in process:
        values["process_path" if "process_path" in recorded else "ale_app_id"] = process["executable"]
    event = document["event"]
    for key, name in (("start", "first_seen"), ("end", "last_seen")):
        if key in event:
            values[name] = event[key]
    if "reason" in event:
        values["end_reason"] = FLOW_ENDS[event["reason"]]
    return values


def check_against_jsonl(document: dict[str, Any], record: dict[str, Any]) -> None:
    """The document holds exactly the record's values, each where its direction puts it."""
    values = record["values"]
    assert values_of(document, record) == {name: _plain(v) for name, v in values.items() if v is not None}
    custom, event = document[CUSTOM_NAMESPACE], document["event"]
    assert (custom["driver"], custom["layer"], custom["processor"]) == (event["provider"], record["layer"],
                                                                        record["processor"])
    assert event["action"] == record["layer"] and event["kind"] == "event" and event["category"] == ["network"]
    assert document.get("@timestamp", custom.get("timestamp")) == (record["time"] if record["time"].endswith("Z")
                                                                   else record["timestamp"])
    assert event.get("sequence", custom.get("sequence")) == record["sequence"]
    assert custom.get("truncated", []) == record["truncated"]
    network = document.get("network", {})
    direction = expected_direction(record)
    assert network.get("direction") == direction
    protocol = values.get("ip_protocol")
    if protocol is not None and protocol["value"] in TRANSPORTS:
        assert network["transport"] == TRANSPORTS[protocol["value"]]
    icmp = protocol is not None and protocol["value"] in (1, 58)
    assert ("port" in document.get("source", {}) or "port" in document.get("destination", {})) <= (not icmp)
    addresses = [values[n] for n in ("ip_local_address", "ip_remote_address") if values.get(n) is not None]
    if addresses:
        assert network["type"] == ("ipv6" if ":" in addresses[0] else "ipv4")
        assert sorted(document["related"]["ip"]) == sorted(set(addresses))
    _check_flow(document, record, direction)
    _check_process(document, record)


def _check_flow(document: dict[str, Any], record: dict[str, Any], direction: str | None) -> None:
    values, event, network = record["values"], document["event"], document.get("network", {})
    if not record["layer"].startswith("flow_"):
        assert not {"start", "end", "duration", "reason"} & set(event) and "bytes" not in network
        assert event["type"] == ["connection"]
        return
    for unit in ("bytes", "packets"):
        both = [values.get(f"{unit}_in"), values.get(f"{unit}_out")]
        if None not in both and sum(both) < LONG:
            assert network[unit] == sum(both)
        else:
            assert unit not in network
    if "start" in event and "end" in event:  # JSON lines times are to the microsecond, FILETIMEs to 100 ns
        span = (_filetime(event["end"]) - _filetime(event["start"])) * 100
        if span >= LONG - 1000:  # about 292 years: past an ECS long of nanoseconds
            assert "duration" not in event or span < LONG
        elif span >= 1000:
            assert abs(event["duration"] - span) < 1000
        elif span > -1000:  # the same microsecond: the 100 ns digits decide whether it ended before it began
            assert event.get("duration", 0) < 1000
        else:
            assert "duration" not in event, "a flow never ends before it begins"
    reason = values.get("end_reason")
    kinds = {"ended": ["connection", "end"], "interval": ["connection", "info"]}
    assert event["type"] == kinds.get(reason["name"] if reason else "", ["connection"])
    assert direction is None or "direction" not in document[CUSTOM_NAMESPACE]


def _filetime(text: str) -> int:
    """An ISO time of JSON lines back to 100 ns units since 1601 (to the microsecond)."""
    moment = dt.datetime.fromisoformat(text[:-1]) - dt.datetime(1601, 1, 1)
    return (moment.days * 86_400_000_000 + moment.seconds * 1_000_000 + moment.microseconds) * 10


def _check_process(document: dict[str, Any], record: dict[str, Any]) -> None:
    process = document.get("process", {})
    if "executable" in process:
        name = process["executable"].rpartition("\\")[2]
        source = "process_path" if "process_path" in record["values"] else "ale_app_id"
        assert process.get("name") == (None if source in record["truncated"] else name or None)
    else:
        assert "name" not in process


# -- the committed captures -----------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES, ids=[path.stem for path in CAPTURES])
def test_every_capture_writes_valid_ecs_documents(readers: dict[str, Reader], capture: Path) -> None:
    reader = readers[capture.stem]
    documents = reader.run("--replay", str(capture), "--format", "ecs")
    records = reader.run("--replay", str(capture), "--format", "jsonl")
    assert len(documents) == len(records) > 0
    for document, record in zip(documents, records):
        check_document(document)
        check_against_jsonl(document, record)
    kinds = {document["event"]["action"] for document in documents}
    assert kinds == {record["layer"] for record in records}


def test_the_captures_cover_both_directions_flows_and_processes(readers: dict[str, Reader]) -> None:
    """So that the checks above check something: the captures hold what every mapping maps."""
    documents = [d for c in CAPTURES for d in readers[c.stem].run("--replay", str(c), "--format", "ecs")]
    assert {d["network"].get("direction") for d in documents} == {"ingress", "egress"}
    assert {d["network"]["type"] for d in documents} == {"ipv4", "ipv6"}
    assert {d["network"].get("transport") for d in documents} >= {"tcp", "udp", "icmp", "ipv6-icmp"}
    flows = [d for d in documents if d["event"]["action"].startswith("flow_")]
    assert {f["network"]["direction"] for f in flows} == {"ingress", "egress"}
    assert {tuple(f["event"]["type"]) for f in flows} >= {("connection", "end"), ("connection", "info")}
    assert all(f["source"]["bytes"] >= 0 and f["destination"]["packets"] >= 0 for f in flows)
    assert any("pid" in d.get("process", {}) and "executable" in d.get("process", {}) for d in documents)
    assert any("icmp_type" in d[CUSTOM_NAMESPACE] for d in documents)


def test_a_document_of_the_bandwidth_capture(readers: dict[str, Reader]) -> None:
    """An outbound TCP flow that ended, field by field."""
    document = readers["bandwidth"].run("--replay", str(ROOT / "tests" / "data" / "bandwidth.bin"), "--format",
                                        "ecs")[0]
    assert document == {
        "@timestamp": "2022-06-18T04:26:40.000000Z",
        "ecs": {"version": TABLE.version},
        "event": {"kind": "event", "category": ["network"], "type": ["connection", "end"], "action": "flow_v4",
                  "provider": "BandwidthMonitor", "sequence": 1, "start": "2022-06-18T04:25:40.000000Z",
                  "end": "2022-06-18T04:26:40.000000Z", "duration": 60_000_000_000, "reason": "ended"},
        "network": {"iana_number": "6", "transport": "tcp", "type": "ipv4", "direction": "egress", "bytes": 1360,
                    "packets": 5},
        "source": {"ip": "10.0.0.5", "port": 51000, "bytes": 160, "packets": 2},
        "destination": {"ip": "93.184.216.34", "port": 443, "bytes": 1200, "packets": 3},
        "process": {"pid": 1200, "executable": "\\device\\harddiskvolume3\\windows\\system32\\svchost.exe",
                    "name": "svchost.exe"},
        "related": {"ip": ["10.0.0.5", "93.184.216.34"]},
        "wfpgen": {"driver": "BandwidthMonitor", "layer": "flow_v4", "processor": 0},
    }


# -- random records ---------------------------------------------------------------------------------


def _random_value(rng: random.Random, item: Any, model: ProjectModel) -> object:
    if item.display == "protocol":
        return rng.choice([1, 6, 17, 58, 0, 47, 255])
    if item.display == "ipv4":
        return rng.getrandbits(32)
    if item.display == "ipv6":
        return str(ipaddress.IPv6Address(rng.getrandbits(128)))
    if item.display == "utf16":
        return rng.choice(["\\device\\harddiskvolume3\\app.exe", "", "x\\", "\\a\u202eb\x1b[31m.exe",
                           "\\device\\" + "long" * 40 + ".exe"])
    if item.display == "sid":
        return rng.choice(["S-1-15-2-1-2-3-4-5-6-7", "S-1-5-18"])
    if item.is_blob or item.display == "bytes":
        return rng.randbytes(rng.choice([0, 3, 16, 80]) if item.is_blob else 16)
    if item.display == "direction":
        return rng.choice([0, 1, 0, 1, 2])
    if item.display == "time":
        return rng.choice([FILETIME_2024 + rng.getrandbits(36), 0, (1 << 64) - 1])
    if item.display == "flow_end":
        return rng.choice([0, 1, 5])
    bits = 8 * item.size
    return rng.choice([0, 1, (1 << bits) - 1, rng.getrandbits(bits)])


def _random_capture(model: ProjectModel, seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    records = []
    for number in range(count):
        index = rng.randrange(len(model.record_kinds))
        values = {item.name: _random_value(rng, item, model) for item in model.record_kinds[index].record.items
                  if rng.random() > 0.15}
        sequence = rng.choice([number, (1 << 64) - 1 - number])
        timestamp = rng.choice([FILETIME_2024 + number * 10, (1 << 64) - 1])
        records.append(encode_record(model, index, values, sequence, timestamp, rng.randrange(4)))
    return b"".join(encode_batch(records[start:start + 50]) for start in range(0, len(records), 50))


@pytest.mark.parametrize("name", ["cover", "bandwidth", "monitor", "monitor-process"])
def test_random_records_write_valid_ecs_documents(readers: dict[str, Reader], name: str) -> None:
    """Absent values, unknown directions and protocols, ICMP, numbers past a long, times past year
    9999, cut paths, SIDs and text that must be escaped: still ECS, still the record's values."""
    reader = readers[name]
    decode, output = reader.module("decode"), reader.module("output")
    data = _random_capture(reader.model, seed=len(name), count=600)
    seen: set[str] = set()
    for batch in decode.iter_sorted_batches(data):
        for record in batch.records():
            line = output.json_line(json.dumps(output.ecs_document(record), ensure_ascii=False,
                                               separators=(",", ":")))
            assert "\u202e" not in line and "\x1b" not in line
            document = json.loads(line)
            check_document(document)
            check_against_jsonl(document, json.loads(json.dumps(record.to_json())))
            seen.update(path for path, _ in leaves(document))
    if name == "cover":
        assert {"wfpgen.timestamp", "wfpgen.sequence", "wfpgen.truncated", "wfpgen.ale_package_id",
                "wfpgen.packet_direction.name", "wfpgen.icmp_type", "event.duration", "network.bytes"} <= seen


# -- the writer, the table and the documentation ---------------------------------------------------


def test_the_cli_offers_ecs_and_refuses_unknown_formats(readers: dict[str, Reader]) -> None:
    reader = readers["monitor"]
    assert "ecs" in reader.module("output").FORMATS
    result = subprocess.run([sys.executable, "-m", reader.model.reader_package, "--replay", "x.bin", "--format",
                             "ecsx"], cwd=reader.root, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "invalid choice: 'ecsx'" in result.stderr


def test_every_field_written_is_in_the_documented_mapping(readers: dict[str, Reader]) -> None:
    """The README's table lists exactly the ECS fields the writer writes (custom ones aside)."""
    written: set[str] = set()
    for reader in readers.values():
        decode, output = reader.module("decode"), reader.module("output")
        for batch in decode.iter_sorted_batches(_random_capture(reader.model, seed=7, count=300)):
            written.update(path for r in batch.records() for path, _ in leaves(output.ecs_document(r)))
    ecs = {path for path in written if not path.startswith(CUSTOM_NAMESPACE + ".")}
    assert ecs == {mapped.field for mapped in MAPPING}


def test_the_custom_namespace_is_no_ecs_name() -> None:
    assert CUSTOM_NAMESPACE not in TABLE.fieldsets and CUSTOM_NAMESPACE not in TABLE.top_level_names
    assert {"geo", "hash", "os", "user", "network"} <= TABLE.fieldsets  # reusable field sets too


def test_the_table_is_what_the_facts_say() -> None:
    """Spot checks of the extracted table, and the values the writer relies on."""
    assert TABLE.version == "8.17.0"
    assert TABLE.fields["source.ip"].type == "ip" and TABLE.fields["process.pid"].type == "long"
    assert TABLE.fields["network.iana_number"].type == "keyword" and TABLE.fields["@timestamp"].type == "date"
    assert TABLE.fields["event.type"].array and not TABLE.fields["event.kind"].array
    assert TABLE.fields["process.executable.text"].multi_field and not TABLE.fields["process.executable"].multi_field
    assert {"ingress", "egress"} <= set(TABLE.allowed("network.direction"))
    assert {"connection", "end", "info"} <= set(TABLE.expected_event_types["network"])


def test_the_readmes_carry_the_mapping_table(readers: dict[str, Reader]) -> None:
    table = mapping_table(TABLE)
    top = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table in top and f"(ECS) {TABLE.version} document" in top
    reader_readme = (readers["monitor"].root / "README.md").read_text(encoding="utf-8")
    assert table in reader_readme and f"Common Schema (ECS) {TABLE.version}" in reader_readme


def test_a_malformed_table_is_refused() -> None:
    good = json.loads((ROOT / "wfpgen" / "data" / "ecs_fields.json").read_text(encoding="utf-8"))
    assert parse_table(good).version == TABLE.version
    for broken in ({**good, "ecs_version": ""}, {**good, "fields": {}},
                   {**good, "fields": {"a": {"type": "keyword"}}}, {**good, "fieldsets": "event"}):
        with pytest.raises(ValueError):
            parse_table(broken)


# -- the extraction script ----------------------------------------------------------------------------

# Rows of the published 8.17.0 fields.csv, their descriptions and examples replaced by placeholders.
FIXTURE_CSV = """\
ECS_Version,Indexed,Field_Set,Field,Type,Level,Normalization,Example,Description
8.17.0,true,base,@timestamp,date,core,,,(text)
8.17.0,true,base,labels,object,core,,,(text)
8.17.0,true,base,tags,keyword,core,array,,(text)
8.17.0,true,event,event.category,keyword,core,array,,(text)
8.17.0,true,event,event.type,keyword,core,array,,(text)
8.17.0,true,network,network.direction,keyword,core,,,(text)
8.17.0,true,process,process.executable,keyword,extended,,,(text)
8.17.0,true,process,process.executable.text,match_only_text,extended,,,(text)
8.17.0,true,source,source.geo.location,geo_point,core,,,(text)
8.17.0,true,source,source.ip,ip,core,,,(text)
8.17.0,false,event,event.original,keyword,core,,,(text)
"""
FIXTURE_FLAT = """\
event.type:
  allowed_values:
  - {name: connection, description: (text)}
  - {name: end, description: (text)}
  type: keyword
event.category:
  allowed_values:
  - {name: network, description: (text), expected_event_types: [connection, end]}
  type: keyword
network.direction:
  expected_values: [ingress, egress]
  type: keyword
source.geo.location:
  original_fieldset: geo
  type: geo_point
"""


def test_the_extraction_script_reproduces_the_committed_facts(tmp_path: Path) -> None:
    script = load_script("extract_ecs_fields")
    fields_csv, flat = tmp_path / "fields.csv", tmp_path / "ecs_flat.yml"
    fields_csv.write_text(FIXTURE_CSV, encoding="utf-8")
    flat.write_text(FIXTURE_FLAT, encoding="utf-8")
    out = tmp_path / "ecs_fields.json"
    assert script.main([str(fields_csv), "--flat", str(flat), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert script.main([str(fields_csv), "--flat", str(flat), "--out", str(out), "--check"]) == 0
    extracted = json.loads(text)
    assert text == script.dump(extracted), "sorted keys, stable formatting"
    committed = json.loads((ROOT / "wfpgen" / "data" / "ecs_fields.json").read_text(encoding="utf-8"))
    assert extracted["ecs_version"] == committed["ecs_version"]
    for name, field in extracted["fields"].items():
        assert committed["fields"][name] == field, name
    assert set(extracted["fieldsets"]) == {"base", "event", "network", "process", "source", "geo"}
    assert set(extracted["fieldsets"]) <= set(committed["fieldsets"])
    assert extracted["fields"]["process.executable.text"]["multi_field"] is True
    assert extracted["fields"]["event.original"]["indexed"] is False
    assert extracted["expected_event_types"] == {"network": ["connection", "end"]}
    assert extracted["expected_values"] == {"network.direction": ["ingress", "egress"]}
    assert "(text)" not in text, "none of Elastic's text is kept"
    committed_text = (ROOT / "wfpgen" / "data" / "ecs_fields.json").read_text(encoding="utf-8")
    assert committed_text == script.dump(committed), "the committed file is in the script's format"
    assert parse_table(extracted).version == "8.17.0"


def test_the_extraction_script_refuses_a_mixed_or_broken_csv(tmp_path: Path) -> None:
    script = load_script("extract_ecs_fields")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(FIXTURE_CSV + "8.16.0,true,base,message,match_only_text,core,,,(text)\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="more than one ECS version"):
        script.main([str(mixed), "--out", str(tmp_path / "out.json")])
    twice = tmp_path / "twice.csv"
    twice.write_text(FIXTURE_CSV + "8.17.0,true,base,tags,keyword,core,array,,(text)\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="tags is listed twice"):
        script.main([str(twice), "--out", str(tmp_path / "out.json")])
    assert not (tmp_path / "out.json").exists()
