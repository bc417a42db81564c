"""What the generated reader's fast writers print, decided per layout.

The reader's writers have a generic path, which formats ``Record`` objects through every
display rule, and for a layout whose records are all one blob-free fixed part of one struct
format, per-layer code that formats a record straight from its unpacked fixed part, without
building a ``Record``. This module decides that code: which layers qualify for which format,
the expression of each value, and the literals (names, padded table cells) already in the form
each format prints them. The reader's template only prints the result.

A record takes the fast code only when every value of its layer is present (and, for the
table, its protocol is not ICMP); anything else goes to the generic path. Both paths must
write the same bytes; tests/test_reader_formats.py proves it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from wfpgen.ecs import CUSTOM_NAMESPACE, ecs_table
from wfpgen.model import FlowRecordKind, LayerModel, ProjectModel, RecordItem

# Text a format prints as it is: no escaping (display_text, json_line), no CSV quoting.
_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*")
# Header fields of the unpacked fixed part (layout.HEADER_FORMAT): the loop's names for them.
HEADER_TARGETS = ("_", "index", "processor", "present", "_", "sequence", "timestamp")
# The table's columns and widths (output.py's _TABLE_COLUMNS).
TABLE_WIDTHS = {"time": 27, "layer": 24, "direction": 9, "proto": 6, "local": 47, "remote": 47, "pid": 7}
ICMP_PROTOCOLS = (1, 58)
_INT63 = 1 << 63
_INT64 = 1 << 64
# iso_time: the cached text of the timestamp's millisecond, then its microseconds from a table.
_TIME = "{when}{micro[timestamp // 10 % 1000]}Z"

#: What the fast writers handle: a hooked layer or a flow record kind (flows.accounting).
RecordKind = LayerModel | FlowRecordKind


def _plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None


@dataclass(frozen=True)
class Branch:
    """The fast code of one layer in one format: taken when ``condition`` holds."""

    index: int
    condition: str  # a Python expression over the loop's names
    statements: tuple[str, ...]  # the last one appends the output


@dataclass(frozen=True)
class ReaderFormat:
    """The fast writers of one project's reader."""

    uniform_format: str | None  # the one struct format of every layer's record, when there is one
    targets: str  # the names one unpacked fixed part is assigned to in the generated loops
    jsonl: tuple[Branch, ...]
    csv: tuple[Branch, ...]
    table: tuple[Branch, ...]
    sqlite: tuple[Branch, ...]
    ecs: tuple[Branch, ...]

    @property
    def halves(self) -> str:
        """What the generated loops bind ``halves`` (IPv4 text) to: the table only when some code uses it."""
        used = any("halves[" in statement for branches in (self.jsonl, self.csv, self.table, self.sqlite, self.ecs)
                   for branch in branches for statement in branch.statements)
        return "_ipv4_halves()" if used else "_IPV4_HALVES"

    @property
    def uniform_format_literal(self) -> str:
        """``uniform_format`` as a Python literal."""
        return json.dumps(self.uniform_format) if self.uniform_format else "None"


def _value_name(layer: RecordKind, item: RecordItem) -> str:
    return f"v{layer.record.value_items.index(item)}"


def _signed(expression: str) -> str:
    """A 64-bit unsigned value as SQLite stores it (output.py's _signed, inline)."""
    return f"({expression} if {expression} < {_INT63} else {expression} - {_INT64})"


# decode.ipv4_text from a table of the text of every 16-bit half ("10.0"): addresses rarely
# repeat enough for a cache of whole addresses to pay.
_IPV4 = "{{halves[{v} >> 16]}}.{{halves[{v} & 65535]}}"
# Per display kind: the value as a Python expression, in JSON, as text (CSV and table cells), in SQLite.
# ``{v}`` is the value's loop name. Caches are output.py's _TextCache dicts (bounded, filled on a miss).
_JSON = {
    "decimal": "{{{v}}}",
    "port": "{{{v}}}",
    "hex": '"0x{{{v}:x}}"',
    "protocol": "{{protocol_json[{v}]}}",
    "direction": "{{direction_json[{v}]}}",
    "flags": "{{flags_json[{v}]}}",
    "ipv4": '"' + _IPV4 + '"',
    "ipv6": '"{{ipv6[{v}]}}"',
}
_TEXT = {
    "decimal": "{{{v}}}",
    "port": "{{{v}}}",
    "hex": "0x{{{v}:x}}",
    "protocol": "{{protocol_text[{v}]}}",
    "direction": "{{direction_text[{v}]}}",
    "flags": "{{flags_text[{v}]}}",
    "ipv4": _IPV4,
    "ipv6": "{{ipv6[{v}]}}",
}
_SQL = {
    "decimal": "{v}",
    "port": "{v}",
    "protocol": "{v}",
    "direction": "{v}",
    "flags": "{v}",
    "hex": 'f"0x{{{v}:x}}"',
    "ipv4": 'f"' + _IPV4 + '"',
    "ipv6": "ipv6[{v}]",
}


