#!/usr/bin/env python3
"""Derive the packaged WFP catalog (``wfpgen/catalog/data/*.json``) from the reference.

Usage::

    python scripts/build_catalog.py [--reference DIR] [--out DIR]

``--reference`` defaults to ``shared/reference`` beside the repository (it holds
``wfp_reference.json`` and ``wfp_constants.json``, see its NOTES.md); ``--out``
defaults to ``wfpgen/catalog/data`` inside the repository.  The package itself
never reads the reference: it loads only the files written here.

Output is deterministic: ``json.dumps(obj, indent=1, sort_keys=True,
ensure_ascii=False) + "\\n"``, lists sorted by name.  Anything inconsistent in the
reference (a layer without a GUID, a duplicate field name, an unknown value type,
an unmapped Windows version, ...) stops the build with ``SystemExit``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JsonObj = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
DEFAULT_OUT = REPO_ROOT / "wfpgen" / "catalog" / "data"

REFERENCE_FILE = "wfp_reference.json"
CONSTANTS_FILE = "wfp_constants.json"

# The kernel run-time filtering layers the catalog covers (FWPS_LAYER_ suffixes).
BASE_LAYERS: tuple[str, ...] = (
    "INBOUND_TRANSPORT_V4",
    "INBOUND_TRANSPORT_V6",
    "OUTBOUND_TRANSPORT_V4",
    "OUTBOUND_TRANSPORT_V6",
    "ALE_AUTH_CONNECT_V4",
    "ALE_AUTH_CONNECT_V6",
    "ALE_AUTH_RECV_ACCEPT_V4",
    "ALE_AUTH_RECV_ACCEPT_V6",
    "ALE_AUTH_LISTEN_V4",
    "ALE_AUTH_LISTEN_V6",
    "ALE_FLOW_ESTABLISHED_V4",
    "ALE_FLOW_ESTABLISHED_V6",
    "ALE_RESOURCE_ASSIGNMENT_V4",
    "ALE_RESOURCE_ASSIGNMENT_V6",
    "ALE_RESOURCE_RELEASE_V4",
    "ALE_RESOURCE_RELEASE_V6",
    "ALE_ENDPOINT_CLOSURE_V4",
    "ALE_ENDPOINT_CLOSURE_V6",
    "ALE_CONNECT_REDIRECT_V4",
    "ALE_CONNECT_REDIRECT_V6",
    "ALE_BIND_REDIRECT_V4",
    "ALE_BIND_REDIRECT_V6",
    "DATAGRAM_DATA_V4",
    "DATAGRAM_DATA_V6",
    "STREAM_V4",
    "STREAM_V6",
    "STREAM_PACKET_V4",
    "STREAM_PACKET_V6",
    "INBOUND_IPPACKET_V4",
    "INBOUND_IPPACKET_V6",
    "OUTBOUND_IPPACKET_V4",
    "OUTBOUND_IPPACKET_V6",
    "IPFORWARD_V4",
    "IPFORWARD_V6",
    "INBOUND_ICMP_ERROR_V4",
    "INBOUND_ICMP_ERROR_V6",
    "OUTBOUND_ICMP_ERROR_V4",
    "OUTBOUND_ICMP_ERROR_V6",
)

FAMILIES: frozenset[str] = frozenset(
    {
        "transport",
        "ale_auth_connect",
        "ale_auth_recv_accept",
        "ale_auth_listen",
        "ale_flow_established",
        "ale_resource_assignment",
        "ale_resource_release",
        "ale_endpoint_closure",
        "ale_connect_redirect",
        "ale_bind_redirect",
        "datagram_data",
        "stream",
        "stream_packet",
        "ippacket",
        "ipforward",
        "icmp_error",
    }
)

# Curated: a callout's block verdict is not enforced at these layers -- they are
# notification (resource release, endpoint closure), modification (connect/bind
# redirect) or inspection-only (stream packet) layers; every _DISCARD variant only
# sees traffic that has already been dropped, so it cannot block either.
NON_BLOCKING_FAMILIES: frozenset[str] = frozenset(
    {
        "ale_resource_release",
        "ale_endpoint_closure",
        "ale_connect_redirect",
        "ale_bind_redirect",
        "stream_packet",
    }
)

# Curated: these layers were added in Windows 7 (per the run-time filtering layer
# identifiers documentation); every other layer here exists since Windows Vista.
# The minimum over a layer's fields is not used: fields carry page defaults.
WIN7_FAMILIES: frozenset[str] = frozenset(
    {
        "ale_resource_release",
        "ale_endpoint_closure",
        "ale_connect_redirect",
        "ale_bind_redirect",
        "stream_packet",
    }
)

# Windows versions, oldest first.  NTDDI_* names and values from sdkddkver.h.
# "raw" lists the min_windows strings of the reference that map to the version
# (an unlisted string stops the build).
# ws2022_23h2 (Windows Server 2022, version 23H2, build 25398) uses the "Zinc"
# macro NTDDI_WIN11_ZN: sdkddkver.h maps builds 25246-25398 to it.
VERSIONS: tuple[JsonObj, ...] = (
    {"id": "vista", "label": "Windows Vista", "ntddi": "NTDDI_VISTA", "hex": "0x06000000", "raw": ["Vista"]},
    {
        "id": "vista_sp1",
        "label": "Windows Vista SP1",
        "ntddi": "NTDDI_VISTASP1",
        "hex": "0x06000100",
        "raw": ["Vista SP1"],
    },
    {"id": "win7", "label": "Windows 7", "ntddi": "NTDDI_WIN7", "hex": "0x06010000", "raw": ["7"]},
    {"id": "win8", "label": "Windows 8", "ntddi": "NTDDI_WIN8", "hex": "0x06020000", "raw": ["8"]},
    {"id": "win81", "label": "Windows 8.1", "ntddi": "NTDDI_WINBLUE", "hex": "0x06030000", "raw": []},
    {"id": "win10", "label": "Windows 10", "ntddi": "NTDDI_WIN10", "hex": "0x0A000000", "raw": ["10"]},
    {
        # Windows 10 LTSB 2016 and Windows Server 2016.
        "id": "win10_1607",
        "label": "Windows 10, version 1607",
        "ntddi": "NTDDI_WIN10_RS1",
        "hex": "0x0A000002",
        "raw": [],
    },
    {
        "id": "win10_1703",
        "label": "Windows 10, version 1703",
        "ntddi": "NTDDI_WIN10_RS2",
        "hex": "0x0A000003",
        "raw": ["10 1703"],
    },
    {
        # FWPS_CALLOUT3, FWPS_FILTER3 and the version-3 callback types appear here (fwpsk.h).
        "id": "win10_1709",
        "label": "Windows 10, version 1709",
        "ntddi": "NTDDI_WIN10_RS3",
        "hex": "0x0A000004",
        "raw": [],
    },
    {
        # Windows 10 LTSC 2019 and Windows Server 2019.
        "id": "win10_1809",
        "label": "Windows 10, version 1809",
        "ntddi": "NTDDI_WIN10_RS5",
        "hex": "0x0A000006",
        "raw": [],
    },
    {
        # ExAllocatePool2 and POOL_FLAG_* appear here (the older pool APIs are deprecated from it on).
        "id": "win10_2004",
        "label": "Windows 10, version 2004",
        "ntddi": "NTDDI_WIN10_VB",
        "hex": "0x0A000008",
        "raw": [],
    },
    {"id": "win11", "label": "Windows 11", "ntddi": "NTDDI_WIN10_CO", "hex": "0x0A00000B", "raw": []},
    {
        "id": "win11_22h2",
        "label": "Windows 11, version 22H2",
        "ntddi": "NTDDI_WIN10_NI",
        "hex": "0x0A00000C",
        "raw": ["11 22H2"],
    },
    {
        "id": "ws2022_23h2",
        "label": "Windows Server 2022, version 23H2",
        "ntddi": "NTDDI_WIN11_ZN",
        "hex": "0x0A00000E",
        "raw": ["Server 2022 23H2"],
    },
    {
        "id": "win11_24h2",
        "label": "Windows 11, version 24H2",
        "ntddi": "NTDDI_WIN11_GE",
        "hex": "0x0A000010",
        "raw": [],
    },
)

# A reference field with min_windows None inherits its page's default; these
# patterns read the page's "supported starting with ..." sentence.
PAGE_DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"Windows 11, version 22H2", "win11_22h2"),
    (r"Windows 8\b", "win8"),
    (r"Windows 7\b", "win7"),
    (r"Windows Vista\b", "vista"),
)
PAGE_DEFAULT_WHEN_ABSENT = "vista"

# FWP_VALUE0 union members a field value can be read from, plus "unknown".
KNOWN_TYPES: frozenset[str] = frozenset(
    {
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "int8",
        "int16",
        "int32",
        "int64",
        "float32",
        "double64",
        "byteArray16",
        "byteArray6",
        "byteBlob",
        "sid",
        "sd",
        "tokenInformation",
        "tokenAccessInformation",
        "unicodeString",
        "unknown",
    }
)
UNKNOWN_TYPE = "unknown"
# The reference leaves user-id-like fields open between the two token members;
# kernel layers deliver the access-information variant (NOTES.md section 6).
TOKEN_MEMBER_RAW = "tokenAccessInformation / tokenInformation"
TOKEN_MEMBER = "tokenAccessInformation"
EXTRACTABLE_TYPES: frozenset[str] = frozenset(
    {
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "byteArray16",
        "byteBlob",
        "sid",
        # tokenAccessInformation (ALE_USER_ID) is not listed: the user SID sits behind the
        # TOKEN_ACCESS_INFORMATION pointers, whose layout the reference does not document.
    }
)

WDK_NAME_STATUSES: frozenset[str] = frozenset(
    {
        "current_header",
        "alias_macro",
        "win32_layer_identifiers_page",
        "win32_condition_identifiers_page",
        "win32_filtering_condition_flags_page",
        "metadata_field_identifiers_page",
        "metadata_field_l2_identifiers_page",
        "FWPS_CALLOUT3_page",
    }
)
WINDOWS_METADATA_STATUS = "windows_metadata"
CALLOUT_API_STATUS = "callout_api_page"
CONSTANT_NAME_SECTIONS: tuple[str, ...] = (
    "fwpm_layer_guids",
    "fwpm_condition_guids",
    "fwpm_sublayer_guids",
    "other_guids",
    "fwp_actions",
    "other_constants",
    "fwps_metadata_fields",
)

FWPS_LAYER_PREFIX = "FWPS_LAYER_"
FWPM_LAYER_PREFIX = "FWPM_LAYER_"
FWPS_FIELD_PREFIX = "FWPS_FIELD_"
METADATA_PREFIX = "FWPS_METADATA_FIELD_"
CONDITION_FLAG_PREFIX = "FWP_CONDITION_FLAG_"
DISCARD_SUFFIX = "_DISCARD"
CURRENT_HEADER_STATUS = "current_header"
ALIAS_STATUS = "alias_macro"


@dataclass(frozen=True)
class Reference:
    """The two reference files plus lookups derived from them."""

    ref: JsonObj
    consts: JsonObj
    version_by_raw: Mapping[str, str]
    type_by_member: Mapping[str, str]


def fail(message: str) -> SystemExit:
    """Return the SystemExit raised for an inconsistency in the reference."""
    return SystemExit(f"build_catalog: {message}")


def load_json(path: Path) -> JsonObj:
    """Read one reference JSON file, failing clearly if it is missing or not an object."""
    if not path.is_file():
        raise fail(f"missing reference file {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise fail(f"{path} is not a JSON object")
    return data


def version_lookup() -> dict[str, str]:
    """Map every raw min_windows string of VERSIONS to its version id."""
    lookup: dict[str, str] = {}
    for spec in VERSIONS:
        for raw in spec["raw"]:
            if raw in lookup:
                raise fail(f"raw version string {raw!r} mapped twice")
            lookup[raw] = spec["id"]
    return lookup


def member_types(ref: JsonObj) -> dict[str, str]:
    """Map FWP_VALUE0 union member -> FWP_DATA_TYPE name, from the reference."""
    result: dict[str, str] = {}
    for data_type, entry in ref["fwp_value0_union"].items():
        member = entry["member"]
        if member not in KNOWN_TYPES:
            raise fail(f"FWP_VALUE0 member {member!r} ({data_type}) is not a known type")
        result[member] = data_type
    return result


def open_reference(directory: Path) -> Reference:
    """Load the reference folder and build the shared lookups."""
    ref = load_json(directory / REFERENCE_FILE)
    consts = load_json(directory / CONSTANTS_FILE)
    return Reference(
        ref=ref, consts=consts, version_by_raw=version_lookup(), type_by_member=member_types(ref)
    )


def parse_hex(value: object, where: str) -> int:
    """Turn a constant written as int or "0x..." string into an int."""
    if isinstance(value, bool):
        raise fail(f"{where}: boolean where a number was expected")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise fail(f"{where}: cannot read {value!r} as a number")


def strip_prefix(name: str, prefix: str, where: str) -> str:
    """Remove a required prefix from an identifier."""
    if not name.startswith(prefix) or len(name) == len(prefix):
        raise fail(f"{where}: {name!r} does not start with {prefix!r}")
    return name[len(prefix) :]


# --------------------------------------------------------------------------- versions


def map_version(ctx: Reference, raw: str | None, page_default: str, where: str) -> str:
    """Map a raw min_windows string to a version id; None means the page default."""
    if raw is None:
        return page_default
    try:
        return ctx.version_by_raw[raw]
    except KeyError:
        raise fail(f"{where}: unmapped min_windows string {raw!r}") from None


def page_default_version(page_text: str | None, where: str) -> str:
    """Read a layer page's 'supported starting with ...' default as a version id."""
    if page_text is None:
        return PAGE_DEFAULT_WHEN_ABSENT
    text = " ".join(page_text.replace("\u00a0", " ").split())
    for pattern, version_id in PAGE_DEFAULT_PATTERNS:
        if re.search(pattern, text):
            return version_id
    raise fail(f"{where}: unmapped page default {page_text!r}")


