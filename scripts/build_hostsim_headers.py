#!/usr/bin/env python3
"""Write ``wfpgen/hostsim/include/wfp_layers.h`` and ``wfpgen/hostsim/runtime/wfp_catalog.c``
from the packaged catalog.

Usage::

    python scripts/build_hostsim_headers.py [--check]

The header holds the tables the host-side WDK stand-in needs for every layer in
``wfpgen/catalog/data/layers.json``:

* the ``FWPS_BUILTIN_LAYERS`` enum (run-time layer ids; ``fwpsk.h``),
* one ``FWPS_FIELDS_*`` enum per field enum, members in the catalog's ``index`` order with
  reserved members included so that the implicit enum values equal the indices, then the
  ``_MAX`` sentinel, followed by the documented alias macros (``..._ICMP_TYPE`` ...),
* ``DEFINE_GUID`` for every ``FWPM_LAYER_*`` and ``FWPM_CONDITION_*`` the catalog names
  (``fwpmu.h``, reached through ``fwpmk.h``).

The runtime table ``wfp_catalog.c`` (types in the hand-written ``wfp_catalog.h``) gives the
host runtime what the filter engine knows about each catalog layer: its FWPS run-time id,
its FWPM GUID, its field count, and for every field with a filtering condition the
condition GUID, the field index and the value type. Ids and indices are written as the enum
members of ``wfp_layers.h``, so the compiler ties both files to one source; the GUIDs are
literal values, because the GUID objects themselves belong to the driver (``callouts.c``
defines them after ``<initguid.h>``). It also lists every ``FWPS_BUILTIN_LAYERS`` member by
name, for ``HostWdk_LayerId``.

Only the project's own catalog is read.  The one table the catalog does not carry, the
member order of ``FWPS_BUILTIN_LAYERS``, is typed below from the rendered header syntax of
Microsoft's ``FWPS_BUILTIN_LAYERS`` page (the reference notes' ``fwps_builtin_layers``).

Output is deterministic; ``--check`` exits 1 if either committed file differs from a fresh
rendering.  Anything inconsistent in the catalog stops the build with ``SystemExit``.
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

# FWPS_BUILTIN_LAYERS in header order (value = position).  Source: the "Syntax" block of
# Microsoft's FWPS_BUILTIN_LAYERS page (fwpsk.h / fwpsu.h), as recorded in the reference
# notes; FWPS_LAYER_INBOUND/OUTBOUND_MAC_FRAME_NATIVE are documented elsewhere but absent
# from that block, so they are absent here too.
FWPS_BUILTIN_LAYERS: tuple[str, ...] = (
    "FWPS_LAYER_INBOUND_IPPACKET_V4",
    "FWPS_LAYER_INBOUND_IPPACKET_V4_DISCARD",
    "FWPS_LAYER_INBOUND_IPPACKET_V6",
    "FWPS_LAYER_INBOUND_IPPACKET_V6_DISCARD",
    "FWPS_LAYER_OUTBOUND_IPPACKET_V4",
    "FWPS_LAYER_OUTBOUND_IPPACKET_V4_DISCARD",
    "FWPS_LAYER_OUTBOUND_IPPACKET_V6",
    "FWPS_LAYER_OUTBOUND_IPPACKET_V6_DISCARD",
    "FWPS_LAYER_IPFORWARD_V4",
    "FWPS_LAYER_IPFORWARD_V4_DISCARD",
    "FWPS_LAYER_IPFORWARD_V6",
    "FWPS_LAYER_IPFORWARD_V6_DISCARD",
    "FWPS_LAYER_INBOUND_TRANSPORT_V4",
    "FWPS_LAYER_INBOUND_TRANSPORT_V4_DISCARD",
    "FWPS_LAYER_INBOUND_TRANSPORT_V6",
    "FWPS_LAYER_INBOUND_TRANSPORT_V6_DISCARD",
    "FWPS_LAYER_OUTBOUND_TRANSPORT_V4",
    "FWPS_LAYER_OUTBOUND_TRANSPORT_V4_DISCARD",
    "FWPS_LAYER_OUTBOUND_TRANSPORT_V6",
    "FWPS_LAYER_OUTBOUND_TRANSPORT_V6_DISCARD",
    "FWPS_LAYER_STREAM_V4",
    "FWPS_LAYER_STREAM_V4_DISCARD",
    "FWPS_LAYER_STREAM_V6",
    "FWPS_LAYER_STREAM_V6_DISCARD",
    "FWPS_LAYER_DATAGRAM_DATA_V4",
    "FWPS_LAYER_DATAGRAM_DATA_V4_DISCARD",
    "FWPS_LAYER_DATAGRAM_DATA_V6",
    "FWPS_LAYER_DATAGRAM_DATA_V6_DISCARD",
    "FWPS_LAYER_INBOUND_ICMP_ERROR_V4",
    "FWPS_LAYER_INBOUND_ICMP_ERROR_V4_DISCARD",
    "FWPS_LAYER_INBOUND_ICMP_ERROR_V6",
    "FWPS_LAYER_INBOUND_ICMP_ERROR_V6_DISCARD",
    "FWPS_LAYER_OUTBOUND_ICMP_ERROR_V4",
    "FWPS_LAYER_OUTBOUND_ICMP_ERROR_V4_DISCARD",
    "FWPS_LAYER_OUTBOUND_ICMP_ERROR_V6",
    "FWPS_LAYER_OUTBOUND_ICMP_ERROR_V6_DISCARD",
    "FWPS_LAYER_ALE_RESOURCE_ASSIGNMENT_V4",
    "FWPS_LAYER_ALE_RESOURCE_ASSIGNMENT_V4_DISCARD",
    "FWPS_LAYER_ALE_RESOURCE_ASSIGNMENT_V6",
    "FWPS_LAYER_ALE_RESOURCE_ASSIGNMENT_V6_DISCARD",
    "FWPS_LAYER_ALE_AUTH_LISTEN_V4",
    "FWPS_LAYER_ALE_AUTH_LISTEN_V4_DISCARD",
    "FWPS_LAYER_ALE_AUTH_LISTEN_V6",
    "FWPS_LAYER_ALE_AUTH_LISTEN_V6_DISCARD",
    "FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4",
    "FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4_DISCARD",
    "FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V6",
    "FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V6_DISCARD",
    "FWPS_LAYER_ALE_AUTH_CONNECT_V4",
    "FWPS_LAYER_ALE_AUTH_CONNECT_V4_DISCARD",
    "FWPS_LAYER_ALE_AUTH_CONNECT_V6",
    "FWPS_LAYER_ALE_AUTH_CONNECT_V6_DISCARD",
    "FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4",
    "FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4_DISCARD",
    "FWPS_LAYER_ALE_FLOW_ESTABLISHED_V6",
    "FWPS_LAYER_ALE_FLOW_ESTABLISHED_V6_DISCARD",
    "FWPS_LAYER_INBOUND_MAC_FRAME_ETHERNET",
    "FWPS_LAYER_OUTBOUND_MAC_FRAME_ETHERNET",
    "FWPS_LAYER_RESERVED1_V4",
    "FWPS_LAYER_RESERVED1_V6",
    "FWPS_LAYER_NAME_RESOLUTION_CACHE_V4",
    "FWPS_LAYER_NAME_RESOLUTION_CACHE_V6",
    "FWPS_LAYER_ALE_RESOURCE_RELEASE_V4",
    "FWPS_LAYER_ALE_RESOURCE_RELEASE_V6",
    "FWPS_LAYER_ALE_ENDPOINT_CLOSURE_V4",
    "FWPS_LAYER_ALE_ENDPOINT_CLOSURE_V6",
    "FWPS_LAYER_ALE_CONNECT_REDIRECT_V4",
    "FWPS_LAYER_ALE_CONNECT_REDIRECT_V6",
    "FWPS_LAYER_ALE_BIND_REDIRECT_V4",
    "FWPS_LAYER_ALE_BIND_REDIRECT_V6",
    "FWPS_LAYER_STREAM_PACKET_V4",
    "FWPS_LAYER_STREAM_PACKET_V6",
    "FWPS_LAYER_INGRESS_VSWITCH_ETHERNET",
    "FWPS_LAYER_EGRESS_VSWITCH_ETHERNET",
    "FWPS_LAYER_INGRESS_VSWITCH_TRANSPORT_V4",
    "FWPS_LAYER_INGRESS_VSWITCH_TRANSPORT_V6",
    "FWPS_LAYER_EGRESS_VSWITCH_TRANSPORT_V4",
    "FWPS_LAYER_EGRESS_VSWITCH_TRANSPORT_V6",
    "FWPS_LAYER_INBOUND_TRANSPORT_FAST",
    "FWPS_LAYER_OUTBOUND_TRANSPORT_FAST",
    "FWPS_LAYER_INBOUND_MAC_FRAME_NATIVE_FAST",
    "FWPS_LAYER_OUTBOUND_MAC_FRAME_NATIVE_FAST",
    "FWPS_LAYER_INBOUND_RESERVED2",
    "FWPS_LAYER_RESERVED_LAYER_9",
    "FWPS_LAYER_RESERVED_LAYER_10",
    "FWPS_LAYER_OUTBOUND_NETWORK_CONNECTION_POLICY_V4",
    "FWPS_LAYER_OUTBOUND_NETWORK_CONNECTION_POLICY_V6",
    "FWPS_LAYER_IPSEC_KM_DEMUX_V4",
    "FWPS_LAYER_IPSEC_KM_DEMUX_V6",
    "FWPS_LAYER_IPSEC_V4",
    "FWPS_LAYER_IPSEC_V6",
    "FWPS_LAYER_IKEEXT_V4",
    "FWPS_LAYER_IKEEXT_V6",
    "FWPS_LAYER_RPC_UM",
    "FWPS_LAYER_RPC_EPMAP",
    "FWPS_LAYER_RPC_EP_ADD",
    "FWPS_LAYER_RPC_PROXY_CONN",
    "FWPS_LAYER_RPC_PROXY_IF",
    "FWPS_LAYER_KM_AUTHORIZATION",
    "FWPS_BUILTIN_LAYER_MAX",
)

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


def builtin_layers_enum(layers: Sequence[JsonObj]) -> list[str]:
    """The FWPS_BUILTIN_LAYERS typedef."""
    if len(set(FWPS_BUILTIN_LAYERS)) != len(FWPS_BUILTIN_LAYERS):
        raise fail("FWPS_BUILTIN_LAYERS lists a name twice")
    known = set(FWPS_BUILTIN_LAYERS)
    for layer in layers:
        name = c_name(layer.get("fwps_layer"), "fwps_layer")
        if name not in known:
            raise fail(f"catalog layer {name} is not a member of FWPS_BUILTIN_LAYERS")
    lines = ["typedef enum FWPS_BUILTIN_LAYERS_", "{"]
    width = max(len(n) for n in FWPS_BUILTIN_LAYERS) + 1
    for value, name in enumerate(FWPS_BUILTIN_LAYERS):
        lines.append(f"    {(name + ','):<{width}} /* {value} */")
    lines.append("} FWPS_BUILTIN_LAYERS;")
    return lines


def field_enums(layers: Sequence[JsonObj]) -> list[str]:
    """One FWPS_FIELDS_* typedef per field enum, plus its alias macros."""
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
        width = max(len(m) for m in members + [sentinel]) + 1
        reserved = {f["member"] for f in fields if f.get("reserved")}
        out.append(f"typedef enum {enum}_")
        out.append("{")
        for value, member in enumerate(members):
            note = f"{value}, reserved" if member in reserved else f"{value}"
            out.append(f"    {(member + ','):<{width}} /* {note} */")
        out.append(f"    {sentinel:<{width}} /* {len(members)} */")
        out.append(f"}} {enum};")
        aliases: dict[str, str] = layer.get("aliases") or {}
        for alias in sorted(aliases):
            target = aliases[alias]
            if target not in by_name:
                raise fail(f"{enum}: alias {alias} names unknown field {target}")
            alias_member = prefix + c_name(alias.upper(), f"{enum} alias")
            if alias_member in members:
                raise fail(f"{enum}: alias {alias_member} is also a real member")
            out.append(f"#define {alias_member} {by_name[target]}")
        out.append("")
    return out[:-1]


def guid_table(layers: Sequence[JsonObj]) -> list[str]:
    """DEFINE_GUID for every FWPM_LAYER_* and FWPM_CONDITION_* in the catalog."""
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

    out: list[str] = []
    for table in (layer_guids, condition_guids):
        for name in sorted(table):
            out.append(f"DEFINE_GUID({name}, {table[name]});")
        out.append("")
    return out[:-1]


def render(layers: Sequence[JsonObj]) -> str:
    """The text of wfp_layers.h."""
    layers = sorted(layers, key=lambda layer: str(layer.get("fwps_layer")))
    lines: list[str] = [
        "/*",
        " * wfp_layers.h - WFP layer tables for the host-side WDK stand-in.",
        " * GENERATED by scripts/build_hostsim_headers.py from wfpgen/catalog/data/layers.json:",
        " * do not edit; rerun the script.",
        " *",
        " * Included by fwpsk.h (HOSTWDK_WANT_FWPS_LAYERS: FWPS_BUILTIN_LAYERS, FWPS_FIELDS_*)",
        " * and by fwpmk.h (HOSTWDK_WANT_FWPM_GUIDS: FWPM_LAYER_*, FWPM_CONDITION_* GUIDs).",
        " * The FWPS part is emitted once per translation unit.  The GUID part, like the WDK's",
        " * GUID block in fwpmk.h, has no include guard: it is emitted at every inclusion of",
        " * fwpmk.h, as declarations or, once INITGUID is defined, as definitions (see",
        " * DEFINE_GUID in hostwdk.h), so fwpmk.h included again after <initguid.h> defines",
        " * every GUID twice.",
        " * Enum members carry no explicit values, as in the WDK; the comment gives the value",
        " * the catalog's index implies (reserved members included).",
        " */",
        "",
        "#if defined(HOSTWDK_WANT_FWPS_LAYERS) && !defined(HOSTWDK_WFP_LAYERS_FWPS)",
        "#define HOSTWDK_WFP_LAYERS_FWPS",
        "",
        *builtin_layers_enum(layers),
        "",
        *field_enums(layers),
        "",
        "#endif /* HOSTWDK_WANT_FWPS_LAYERS */",
        "",
        "#if defined(HOSTWDK_WANT_FWPM_GUIDS) /* no include guard, as in the WDK */",
        "",
        *guid_table(layers),
        "",
        "#endif /* HOSTWDK_WANT_FWPM_GUIDS */",
    ]
    return "\n".join(lines) + "\n"


def guid_braced(text: object, what: str) -> str:
    """A C GUID initializer ``{0x..., 0x..., 0x..., {0x.., ...}}`` for ``text``."""
    args = guid_initializer(text, what).split(", ")
    return "{" + ", ".join(args[:3]) + ", {" + ", ".join(args[3:]) + "}}"


def render_catalog(layers: Sequence[JsonObj]) -> str:
    """The text of the runtime's wfp_catalog.c."""
    layers = sorted(layers, key=lambda layer: str(layer.get("fwps_layer")))
    builtin_layers_enum(layers)  # validates every fwps_layer name
    field_enums(layers)  # validates every field enum (indices, members, shared enums)
    out: list[str] = [
        "/*",
        " * wfp_catalog.c - the WFP layers the host runtime's filter engine knows.",
        " * GENERATED by scripts/build_hostsim_headers.py from wfpgen/catalog/data/layers.json:",
        " * do not edit; rerun the script.",
        " *",
        " * Per catalog layer: FWPS run-time id, FWPM GUID, field count, and for every field with",
        " * a filtering condition its FWPM_CONDITION GUID, field index and FWP_DATA_TYPE. Ids and",
        " * indices are the enum members of wfp_layers.h; GUIDs are literal values.",
        " */",
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
    out.append("const HOSTWDK_BUILTIN_LAYER HostWdkBuiltinLayers[] = {")
    for name in FWPS_BUILTIN_LAYERS[:-1]:
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
    outputs = ((OUTPUT, render(layers)), (CATALOG_OUTPUT, render_catalog(layers)))
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