def _fast_items(layer: RecordKind, flags_plain: bool) -> bool:
    """Whether every value of the layer has a fast form: no blobs, a known display, a name that
    needs no escaping or quoting anywhere (it is printed inside the generated code's literals),
    plain flag names."""
    for item in layer.record.items:
        if item.is_blob or item.display not in _JSON or not _plain(item.name):
            return False
        if item.display == "flags" and not flags_plain:
            return False
        if item.struct_format == "16s" and item.display != "ipv6":
            return False
    return True


def _all_present(layer: RecordKind) -> int:
    return sum(1 << item.bit for item in layer.record.items)


def _condition(layer: RecordKind) -> str:
    return f"index == {layer.index} and present == {_all_present(layer)} and when"


def _jsonl(model: ProjectModel, layer: RecordKind) -> Branch | None:
    """Record.to_json, encoded compactly with ensure_ascii=False, as one line.

    JSON's own braces sit in plain string literals joined to the f-strings at compile time
    ('{' f'...'): the generated code holds no doubled braces, which read as leftover
    template syntax, and costs nothing at run time.
    """
    if not _plain(layer.name):
        return None  # json_line or the f-string would need to escape it: the generic path does it
    direction = json.dumps(layer.direction)
    values = ",".join(f'"{item.name}":' + _JSON[item.display].format(v=_value_name(layer, item))
                      for item in layer.record.items)
    head = ('"time":"' + _TIME + '","timestamp":{timestamp},"sequence":{sequence},"processor":{processor},'
            f'"layer":"{layer.name}","layer_index":{layer.index},"direction":{direction},"values":')
    return Branch(layer.index, _condition(layer),
                  (f"append('{{' f'{head}' '{{' f'{values}' '}},\"truncated\":[]}}\\n')",))


def csv_columns(model: ProjectModel) -> list[str]:
    """The CSV header (output.py's csv_columns): fixed columns, every value name of every layer, truncated."""
    names: list[str] = []
    for layer in model.record_kinds:
        names += [item.name for item in layer.record.items if item.name not in names]
    return ["time", "timestamp", "sequence", "processor", "layer", *names, "truncated"]


def _csv(model: ProjectModel, layer: RecordKind) -> Branch | None:
    """One CSV row: every column of every layer, this layer's values as text, the others empty."""
    if not _plain(layer.name):
        return None
    mine = {item.name: _TEXT[item.display].format(v=_value_name(layer, item)) for item in layer.record.items}
    fixed = {"time": _TIME, "timestamp": "{timestamp}", "sequence": "{sequence}", "processor": "{processor}",
             "layer": layer.name, "truncated": ""}
    cells = [fixed.get(name, mine.get(name, "")) for name in csv_columns(model)]
    return Branch(layer.index, _condition(layer), (f"append(f'{','.join(cells)}\\n')",))


def _first(layer: RecordKind, display: str) -> RecordItem | None:
    """The first item by bit shown as ``display`` (layout.Layer.role)."""
    return next((item for item in layer.record.items if item.display == display), None)


def _by_bit(layer: RecordKind, bit: int) -> RecordItem | None:
    return next((item for item in layer.record.items if item.bit == bit), None) if bit >= 0 else None


def _host(layer: RecordKind, bit: int) -> str | None:
    """The endpoint's host as f-string text; None when the address is not an IP address."""
    item = _by_bit(layer, bit)
    if item is None:
        return ""
    if item.display == "ipv4":
        return _IPV4.format(v=_value_name(layer, item))
    if item.display == "ipv6":
        return f"[{{ipv6[{_value_name(layer, item)}]}}]"
    return None


def _endpoint(layer: RecordKind, address_bit: int, port_bit: int) -> str | None:
    """output.py's _endpoint for a record with every value present."""
    host = _host(layer, address_bit)
    port = _by_bit(layer, port_bit)
    if host is None:
        return None
    return host if port is None else f"{host or '*'}:{{{_value_name(layer, port)}}}"


