#!/usr/bin/env python3
"""Derive the packaged WFP catalog (``wfpgen/catalog/data/*.json``) from the reference.

Usage::

    python scripts/build_catalog.py [--reference DIR] [--facts FILE] [--out DIR] [--verbose]

``--reference`` defaults to ``shared/reference`` beside the repository (it holds
``wfp_reference.json`` and ``wfp_constants.json``, see its NOTES.md); ``--out``
defaults to ``wfpgen/catalog/data`` inside the repository.  The package itself
never reads the reference: it loads only the files written here.

``--facts`` (default ``wfpgen/catalog/data/wdk_facts.json``, committed, written by
``scripts/extract_wdk_facts.py`` from Microsoft's WDK headers) overrides the reference
wherever the two disagree: each layer's ``FWPS_LAYER_*`` value, ``FWPM_LAYER_*`` GUID and
gate; each field enum's members, order, indexes and gates and its alias macros; condition
GUIDs (an alias macro such as ``FWPM_CONDITION_ICMP_TYPE`` resolves to its target's GUID);
metadata flag values and gates (the later of the flag's and its member's); condition flag
values.  Names the documentation has and the header lacks are dropped (fields, conditions,
aliases, metadata and condition flags, and ``wdk_names.json`` entries of the families the
facts cover) and printed; ``--verbose`` prints every value the header corrected.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JsonObj = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
DEFAULT_OUT = REPO_ROOT / "wfpgen" / "catalog" / "data"
DEFAULT_FACTS = REPO_ROOT / "wfpgen" / "catalog" / "data" / "wdk_facts.json"
FACTS_FORMAT = 1

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
    facts: HeaderFacts
    log: HeaderLog


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


def open_reference(directory: Path, facts: Path = DEFAULT_FACTS) -> Reference:
    """Load the reference folder and the header facts, and build the shared lookups."""
    ref = load_json(directory / REFERENCE_FILE)
    consts = load_json(directory / CONSTANTS_FILE)
    return Reference(
        ref=ref,
        consts=consts,
        version_by_raw=version_lookup(),
        type_by_member=member_types(ref),
        facts=open_facts(facts),
        log=HeaderLog(),
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


# --------------------------------------------------------------------------- header facts


@dataclass
class HeaderLog:
    """What the header facts changed: names dropped, values and gates corrected."""

    dropped: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    def correct(self, what: str, doc: object, header: object) -> None:
        """Record that the header's ``header`` replaced the reference's ``doc`` for ``what``."""
        if doc != header:
            self.corrected.append(f"{what}: reference {doc}, header {header}")


# Prefixes of the identifier families the header facts list completely; a wdk_names.json
# entry of such a family that the header lacks is a documentation-only name.
FACT_FAMILIES: tuple[str, ...] = (
    "FWPS_LAYER_",
    "FWPS_FIELD_",
    "FWPS_FIELDS_",
    "FWPM_LAYER_",
    "FWPM_CONDITION_",
    "FWPS_METADATA_FIELD_",
    "FWP_CONDITION_FLAG_",
    "FWP_CALLOUT_FLAG_",
)
# Macros of those prefixes that are not what the facts list (GUIDs, enumerators, flag bits).
NOT_FACT_FAMILIES: tuple[str, ...] = ("FWPM_LAYER_FLAG_",)


@dataclass(frozen=True)
class HeaderFacts:
    """The facts extracted from the WDK headers (wdk_facts.json) and lookups into them."""

    raw: JsonObj
    layers: Mapping[str, JsonObj]
    enums: Mapping[str, JsonObj]
    member_gates: Mapping[str, str | None]
    names: frozenset[str]

    def later(self, *gates: str | None, where: str) -> str:
        """The newest of ``gates`` (version ids); a missing gate stops the build."""
        order = [spec["id"] for spec in VERSIONS]
        if any(gate not in order for gate in gates):
            raise fail(f"{where}: the header has it at no catalog version (gates {list(gates)})")
        return max((str(gate) for gate in gates), key=order.index)

    @staticmethod
    def value(entry: JsonObj, where: str) -> int:
        """An entry's value, which must not depend on NTDDI_VERSION."""
        if "value_changes" in entry or not isinstance(entry.get("value"), int):
            raise fail(f"{where}: the header's value depends on NTDDI_VERSION: {entry.get('value_changes')}")
        return int(entry["value"])

    def layer(self, fwps_layer: str, where: str) -> tuple[int, str]:
        """(value, gate) of an FWPS_LAYER_* member."""
        entry = self.layers.get(fwps_layer)
        if entry is None:
            raise fail(f"{where}: {fwps_layer} is not in the header's FWPS_BUILTIN_LAYERS")
        return self.value(entry, where), self.later(entry["gate"], where=where)

    def layer_guid(self, fwpm_layer: str, where: str) -> tuple[str, str]:
        """(GUID, gate) of an FWPM_LAYER_* GUID."""
        entry = self.raw["layer_guids"].get(fwpm_layer)
        if entry is None:
            raise fail(f"{where}: the header defines no GUID {fwpm_layer}")
        return str(entry["guid"]), self.later(entry["gate"], where=where)

    def enum(self, typedef: str, where: str) -> JsonObj:
        """The FWPS_FIELDS_* enum a typedef names."""
        entry = self.enums.get(typedef)
        if entry is None:
            raise fail(f"{where}: the header has no enum {typedef}")
        return entry

    def condition_guid(self, name: str) -> str | None:
        """The GUID of FWPM_CONDITION_*, through an alias macro if it is one; None if the header lacks it."""
        target = self.raw["guid_aliases"].get(name, {}).get("target", name)
        entry = self.raw["condition_guids"].get(target)
        return None if entry is None else str(entry["guid"])

    def covers(self, name: str) -> bool:
        """Whether ``name`` belongs to a family the facts list completely."""
        return name.startswith(FACT_FAMILIES) and not name.startswith(NOT_FACT_FAMILIES)


