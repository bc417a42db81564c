"""The frozen intermediate model: every decision the templates need, made and tested here.

Templates only loop over and print what this module computes: identifiers, GUIDs, API
versions, C types and the ``FWP_VALUE0`` member each field is read from, filter
conditions, and the record layout (offsets, sizes, presence bits) that every sink and the
reader share.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Literal

from wfpgen import __version__
from wfpgen.catalog import Catalog, Field, MetadataItem
from wfpgen.catalog import Layer as CatalogLayer
from wfpgen.format import STYLE_FILE
from wfpgen.protocol import RECORD_HEADER_FORMAT, Channel, channel
from wfpgen.realheaders import ntddi_defines
from wfpgen.spec import SINK_KINDS
from wfpgen.validate import (
    BLOB_METADATA_TYPES,
    CURRENT_PROCESS_ID,
    SCALAR_METADATA_TYPES,
    Resolved,
    ResolvedCondition,
    ResolvedLayer,
    accounted,
)
from wfpgen.wdkfacts import metadata_offset

FORMAT_VERSION = 2  # 2: per-processor rings (Processor in the record header, RING fields in INFO)
HEADER_SIZE = 32
RECORD_ALIGNMENT = 8
# Fixed namespace for every derived GUID: the same driver name always yields the same keys.
GUID_NAMESPACE = uuid.UUID("6f1c7a52-3a0e-5b8e-9d4b-2f7e0c1a9b33")
WFPCALLOUTS_CLASS_GUID = "57465043-616C-6C6F-7574-5F636C617373"
CPP_PROJECT_TYPE_GUID = "8BC9CEB8-8B4A-11D0-8D11-00A0C91BC942"
# The WDK's TargetVersion: every target the current WDK builds for is "Windows10"; the
# release within Windows 10 and 11 is _NT_TARGET_VERSION (an NTDDI_* value of sdkddkver.h).
VS_TARGET_VERSION = "Windows10"
# The WDK and SDK NuGet packages (Microsoft.Windows.WDK.x64 and friends) the generated project
# restores when no WDK is installed: one pinned version for all five packages. 10.0.26100.3323 is
# the release "Install the WDK using NuGet" (learn.microsoft.com) names as the latest one.
WDK_NUGET_VERSION = "10.0.26100.3323"


@dataclass(frozen=True)
class Guid:
    """A GUID with every spelling the outputs need."""

    value: uuid.UUID

    @property
    def text(self) -> str:
        """Lower-case registry form without braces."""
        return str(self.value)

    @property
    def braced_upper(self) -> str:
        """``{XXXXXXXX-...}`` as Visual Studio and INF files write it."""
        return "{" + str(self.value).upper() + "}"

    @property
    def define_args(self) -> str:
        """The eleven ``DEFINE_GUID`` arguments after the name."""
        b = self.value.bytes
        head = f"0x{b[0:4].hex()}, 0x{b[4:6].hex()}, 0x{b[6:8].hex()}"
        return head + ", " + ", ".join(f"0x{x:02x}" for x in b[8:])


def derived_guid(driver: str, role: str) -> Guid:
    """A stable GUID for ``role`` of ``driver`` (uuid5 over a fixed namespace)."""
    return Guid(uuid.uuid5(GUID_NAMESPACE, f"{driver}/{role}"))


# -- the etw sink: TraceLogging ----------------------------------------------------------------

#: The namespace TraceLogging and .NET's EventSource hash a provider name under (the "ETW
#: name-hashing algorithm" of TRACELOGGING_DEFINE_PROVIDER's documentation).
ETW_NAME_NAMESPACE = bytes.fromhex("482C2DB2C39047C887F81A15BFC130FB")
#: Every event of the etw sink has this level: TRACE_LEVEL_INFORMATION of evntrace.h.
ETW_LEVEL = 4
ETW_LEVEL_C = "TRACE_LEVEL_INFORMATION"


def etw_provider_guid(name: str) -> uuid.UUID:
    """The provider GUID TraceLogging tools derive from ``name`` (what ``*Name`` enables): SHA-1 over the
    namespace's bytes and the upper-cased name in UTF-16BE, its first 16 bytes with version 5 set in the
    high nibble of byte 7, read as a GUID whose first three fields are little-endian."""
    digest = bytearray(hashlib.sha1(ETW_NAME_NAMESPACE + name.upper().encode("utf-16-be")).digest()[:16])
    digest[7] = (digest[7] & 0x0F) | 0x50
    return uuid.UUID(bytes_le=bytes(digest))


@dataclass(frozen=True)
class ApiVersion:
    """The callout API generation a target selects."""

    number: int
    callout_struct: str
    classify_type: str
    notify_type: str
    filter_type: str
    register_fn: str
    timestamp_fn: str


def api_version(target_rank: int, v3_rank: int) -> ApiVersion:
    """The version-3 callout API from Windows 10 1709 on, else version 2.

    fwpsk.h declares FWPS_CALLOUT3, FWPS_CALLOUT_CLASSIFY_FN3/NOTIFY_FN3 and FWPS_FILTER3 only
    from NTDDI_WIN10_RS3 (FwpsCalloutRegister3 from NTDDI_WIN10_RS2): a driver built for an
    older target registers version 2 (Windows 8 on), which every Windows 10 exports, so it
    loads from 1507 (LTSB 2015) on. KeQuerySystemTimePrecise exists from Windows 8 on.
    """
    n = 3 if target_rank >= v3_rank else 2
    return ApiVersion(n, f"FWPS_CALLOUT{n}", f"FWPS_CALLOUT_CLASSIFY_FN{n}", f"FWPS_CALLOUT_NOTIFY_FN{n}",
                      f"FWPS_FILTER{n}", f"FwpsCalloutRegister{n}", "KeQuerySystemTimePrecise")


# -- record items ----------------------------------------------------------------------------

_FIELD_SLOTS: dict[str, tuple[str, int, int, str]] = {
    # type: (C type, size, alignment, struct format)
    "uint8": ("UINT8", 1, 1, "B"),
    "uint16": ("UINT16", 2, 2, "H"),
    "uint32": ("UINT32", 4, 4, "I"),
    "uint64": ("UINT64", 8, 8, "Q"),
    "byteArray16": ("UINT8", 16, 8, "16s"),
    "byteBlob": ("WFPGEN_BLOB_REF", 4, 2, "HH"),
    "sid": ("WFPGEN_BLOB_REF", 4, 2, "HH"),
}
_READERS = {
    "uint8": "Uint8",
    "uint16": "Uint16",
    "uint32": "Uint32",
    "uint64": "Uint64",
    "byteArray16": "Array16",
    "byteBlob": "Blob",
    "sid": "Sid",
}
_DATA_TYPES = {
    "uint8": "FWP_UINT8",
    "uint16": "FWP_UINT16",
    "uint32": "FWP_UINT32",
    "uint64": "FWP_UINT64",
    "byteArray16": "FWP_BYTE_ARRAY16_TYPE",
    "byteBlob": "FWP_BYTE_BLOB_TYPE",
    "sid": "FWP_SID",
}
Display = Literal["decimal", "hex", "ipv4", "ipv6", "port", "protocol", "flags", "direction", "utf16", "sid", "bytes",
                  "attribution", "time", "flow_end"]
DISPLAY_KINDS: tuple[Display, ...] = ("decimal", "hex", "ipv4", "ipv6", "port", "protocol", "flags", "direction",
                                      "utf16", "sid", "bytes", "attribution", "time", "flow_end")
# flow_attribution: where a packet's process data came from (flows.attribution), as the reader names it.
FLOW_ATTRIBUTION = "flow_attribution"
ATTRIBUTION_NAMES = ("flow", "no_context", "no_flow")  # values 0, 1, 2
# end_reason of a flow record (flows.accounting): why it was written. Flows still open at unload
# are not reported: no reader holds the device open while a driver unloads.
FLOW_END_NAMES = ("ended", "interval")  # values 0, 1
# What a flow record holds besides its 5-tuple and process, as (name, C type, size, struct format, display):
# filled when the flow reports, from the counters its context keeps.
FLOW_REPORT_ITEMS: tuple[tuple[str, str, int, str, Display], ...] = (
    ("packets_in", "UINT64", 8, "Q", "decimal"),
    ("packets_out", "UINT64", 8, "Q", "decimal"),
    ("bytes_in", "UINT64", 8, "Q", "decimal"),  # transport payload bytes: what the applications exchanged
    ("bytes_out", "UINT64", 8, "Q", "decimal"),
    ("first_seen", "UINT64", 8, "Q", "time"),  # the flow's ALE_FLOW_ESTABLISHED event
    ("last_seen", "UINT64", 8, "Q", "time"),  # its last packet counted (first_seen before any)
    ("end_reason", "UINT32", 4, "I", "flow_end"),
)
# The 5-tuple and direction of a flow record, read at ALE_FLOW_ESTABLISHED_V4/V6.
FLOW_FIELDS = ("ip_protocol", "ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port", "direction")


def _display(name: str, value_type: str) -> Display:
    if value_type == "byteArray16":
        return "ipv6" if "address" in name else "bytes"
    if value_type == "sid":
        return "sid"
    if value_type == "byteBlob":
        return "utf16" if name in ("ale_app_id", "process_path") else "bytes"
    if "address" in name and value_type == "uint32":
        return "ipv4"
    if name.endswith("_port"):
        return "port"
    if name == "ip_protocol":
        return "protocol"
    if name == "flags":
        return "flags"
    if name in ("direction", "packet_direction"):
        return "direction"
    if "handle" in name or name == "token":
        return "hex"
    return "decimal"


def camel(name: str) -> str:
    """``ip_local_address`` -> ``IpLocalAddress``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