def build_versions() -> list[JsonObj]:
    """The versions.json list, oldest first."""
    ids = [spec["id"] for spec in VERSIONS]
    if len(set(ids)) != len(ids):
        raise fail("duplicate version id in VERSIONS")
    return [dict(spec) for spec in VERSIONS]


# --------------------------------------------------------------------------- fields


def resolve_type(ctx: Reference, inferred: JsonObj | None, where: str) -> tuple[str, str | None]:
    """Return (FWP_VALUE0 member, FWP_DATA_TYPE name) for a field's inferred value type."""
    if inferred is None:
        return UNKNOWN_TYPE, None
    member = inferred.get("member")
    if member == TOKEN_MEMBER_RAW:
        return TOKEN_MEMBER, ctx.type_by_member[TOKEN_MEMBER]
    if not isinstance(member, str) or member not in ctx.type_by_member:
        raise fail(f"{where}: unknown value type {member!r}")
    data_type = ctx.type_by_member[member]
    if inferred.get("type") != data_type:
        raise fail(f"{where}: type {inferred.get('type')!r} does not match member {member!r}")
    return member, data_type


def condition_for(ctx: Reference, name: str | None) -> tuple[str | None, str | None]:
    """Return (FWPM_CONDITION name, lower-case GUID) if the condition has a GUID."""
    guids: Mapping[str, str] = ctx.consts["fwpm_condition_guids"]
    if name is None or name not in guids:
        return None, None
    return name, guids[name].lower()