def open_facts(path: Path) -> HeaderFacts:
    """Load wdk_facts.json; it must have been extracted for exactly the catalog's versions."""
    raw = load_json(path)
    if raw.get("format") != FACTS_FORMAT:
        raise fail(f"{path}: format {raw.get('format')!r}, expected {FACTS_FORMAT}")
    expected = {spec["id"]: spec["hex"] for spec in VERSIONS}
    if raw.get("versions") != expected:
        raise fail(f"{path}: extracted for versions {raw.get('versions')}, the catalog has {expected}; "
                   "rerun scripts/extract_wdk_facts.py")
    layers = {m["name"]: m for m in raw["builtin_layers"]["members"]}
    enums: dict[str, JsonObj] = {}
    names: set[str] = set(layers)
    for tag, entry in raw["fields_enums"].items():
        for key in (tag, *entry["typedefs"]):
            enums[key] = entry
        names |= {tag, *entry["typedefs"], *(m["name"] for m in entry["members"]), *entry.get("aliases", {})}
    for section in ("layer_guids", "condition_guids", "guid_aliases", "metadata_fields", "condition_flags",
                    "callout_flags"):
        names |= set(raw[section])
    member_gates: dict[str, str | None] = {}
    for layout in raw["incoming_metadata_values0"]["layouts"]:
        for member in layout["members"]:
            member_gates.setdefault(member["name"], layout["gate"])
    return HeaderFacts(raw, layers, enums, member_gates, frozenset(names))


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