@dataclass(frozen=True)
class RecordItem:
    """One recorded value: where it comes from, where it lives in the record, how it is shown."""

    name: str
    c_name: str
    bit: int
    offset: int
    size: int
    c_type: str
    array_length: int  # 16 for address arrays, else 0
    source: Literal["field", "metadata", "process", "flow", "attribution", "report"]
    reader: str  # suffix of the C helper that copies it (WfpgenRead<reader>)
    field_member: str | None  # FWPS_FIELD_* enum member
    data_type: str | None  # FWP_DATA_TYPE expected in FWP_VALUE0.type
    value_member: str | None  # FWP_VALUE0 union member
    meta_flag: str | None  # FWPS_METADATA_FIELD_*
    meta_member: str | None  # FWPS_INCOMING_METADATA_VALUES0 member
    display: Display
    struct_format: str
    blob_index: int  # index among the record's blobs, -1 when not a blob
    field_index: int = -1  # FWPS_FIELD_* value (catalog, checked against the WDK headers); -1 for metadata
    meta_flag_value: int = 0  # FWPS_METADATA_FIELD_* value; 0 for fields
    meta_offset: int | None = None  # x64 offset of meta_member in FWPS_INCOMING_METADATA_VALUES0 (WDK headers)

    @property
    def is_blob(self) -> bool:
        """Whether the value lives in the record's variable tail."""
        return self.blob_index >= 0

    @property
    def upper_name(self) -> str:
        """The name in upper case, as C constants spell it (``PROCESS_ID``)."""
        return self.name.upper()

    @property
    def c_declaration(self) -> str:
        """The struct member declaration, without the semicolon."""
        suffix = f"[{self.array_length}]" if self.array_length else ""
        return f"{self.c_type} {self.c_name}{suffix}"

    @property
    def blob_slot(self) -> int:
        """The blob index, or 255 (the C tables' "not a blob")."""
        return self.blob_index if self.is_blob else 255

    @property
    def target_arg(self) -> str:
        """The C argument naming this value's slot in a local ``record`` (arrays decay)."""
        return f"record.{self.c_name}" if self.array_length else f"&record.{self.c_name}"

    @property
    def pointer_target_arg(self) -> str:
        """The C argument naming this value's slot in ``*record`` (arrays decay)."""
        return f"record->{self.c_name}" if self.array_length else f"&record->{self.c_name}"

    @property
    def display_enum(self) -> str:
        """The C enumerator of this value's display kind."""
        return f"WFPGEN_DISPLAY_{self.display.upper()}"

    @property
    def present_mask(self) -> str:
        """The C constant of this value's presence bit."""
        return f"0x{1 << self.bit:08x}u"

    @property
    def label_c(self) -> str:
        """The value's name as a C string literal (it is a catalog identifier: safe)."""
        return f'"{self.name}"'

    @property
    def comment(self) -> str:
        """What the member holds, for the header's comments."""
        return f"bit {self.bit}: {self.name}" + (f", blob {self.blob_index}" if self.is_blob else "")


@dataclass(frozen=True)
class Padding:
    """Explicit padding, so the C struct and the decoder agree byte for byte."""

    c_name: str
    offset: int
    size: int

    @property
    def c_declaration(self) -> str:
        """The struct member declaration, without the semicolon."""
        return f"UINT8 {self.c_name}[{self.size}]"

    @property
    def comment(self) -> str:
        """What the member holds, for the header's comments."""
        return "padding, always zero"


@dataclass(frozen=True)
class RecordLayout:
    """The fixed part of one layer's record; blobs follow it as a bounded tail."""

    type_name: str
    members: tuple[RecordItem | Padding, ...]  # in offset order, for the C struct
    items: tuple[RecordItem, ...]  # in presence-bit order
    size: int
    blob_count: int
    max_size: int  # fixed part plus every blob at its maximum, rounded up to 8

    @property
    def struct_format(self) -> str:
        """``struct`` format of the whole fixed part, header included, padding as ``x``."""
        parts = [RECORD_HEADER_FORMAT]
        for member in self.members:
            parts.append(f"{member.size}x" if isinstance(member, Padding) else member.struct_format)
        return "".join(parts)

    @property
    def value_items(self) -> tuple[RecordItem, ...]:
        """The items in offset order: the order ``struct_format`` yields their values in."""
        return tuple(m for m in self.members if isinstance(m, RecordItem))

    @property
    def blobs(self) -> tuple[RecordItem, ...]:
        """The blob items in blob-index order."""
        return tuple(i for i in self.items if i.is_blob)

    @property
    def field_scalars(self) -> tuple[RecordItem, ...]:
        """Incoming values copied into the fixed part."""
        return tuple(i for i in self.items if i.source == "field" and not i.is_blob)

    @property
    def field_blobs(self) -> tuple[RecordItem, ...]:
        """Incoming values that go to the tail (byte blobs, SIDs)."""
        return tuple(i for i in self.items if i.source == "field" and i.is_blob)

    @property
    def meta_scalars(self) -> tuple[RecordItem, ...]:
        """Metadata members copied into the fixed part."""
        return tuple(i for i in self.items if i.source == "metadata" and not i.is_blob)

    @property
    def meta_blobs(self) -> tuple[RecordItem, ...]:
        """Metadata byte blobs (the process path) that go to the tail."""
        return tuple(i for i in self.items if i.source == "metadata" and i.is_blob)

    @property
    def process_items(self) -> tuple[RecordItem, ...]:
        """Values taken from the current process (current_process_id)."""
        return tuple(i for i in self.items if i.source == "process")

    @property
    def flow_scalars(self) -> tuple[RecordItem, ...]:
        """Process data copied from the flow context (flows.attribution): the process id."""
        return tuple(i for i in self.items if i.source == "flow" and not i.is_blob)

    @property
    def flow_blobs(self) -> tuple[RecordItem, ...]:
        """Process data referenced in the flow context: the process path."""
        return tuple(i for i in self.items if i.source == "flow" and i.is_blob)

    @property
    def attribution(self) -> RecordItem | None:
        """The flow_attribution item of a layer that takes process data from its flow."""
        return next((i for i in self.items if i.source == "attribution"), None)

    @property
    def report_items(self) -> tuple[RecordItem, ...]:
        """A flow record's counters, timestamps and end reason: filled when the flow reports."""
        return tuple(i for i in self.items if i.source == "report")

    @property
    def uses_metadata(self) -> bool:
        """Whether classify reads FWPS_INCOMING_METADATA_VALUES0 (flow attribution looks for a flow handle)."""
        return any(i.source in ("metadata", "attribution") for i in self.items)

    @property
    def blob_ref_offsets_init(self) -> str:
        """C initializer: offset of each blob's WFPGEN_BLOB_REF in the record (at least one element)."""
        return "{" + ", ".join(str(i.offset) for i in self.blobs or ()) + ("0" if not self.blobs else "") + "}"

    @property
    def blob_masks_init(self) -> str:
        """C initializer: the presence/truncation bit of each blob (at least one element)."""
        masks = [f"0x{1 << i.bit:08x}u" for i in self.blobs]
        return "{" + (", ".join(masks) if masks else "0") + "}"

    @property
    def blob_array_length(self) -> int:
        """Length of the classify function's blob-source array (C forbids zero-length arrays)."""
        return max(1, self.blob_count)


def _field_item(field: Field, bit: int) -> tuple[RecordItem, int]:
    c_type, size, align, fmt = _FIELD_SLOTS[field.type]
    item = RecordItem(
        name=field.name, c_name=camel(field.name), bit=bit, offset=0, size=size, c_type=c_type,
        array_length=16 if field.type == "byteArray16" else 0, source="field", reader=_READERS[field.type],
        field_member=field.member, data_type=_DATA_TYPES[field.type], value_member=field.type, meta_flag=None,
        meta_member=None, display=_display(field.name, field.type), struct_format=fmt, blob_index=-1,
        field_index=field.index,
    )
    return item, align