def build_field(ctx: Reference, raw: JsonObj, prefix: str, page_default: str, where: str) -> JsonObj:
    """Build one field object from a reference field entry."""
    member = raw["enum_member"]
    where = f"{where} field {member}"
    status = ctx.ref["name_index"].get(member, {}).get("status")
    if status != CURRENT_HEADER_STATUS:
        raise fail(f"{where}: name_index status is {status!r}, expected {CURRENT_HEADER_STATUS!r}")
    suffix = strip_prefix(member, prefix, where)
    if suffix != raw["name"]:
        raise fail(f"{where}: member suffix {suffix!r} differs from name {raw['name']!r}")
    reserved = bool(raw.get("reserved"))
    value_type, data_type = resolve_type(ctx, raw.get("classify_value_type_inferred"), where)
    condition, condition_guid = condition_for(ctx, raw.get("fwpm_condition"))
    return {
        "name": suffix.lower(),
        "member": member,
        "index": raw["index_in_header_syntax"],
        "type": value_type,
        "data_type": data_type,
        "extractable": not reserved and value_type in EXTRACTABLE_TYPES,
        "reserved": reserved,
        "min_windows": map_version(ctx, raw.get("min_windows"), page_default, where),
        "condition": condition,
        "condition_guid": condition_guid,
        "description": raw["description"],
    }