def condition_for(ctx: Reference, name: str | None, where: str) -> tuple[str | None, str | None]:
    """Return (FWPM_CONDITION name, lower-case GUID) if the header defines the condition.

    The header's GUID wins over the reference's; a name the reference gives a GUID and the
    header lacks is dropped; an alias macro of the header (FWPM_CONDITION_ICMP_TYPE) has
    its target's GUID.
    """
    if name is None:
        return None, None
    documented: str | None = ctx.consts["fwpm_condition_guids"].get(name)
    header = ctx.facts.condition_guid(name)
    if header is None:
        if documented is not None:
            ctx.log.dropped.append(f"{where}: condition {name} (not in the header)")
        return None, None
    if documented is None:
        ctx.log.added.append(f"{where}: condition {name} = {header} (header)")
    else:
        ctx.log.correct(f"{where}: {name} GUID", documented.lower(), header)
    return name, header


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
    condition, condition_guid = condition_for(ctx, raw.get("fwpm_condition"), where)
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


def header_only_field(member: str, prefix: str) -> JsonObj:
    """A field the header has and the reference does not: untyped, not extractable."""
    suffix = strip_prefix(member, prefix, member)
    return {
        "name": suffix.lower(),
        "member": member,
        "index": -1,
        "type": UNKNOWN_TYPE,
        "data_type": None,
        "extractable": False,
        "reserved": suffix.startswith("RESERVED"),
        "min_windows": PAGE_DEFAULT_WHEN_ABSENT,
        "condition": None,
        "condition_guid": None,
        "description": "Not documented; present in the WDK header.",
    }


def build_fields(ctx: Reference, key: str, entry: JsonObj, where: str) -> list[JsonObj]:
    """The members of a layer's enum as the header has them, in header order, without _MAX.

    Each takes its type, description and condition from the reference and its index and
    gate from the header; members only the reference documents are dropped.
    """
    prefix = entry["member_prefix"]
    if prefix != f"{FWPS_FIELD_PREFIX}{key}_":
        raise fail(f"{where}: unexpected member prefix {prefix!r}")
    page_default = page_default_version(entry.get("page_min_windows"), where)
    kept = [f for f in entry["fields"] if f.get("in_header_syntax") and not f.get("is_max_sentinel")]
    documented = {f["member"]: f for f in (build_field(ctx, f, prefix, page_default, where) for f in kept)}
    enum = ctx.facts.enum(entry["fields_enum"], where)
    fields: list[JsonObj] = []
    for member in enum["members"]:
        name = member["name"]
        if name == f"{prefix}MAX":
            continue
        if not name.startswith(prefix):
            raise fail(f"{where}: header member {name} lacks the prefix {prefix}")
        field_where = f"{where} field {name}"
        built = documented.pop(name, None)
        if built is None:
            built = header_only_field(name, prefix)
            ctx.log.added.append(f"{field_where} (header only)")
        index = ctx.facts.value(member, field_where)
        gate = ctx.facts.later(member["gate"], where=field_where)
        if built["index"] >= 0:
            ctx.log.correct(f"{field_where} index", built["index"], index)
        ctx.log.correct(f"{field_where} min_windows ({member['gate_ntddi']})", built["min_windows"], gate)
        built.update({"index": index, "min_windows": gate})
        fields.append(built)
    for name in sorted(documented):
        ctx.log.dropped.append(f"{where}: field {name} (not in the header's {entry['fields_enum']})")
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
    """The header's alias macros of the layer's enum (lower-case alias -> lower-case target).

    Documented aliases the header lacks are dropped; the header's target wins.
    """
    names = {f["name"] for f in fields}
    prefix = f"{FWPS_FIELD_PREFIX}{key}_"
    documented = {
        alias: target
        for alias, target in sorted(entry.get("aliases", {}).items())
        if ctx.ref["name_index"].get(f"{prefix}{alias}", {}).get("status") == ALIAS_STATUS
    }
    header = ctx.facts.enum(entry["fields_enum"], where).get("aliases", {})
    aliases: dict[str, str] = {}
    for macro, info in sorted(header.items()):
        alias = strip_prefix(macro, prefix, where)
        target = strip_prefix(info["target"], prefix, where)
        if target.lower() not in names:
            raise fail(f"{where}: alias {alias} targets missing field {target}")
        if alias.lower() in names:
            raise fail(f"{where}: alias {alias} shadows a real field")
        if alias in documented:
            ctx.log.correct(f"{where} alias {alias}", documented.pop(alias), target)
        else:
            ctx.log.added.append(f"{where}: alias {alias} -> {target} (header)")
        aliases[alias.lower()] = target.lower()
    for alias in sorted(documented):
        ctx.log.dropped.append(f"{where}: alias {prefix}{alias} (not in the header)")
    return aliases