def _flow_item(name: str, bit: int) -> tuple[RecordItem, int]:
    """process_id or process_path taken from the flow's establishing event, or flow_attribution."""
    if name == "process_path":
        return RecordItem(name, camel(name), bit, 0, 4, "WFPGEN_BLOB_REF", 0, "flow", "FlowBlob", None, None, None,
                          None, None, "utf16", "HH", -1), 2
    if name == FLOW_ATTRIBUTION:
        return RecordItem(name, camel(name), bit, 0, 4, "UINT32", 0, "attribution", "Attribution", None, None, None,
                          None, None, "attribution", "I", -1), 4
    assert name == "process_id"
    return RecordItem(name, camel(name), bit, 0, 8, "UINT64", 0, "flow", "FlowScalar", None, None, None, None, None,
                      "decimal", "Q", -1), 8


def _metadata_item(name: str, meta: MetadataItem | None, bit: int) -> tuple[RecordItem, int]:
    if meta is None:
        assert name == CURRENT_PROCESS_ID
        item = RecordItem(name, camel(name), bit, 0, 8, "UINT64", 0, "process", "CurrentProcessId", None, None,
                          None, None, None, "decimal", "Q", -1)
        return item, 8
    if meta.c_type in BLOB_METADATA_TYPES:
        item = RecordItem(name, camel(name), bit, 0, 4, "WFPGEN_BLOB_REF", 0, "metadata", "MetaBlob", None, None,
                          None, meta.flag, meta.member, _display(name, "byteBlob"), "HH", -1,
                          meta_flag_value=meta.flag_value, meta_offset=metadata_offset(meta.member or ""))
        return item, 2
    size = SCALAR_METADATA_TYPES[meta.c_type or ""]
    c_type, fmt = {8: ("UINT64", "Q"), 4: ("UINT32", "I"), 2: ("UINT16", "H")}[size]
    item = RecordItem(name, camel(name), bit, 0, size, c_type, 0, "metadata", f"Meta{camel(c_type.lower())}", None,
                      None, None, meta.flag, meta.member, _display(name, c_type.lower()), fmt, -1,
                      meta_flag_value=meta.flag_value, meta_offset=metadata_offset(meta.member or ""))
    return item, size


def record_layout(type_name: str, layer: ResolvedLayer, max_blob: int) -> RecordLayout:
    """Lay out ``layer``'s record: header, then values by decreasing alignment, then explicit padding."""
    raw: list[tuple[RecordItem, int]] = [_field_item(f, i) for i, f in enumerate(layer.fields)]
    base = len(raw)
    raw += [_flow_item(n, base + i) if n in layer.from_flow else _metadata_item(n, m, base + i)
            for i, (n, m) in enumerate(zip(layer.metadata_names, layer.metadata))]
    if layer.from_flow:
        raw.append(_flow_item(FLOW_ATTRIBUTION, len(raw)))
    return _place(type_name, raw, max_blob)


def flow_record_layout(type_name: str, established: CatalogLayer, max_blob: int) -> RecordLayout:
    """Lay out a flow record (flows.accounting): the 5-tuple and direction as ``established`` (an
    ALE_FLOW_ESTABLISHED layer) gives them, the process, then the counters the flow reports."""
    by_name = {f.name: f for f in established.fields}
    raw = [_field_item(by_name[name], i) for i, name in enumerate(FLOW_FIELDS)]
    raw += [_flow_item(name, len(raw) + i) for i, name in enumerate(("process_id", "process_path"))]
    for name, c_type, size, fmt, display in FLOW_REPORT_ITEMS:
        raw.append((RecordItem(name, camel(name), len(raw), 0, size, c_type, 0, "report", "Report", None, None, None,
                               None, None, display, fmt, -1), size))
    return _place(type_name, raw, max_blob)


def _place(type_name: str, raw: list[tuple[RecordItem, int]], max_blob: int) -> RecordLayout:
    """Header, then ``raw``'s values by decreasing alignment, then explicit padding; blobs numbered."""
    blob_index = 0
    numbered: list[tuple[RecordItem, int]] = []
    for item, align in raw:
        if item.struct_format == "HH":
            item = dataclasses.replace(item, blob_index=blob_index)
            blob_index += 1
        numbered.append((item, align))
    ordered = sorted(numbered, key=lambda pair: -pair[1])  # stable: declaration order within an alignment
    members: list[RecordItem | Padding] = []
    placed: dict[int, RecordItem] = {}
    offset = HEADER_SIZE
    for item, align in ordered:
        gap = (-offset) % align
        if gap:
            members.append(Padding(f"Reserved{offset}", offset, gap))
            offset += gap
        item = dataclasses.replace(item, offset=offset)
        members.append(item)
        placed[item.bit] = item
        offset += item.size
    tail = (-offset) % RECORD_ALIGNMENT
    if tail:
        members.append(Padding(f"Reserved{offset}", offset, tail))
        offset += tail
    items = tuple(placed[bit] for bit in sorted(placed))
    max_size = offset + blob_index * max_blob
    max_size += (-max_size) % RECORD_ALIGNMENT
    return RecordLayout(type_name, tuple(members), items, offset, blob_index, max_size)


# -- conditions ------------------------------------------------------------------------------

_MATCH_TYPES = {
    "equal": "FWP_MATCH_EQUAL",
    "not_equal": "FWP_MATCH_NOT_EQUAL",
    "greater": "FWP_MATCH_GREATER",
    "greater_or_equal": "FWP_MATCH_GREATER_OR_EQUAL",
    "less": "FWP_MATCH_LESS",
    "less_or_equal": "FWP_MATCH_LESS_OR_EQUAL",
    "range": "FWP_MATCH_RANGE",
    "flags_all_set": "FWP_MATCH_FLAGS_ALL_SET",
    "flags_any_set": "FWP_MATCH_FLAGS_ANY_SET",
    "flags_none_set": "FWP_MATCH_FLAGS_NONE_SET",
}


@dataclass(frozen=True)
class ConditionModel:
    """One ``FWPM_FILTER_CONDITION0``, as the data of a generic builder in the driver."""

    field_key: str  # FWPM_CONDITION_*
    match_type: str  # FWP_MATCH_*
    data_type: str  # FWP_DATA_TYPE of the condition value
    range_type: str  # FWP_DATA_TYPE of each range bound (FWP_EMPTY unless a range)
    low: str
    high: str
    prefix: int
    bytes_init: str  # C initializer of the 16 address bytes (the low bound of a v6 range)
    bytes_high_init: str  # C initializer of the high bound of a v6 range (zeros otherwise)
    app_id: str  # C wide-string literal for ale_app_id, or NULL
    app_id_bytes: int  # size of the application id blob, terminating NUL included
    comment: str
    # For checks that evaluate conditions without C, and ci/wdk_assumptions.c: the parsed value.
    field_name: str
    kind: str
    match: str = "equal"
    field_guid: str = ""  # the FWPM_CONDITION_* GUID, lower case
    low_value: int = 0
    high_value: int = 0
    data: bytes = b""
    text: str = ""
    data_high: bytes = b""

    @property
    def field_guid_args(self) -> str:
        """The condition GUID as the eleven DEFINE_GUID arguments."""
        return Guid(uuid.UUID(self.field_guid)).define_args

    @property
    def summary_md(self) -> str:
        """``comment`` as Markdown text, for the generated README's layer table."""
        return markdown_text(self.comment)


_CONDITION_DATA_TYPES = {
    "int": None,  # the field's own type
    "flags": "FWP_UINT32",
    "range": "FWP_RANGE_TYPE",
    "v4": "FWP_UINT32",
    "v4_mask": "FWP_V4_ADDR_MASK",
    "v4_range": "FWP_RANGE_TYPE",
    "v6": "FWP_BYTE_ARRAY16_TYPE",
    "v6_mask": "FWP_V6_ADDR_MASK",
    "v6_range": "FWP_RANGE_TYPE",
    "app_id": "FWP_BYTE_BLOB_TYPE",
}


def _bytes_init(data: bytes) -> str:
    return "{" + ", ".join(f"0x{b:02x}" for b in (data or bytes(16))) + "}"


def _condition(c: ResolvedCondition) -> ConditionModel:
    assert c.field.condition is not None
    data_type = _CONDITION_DATA_TYPES[c.kind] or _DATA_TYPES.get(c.field.type, "FWP_UINT32")
    range_type = _DATA_TYPES[c.field.type] if c.kind in ("range", "v4_range", "v6_range") else "FWP_EMPTY"
    app_id = c_wide_literal(c.text) if c.kind == "app_id" else "NULL"
    comment = f"{c.field.name} {c.match} {_condition_text(c)}"
    app_id_bytes = (len(c.text) + 1) * 2 if c.kind == "app_id" else 0
    return ConditionModel(c.field.condition, _MATCH_TYPES[c.match], data_type, range_type, f"{c.low}ULL",
                          f"{c.high}ULL", c.prefix, _bytes_init(c.data), _bytes_init(c.data_high), app_id,
                          app_id_bytes, c_comment(comment), c.field.name, c.kind, c.match,
                          c.field.condition_guid or "", c.low, c.high, c.data, c.text, c.data_high)


