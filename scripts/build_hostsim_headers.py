#!/usr/bin/env python3
"""Write ``wfpgen/hostsim/include/wfp_layers.h`` and ``wfpgen/hostsim/runtime/wfp_catalog.c``
from the packaged catalog and the header facts beside it.

Usage::

    python scripts/build_hostsim_headers.py [--check]

The header holds the tables the host-side WDK stand-in needs for every layer in
``wfpgen/catalog/data/layers.json``:

* the ``FWPS_BUILTIN_LAYERS`` enum (run-time layer ids; ``fwpsk.h``), every member of the
  WDK's in its order,
* one ``FWPS_FIELDS_*`` enum per field enum, members in the catalog's ``index`` order with
  reserved members included so that the implicit enum values equal the indices, then the
  ``_MAX`` sentinel, followed by the documented alias macros (``..._ICMP_TYPE`` ...),
* ``DEFINE_GUID`` for every ``FWPM_LAYER_*`` and ``FWPM_CONDITION_*`` the catalog names
  (``fwpmu.h``, reached through ``fwpmk.h``), and the ``FWPM_CONDITION_*`` aliases the WDK
  defines as macros over them (``FWPM_CONDITION_ICMP_TYPE`` ...).

Every name sits under the ``NTDDI_VERSION`` test the WDK puts around it, taken from
``wfpgen/catalog/data/wdk_facts.json`` (``scripts/extract_wdk_facts.py`` extracted it from
Microsoft's headers) at its finest, the ``NTDDI_*`` the name first appears at. Gated members
sit at the tail of their ``FWPS_FIELDS_*`` enums, so the implicit ``_MAX`` follows the target
as in the WDK; in ``FWPS_BUILTIN_LAYERS`` gated members sit in the middle too, and the
members after them move with ``NTDDI_VERSION`` (none of the catalog's layers does: checked).

The runtime table ``wfp_catalog.c`` (types in the hand-written ``wfp_catalog.h``) gives the
host runtime what the filter engine knows about each catalog layer: its FWPS run-time id,
its FWPM GUID, its field count, and for every field with a filtering condition the
condition GUID, the field index and the value type. Ids and indices are written as the enum
members of ``wfp_layers.h``, so the compiler ties both files to one source; the GUIDs are
literal values, because the GUID objects themselves belong to the driver (``callouts.c``
defines them after ``<initguid.h>``). It also lists every ``FWPS_BUILTIN_LAYERS`` member of
the newest headers by name, for ``HostWdk_LayerId``. The runtime is compiled with the
driver's defines, yet it plays the running system, which hands a driver every field of the
newest Windows: ``wfp_catalog.c`` therefore sets ``NTDDI_VERSION`` to the newest value the
facts know before it includes anything.

Only the project's own files are read: the catalog and the facts beside it, which must
agree (the catalog's layer ids, field indices, aliases and GUIDs are checked against the
facts here as well).

Output is deterministic; ``--check`` exits 1 if either committed file differs from a fresh
rendering.  Anything inconsistent stops the build with ``SystemExit``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from wfpgen.wdkfacts import (
    FACTS_FILE,
    NtddiGate,
    fields_enum_facts,
    fixed_value,
    gated_lines,
    newest_ntddi,
    ntddi_gate,
    wrap,
)

CATALOG_DIR = REPO_ROOT / "wfpgen" / "catalog" / "data"
OUTPUT = REPO_ROOT / "wfpgen" / "hostsim" / "include" / "wfp_layers.h"
CATALOG_OUTPUT = REPO_ROOT / "wfpgen" / "hostsim" / "runtime" / "wfp_catalog.c"

#: FWP_DATA_TYPE members the runtime catalog may name (fwptypes.h).
FWP_DATA_TYPES = frozenset(
    {
        "FWP_UINT8",
        "FWP_UINT16",
        "FWP_UINT32",
        "FWP_UINT64",
        "FWP_INT8",
        "FWP_INT16",
        "FWP_INT32",
        "FWP_INT64",
        "FWP_FLOAT",
        "FWP_DOUBLE",
        "FWP_BYTE_ARRAY16_TYPE",
        "FWP_BYTE_BLOB_TYPE",
        "FWP_SID",
        "FWP_SECURITY_DESCRIPTOR_TYPE",
        "FWP_TOKEN_INFORMATION_TYPE",
        "FWP_TOKEN_ACCESS_INFORMATION_TYPE",
        "FWP_UNICODE_STRING_TYPE",
        "FWP_BYTE_ARRAY6_TYPE",
    }
)

#: The runtime builds FWPS_INCOMING_VALUES0 on the stack with this many slots at most.
MAX_RUNTIME_FIELDS = 64

#: The last member of FWPS_BUILTIN_LAYERS: the count, not a layer.
BUILTIN_SENTINEL = "FWPS_BUILTIN_LAYER_MAX"

_C_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

JsonObj = dict[str, Any]


def fail(message: str) -> SystemExit:
    """The error to raise for an inconsistent catalog."""
    return SystemExit(f"build_hostsim_headers: {message}")


def load_layers(catalog_dir: Path = CATALOG_DIR) -> list[JsonObj]:
    """The catalog's layer entries, as stored."""
    data = json.loads((catalog_dir / "layers.json").read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise fail("layers.json is not a non-empty list")
    return data


def load_facts(catalog_dir: Path = CATALOG_DIR) -> JsonObj:
    """The header facts beside the catalog (``wdk_facts.json``): members, values, GUIDs, gates."""
    data = json.loads((catalog_dir / FACTS_FILE).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "builtin_layers" not in data:
        raise fail(f"{FACTS_FILE} is not the header facts")
    return data


def c_name(name: object, what: str) -> str:
    """``name`` checked to be an upper-case C identifier."""
    if not isinstance(name, str) or not _C_NAME.match(name):
        raise fail(f"{what} {name!r} is not an upper-case C identifier")
    return name


def guid_initializer(text: object, what: str) -> str:
    """DEFINE_GUID's value arguments for the GUID ``text`` (``xxxxxxxx-xxxx-...``)."""
    if not isinstance(text, str):
        raise fail(f"{what} has no GUID")
    try:
        value = uuid.UUID(text)
    except ValueError as exc:
        raise fail(f"{what} has a malformed GUID {text!r}") from exc
    b = value.bytes
    head = f"0x{b[0:4].hex()}, 0x{b[4:6].hex()}, 0x{b[6:8].hex()}"
    return head + ", " + ", ".join(f"0x{x:02x}" for x in b[8:])


def gate_of(entry: JsonObj, facts: JsonObj, outer: NtddiGate | None = None) -> NtddiGate | None:
    """The gate to write around the name of facts ``entry``: None when no test is needed
    (declared at every NTDDI_VERSION, or wherever the enclosing ``outer`` gate holds)."""
    gate = ntddi_gate(entry, facts)
    return None if gate.always or gate == outer else gate


def value_note(entry: JsonObj) -> str:
    """The comment after an enum member: its value (at the newest NTDDI_VERSION declaring it)."""
    value = entry.get("value")
    return f"{value}, moves with NTDDI_VERSION" if "value_changes" in entry else f"{value}"


def builtin_members(layers: Sequence[JsonObj], facts: JsonObj) -> list[JsonObj]:
    """FWPS_BUILTIN_LAYERS' members in header order, checked against the catalog's layers."""
    members: list[JsonObj] = facts["builtin_layers"]["members"]
    names = [c_name(m.get("name"), "FWPS_BUILTIN_LAYERS member") for m in members]
    if len(set(names)) != len(names):
        raise fail("FWPS_BUILTIN_LAYERS lists a name twice")
    if names[-1] != BUILTIN_SENTINEL:
        raise fail(f"FWPS_BUILTIN_LAYERS does not end with {BUILTIN_SENTINEL}")
    by_name = dict(zip(names, members))
    for layer in layers:
        name = c_name(layer.get("fwps_layer"), "fwps_layer")
        member = by_name.get(name)
        if member is None:
            raise fail(f"catalog layer {name} is not a member of FWPS_BUILTIN_LAYERS")
        # The runtime (compiled at the newest NTDDI_VERSION) and a driver (at its target's)
        # must agree on the id: a catalog layer's value may not move with NTDDI_VERSION.
        if fixed_value(member) != layer.get("fwps_layer_index"):
            raise fail(f"catalog layer {name} has index {layer.get('fwps_layer_index')}; the headers give "
                       f"{member.get('value_changes', member.get('value'))}")
    return members


def builtin_layers_enum(layers: Sequence[JsonObj], facts: JsonObj) -> list[str]:
    """The FWPS_BUILTIN_LAYERS typedef: every member of the headers', each under its gate."""
    members = builtin_members(layers, facts)
    outer = ntddi_gate(facts["builtin_layers"], facts)
    width = max(len(m["name"]) for m in members) + 1
    body = gated_lines(
        (gate_of(m, facts, outer), f"    {(m['name'] + ','):<{width}} /* {value_note(m)} */") for m in members
    )
    return wrap(gate_of(facts["builtin_layers"], facts),
                ["typedef enum FWPS_BUILTIN_LAYERS_", "{", *body, "} FWPS_BUILTIN_LAYERS;"])


def field_enums(layers: Sequence[JsonObj], facts: JsonObj) -> list[str]:
    """One FWPS_FIELDS_* typedef per field enum, plus its alias macros, each name under its gate."""
    by_enum: dict[str, JsonObj] = {}
    for layer in layers:
        enum = c_name(layer.get("fields_enum"), "fields_enum")
        if not enum.startswith("FWPS_FIELDS_"):
            raise fail(f"fields_enum {enum} does not start with FWPS_FIELDS_")
        previous = by_enum.get(enum)
        if previous is None:
            by_enum[enum] = layer
            continue
        # DISCARD layers share their base layer's enum: the fields must agree exactly.
        if previous["fields"] != layer["fields"] or previous.get("aliases") != layer.get("aliases"):
            raise fail(
                f"{layer['fwps_layer']} and {previous['fwps_layer']} share {enum} but list different fields"
            )

    out: list[str] = []
    for enum in sorted(by_enum):
        layer = by_enum[enum]
        prefix = "FWPS_FIELD_" + enum.removeprefix("FWPS_FIELDS_") + "_"
        fields = sorted(layer["fields"], key=lambda f: f["index"])
        indices = [f["index"] for f in fields]
        if indices != list(range(len(fields))):
            raise fail(f"{enum}: field indices are not 0..{len(fields) - 1}: {indices}")
        members: list[str] = []
        by_name: dict[str, str] = {}
        for field in fields:
            member = c_name(field.get("member"), f"{enum} member")
            if not member.startswith(prefix):
                raise fail(f"{enum}: member {member} does not start with {prefix}")
            if member in members:
                raise fail(f"{enum}: member {member} appears twice")
            members.append(member)
            by_name[field["name"]] = member
        sentinel = prefix + "MAX"
        if sentinel in members:
            raise fail(f"{enum}: {sentinel} is listed as a field")
        header = fields_enum_facts(facts, enum)
        if header is None:
            raise fail(f"{enum} is not in {FACTS_FILE}")
        header_members: list[JsonObj] = header["members"]
        if [m["name"] for m in header_members] != [*members, sentinel]:
            raise fail(f"{enum}: the catalog's members are not the headers' ({FACTS_FILE})")
        for index, member_facts in enumerate(header_members[:-1]):
            if fixed_value(member_facts) != index:
                raise fail(f"{enum}: {member_facts['name']} is not member {index} at every NTDDI_VERSION")
        outer = ntddi_gate(header, facts)
        width = max(len(m) for m in members + [sentinel]) + 1
        reserved = {f["member"] for f in fields if f.get("reserved")}
        body: list[tuple[NtddiGate | None, str]] = []
        for member_facts, member in zip(header_members, [*members, sentinel]):
            if member == sentinel:
                line = f"    {sentinel:<{width}} /* {value_note(member_facts)} */"
            else:
                note = value_note(member_facts) + (", reserved" if member in reserved else "")
                line = f"    {(member + ','):<{width}} /* {note} */"
            body.append((gate_of(member_facts, facts, outer), line))
        lines = [f"typedef enum {enum}_", "{", *gated_lines(body), f"}} {enum};"]
        aliases: dict[str, str] = layer.get("aliases") or {}
        header_aliases: dict[str, JsonObj] = header.get("aliases", {})
        alias_lines: list[tuple[NtddiGate | None, str]] = []
        for alias in sorted(aliases):
            target = aliases[alias]
            if target not in by_name:
                raise fail(f"{enum}: alias {alias} names unknown field {target}")
            alias_member = prefix + c_name(alias.upper(), f"{enum} alias")
            if alias_member in members:
                raise fail(f"{enum}: alias {alias_member} is also a real member")
            alias_facts = header_aliases.get(alias_member)
            if alias_facts is None or alias_facts.get("target") != by_name[target]:
                raise fail(f"{enum}: alias {alias_member} is not the headers' alias of {by_name[target]}")
            define = f"#define {alias_member} {by_name[target]}"
            alias_lines.append((gate_of(alias_facts, facts, outer), define))
        out += wrap(gate_of(header, facts), [*lines, *gated_lines(alias_lines)])
        out.append("")
    return out[:-1]


def guid_table(layers: Sequence[JsonObj], facts: JsonObj) -> list[str]:
    """DEFINE_GUID for every FWPM_LAYER_* and FWPM_CONDITION_* in the catalog, each under its
    gate, then the FWPM_CONDITION_* aliases of the headers whose target is declared here."""
    layer_guids: dict[str, str] = {}
    condition_guids: dict[str, str] = {}

    def put(table: dict[str, str], name: str, guid: str, what: str) -> None:
        if table.setdefault(name, guid) != guid:
            raise fail(f"{what} {name} has two GUIDs: {table[name]} and {guid}")

    for layer in layers:
        name = c_name(layer.get("fwpm_layer"), "fwpm_layer")
        if not name.startswith("FWPM_LAYER_"):
            raise fail(f"fwpm_layer {name} does not start with FWPM_LAYER_")
        put(layer_guids, name, guid_initializer(layer.get("fwpm_layer_guid"), name), "layer")
        for field in layer["fields"]:
            condition = field.get("condition")
            if condition is None:
                continue
            condition = c_name(condition, "condition")
            if not condition.startswith("FWPM_CONDITION_"):
                raise fail(f"condition {condition} does not start with FWPM_CONDITION_")
            put(
                condition_guids,
                condition,
                guid_initializer(field.get("condition_guid"), condition),
                "condition",
            )

    aliases: dict[str, JsonObj] = facts["guid_aliases"]
    declared = {name: guid for name, guid in condition_guids.items() if name not in aliases}
    for name, guid in condition_guids.items():
        # The WDK defines these as macros over another condition's GUID: the catalog's GUID
        # must be that one's, and that one must be declared here.
        if name in aliases and declared.get(aliases[name]["target"]) != guid:
            target = aliases[name]["target"]
            raise fail(f"{name} stands for {target}: the catalog gives it another GUID or none")

    out: list[str] = []
    for table, family in ((layer_guids, "layer_guids"), (declared, "condition_guids")):
        lines = []
        for name in sorted(table):
            entry = facts[family].get(name)
            if entry is None or guid_initializer(entry.get("guid"), name) != table[name]:
                raise fail(f"{name}: the catalog's GUID is not the headers' ({FACTS_FILE})")
            lines.append((gate_of(entry, facts), f"DEFINE_GUID({name}, {table[name]});"))
        out += [*gated_lines(lines), ""]
    alias_lines = [
        (gate_of(entry, facts), f"#define {c_name(alias, 'GUID alias')} {entry['target']}")
        for alias, entry in sorted(aliases.items())
        if entry["target"] in declared
    ]
    out += gated_lines(alias_lines)
    return out


def render(layers: Sequence[JsonObj], facts: JsonObj | None = None) -> str:
    """The text of wfp_layers.h."""
    facts = facts if facts is not None else load_facts()
    layers = sorted(layers, key=lambda layer: str(layer.get("fwps_layer")))
    lines: list[str] = [
        "/*",
        " * wfp_layers.h - WFP layer tables for the host-side WDK stand-in.",
        " * GENERATED by scripts/build_hostsim_headers.py from wfpgen/catalog/data/layers.json",
        " * and wdk_facts.json: do not edit; rerun the script.",
        " *",
        " * Included by fwpsk.h (HOSTWDK_WANT_FWPS_LAYERS: FWPS_BUILTIN_LAYERS, FWPS_FIELDS_*)",
        " * and by fwpmk.h (HOSTWDK_WANT_FWPM_GUIDS: FWPM_LAYER_*, FWPM_CONDITION_* GUIDs).",
        " * The FWPS part is emitted once per translation unit.  The GUID part, like the WDK's",
        " * GUID block in fwpmk.h, has no include guard: it is emitted at every inclusion of",
        " * fwpmk.h, as declarations or, once INITGUID is defined, as definitions (see",
        " * DEFINE_GUID in hostwdk.h), so fwpmk.h included again after <initguid.h> defines",
        " * every GUID twice.",
        " * Every name sits under the NTDDI_VERSION test the WDK puts around it (hex values: the",
        " * NTDDI_* name is in the comment), so a driver sees what its target's headers declare.",
        " * Enum members carry no explicit values, as in the WDK; the comment gives the value",
        " * (reserved members included), which for the members after a gated one and for the",
        " * _MAX sentinels is the one at the newest NTDDI_VERSION.",
        " */",
        "",
        "#if defined(HOSTWDK_WANT_FWPS_LAYERS) && !defined(HOSTWDK_WFP_LAYERS_FWPS)",
        "#define HOSTWDK_WFP_LAYERS_FWPS",
        "",
        *builtin_layers_enum(layers, facts),
        "",
        *field_enums(layers, facts),
        "",
        "#endif /* HOSTWDK_WANT_FWPS_LAYERS */",
        "",
        "#if defined(HOSTWDK_WANT_FWPM_GUIDS) /* no include guard, as in the WDK */",
        "",
        *guid_table(layers, facts),
        "",
        "#endif /* HOSTWDK_WANT_FWPM_GUIDS */",
    ]
    return "\n".join(lines) + "\n"


def guid_braced(text: object, what: str) -> str:
    """A C GUID initializer ``{0x..., 0x..., 0x..., {0x.., ...}}`` for ``text``."""
    args = guid_initializer(text, what).split(", ")
    return "{" + ", ".join(args[:3]) + ", {" + ", ".join(args[3:]) + "}}"


def render_catalog(layers: Sequence[JsonObj], facts: JsonObj | None = None) -> str:
    """The text of the runtime's wfp_catalog.c."""
    facts = facts if facts is not None else load_facts()
    layers = sorted(layers, key=lambda layer: str(layer.get("fwps_layer")))
    members = builtin_members(layers, facts)  # validates every fwps_layer name and id
    field_enums(layers, facts)  # validates every field enum (indices, members, shared enums)
    newest = newest_ntddi(facts)
    out: list[str] = [
        "/*",
        " * wfp_catalog.c - the WFP layers the host runtime's filter engine knows.",
        " * GENERATED by scripts/build_hostsim_headers.py from wfpgen/catalog/data/layers.json",
        " * and wdk_facts.json: do not edit; rerun the script.",
        " *",
        " * Per catalog layer: FWPS run-time id, FWPM GUID, field count, and for every field with",
        " * a filtering condition its FWPM_CONDITION GUID, field index and FWP_DATA_TYPE. Ids and",
        " * indices are the enum members of wfp_layers.h; GUIDs are literal values.",
        " */",
        "",
        "/*",
        " * The runtime is compiled with the driver's defines, hence at the driver's target",
        " * NTDDI_VERSION, but it plays the running system, which hands a driver every field of",
        " * the newest Windows whatever the driver targets.  This table is therefore compiled at",
        " * the newest NTDDI_VERSION the catalog knows: every FWPS_FIELD_* member is declared and",
        " * each FieldCount (the _MAX sentinel) is the newest.  A driver built for an older target",
        " * reads the same indices: the WDK adds fields only at the tail of each enum, and the",
        " * catalog's FWPS_LAYER_* ids do not move with NTDDI_VERSION (the generator checks both).",
        " */",
        "#undef NTDDI_VERSION",
        f"#define NTDDI_VERSION {newest.hex} /* {newest.name} */",
        "",
        '#include "wfp_catalog.h"',
        "",
    ]
    emitted: set[str] = set()
    for layer in layers:
        enum = layer["fields_enum"]
        if enum in emitted:
            continue
        emitted.add(enum)
        rows = []
        for field in sorted(layer["fields"], key=lambda f: f["index"]):
            condition = field.get("condition")
            if condition is None:
                continue
            data_type = field.get("data_type")
            if data_type not in FWP_DATA_TYPES:
                raise fail(f"{enum}: field {field['member']} has unknown data type {data_type!r}")
            guid = guid_braced(field.get("condition_guid"), condition)
            rows.append(
                f'    {{{field["member"]}, {data_type}, {guid}, "{c_name(condition, "condition")}"}},'
            )
        if len(layer["fields"]) > MAX_RUNTIME_FIELDS:
            raise fail(f"{enum} has {len(layer['fields'])} fields; the runtime takes {MAX_RUNTIME_FIELDS}")
        out.append(f"static const HOSTWDK_CATALOG_FIELD Fields_{enum}[] = {{")
        out.extend(rows or ['    {0, FWP_EMPTY, {0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0}}, ""},'])
        out.append("};")
        out.append("")
    out.append("const HOSTWDK_CATALOG_LAYER HostWdkCatalogLayers[] = {")
    for layer in layers:
        enum = layer["fields_enum"]
        has_conditions = any(f.get("condition") for f in layer["fields"])
        count = f"RTL_NUMBER_OF(Fields_{enum})" if has_conditions else "0"
        sentinel = "FWPS_FIELD_" + enum.removeprefix("FWPS_FIELDS_") + "_MAX"
        out.append(
            f'    {{{layer["fwps_layer"]}, "{layer["fwps_layer"]}", "{layer["fwpm_layer"]}", '
            f"{guid_braced(layer['fwpm_layer_guid'], layer['fwpm_layer'])}, {sentinel}, {count}, Fields_{enum}}},"
        )
    out.append("};")
    out.append("")
    out.append("const UINT32 HostWdkCatalogLayerCount = (UINT32)RTL_NUMBER_OF(HostWdkCatalogLayers);")
    out.append("")
    out.append("/* Every FWPS_BUILTIN_LAYERS member of the newest headers. */")
    out.append("const HOSTWDK_BUILTIN_LAYER HostWdkBuiltinLayers[] = {")
    for member in members:
        name = member["name"]
        if name != BUILTIN_SENTINEL and ntddi_gate(member, facts).holds(newest.value):
            out.append(f'    {{"{name}", {name}}},')
    out.append("};")
    out.append("")
    out.append("const UINT32 HostWdkBuiltinLayerCount = (UINT32)RTL_NUMBER_OF(HostWdkBuiltinLayers);")
    return "\n".join(out) + "\n"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed file is stale")
    args = parser.parse_args(list(argv) if argv is not None else None)
    layers = load_layers()
    facts = load_facts()
    outputs = ((OUTPUT, render(layers, facts)), (CATALOG_OUTPUT, render_catalog(layers, facts)))
    if args.check:
        stale = 0
        for path, text in outputs:
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current != text:
                print(
                    f"{path.relative_to(REPO_ROOT)} is stale: run scripts/build_hostsim_headers.py",
                    file=sys.stderr,
                )
                stale = 1
        return stale
    for path, text in outputs:
        path.write_bytes(text.encode("utf-8"))
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