def _table(model: ProjectModel, layer: RecordKind) -> Branch | None:
    """One table line (output.py's table_row and _line) for a record that is not ICMP."""
    if not _plain(layer.name) or _first(layer, "utf16") is not None:
        return None
    line = layer.line
    local = _endpoint(layer, line.local_address, line.local_port)
    remote = _endpoint(layer, line.remote_address, line.remote_port)
    if local is None or remote is None:
        return None
    condition = _condition(layer)
    protocol = _first(layer, "protocol")
    if protocol is None:
        proto = " " * TABLE_WIDTHS["proto"]
    else:
        name = _value_name(layer, protocol)
        proto = f"{{protocol_text[{name}]:<{TABLE_WIDTHS['proto']}}}"
        condition += "".join(f" and {name} != {number}" for number in ICMP_PROTOCOLS)
    if layer.direction:
        direction = layer.direction.ljust(TABLE_WIDTHS["direction"])
    elif (role := _first(layer, "direction")) is not None:
        direction = f"{{direction_text[{_value_name(layer, role)}]:<{TABLE_WIDTHS['direction']}}}"
    else:
        direction = " " * TABLE_WIDTHS["direction"]
    pid_item = _by_bit(layer, line.pid)
    pid = f"{{{_value_name(layer, pid_item)}:<{TABLE_WIDTHS['pid']}}}" if pid_item else ""
    statements = (
        f'local = f"{local}"',
        f'remote = f"{remote}"',
        (f"append(f'{_TIME} {layer.name.ljust(TABLE_WIDTHS['layer'])} {direction} {proto} "
         f"{{local:<{TABLE_WIDTHS['local']}}} {{remote:<{TABLE_WIDTHS['remote']}}} {pid}'.rstrip() + '\\n')"),
    )
    return Branch(layer.index, condition, statements)


def sqlite_columns(layer: RecordKind) -> list[str]:
    """The columns of a layer's table, in INSERT order (output.py's insert_sql)."""
    return ["sequence", "processor", "timestamp", "time", "truncated", *(item.name for item in layer.record.items)]


def _sql_value(layer: RecordKind, item: RecordItem) -> str:
    name = _value_name(layer, item)
    if item.struct_format == "Q" and item.display not in ("hex",):
        return _signed(name)
    return _SQL[item.display].format(v=name)


def _sqlite(model: ProjectModel, layer: RecordKind) -> Branch | None:
    """One INSERT's parameters (output.py's sql_row), appended to the layer's list."""
    values = [_signed("sequence"), "processor", _signed("timestamp"), f'f"{_TIME}"', '""']
    values += [_sql_value(layer, item) for item in layer.record.items]
    return Branch(layer.index, _condition(layer), (f"tables[{layer.index}].append(({', '.join(values)}))",))


# ECS documents (output.py's ecs_document). JSON's braces are these two characters while a line
# is put together, and plain string literals in the generated code (see _braces).
_OPEN, _CLOSE = "\x00", "\x01"
_ECS_DIRECTIONS = {"outbound": "egress", "inbound": "ingress"}  # output.py's ECS_DIRECTIONS
_LONG_LIMIT = 1 << 63  # past an ECS long: the generic path moves such a number under the custom name


def _braces(text: str) -> str:
    """Python source for ``text``: its JSON braces as plain '{' and '}' literals, the runs between
    them as f-strings (plain literals when they hold no placeholder), joined at compile time."""
    parts = re.split(f"([{_OPEN}{_CLOSE}])", text)
    source = []
    for part in parts:
        if part in (_OPEN, _CLOSE):
            source.append("'{'" if part == _OPEN else "'}'")
        elif part:
            source.append(f"f'{part}'" if "{" in part else f"'{part}'")
    return " ".join(source)


def _object(members: list[str]) -> str:
    return _OPEN + ",".join(members) + _CLOSE


def _ecs_host(layer: RecordKind, item: RecordItem) -> str:
    name = _value_name(layer, item)
    return _IPV4.format(v=name) if item.display == "ipv4" else f"{{ipv6[{name}]}}"


def _ecs_end(layer: RecordKind, key: str, address: RecordItem | None, port: RecordItem | None) -> list[str]:
    """The members of ``source`` or ``destination`` (``key``): ip (the statements bind ``<key>_ip``), then port."""
    members = [f'"ip":"{{{key}_ip}}"'] if address else []
    return members + ([f'"port":{{{_value_name(layer, port)}}}'] if port else [])


def _ecs_kind(item: RecordItem | None, *displays: str) -> RecordItem | None:
    return item if item is not None and item.display in displays else None