def _condition_text(c: ResolvedCondition) -> str:
    import ipaddress

    if c.kind == "range":
        return f"[{c.low}, {c.high}]"
    if c.kind == "v4_range":
        return f"[{ipaddress.IPv4Address(c.low)}, {ipaddress.IPv4Address(c.high)}]"
    if c.kind == "v6_range":
        return f"[{ipaddress.IPv6Address(c.data)}, {ipaddress.IPv6Address(c.data_high)}]"
    if c.kind in ("v4", "v4_mask"):
        text = str(ipaddress.IPv4Address(c.low))
        return text + (f"/{c.prefix}" if c.kind == "v4_mask" else "")
    if c.kind in ("v6", "v6_mask"):
        text = str(ipaddress.IPv6Address(c.data))
        return text + (f"/{c.prefix}" if c.kind == "v6_mask" else "")
    if c.kind in ("app_id", "flags"):
        return c.text
    return str(c.low)


# -- escaping for output contexts --------------------------------------------------------------

def c_wide_literal(text: str) -> str:
    """``L"..."`` with every character that could end or alter the literal escaped."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F and ch != "?":
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f'" L"\\x{code:04x}" L"')
        else:
            for unit in (0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)):
                out.append(f'" L"\\x{unit:04x}" L"')
    return 'L"' + "".join(out) + '"'


def c_narrow_literal(text: str) -> str:
    """``"..."`` holding ``text`` as plain data: printable ASCII with ``"``, ``\\`` and ``?`` (trigraphs)
    escaped; any other character becomes ``_``. Not for a printf-style format: see :func:`c_format_literal`."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            out.append("_")
    return '"' + "".join(out) + '"'


def c_format_literal(text: str) -> str:
    """A C string literal that a printf-style function (DbgPrintEx, RtlStringCbPrintfA, the host's
    vsnprintf) prints as ``text``: :func:`c_narrow_literal` with every ``%`` doubled, so no part of
    ``text`` is read as a conversion. Place it before the format's own conversions, e.g.
    ``DbgPrintEx(..., <literal> "failed: 0x%08X\\n", status)``."""
    return c_narrow_literal(text.replace("%", "%%"))


def c_comment(text: str) -> str:
    """Text safe inside a ``/* */`` or ``//`` comment."""
    cleaned = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text).replace("\\", "/")
    cleaned = cleaned.replace("*/", "* /").replace("/*", "/ *")
    while "??" in cleaned:  # no trigraphs: ??/ would be a backslash, ending a // comment's line early
        cleaned = cleaned.replace("??", "? ?")
    return cleaned


def xml_comment(text: str) -> str:
    """Text safe inside an XML (or HTML) comment: printable ASCII, no ``--``, no trailing ``-``."""
    cleaned = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text)
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "- -")
    return cleaned + " " if cleaned.endswith("-") else cleaned