def build_metadata_list(ctx: Reference, suffixes: Iterable[str], where: str) -> list[str]:
    """Lower-case, sorted, validated FWPS_METADATA_FIELD_ suffixes the header has."""
    known = {strip_prefix(m["flag"], METADATA_PREFIX, "metadata_fields") for m in ctx.ref["metadata_fields"]}
    unknown = sorted(set(suffixes) - known)
    if unknown:
        raise fail(f"{where}: unknown metadata fields {unknown}")
    header = ctx.facts.raw["metadata_fields"]
    return sorted({s.lower() for s in suffixes if METADATA_PREFIX + s in header})


def layer_guid(ctx: Reference, fwpm_layer: str, where: str) -> tuple[str, str]:
    """(lower-case GUID, gate) of an FWPM layer; the header's wins, and it must have one."""
    guid, gate = ctx.facts.layer_guid(fwpm_layer, where)
    documented = ctx.consts["fwpm_layer_guids"].get(fwpm_layer)
    ctx.log.correct(f"{where} {fwpm_layer} GUID", documented.lower() if isinstance(documented, str) else None, guid)
    return guid, gate


def layer_index(ctx: Reference, entry: JsonObj, fwps_layer: str, where: str) -> tuple[int, str]:
    """(FWPS_BUILTIN_LAYERS value, gate) of an FWPS layer, from the header.

    The reference's value (the documentation's rendering of the enum, without its #if
    blocks) is only compared.
    """
    index, gate = ctx.facts.layer(fwps_layer, where)
    documented = entry.get("fwps_layer_index_in_FWPS_BUILTIN_LAYERS_syntax", {}).get(fwps_layer)
    ctx.log.correct(f"{where} {fwps_layer} value", documented, index)
    return index, gate