def _ecs(model: ProjectModel, layer: RecordKind) -> Branch | None:
    """One ECS document for a record of a layer of fixed direction that is not ICMP, whose numbers
    fit an ECS long and whose two addresses differ (related.ip lists each once)."""
    direction = _ECS_DIRECTIONS.get(layer.direction or "")
    if direction is None or not _plain(layer.name) or layer.name in ("flow_v4", "flow_v6"):
        return None  # the record's own values decide: the generic path
    line = layer.line
    local = _ecs_kind(_by_bit(layer, line.local_address), "ipv4", "ipv6")
    remote = _ecs_kind(_by_bit(layer, line.remote_address), "ipv4", "ipv6")
    local_port = _ecs_kind(_by_bit(layer, line.local_port), "port")
    remote_port = _ecs_kind(_by_bit(layer, line.remote_port), "port")
    protocol = _first(layer, "protocol")
    pid = next((item for item in layer.record.items if item.name == "process_id"), None)
    condition = _condition(layer) + f" and sequence < {_LONG_LIMIT}"
    if protocol is not None:
        condition += "".join(f" and {_value_name(layer, protocol)} != {number}" for number in ICMP_PROTOCOLS)
    if pid is not None:
        condition += f" and {_value_name(layer, pid)} < {_LONG_LIMIT}"
    if local is not None and remote is not None:
        condition += f" and {_value_name(layer, local)} != {_value_name(layer, remote)}"
    table = ecs_table()
    event = ('"kind":"event","category":["network"],"type":["connection"],'
             f'"action":"{layer.name}","provider":"{model.name}","sequence":{{sequence}}')
    network = ([f"{{ecs_protocol[{_value_name(layer, protocol)}]}}"] if protocol else [])
    address = local or remote
    network += ([f'"type":"{address.display}"'] if address else []) + [f'"direction":"{direction}"']
    ends = [(local, local_port), (remote, remote_port)]
    (source, source_port), (destination, destination_port) = ends if direction == "egress" else ends[::-1]
    document = [f'"@timestamp":"{_TIME}"', '"ecs":' + _object([f'"version":"{table.version}"']),
                '"event":' + _object([event]), '"network":' + _object(network)]
    for key, members in (("source", _ecs_end(layer, "source", source, source_port)),
                         ("destination", _ecs_end(layer, "destination", destination, destination_port)),
                         ("process", [f'"pid":{{{_value_name(layer, pid)}}}'] if pid else [])):
        if members:
            document.append(f'"{key}":' + _object(members))
    ips = [(key, item) for key, item in (("source", source), ("destination", destination)) if item]
    if ips:
        document.append('"related":' + _object(['"ip":[' + ",".join(f'"{{{key}_ip}}"' for key, _ in ips) + "]"]))
    mapped = {item.name for item in (local, remote, local_port, remote_port, protocol, pid) if item}
    custom = [f'"driver":"{model.name}"', f'"layer":"{layer.name}"', '"processor":{processor}']
    custom += [f'"{item.name}":' + _JSON[item.display].format(v=_value_name(layer, item))
               for item in layer.record.items if item.name not in mapped]
    document.append(f'"{CUSTOM_NAMESPACE}":' + _object(custom))
    statements = tuple(f'{key}_ip = f"{_ecs_host(layer, item)}"' for key, item in ips)
    return Branch(layer.index, condition, (*statements, f"append({_braces(_object(document))} '\\n')"))


def _uniform_format(model: ProjectModel) -> str | None:
    formats = {layer.record.struct_format for layer in model.record_kinds}
    if len(formats) != 1 or any(layer.record.blobs for layer in model.record_kinds):
        return None
    return formats.pop()


def reader_format(model: ProjectModel) -> ReaderFormat:
    """The fast writers of ``model``'s reader; no branches when its layout has no uniform format."""
    uniform = _uniform_format(model)
    if uniform is None:
        return ReaderFormat(None, "", (), (), (), (), ())
    flags_plain = all(_plain(name) for name, _ in model.condition_flags)
    fast = [layer for layer in model.record_kinds if _fast_items(layer, flags_plain)]
    width = len(model.record_kinds[0].record.value_items)
    targets = ", ".join([*HEADER_TARGETS, *(f"v{i}" for i in range(width))])

    def branches(make: Callable[[ProjectModel, RecordKind], Branch | None]) -> tuple[Branch, ...]:
        return tuple(branch for layer in fast if (branch := make(model, layer)) is not None)

    return ReaderFormat(uniform, targets, branches(_jsonl), branches(_csv), branches(_table), branches(_sqlite),
                        branches(_ecs))