def xml_text(text: str) -> str:
    """Text safe in XML element content and attribute values."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&apos;"))


def inf_string(text: str) -> str:
    """A quoted INF string value (``"`` doubled, ``%`` doubled, ASCII only)."""
    cleaned = "".join(ch if 0x20 <= ord(ch) < 0x7F else "_" for ch in text)
    return '"' + cleaned.replace('"', '""').replace("%", "%%") + '"'


def ps_single_quoted(text: str) -> str:
    """A PowerShell single-quoted literal: no expansion happens inside.

    PowerShell ends such a literal at any single quotation mark, the typographic ones included
    (U+2018, U+2019, U+201A, U+201B), so each of them is doubled like ``'``.
    """
    return "'" + "".join(ch * 2 if ch in "'\u2018\u2019\u201a\u201b" else ch for ch in text) + "'"


#: ASCII punctuation Markdown (CommonMark and GitHub's extensions) may read as markup: emphasis,
#: code, links and images, headings and setext underlines, lists, block quotes, tables, HTML and
#: entities, strikethrough, autolinks (``:`` and ``@``), footnotes (``^``).
_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()#+-.!<>|&~:@=^")


def markdown_text(text: str) -> str:
    """``text`` as Markdown that renders as exactly that text, inline or as a paragraph of its own.

    Markup punctuation is backslash-escaped. ``$`` becomes the entity ``&#36;``: GitHub reads
    ``$...$`` as math, and a backslash does not stop it everywhere GitHub renders Markdown. Leading
    and trailing spaces become ``&#32;``, or they would make an indented code block or a hard
    line break. Control and bidirectional characters never get here (the spec refuses them).
    """
    body = "".join("&#36;" if ch == "$" else "\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)
    stripped = body.lstrip(" ")
    lead = len(body) - len(stripped)
    core = stripped.rstrip(" ")
    trail = len(stripped) - len(core)
    return "&#32;" * lead + core + "&#32;" * trail


def python_literal(text: str) -> str:
    """A Python string literal of ``text`` in ASCII only (escapes for everything else), the same bytes
    on every Python version."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def argparse_text(text: str) -> str:
    """``text`` as an argparse ``description`` or ``epilog`` that is shown as written.

    argparse %-formats a description or epilog (with ``prog``) only when it contains ``%(prog)``,
    so every ``%`` is doubled exactly then: ``%(prog)s`` in a spec's description would otherwise
    be expanded, and ``%(x)s`` would crash ``--help`` with a KeyError. (A ``help`` string is
    %-formatted always; no spec text goes into one.)
    """
    return text.replace("%", "%%") if "%(prog)" in text else text


def pool_tag(name: str) -> tuple[int, str]:
    """A four-character pool tag derived from the driver name, as the number MSVC computes for 'abcd'."""
    letters = [c for c in name if c.isalnum()][:4]
    text = "".join(letters).ljust(4, "x")
    # Tools show the tag in memory order; a multi-character literal stores it reversed.
    return int.from_bytes(text.encode("ascii"), "little"), text


# -- layers and project --------------------------------------------------------------------------

_DIRECTION_BY_FAMILY = {"ale_auth_connect": "outbound", "ale_connect_redirect": "outbound",
                        "ale_auth_recv_accept": "inbound", "ale_auth_listen": "inbound"}


@dataclass(frozen=True)
class DbgPrintLine:
    """Which record items fill the tutorial's line ``[N] [pid] local:port -> remote:port``."""

    arrow: str
    pid: int  # item bit, -1 when the layer records no process id
    local_address: int
    local_port: int
    remote_address: int
    remote_port: int
    extras: tuple[int, ...]

    @property
    def extras_init(self) -> str:
        """C initializer of the extras array (at least one element)."""
        return "{" + ", ".join(str(bit) for bit in self.extras or (0,)) + "}"


@dataclass(frozen=True)
class LayerModel:
    """One hooked layer: callout, filter, conditions, record and classify function."""

    index: int
    name: str
    upper: str
    camel: str
    fwps_layer: str
    fwps_layer_index: int  # FWPS_BUILTIN_LAYERS value (catalog, checked against the WDK headers)
    fwpm_layer: str
    fwpm_layer_guid: str
    fields_enum: str
    ip_version: int
    direction: str | None
    callout_key: str
    callout_guid: Guid
    filter_key: str
    filter_guid: Guid
    classify_fn: str
    callout_name: str  # C wide literal
    callout_description: str  # C wide literal
    filter_name: str  # C wide literal
    action: str  # inspect | block
    filter_action: str  # FWP_ACTION_CALLOUT_INSPECTION | FWP_ACTION_CALLOUT_TERMINATING
    block_c: str  # TRUE | FALSE: what classify passes as its verdict
    conditions: tuple[ConditionModel, ...]
    record: RecordLayout
    line: DbgPrintLine
    flow_delete_c: str = "NULL"  # the callout's flowDeleteFn: the driver's when it reads flow contexts
    accounted: bool = False  # flows.accounting counts this layer's packets into their flows
    emits: bool = True  # classify writes a record per packet (flows.packets: false turns it off where accounted)

    @property
    def fwpm_layer_guid_args(self) -> str:
        """The layer GUID as the eleven DEFINE_GUID arguments."""
        return Guid(uuid.UUID(self.fwpm_layer_guid)).define_args

    @property
    def flow_attributed(self) -> bool:
        """Whether this layer's records take process data from the flow context."""
        return self.record.attribution is not None

    @property
    def record_title(self) -> str:
        """What the layer's records are, for comments."""
        return self.fwps_layer

    @property
    def reads_flow(self) -> bool:
        """Whether classify reads flowContext: for process data, for counting, or both."""
        return self.flow_attributed or self.accounted

    @property
    def reads_metadata(self) -> bool:
        """Whether classify reads FWPS_INCOMING_METADATA_VALUES0: for the record, or for the transport header
        size an outbound accounted layer takes off each packet."""
        return (self.emits and self.record.uses_metadata) or (self.accounted and not self.inbound)

    @property
    def classify_summary(self) -> str:
        """What classify does with a packet, for its comment."""
        record = f"record {self.record.type_name} ({self.record.size} bytes)"
        if not self.accounted:
            return record
        return ("counted into its flow, " + record) if self.emits else "counted into its flow, no record"

    @property
    def inbound(self) -> bool:
        """Whether the layer sees received traffic (what flows.accounting counts as _in)."""
        return self.direction == "inbound"


@dataclass(frozen=True)
class FlowRecordKind:
    """A flow record layout (flows.accounting): one per IP version of the accounted layers. Its records
    follow the hooked layers' in LayerIndex, so readers decode them like any other record."""

    index: int  # LayerIndex of its records: after the hooked layers
    name: str  # flow_v4 | flow_v6
    upper: str
    camel: str
    ip_version: int
    fwps_layer: str  # where its 5-tuple is read: FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4/V6
    fields_enum: str
    record: RecordLayout
    line: DbgPrintLine
    direction: str | None = None  # a flow goes both ways; its record says which way it was established
    emits: bool = True  # the driver writes these records (a hooked layer may not: flows.packets)

    @property
    def record_title(self) -> str:
        """What the kind's records are, for comments."""
        return f"flow record, its 5-tuple from {self.fwps_layer}"

    @property
    def report_values(self) -> tuple[tuple[RecordItem, str], ...]:
        """Each report item with the C expression flows.c fills it from (``Flow``, ``Reason``): the counters
        are taken and zeroed in one interlocked step, so every packet counts in exactly one record."""
        sources = {
            "packets_in": "(UINT64)InterlockedExchange64(&Flow->PacketsIn, 0)",
            "packets_out": "(UINT64)InterlockedExchange64(&Flow->PacketsOut, 0)",
            "bytes_in": "(UINT64)InterlockedExchange64(&Flow->BytesIn, 0)",
            "bytes_out": "(UINT64)InterlockedExchange64(&Flow->BytesOut, 0)",
            "first_seen": "Flow->FirstSeen",
            "last_seen": "(UINT64)Flow->LastSeen",
            "end_reason": "Reason",
        }
        return tuple((item, sources[item.name]) for item in self.record.report_items)

    @property
    def report_mask(self) -> str:
        """The presence bits of the report items: a flow record always has them."""
        mask = 0
        for item in self.record.report_items:
            mask |= 1 << item.bit
        return f"0x{mask:08x}u"


@dataclass(frozen=True)
class FlowTarget:
    """A packet layer whose callout gets a flow's context: its callout descriptor and run-time layer."""

    index: int  # index in the callout descriptors (the layer's index)
    fwps_layer: str
    name: str


@dataclass(frozen=True)
class EstablishingCallout:
    """The callout wfpgen adds at ALE_FLOW_ESTABLISHED_V4/V6 for flows.attribution: it captures the process
    into a flow context and associates it with the callout of every target layer of the same IP version."""

    index: int  # index in the callout descriptors, after the record layers
    name: str
    upper: str
    camel: str
    fwps_layer: str
    fwpm_layer: str
    fwpm_layer_guid: str
    ip_version: int
    callout_key: str
    callout_guid: Guid
    filter_key: str
    filter_guid: Guid
    classify_fn: str
    callout_name: str  # C wide literal
    callout_description: str  # C wide literal
    filter_name: str  # C wide literal
    targets: tuple[FlowTarget, ...]
    kind: FlowRecordKind | None = None  # the flow record it fills in each context (flows.accounting)
    action: str = "inspect"
    filter_action: str = "FWP_ACTION_CALLOUT_INSPECTION"
    conditions: tuple[ConditionModel, ...] = ()
    flow_delete_c: str = "NULL"


@dataclass(frozen=True)
class FlowsModel:
    """flows.attribution and flows.accounting: contexts, their pool and the callouts that fill and read them."""

    max_contexts: int
    path_capacity: int  # bytes of process path a context keeps: max_blob, all a sink records
    capture_process_id: bool
    capture_process_path: bool
    establishing: tuple[EstablishingCallout, ...]
    delete_fn: str  # the flowDeleteFn of every target callout
    context_type: str  # the C type of a flow context
    attribution: bool = False
    accounting: bool = False
    packets: bool = True  # per-packet records at the accounted layers
    interval_100ns: int = 0  # a flow reports at its first packet this long after its last report; 0: never
    kinds: tuple[FlowRecordKind, ...] = ()  # the flow record layouts, by IP version

    @property
    def interval_seconds(self) -> int:
        """flows.interval as the spec gives it."""
        return self.interval_100ns // 10_000_000


@dataclass(frozen=True)
class EtwField:
    """One TraceLogging field of an etw event: its name (the spec's value name), the wrapper macro that
    writes it, the TraceLogging in/out types that macro encodes, and the local it needs first."""

    name: str
    macro: str  # the TraceLoggingWrite argument, e.g. TraceLoggingPort(RtlUshortByteSwap(...), "ip_local_port")
    in_type: str  # TlgIn* (the header's enum TlgIn_t)
    out_type: str  # TlgOut* (TlgOutNULL: the in-type's default)
    local: str = ""  # a C declaration the macro reads (built from the record, on the stack), or ""


@dataclass(frozen=True)
class EtwEvent:
    """The TraceLogging event of one record kind: name, keyword bit and fields."""

    index: int  # the record kind's LayerIndex
    name: str  # the event name: the layer's (or flow record kind's) name
    layer_constant: str  # <NAME>_LAYER_<KIND>
    record_type: str
    write_fn: str
    keyword: int
    fields: tuple[EtwField, ...]
    has_blobs: bool

    @property
    def keyword_c(self) -> str:
        """The keyword as a C constant."""
        return f"0x{self.keyword:x}ULL"

    @property
    def keyword_text(self) -> str:
        """The keyword as tools take it (hexadecimal)."""
        return f"0x{self.keyword:x}"

    @property
    def locals(self) -> tuple[str, ...]:
        """The C declarations the fields read, in field order."""
        return tuple(f.local for f in self.fields if f.local)


@dataclass(frozen=True)
class EtwModel:
    """The etw sink's provider and events."""

    provider_name: str  # ASCII letters, digits, '_', '.', '-' (the spec checks it)
    provider_guid: Guid
    handle: str  # the TraceLoggingHProvider variable
    level: int
    level_c: str
    events: tuple[EtwEvent, ...]

    @property
    def provider_name_c(self) -> str:
        """The provider name as a C string literal."""
        return c_narrow_literal(self.provider_name)

    @property
    def provider_id_args(self) -> str:
        """The provider GUID as TRACELOGGING_DEFINE_PROVIDER's parenthesized eleven integers."""
        return "(" + self.provider_guid.define_args + ")"

    @property
    def provider_name_xml(self) -> str:
        """The provider name in XML text or an attribute."""
        return xml_text(self.provider_name)

    @property
    def provider_name_md(self) -> str:
        """The provider name in Markdown text."""
        return markdown_text(self.provider_name)

    @property
    def uses_text(self) -> bool:
        """Whether some event has a counted UTF-16 string (a path): sink_etw.c needs its text helper."""
        return any(f.in_type == "TlgInCOUNTEDSTRING" for e in self.events for f in e.fields)

    @property
    def uses_sid(self) -> bool:
        """Whether some event has a SID field."""
        return any(f.in_type == "TlgInSID" for e in self.events for f in e.fields)

    @property
    def uses_bytes(self) -> bool:
        """Whether some event has a variable-length binary field (a byte blob)."""
        return any(f.in_type == "TlgInBINARY" and f.local for e in self.events for f in e.fields)

    @property
    def all_keywords_c(self) -> str:
        """Every event's keyword, ORed: the keyword that enables them all."""
        mask = 0
        for event in self.events:
            mask |= event.keyword
        return f"0x{mask:x}"


_ETW_UNSIGNED = {"UINT8": ("UInt8", "TlgInUINT8"), "UINT16": ("UInt16", "TlgInUINT16"),
                 "UINT32": ("UInt32", "TlgInUINT32"), "UINT64": ("UInt64", "TlgInUINT64")}
_ETW_HEX = {"UINT8": ("HexUInt8", "TlgInUINT8", "TlgOutHEX"), "UINT16": ("HexUInt16", "TlgInUINT16", "TlgOutHEX"),
            "UINT32": ("HexUInt32", "TlgInHEXINT32", "TlgOutNULL"),
            "UINT64": ("HexUInt64", "TlgInHEXINT64", "TlgOutNULL")}


def _lower_camel(name: str) -> str:
    text = camel(name)
    return text[:1].lower() + text[1:]


def etw_field(driver: str, item: RecordItem) -> EtwField:
    """The TraceLogging field of ``item``, read from ``Record`` (the kind's record type) and ``Blobs``.

    Types follow TraceLoggingProvider.h: PORT and IPV4 out-types are big-endian (network order) while WFP
    hands ports and IPv4 addresses to classify in host order, so both are byte-swapped; IPv4 is a packed
    field (TlgInUINT32 + TlgOutIPV4: the header has no wrapper for it), IPv6 is binary + TlgOutIPV6; paths
    are counted UTF-16 strings, SIDs TlgInSID, times FILETIMEs (UTC).
    """
    name, label, var = item.name, f'"{item.name}"', _lower_camel(item.name)
    member = f"Record->{item.c_name}"
    if item.is_blob:
        index = item.blob_index
        if item.display == "utf16":
            return EtwField(name, f"TraceLoggingCountedWideString({var}, {var}Chars, {label})", "TlgInCOUNTEDSTRING",
                            "TlgOutNULL", f"PCWCH {var}; USHORT {var}Chars = {driver}EtwText(Blobs, BlobCount, "
                            f"{index}u, {item.present_mask}, &truncated, &{var});")
        if item.display == "sid":
            return EtwField(name, f"TraceLoggingSid({var}, {label})", "TlgInSID", "TlgOutNULL",
                            f"const SID *{var} = {driver}EtwSid(Blobs, BlobCount, {index}u);")
        return EtwField(name, f"TraceLoggingBinary({var}, {var}Bytes, {label})", "TlgInBINARY", "TlgOutNULL",
                        f"const UINT8 *{var}; USHORT {var}Bytes = {driver}EtwBytes(Blobs, BlobCount, {index}u, "
                        f"{item.present_mask}, &truncated, &{var});")
    if item.array_length:
        if item.display == "ipv6":
            return EtwField(name, f"TraceLoggingBinaryEx({member}, {item.array_length}, TlgOutIPV6, {label})",
                            "TlgInBINARY", "TlgOutIPV6")
        return EtwField(name, f"TraceLoggingBinary({member}, {item.array_length}, {label})", "TlgInBINARY",
                        "TlgOutNULL")
    if item.display == "ipv4":
        return EtwField(name, f"TraceLoggingPackedFieldEx(&{var}, sizeof({var}), TlgInUINT32, TlgOutIPV4, {label})",
                        "TlgInUINT32", "TlgOutIPV4", f"UINT32 {var} = RtlUlongByteSwap({member});")
    if item.display == "port" and item.c_type == "UINT16":
        return EtwField(name, f"TraceLoggingPort(RtlUshortByteSwap({member}), {label})", "TlgInUINT16", "TlgOutPORT")
    if item.display == "time":
        return EtwField(name, f"TraceLoggingPackedFieldEx(&{member}, sizeof({member}), TlgInFILETIME, "
                              f"TlgOutDATETIME_UTC, {label})", "TlgInFILETIME", "TlgOutDATETIME_UTC")
    if item.display in ("hex", "flags"):
        macro, in_type, out_type = _ETW_HEX[item.c_type]
        return EtwField(name, f"TraceLogging{macro}({member}, {label})", in_type, out_type)
    macro, in_type = _ETW_UNSIGNED[item.c_type]
    return EtwField(name, f"TraceLogging{macro}({member}, {label})", in_type, "TlgOutNULL")


def _etw(driver: str, prefix: str, provider: str, kinds: tuple[LayerModel | FlowRecordKind, ...]) -> EtwModel:
    events = tuple(
        EtwEvent(index=kind.index, name=kind.name, layer_constant=f"{prefix}_LAYER_{kind.upper}",
                 record_type=kind.record.type_name, write_fn=f"{driver}EtwWrite{kind.camel}", keyword=1 << kind.index,
                 fields=tuple(etw_field(driver, item) for item in kind.record.items),
                 has_blobs=kind.record.blob_count > 0)
        for kind in kinds if kind.emits)
    return EtwModel(provider_name=provider, provider_guid=Guid(etw_provider_guid(provider)),
                    handle=f"g_{driver}EtwProvider", level=ETW_LEVEL, level_c=ETW_LEVEL_C, events=events)


def _line(layer: ResolvedLayer, record: RecordLayout) -> DbgPrintLine:
    bits = {item.name: item.bit for item in record.items}
    pid = bits.get("process_id", bits.get(CURRENT_PROCESS_ID, -1))
    roles = ["ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port"]
    local_a, local_p, remote_a, remote_p = (bits.get(r, -1) for r in roles)
    used = {pid, local_a, local_p, remote_a, remote_p}
    extras = tuple(item.bit for item in record.items if item.bit not in used)
    direction = layer.layer.direction or _DIRECTION_BY_FAMILY.get(layer.layer.family)
    arrow = {"outbound": "->", "inbound": "<-"}.get(direction or "", "<->")
    return DbgPrintLine(arrow, pid, local_a, local_p, remote_a, remote_p, extras)


def _establishing(prefix: str, driver: str, catalog: Catalog, version: int, index: int,
                  targets: tuple[LayerModel, ...], kind: FlowRecordKind | None) -> EstablishingCallout:
    cat = catalog.layer(f"ale_flow_established_v{version}")
    assert cat is not None
    upper = cat.name.upper()
    return EstablishingCallout(
        index=index, name=cat.name, upper=upper, camel=camel(cat.name), fwps_layer=cat.fwps_layer,
        fwpm_layer=cat.fwpm_layer, fwpm_layer_guid=cat.fwpm_layer_guid, ip_version=version,
        callout_key=f"{prefix}_CALLOUT_FLOWS_{upper}", callout_guid=derived_guid(driver, f"flows-callout/{cat.name}"),
        filter_key=f"{prefix}_FILTER_FLOWS_{upper}", filter_guid=derived_guid(driver, f"flows-filter/{cat.name}"),
        classify_fn=f"{driver}FlowEstablished{camel(cat.name)}",
        callout_name=c_wide_literal(f"{driver} {cat.name} flow attribution callout"),
        callout_description=c_wide_literal(f"Attributes the flows of {', '.join(t.name for t in targets)} to "
                                           "their process"),
        filter_name=c_wide_literal(f"{driver} {cat.name} flow attribution filter"),
        targets=tuple(FlowTarget(t.index, t.fwps_layer, t.name) for t in targets),
        kind=kind,
    )


def _flow_kind(prefix: str, catalog: Catalog, version: int, index: int, max_blob: int) -> FlowRecordKind:
    cat = catalog.layer(f"ale_flow_established_v{version}")
    assert cat is not None
    name = f"flow_v{version}"
    record = flow_record_layout(f"{prefix}_RECORD_{name.upper()}", cat, max_blob)
    bits = {item.name: item.bit for item in record.items}
    roles = ("process_id", "ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port")
    used = {bits[r] for r in roles}
    line = DbgPrintLine("<->", bits["process_id"], bits["ip_local_address"], bits["ip_local_port"],
                        bits["ip_remote_address"], bits["ip_remote_port"],
                        tuple(item.bit for item in record.items if item.bit not in used))
    return FlowRecordKind(index=index, name=name, upper=name.upper(), camel=camel(name), ip_version=version,
                          fwps_layer=cat.fwps_layer, fields_enum=cat.fields_enum, record=record, line=line)


def _flows(prefix: str, driver: str, catalog: Catalog, resolved: Resolved, layers: tuple[LayerModel, ...]
           ) -> FlowsModel | None:
    spec = resolved.spec.flows
    if not spec.attribution and not spec.accounting:
        return None
    readers = [layer for layer in layers if layer.reads_flow]
    establishing: list[EstablishingCallout] = []
    kinds: list[FlowRecordKind] = []
    for version in (4, 6):
        targets = tuple(layer for layer in readers if layer.ip_version == version)
        if not targets:
            continue
        kind = None
        if any(layer.accounted for layer in targets):
            kind = _flow_kind(prefix, catalog, version, len(layers) + len(kinds), resolved.spec.sink.max_blob)
            kinds.append(kind)
        establishing.append(_establishing(prefix, driver, catalog, version, len(layers) + len(establishing),
                                          targets, kind))
    names = {item.name for layer in readers for item in layer.record.items if item.source == "flow"}
    return FlowsModel(
        max_contexts=spec.max_contexts,
        path_capacity=resolved.spec.sink.max_blob,
        capture_process_id="process_id" in names or spec.accounting,
        capture_process_path="process_path" in names or spec.accounting,
        establishing=tuple(establishing),
        delete_fn=f"{driver}FlowDelete",
        context_type=f"{prefix}_FLOW",
        attribution=spec.attribution,
        accounting=spec.accounting,
        packets=spec.packets,
        interval_100ns=spec.interval * 10_000_000,
        kinds=tuple(kinds),
    )


def _layer(prefix: str, driver: str, layer: ResolvedLayer, max_blob: int, accounting: bool, packets: bool
           ) -> LayerModel:
    cat = layer.layer
    counts = accounting and accounted(layer)
    upper = cat.name.upper()
    record = record_layout(f"{prefix}_RECORD_{upper}", layer, max_blob)
    callout_guid = derived_guid(driver, f"callout/{cat.name}")
    filter_guid = derived_guid(driver, f"filter/{cat.name}")
    block = layer.action == "block"
    return LayerModel(
        index=layer.index,
        name=cat.name,
        upper=upper,
        camel=camel(cat.name),
        fwps_layer=cat.fwps_layer,
        fwps_layer_index=cat.fwps_layer_index,
        fwpm_layer=cat.fwpm_layer,
        fwpm_layer_guid=cat.fwpm_layer_guid,
        fields_enum=cat.fields_enum,
        ip_version=cat.ip_version,
        direction=cat.direction or _DIRECTION_BY_FAMILY.get(cat.family),
        callout_key=f"{prefix}_CALLOUT_{upper}",
        callout_guid=callout_guid,
        filter_key=f"{prefix}_FILTER_{upper}",
        filter_guid=filter_guid,
        classify_fn=f"{driver}Classify{camel(cat.name)}",
        callout_name=c_wide_literal(f"{driver} {cat.name} callout"),
        callout_description=c_wide_literal(f"{'Blocks' if block else 'Records'} traffic at {cat.fwpm_layer}"),
        filter_name=c_wide_literal(f"{driver} {cat.name} filter"),
        action=layer.action,
        filter_action="FWP_ACTION_CALLOUT_TERMINATING" if block else "FWP_ACTION_CALLOUT_INSPECTION",
        block_c="TRUE" if block else "FALSE",
        conditions=tuple(_condition(c) for c in layer.conditions),
        record=record,
        line=_line(layer, record),
        flow_delete_c=f"{driver}FlowDelete" if layer.from_flow or counts else "NULL",
        accounted=counts,
        emits=packets or not counts,
    )


@dataclass(frozen=True)
class TargetPlatform:
    """One Visual Studio platform and the names Windows gives the same processor architecture."""

    name: str  # x64 | ARM64, as .sln, .vcxproj and msbuild -p:Platform spell it
    inf_decoration: str  # NTamd64 | NTarm64: the INF section suffix ([DefaultInstall.NTamd64])
    cpu_architecture: int  # Win32_Processor.Architecture: PROCESSOR_ARCHITECTURE_AMD64 9, _ARM64 12


PLATFORMS = (TargetPlatform("x64", "NTamd64", 9), TargetPlatform("ARM64", "NTarm64", 12))
CONFIGURATION_NAMES = ("Debug", "Release")


@dataclass(frozen=True)
class BuildConfiguration:
    """One Visual Studio configuration/platform pair."""

    configuration: str
    platform: str

    @property
    def label(self) -> str:
        """``Debug|x64`` as .sln and .vcxproj spell it."""
        return f"{self.configuration}|{self.platform}"

    @property
    def use_debug_libraries(self) -> str:
        """``true`` for Debug, else ``false``: the .vcxproj ``UseDebugLibraries`` (the WDK adds DBG=1)."""
        return "true" if self.configuration == "Debug" else "false"


CONFIGURATIONS = tuple(BuildConfiguration(c, p.name) for p in PLATFORMS for c in CONFIGURATION_NAMES)



@dataclass(frozen=True)
class ProjectModel:
    """Everything the templates print, for one spec."""

    generator: str
    generator_version: str
    spec_name: str  # file name only: no absolute paths in output
    spec_comment: str  # the same, safe inside comments
    spec_xml_comment: str  # the same, safe inside XML and HTML comments (no "--")
    spec_sha256: str
    name: str
    upper: str
    lower: str
    description: str
    description_c: str
    description_xml: str
    description_inf: str
    description_md: str
    version: str
    target: str
    target_label: str
    ntddi: str
    ntddi_hex: str
    vs_target_version: str
    nt_target_version: str  # _NT_TARGET_VERSION as the WDK's docs write it (0xA000000): sets NTDDI_VERSION
    api: ApiVersion
    provider_key: str
    provider_guid: Guid
    provider_name: str
    provider_description: str
    sublayer_key: str
    sublayer_guid: Guid
    sublayer_name: str
    sublayer_description: str
    sublayer_weight: int
    device_class_key: str
    device_class_guid: Guid
    project_guid: Guid
    solution_guid: Guid
    class_guid: str
    device_name: str  # C wide literal
    dos_device_name: str  # C wide literal
    user_device_path: str
    service_name: str
    pool_tag_value: str
    pool_tag_text: str
    sinks: tuple[str, ...]  # ring, dbgprint, etw: the spec's, in this order (each record goes to each)
    ring_capacity: int
    max_blob: int
    layers: tuple[LayerModel, ...]
    max_record_size: int
    fingerprint: str
    format_version: int
    header_size: int
    configurations: tuple[BuildConfiguration, ...]
    has_blocking: bool
    channel: Channel
    reader_package: str  # import name of the generated reader, <lower>_reader
    reader_distribution: str  # its distribution name, <lower>-reader
    condition_flags: tuple[tuple[str, int], ...]  # FWP_CONDITION_FLAG_* in lower case, by value
    alloc_pool2: bool  # ExAllocatePool2 (Windows 10 2004+) rather than ExAllocatePoolZero
    clang_format_style: str  # the style the C sources were formatted with, for the project's .clang-format
    platforms: tuple[TargetPlatform, ...]  # the platforms of ``configurations``, in order
    configuration_names: tuple[str, ...]  # Debug, Release: the configurations of ``configurations``, in order
    wdk_nuget_version: str  # the one version of every WDK/SDK NuGet package (WDK_NUGET_VERSION)
    flows: FlowsModel | None = None  # flows.attribution, flows.accounting
    etw: EtwModel | None = None  # the etw sink

    @property
    def has_ring(self) -> bool:
        """Whether records go to the ring sink (device, reader)."""
        return "ring" in self.sinks

    @property
    def has_dbgprint(self) -> bool:
        """Whether records go to the dbgprint sink."""
        return "dbgprint" in self.sinks

    @property
    def has_etw(self) -> bool:
        """Whether records go to the etw sink."""
        return "etw" in self.sinks

    @property
    def sink_text(self) -> str:
        """The sinks for comments and prose: ``ring``, ``ring and etw``, ``ring, dbgprint and etw``."""
        names = list(self.sinks)
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    @property
    def sink_noun(self) -> str:
        """``sink`` or ``sinks``, after ``sink_text``."""
        return "sink" if len(self.sinks) == 1 else "sinks"

    def sink_fn(self, kind: str) -> str:
        """The prefix of sink ``kind``'s Initialize/Emit/Shutdown functions: ``<Name>Sink`` when it is the only
        sink (sinks.c is then not generated), else ``<Name><Kind>Sink``, which sinks.c calls in turn."""
        if len(self.sinks) == 1:
            return f"{self.name}Sink"
        return f"{self.name}{ {'ring': 'Ring', 'dbgprint': 'DbgPrint', 'etw': 'Etw'}[kind]}Sink"

    @property
    def record_kinds(self) -> tuple[LayerModel | FlowRecordKind, ...]:
        """Every record layout by LayerIndex: one per hooked layer, then the flow records (flows.accounting)."""
        return self.layers + self.flow_kinds

    @property
    def flows_summary(self) -> str:
        """Which flows options the driver implements, for comments."""
        if self.flows is None:
            return ""
        names = [n for n, on in (("flows.attribution", self.flows.attribution), ("flows.accounting",
                                                                                  self.flows.accounting)) if on]
        return " and ".join(names)

    @property
    def flow_kinds(self) -> tuple[FlowRecordKind, ...]:
        """The flow record layouts (flows.accounting), none without it."""
        return self.flows.kinds if self.flows else ()

    @property
    def flow_end_names_py(self) -> str:
        """end_reason's value names as a Python dict literal."""
        return "{" + ", ".join(f'{i}: "{name}"' for i, name in enumerate(FLOW_END_NAMES)) + "}"

    @property
    def attribution_names_py(self) -> str:
        """flow_attribution's value names as a Python dict literal."""
        return "{" + ", ".join(f'{i}: "{name}"' for i, name in enumerate(ATTRIBUTION_NAMES)) + "}"

    @property
    def callouts(self) -> tuple[LayerModel | EstablishingCallout, ...]:
        """Every callout the driver registers: one per record layer, then the flow-establishing ones."""
        return self.layers + (self.flows.establishing if self.flows else ())

    @property
    def display_enums(self) -> tuple[str, ...]:
        """Every display kind as its C enumerator, in enum order."""
        return tuple(f"WFPGEN_DISPLAY_{kind.upper()}" for kind in DISPLAY_KINDS)

    @property
    def allocates_pool(self) -> bool:
        """Whether the driver allocates pool (the rings, the flow contexts): AllocateNonPaged in driver.h."""
        return self.has_ring or self.flows is not None

    @property
    def preprocessor_defines(self) -> tuple[str, ...]:
        """Defines every source is compiled with (the .vcxproj and the host builds print them)."""
        defines = ["NDIS630", "NDIS_SUPPORT_NDIS6", "POOL_NX_OPTIN=1"]
        if self.allocates_pool and not self.alloc_pool2:
            # ExAllocatePoolZero zeroes on Windows before 10 2004 only with this define.
            defines.append("POOL_ZERO_DOWN_LEVEL_SUPPORT")
        return tuple(defines)

    @property
    def target_defines(self) -> tuple[str, ...]:
        """What the WDK's MSBuild derives from _NT_TARGET_VERSION: the target's NTDDI and WINNT values."""
        return ntddi_defines(int(self.ntddi_hex, 16))

    @property
    def build_defines(self) -> tuple[str, ...]:
        """Every define a source sees in a WDK build: the project's own and the target's.

        The checks off Windows (host simulation, cross build, real headers) compile with these,
        so a declaration the target's headers lack is missing there too.
        """
        return self.preprocessor_defines + self.target_defines

    @property
    def max_blobs(self) -> int:
        """The largest blob count of any layer, at least 1 (sizes the ring sink's tables)."""
        return max([kind.record.blob_count for kind in self.record_kinds] + [1])

    @property
    def sink_locking(self) -> str:
        """How the sink synchronises, for the classify file's comment."""
        ways = []
        if self.has_ring:
            ways.append("the ring sink holds its ring's spin lock only while it copies the record in")
        if self.has_dbgprint:
            ways.append("the dbgprint sink formats the record into a stack buffer and takes no lock")
        if self.has_etw:
            ways.append("the etw sink builds its event's fields on the stack and takes no lock")
        return "; ".join(ways)

    @property
    def has_conditions(self) -> bool:
        """Whether any layer's filter has conditions."""
        return any(layer.conditions for layer in self.layers)

    @property
    def max_conditions(self) -> int:
        """The largest condition count of any layer (sizes the registration scratch arrays)."""
        return max([len(layer.conditions) for layer in self.layers] + [1])

    @property
    def record_alignment(self) -> int:
        """Every record's size is a multiple of this."""
        return RECORD_ALIGNMENT

    @property
    def fingerprint_c(self) -> str:
        """The layout fingerprint as a C 64-bit constant."""
        return f"0x{self.fingerprint}ULL"

    # -- spec text in the contexts the templates print it in ----------------------------------------
    # The driver name is a C identifier, and no Windows name (the spec checks both); it still
    # reaches each context through that context's escaping, like every other spec string.

    def log_format(self, message: str) -> str:
        """A DbgPrintEx format literal ``"<Name>: <message>\\n"``. The name is spec text, made inert by
        :func:`c_format_literal`; ``message`` is the template's own format text, conversions and all."""
        return c_format_literal(f"{self.name}: ")[:-1] + message + '\\n"'

    @property
    def line_prefix_c(self) -> str:
        """The dbgprint sink's line start ``[<Name>] [`` as a C literal of plain text."""
        return c_narrow_literal(f"[{self.name}] [")

    @property
    def service_name_c(self) -> str:
        """The service name as a C wide literal (the provider's ``serviceName``)."""
        return c_wide_literal(self.service_name)

    @property
    def name_ps(self) -> str:
        """The driver name as a PowerShell single-quoted literal."""
        return ps_single_quoted(self.name)

    @property
    def service_name_ps(self) -> str:
        """The service name as a PowerShell single-quoted literal."""
        return ps_single_quoted(self.service_name)

    @property
    def reader_summary(self) -> str:
        """What the reader's ``--help`` says it does, as plain text."""
        return f"Reads the records of the {self.name} driver ({self.description})."

    @property
    def reader_summary_argparse(self) -> str:
        """``reader_summary`` as the Python literal of an argparse description (see :func:`argparse_text`)."""
        return python_literal(argparse_text(self.reader_summary))


def nt_target_version(ntddi_hex: str) -> str:
    """``0x0A000004`` -> ``0xA000004``: the NTDDI value as the WDK's MSBuild property is written."""
    return f"0x{int(ntddi_hex, 16):X}"


def layout_fingerprint(layers: tuple[LayerModel | FlowRecordKind, ...], max_blob: int) -> str:
    """A 64-bit hash of every record layout: both sides compare it before exchanging records."""
    description = {
        "format": FORMAT_VERSION,
        "header": HEADER_SIZE,
        "max_blob": max_blob,
        "layers": [
            {"layer": layer.name, "size": layer.record.size,
             "items": [[i.name, i.bit, i.offset, i.size, i.struct_format, i.display] for i in layer.record.items]}
            for layer in layers
        ],
    }
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).digest()
    return digest[:8].hex()


def build_model(resolved: Resolved, catalog: Catalog, spec_name: str, spec_bytes: bytes) -> ProjectModel:
    """Make every decision for ``resolved`` and return the frozen model the templates print."""
    spec = resolved.spec
    name = spec.driver.name
    upper = name.upper()
    target = catalog.version(spec.driver.target)
    v3 = catalog.version("win10_1709")
    pool2 = catalog.version("win10_2004")
    assert target is not None and v3 is not None and pool2 is not None
    layers = tuple(_layer(upper, name, layer, spec.sink.max_blob, spec.flows.accounting, spec.flows.packets)
                   for layer in resolved.layers)
    flows = _flows(upper, name, catalog, resolved, layers)
    kinds: tuple[LayerModel | FlowRecordKind, ...] = layers + (flows.kinds if flows else ())
    provider_guid = Guid(uuid.UUID(spec.provider.key)) if spec.provider.key else derived_guid(name, "provider")
    description = spec.driver.description or f"{name} Windows Filtering Platform callout driver"
    tag_value, tag_text = pool_tag(name)
    sinks = tuple(kind for kind in SINK_KINDS if kind in spec.sink.kinds)
    return ProjectModel(
        generator="wfpgen",
        generator_version=__version__,
        spec_name=spec_name,
        spec_comment=c_comment(spec_name),
        spec_xml_comment=xml_comment(spec_name),
        spec_sha256=hashlib.sha256(spec_bytes).hexdigest(),
        name=name,
        upper=upper,
        lower=name.lower(),
        description=description,
        description_c=c_narrow_literal(description),
        description_xml=xml_text(description),
        description_inf=inf_string(description),
        description_md=markdown_text(description),
        version=spec.driver.version,
        target=target.id,
        target_label=target.label,
        ntddi=target.ntddi,
        ntddi_hex=target.hex,
        vs_target_version=VS_TARGET_VERSION,
        nt_target_version=nt_target_version(target.hex),
        api=api_version(target.rank, v3.rank),
        provider_key=f"{upper}_PROVIDER_KEY",
        provider_guid=provider_guid,
        provider_name=c_wide_literal(f"{name} provider"),
        provider_description=c_wide_literal(spec.provider.description or f"The provider object for {name}"),
        sublayer_key=f"{upper}_SUBLAYER_KEY",
        sublayer_guid=derived_guid(name, "sublayer"),
        sublayer_name=c_wide_literal(f"{name} sublayer"),
        sublayer_description=c_wide_literal(spec.sublayer.description or f"The sublayer of {name}'s filters"),
        sublayer_weight=spec.sublayer.weight,
        device_class_key=f"{upper}_DEVICE_CLASS",
        device_class_guid=derived_guid(name, "device-class"),
        project_guid=derived_guid(name, "vcxproj"),
        solution_guid=derived_guid(name, "sln"),
        class_guid="{" + WFPCALLOUTS_CLASS_GUID + "}",
        device_name=c_wide_literal(f"\\Device\\{name}"),
        dos_device_name=c_wide_literal(f"\\DosDevices\\{name}"),
        user_device_path=f"\\\\.\\{name}",
        service_name=name,
        pool_tag_value=f"0x{tag_value:08x}u",
        pool_tag_text=tag_text,
        sinks=sinks,
        ring_capacity=spec.sink.capacity,
        max_blob=spec.sink.max_blob,
        layers=layers,
        max_record_size=max(kind.record.max_size for kind in kinds),
        fingerprint=layout_fingerprint(kinds, spec.sink.max_blob),
        format_version=FORMAT_VERSION,
        header_size=HEADER_SIZE,
        configurations=CONFIGURATIONS,
        has_blocking=any(layer.action == "block" for layer in layers),
        channel=channel(name, upper, spec.sink.capacity, spec.sink.max_blob),
        reader_package=f"{name.lower()}_reader",
        reader_distribution=f"{name.lower()}-reader",
        condition_flags=tuple(sorted(((k, v[1]) for k, v in catalog.condition_flags.items()), key=lambda kv: kv[1])),
        alloc_pool2=target.rank >= pool2.rank,
        clang_format_style=STYLE_FILE.read_text(encoding="utf-8"),
        platforms=PLATFORMS,
        configuration_names=CONFIGURATION_NAMES,
        wdk_nuget_version=WDK_NUGET_VERSION,
        flows=flows,
        etw=_etw(name, upper, spec.sink.etw_provider or name, kinds) if "etw" in sinks else None,
    )