def check_field_list(fields: Sequence[JsonObj], where: str) -> None:
    """Require unique field names and contiguous header indices starting at 0."""
    names = [f["name"] for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise fail(f"{where}: duplicate field names {duplicates}")
    indices = [f["index"] for f in fields]
    if indices != list(range(len(fields))):
        raise fail(f"{where}: header indices are not 0..{len(fields) - 1}: {indices}")


def build_fields(ctx: Reference, key: str, entry: JsonObj, where: str) -> list[JsonObj]:
    """All current header members of a layer's enum, in header order, without _MAX."""
    prefix = entry["member_prefix"]
    if prefix != f"{FWPS_FIELD_PREFIX}{key}_":
        raise fail(f"{where}: unexpected member prefix {prefix!r}")
    page_default = page_default_version(entry.get("page_min_windows"), where)
    kept = [f for f in entry["fields"] if f.get("in_header_syntax") and not f.get("is_max_sentinel")]
    fields = [build_field(ctx, f, prefix, page_default, where) for f in kept]
    fields.sort(key=lambda f: int(f["index"]))
    check_field_list(fields, where)
    return fields


# --------------------------------------------------------------------------- layers


def layer_family(key: str) -> str:
    """The family of a base layer key, e.g. INBOUND_TRANSPORT_V4 -> transport."""
    stem = re.sub(r"_V[46]$", "", key)
    for direction in ("INBOUND_", "OUTBOUND_"):
        stem = stem.removeprefix(direction)
    family = stem.lower()
    if family not in FAMILIES:
        raise fail(f"layer {key}: unknown family {family!r}")
    return family


def layer_ip_version(key: str) -> int:
    """4 or 6, from the layer name's _V4/_V6 suffix."""
    match = re.search(r"_V([46])$", key)
    if match is None:
        raise fail(f"layer {key}: no _V4/_V6 suffix")
    return int(match.group(1))


def layer_direction(key: str) -> str | None:
    """'inbound'/'outbound' when the layer name says so, else None."""
    for direction in ("inbound", "outbound"):
        if key.startswith(direction.upper() + "_"):
            return direction
    return None


def build_aliases(
    ctx: Reference, key: str, entry: JsonObj, fields: Sequence[JsonObj], where: str
) -> dict[str, str]:
    """Documented alias macros of the layer (lower-case alias -> lower-case target)."""
    names = {f["name"] for f in fields}
    aliases: dict[str, str] = {}
    for alias, target in sorted(entry.get("aliases", {}).items()):
        macro = f"{FWPS_FIELD_PREFIX}{key}_{alias}"
        if ctx.ref["name_index"].get(macro, {}).get("status") != ALIAS_STATUS:
            continue
        if target.lower() not in names:
            raise fail(f"{where}: alias {alias} targets missing field {target}")
        if alias.lower() in names:
            raise fail(f"{where}: alias {alias} shadows a real field")
        aliases[alias.lower()] = target.lower()
    return aliases


def build_metadata_list(ctx: Reference, suffixes: Iterable[str], where: str) -> list[str]:
    """Lower-case, sorted, validated FWPS_METADATA_FIELD_ suffixes."""
    known = {strip_prefix(m["flag"], METADATA_PREFIX, "metadata_fields") for m in ctx.ref["metadata_fields"]}
    unknown = sorted(set(suffixes) - known)
    if unknown:
        raise fail(f"{where}: unknown metadata fields {unknown}")
    return sorted({s.lower() for s in suffixes})


def layer_guid(ctx: Reference, fwpm_layer: str, where: str) -> str:
    """Lower-case GUID of an FWPM layer; fails loudly if absent."""
    guid = ctx.consts["fwpm_layer_guids"].get(fwpm_layer)
    if not isinstance(guid, str):
        raise fail(f"{where}: no GUID for {fwpm_layer} in {CONSTANTS_FILE} fwpm_layer_guids")
    return guid.lower()


def layer_index(entry: JsonObj, fwps_layer: str, where: str) -> int:
    """The FWPS_LAYER_* value as rendered in the FWPS_BUILTIN_LAYERS syntax (unverified: header order)."""
    index = entry.get("fwps_layer_index_in_FWPS_BUILTIN_LAYERS_syntax", {}).get(fwps_layer)
    if not isinstance(index, int):
        raise fail(f"{where}: no FWPS_BUILTIN_LAYERS index for {fwps_layer}")
    return index


def build_base_layer(ctx: Reference, key: str) -> JsonObj:
    """The layers.json object of one base layer."""
    where = f"layer {key}"
    entry: JsonObj | None = ctx.ref["layers"].get(key)
    if entry is None:
        raise fail(f"{where}: missing from {REFERENCE_FILE}")
    if entry["fwps_layer"] != FWPS_LAYER_PREFIX + key:
        raise fail(f"{where}: unexpected fwps_layer {entry['fwps_layer']!r}")
    fields = build_fields(ctx, key, entry, where)
    family = layer_family(key)
    return {
        "name": key.lower(),
        "fwps_layer": entry["fwps_layer"],
        "fwps_layer_index": layer_index(entry, entry["fwps_layer"], where),
        "fwpm_layer": entry["fwpm_layer"],
        "fwpm_layer_guid": layer_guid(ctx, entry["fwpm_layer"], where),
        "fields_enum": entry["fields_enum"],
        "base": None,
        "family": family,
        "ip_version": layer_ip_version(key),
        "direction": layer_direction(key),
        "discard": False,
        "can_block": family not in NON_BLOCKING_FAMILIES,
        "min_windows": "win7" if family in WIN7_FAMILIES else "vista",
        "fields": fields,
        "aliases": build_aliases(ctx, key, entry, fields, where),
        "metadata": build_metadata_list(ctx, entry["metadata"], where),
        "source": entry["source"]["ddi_repo_path"],
    }


def build_discard_layer(ctx: Reference, base: JsonObj, entry: JsonObj, fwps_layer: str) -> JsonObj:
    """The layers.json object of a _DISCARD variant sharing its base layer's enum."""
    where = f"layer {fwps_layer}"
    expected = base["fwps_layer"] + DISCARD_SUFFIX
    if fwps_layer != expected:
        raise fail(f"{where}: expected discard variant {expected}")
    fwpm_layer = base["fwpm_layer"] + DISCARD_SUFFIX
    if fwpm_layer not in entry["fwpm_layers"]:
        raise fail(f"{where}: {fwpm_layer} not listed in the reference's fwpm_layers")
    suffixes = entry.get("metadata_discard", {}).get(fwps_layer, entry["metadata"])
    layer = dict(base)
    layer.update(
        {
            "name": strip_prefix(fwps_layer, FWPS_LAYER_PREFIX, where).lower(),
            "fwps_layer": fwps_layer,
            "fwps_layer_index": layer_index(entry, fwps_layer, where),
            "fwpm_layer": fwpm_layer,
            "fwpm_layer_guid": layer_guid(ctx, fwpm_layer, where),
            "base": base["name"],
            "discard": True,
            "can_block": False,
            "metadata": build_metadata_list(ctx, suffixes, where),
        }
    )
    return layer


def build_layers(ctx: Reference) -> list[JsonObj]:
    """All base layers plus their _DISCARD variants, sorted by name."""
    layers: list[JsonObj] = []
    for key in BASE_LAYERS:
        base = build_base_layer(ctx, key)
        layers.append(base)
        entry = ctx.ref["layers"][key]
        for variant in entry["discard_variants"]:
            layers.append(build_discard_layer(ctx, base, entry, variant))
    names = [layer["name"] for layer in layers]
    if len(set(names)) != len(names):
        raise fail("duplicate layer names")
    return sorted(layers, key=lambda layer: str(layer["name"]))


# --------------------------------------------------------------------------- metadata


def build_metadata(ctx: Reference) -> list[JsonObj]:
    """metadata.json: one object per FWPS_METADATA_FIELD_* flag, sorted by name."""
    values: Mapping[str, object] = ctx.consts["fwps_metadata_fields"]
    items: list[JsonObj] = []
    for raw in ctx.ref["metadata_fields"]:
        flag = raw["flag"]
        where = f"metadata {flag}"
        if flag not in values:
            raise fail(f"{where}: no value in {CONSTANTS_FILE} fwps_metadata_fields")
        items.append(
            {
                "name": strip_prefix(flag, METADATA_PREFIX, where).lower(),
                "flag": flag,
                "flag_value": parse_hex(values[flag], where),
                "member": raw.get("member"),
                "c_type": raw.get("type"),
                "min_windows": map_version(ctx, raw.get("min_windows"), PAGE_DEFAULT_WHEN_ABSENT, where),
                "description": raw["description"],
            }
        )
    names = [item["name"] for item in items]
    if len(set(names)) != len(names):
        raise fail("duplicate metadata field names")
    return sorted(items, key=lambda item: str(item["name"]))


# --------------------------------------------------------------------------- names


def add_names(names: dict[str, str], new: Iterable[str], status: str) -> None:
    """Add identifiers with a status; an identifier already present keeps its first status."""
    for name in new:
        names.setdefault(name, status)


def struct_names(consts: JsonObj) -> list[str]:
    """Struct/union names of struct_layouts, without windows-rs anonymous-union names.

    windows-rs names an anonymous union ``<STRUCT>_0``; C code cannot spell it.
    """
    kinds: Mapping[str, str] = consts["struct_kinds"]
    result = []
    for name in consts["struct_layouts"]:
        parent = re.sub(r"_\d+$", "", name)
        if kinds.get(name) == "union" and parent != name and parent in kinds:
            continue
        result.append(name)
    return result


def callout_api_names(ref: JsonObj) -> list[str]:
    """Every name listed in the reference's callout_api_versions entries."""
    return [item["name"] for items in ref["callout_api_versions"].values() for item in items]


PROTOTYPE_NAME = re.compile(r"\b(?:FWPS|FWPM|FWP)_[A-Z0-9_]+\b")
PROTOTYPE_STATUS = "callout_api_prototype"
# Names Microsoft documents on pages the reference records only as prose; each with its page.
CURATED_NAMES: dict[str, str] = {
    # wdk-ddi-src/content/fwpsk/ns-fwpsk-fwps_incoming_metadata_values0_.md: "use the
    # FWPS_IS_METADATA_FIELD_PRESENT macro" to test currentMetadataValues before reading a member.
    "FWPS_IS_METADATA_FIELD_PRESENT": "curated_fwps_incoming_metadata_values0_page",
}


def prototype_names(ref: JsonObj) -> list[str]:
    """FWP* type names used in the documented prototypes of the callout API pages."""
    found: set[str] = set()
    for items in ref["callout_api_versions"].values():
        for item in items:
            found.update(PROTOTYPE_NAME.findall(item.get("prototype") or ""))
    return sorted(found)


def build_wdk_names(ctx: Reference) -> dict[str, str]:
    """wdk_names.json: identifier -> status for every name generated code may use."""
    names: dict[str, str] = {}
    for name, info in sorted(ctx.ref["name_index"].items()):
        if info["status"] in WDK_NAME_STATUSES:
            names[name] = info["status"]
    for section in CONSTANT_NAME_SECTIONS:
        add_names(names, sorted(ctx.consts[section]), WINDOWS_METADATA_STATUS)
    add_names(names, sorted(struct_names(ctx.consts)), WINDOWS_METADATA_STATUS)
    add_names(names, sorted(ctx.consts["type_aliases"]), WINDOWS_METADATA_STATUS)
    add_names(names, sorted(ctx.consts["functions"]), WINDOWS_METADATA_STATUS)
    add_names(names, callout_api_names(ctx.ref), CALLOUT_API_STATUS)
    add_names(names, prototype_names(ctx.ref), PROTOTYPE_STATUS)
    for name, status in sorted(CURATED_NAMES.items()):
        add_names(names, [name], status)
    return names


def build_condition_flags(ctx: Reference) -> dict[str, JsonObj]:
    """condition_flags.json: FWP_CONDITION_FLAG_* (windows metadata value, else MinGW)."""
    constants: Mapping[str, object] = ctx.consts["other_constants"]
    index: Mapping[str, JsonObj] = ctx.ref["name_index"]
    names = {n for n in constants if n.startswith(CONDITION_FLAG_PREFIX)}
    names |= {n for n in index if n.startswith(CONDITION_FLAG_PREFIX)}
    flags: dict[str, JsonObj] = {}
    for name in sorted(names):
        raw = constants[name] if name in constants else index[name].get("mingw_value")
        if raw is None:
            raise fail(f"condition flag {name}: no value anywhere")
        key = strip_prefix(name, CONDITION_FLAG_PREFIX, name).lower()
        flags[key] = {"name": name, "value": parse_hex(raw, name)}
    return flags


# --------------------------------------------------------------------------- output


def dump(obj: object) -> str:
    """The canonical text of a data file."""
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_outputs(out: Path, files: Mapping[str, object]) -> None:
    """Write each data file under ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, obj in files.items():
        (out / name).write_text(dump(obj), encoding="utf-8", newline="\n")


def summary(files: Mapping[str, Any]) -> list[str]:
    """Human-readable counts of what was written."""
    layers = files["layers.json"]
    discard = sum(1 for layer in layers if layer["discard"])
    base_fields = sum(len(layer["fields"]) for layer in layers if not layer["discard"])
    all_fields = sum(len(layer["fields"]) for layer in layers)
    return [
        f"layers: {len(layers)} ({len(layers) - discard} base + {discard} discard variants)",
        f"fields: {base_fields} in base layers ({all_fields} counting discard variants)",
        f"metadata items: {len(files['metadata.json'])}",
        f"versions: {len(files['versions.json'])}",
        f"condition flags: {len(files['condition_flags.json'])}",
        f"wdk names: {len(files['wdk_names.json'])}",
    ]


def build_all(ctx: Reference) -> dict[str, Any]:
    """Every data file, keyed by file name."""
    return {
        "layers.json": build_layers(ctx),
        "metadata.json": build_metadata(ctx),
        "versions.json": build_versions(),
        "wdk_names.json": build_wdk_names(ctx),
        "condition_flags.json": build_condition_flags(ctx),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--reference",
        type=Path,
        default=DEFAULT_REFERENCE,
        help="folder holding wfp_reference.json and wfp_constants.json",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: wfpgen/catalog/data)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the catalog data files and print a count summary."""
    args = parse_args(argv)
    files = build_all(open_reference(args.reference))
    write_outputs(args.out, files)
    print(f"wrote {len(files)} files to {args.out}")
    for line in summary(files):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