def layer_fields(
    ctx: Reference, fwps_layer: str, fwpm_layer: str, entry: JsonObj, where: str
) -> dict[str, Any]:
    """fwps_layer_index, fwpm_layer_guid and min_windows (the later of the two names' gates)."""
    index, fwps_gate = layer_index(ctx, entry, fwps_layer, where)
    guid, fwpm_gate = layer_guid(ctx, fwpm_layer, where)
    return {
        "fwps_layer_index": index,
        "fwpm_layer_guid": guid,
        "min_windows": ctx.facts.later(fwps_gate, fwpm_gate, where=where),
    }


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
        "fwpm_layer": entry["fwpm_layer"],
        "fields_enum": entry["fields_enum"],
        "base": None,
        "family": family,
        "ip_version": layer_ip_version(key),
        "direction": layer_direction(key),
        "discard": False,
        "can_block": family not in NON_BLOCKING_FAMILIES,
        **layer_fields(ctx, entry["fwps_layer"], entry["fwpm_layer"], entry, where),
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
            "fwpm_layer": fwpm_layer,
            **layer_fields(ctx, fwps_layer, fwpm_layer, entry, where),
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
    """metadata.json: one object per FWPS_METADATA_FIELD_* flag the header has, sorted by name.

    The header's value wins; the gate is the later of the flag's and its member's in
    FWPS_INCOMING_METADATA_VALUES0. A flag the header lacks is dropped.
    """
    values: Mapping[str, object] = ctx.consts["fwps_metadata_fields"]
    header: Mapping[str, JsonObj] = ctx.facts.raw["metadata_fields"]
    items: list[JsonObj] = []
    for raw in ctx.ref["metadata_fields"]:
        flag = raw["flag"]
        where = f"metadata {flag}"
        if flag not in values:
            raise fail(f"{where}: no value in {CONSTANTS_FILE} fwps_metadata_fields")
        entry = header.get(flag)
        if entry is None:
            ctx.log.dropped.append(f"{where} (not in the header)")
            continue
        value = ctx.facts.value(entry, where)
        ctx.log.correct(f"{where} value", parse_hex(values[flag], where), value)
        member = raw.get("member")
        gates = [entry["gate"]]
        if member is not None:
            if member not in ctx.facts.member_gates:
                raise fail(f"{where}: member {member} is not in the header's FWPS_INCOMING_METADATA_VALUES0")
            gates.append(ctx.facts.member_gates[member])
        gate = ctx.facts.later(*gates, where=where)
        documented = map_version(ctx, raw.get("min_windows"), PAGE_DEFAULT_WHEN_ABSENT, where)
        ctx.log.correct(f"{where} min_windows", documented, gate)
        items.append(
            {
                "name": strip_prefix(flag, METADATA_PREFIX, where).lower(),
                "flag": flag,
                "flag_value": value,
                "member": member,
                "c_type": raw.get("type"),
                "min_windows": gate,
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
    for name in sorted(names):
        if ctx.facts.covers(name) and name not in ctx.facts.names:
            ctx.log.dropped.append(f"wdk name {name} ({names.pop(name)}; not in the header)")
    return names


def build_condition_flags(ctx: Reference) -> dict[str, JsonObj]:
    """condition_flags.json: FWP_CONDITION_FLAG_* the header has, with the header's values.

    The reference's value (windows metadata, else MinGW) is only compared.
    """
    constants: Mapping[str, object] = ctx.consts["other_constants"]
    index: Mapping[str, JsonObj] = ctx.ref["name_index"]
    header: Mapping[str, JsonObj] = ctx.facts.raw["condition_flags"]
    names = {n for n in constants if n.startswith(CONDITION_FLAG_PREFIX)}
    names |= {n for n in index if n.startswith(CONDITION_FLAG_PREFIX)}
    flags: dict[str, JsonObj] = {}
    for name in sorted(names):
        raw = constants[name] if name in constants else index[name].get("mingw_value")
        if raw is None:
            raise fail(f"condition flag {name}: no value anywhere")
        if name not in header:
            ctx.log.dropped.append(f"condition flag {name} (not in the header)")
            continue
        value = ctx.facts.value(header[name], name)
        ctx.log.correct(f"condition flag {name}", parse_hex(raw, name), value)
        key = strip_prefix(name, CONDITION_FLAG_PREFIX, name).lower()
        flags[key] = {"name": name, "value": value}
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


def report(log: HeaderLog, *, verbose: bool) -> list[str]:
    """What the header facts changed: every dropped and added name; corrections counted, or listed."""
    counts = f"{len(log.dropped)} names dropped, {len(log.added)} added, {len(log.corrected)} values corrected"
    lines = [f"header facts: {counts}"]
    lines += [f"  dropped {line}" for line in log.dropped]
    lines += [f"  added {line}" for line in log.added]
    if verbose:
        lines += [f"  corrected {line}" for line in log.corrected]
    return lines


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
        "--facts",
        type=Path,
        default=DEFAULT_FACTS,
        help="the WDK header facts (default: wfpgen/catalog/data/wdk_facts.json)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: wfpgen/catalog/data)"
    )
    parser.add_argument("--verbose", action="store_true", help="print every value the header corrected")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the catalog data files and print a count summary."""
    args = parse_args(argv)
    ctx = open_reference(args.reference, args.facts)
    files = build_all(ctx)
    write_outputs(args.out, files)
    print(f"wrote {len(files)} files to {args.out}")
    for line in summary(files):
        print(line)
    for line in report(ctx.log, verbose=args.verbose):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
