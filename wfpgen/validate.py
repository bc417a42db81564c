"""Check a shape-valid spec against the catalog and resolve every name it uses.

The result, :class:`Resolved`, carries catalog objects instead of strings, so the model
builder never looks a name up again. Every problem is collected before raising.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TypeVar

from wfpgen.catalog import Catalog, Field, Layer, MetadataItem
from wfpgen.errors import Diagnostic, SpecError, closest, join_names
from wfpgen.spec import SINK_KINDS, ConditionSpec, Spec
from wfpgen.yamlsource import Path, Source

MAX_ITEMS_PER_LAYER = 32
MAX_CONDITIONS_PER_LAYER = 16
MAX_APP_ID_CHARS = 260

# Metadata items whose FWPS_INCOMING_METADATA_VALUES0 member the generator can copy into a record.
SCALAR_METADATA_TYPES = {"UINT64": 8, "UINT32": 4, "ULONG": 4, "DWORD": 4, "UINT16": 2, "FWP_DIRECTION": 4}
BLOB_METADATA_TYPES = {"FWP_BYTE_BLOB *"}
CURRENT_PROCESS_ID = "current_process_id"
# The layers flows.accounting counts at: their layerData is the packet's NET_BUFFER_LIST.
ACCOUNTED_LAYERS = ("inbound_transport_v4", "outbound_transport_v4", "inbound_transport_v6", "outbound_transport_v6")
# Process data a packet layer can take from its flow's ALE_FLOW_ESTABLISHED event (flows.attribution).
FLOW_ATTRIBUTABLE = ("process_id", "process_path")

PROTOCOL_NAMES = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50, "ah": 51,
                  "icmpv6": 58, "sctp": 132}
_INT_BITS = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
_ORDERED_MATCHES = {"greater", "greater_or_equal", "less", "less_or_equal"}
_FLAG_MATCHES = {"flags_all_set", "flags_any_set", "flags_none_set"}
_Address = TypeVar("_Address", ipaddress.IPv4Address, ipaddress.IPv6Address)

# Address text is checked for its shape before ipaddress reads it, with ASCII-only patterns and
# fullmatch: one spelling per value (no zone, no netmask, no leading zeros in a prefix length).
_V4_TEXT = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", re.ASCII)
_V6_TEXT = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3})?", re.ASCII)
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]{0,2}", re.ASCII)


def _address_text(value: str, version: int, allowed: str, *, prefix: bool) -> tuple[str, str | None]:
    """``value`` split into its address and prefix length, each written the one way wfpgen accepts."""
    family = f"IPv{version}"
    if "%" in value:
        zone = value.partition("%")[2]
        raise _BadValue(f"{value!r} names a zone (scope) '%{zone.split('/')[0]}': a filter condition "
                        f"compares the address alone, so the zone would be dropped", allowed + ", without a zone")
    address, slash, length = value.partition("/") if prefix else (value, "", "")
    if not (_V4_TEXT.fullmatch(address) if version == 4 else _V6_TEXT.fullmatch(address)):
        raise _BadValue(f"{value!r} is not an {family} address" + (" or prefix" if prefix else "")
                        + " written in ASCII digits" + ("" if version == 4 else ", hexadecimal digits and ':'"),
                        allowed)
    if slash and not _PREFIX_LENGTH.fullmatch(length):
        hint = " (a netmask: write its prefix length, e.g. /8 for 255.0.0.0)" if "." in length else ""
        raise _BadValue(f"{value!r}: the prefix length {length!r} is not a decimal number without leading "
                        f"zeros{hint}", allowed)
    return address, (length if slash else None)


def _address_match(match: str) -> None:
    """A single address is an FWP_UINT32 or FWP_BYTE_ARRAY16_TYPE: sortable, but only (in)equality
    and ranges mean something for an address."""
    if match not in ("equal", "not_equal"):
        raise _BadValue(f"match '{match}' does not apply to an address", "equal, not_equal, range")


def _prefix_match(match: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
    """A prefix is an FWP_V4_ADDR_MASK or FWP_V6_ADDR_MASK, which is not sortable.

    Microsoft documents FWP_MATCH_NOT_EQUAL, the ordered matches and FWP_MATCH_RANGE for sortable
    types only (integers, FWP_BYTE_ARRAY16_TYPE, FWP_BYTE_BLOB_TYPE, FWP_UNICODE_STRING_TYPE), so the
    filter engine may refuse anything but FWP_MATCH_EQUAL on a prefix. "Not in this prefix" is the
    ranges around it: conditions on one field are OR-ed.
    """
    if match == "equal":
        return
    first, last = int(network.network_address), int(network.broadcast_address)
    top = (1 << network.max_prefixlen) - 1
    quote = "'" if network.version == 6 else ""

    def text(number: int) -> str:
        return quote + str(ipaddress.ip_address(number) if network.version == 4
                           else ipaddress.IPv6Address(number)) + quote

    outside = []
    if first > 0:
        outside.append(f"{{match: range, value: [{text(0)}, {text(first - 1)}]}}")
    if last < top:
        outside.append(f"{{match: range, value: [{text(last + 1)}, {text(top)}]}}")
    hint = (f"; to exclude {network}, list the ranges around it (conditions on one field are OR-ed): "
            + " and ".join(outside)) if match == "not_equal" and outside else ""
    raise _BadValue(f"match '{match}' does not apply to an address prefix: the filter engine compares an "
                    f"address mask (FWP_V{network.version}_ADDR_MASK) for equality only", "equal" + hint)


@dataclass(frozen=True)
class ResolvedCondition:
    """A condition whose value has been parsed for its field's type."""

    field: Field
    match: str
    kind: str  # "int", "range", "v4", "v4_mask", "v4_range", "v6", "v6_mask", "v6_range", "app_id", "flags"
    low: int = 0
    high: int = 0
    prefix: int = 0
    data: bytes = b""
    text: str = ""
    data_high: bytes = b""  # the upper bound of a v6_range


@dataclass(frozen=True)
class ResolvedLayer:
    """One spec layer with its catalog entry, fields, metadata, conditions and action."""

    index: int
    layer: Layer
    fields: tuple[Field, ...]
    metadata: tuple[MetadataItem | None, ...]  # None stands for current_process_id
    metadata_names: tuple[str, ...]
    conditions: tuple[ResolvedCondition, ...]
    action: str
    from_flow: frozenset[str] = frozenset()  # metadata names taken from the flow's establishing event


def flow_capable(layer: Layer) -> bool:
    """Whether a flow context can carry process data to ``layer``: a packet layer with a flow handle
    (transport, datagram data, stream, stream packet); the ALE layers have the process themselves."""
    return "flow_handle" in layer.metadata and not layer.name.startswith("ale_")


@dataclass(frozen=True)
class Resolved:
    """The spec with every name resolved against the catalog."""

    spec: Spec
    layers: tuple[ResolvedLayer, ...]


def metadata_extractable(item: MetadataItem) -> bool:
    """Whether the generator knows how to copy this metadata item into a record."""
    return item.c_type in SCALAR_METADATA_TYPES or item.c_type in BLOB_METADATA_TYPES


class _Checker:
    def __init__(self, spec: Spec, source: Source, catalog: Catalog) -> None:
        self.spec = spec
        self.source = source
        self.catalog = catalog
        self.problems: list[Diagnostic] = []
        target = catalog.version(spec.driver.target)
        assert target is not None, f"catalog lacks target version {spec.driver.target}"
        self.target = target

    def error(self, path: Path, message: str, *, key: bool = False, suggestion: str | None = None,
              allowed: str | None = None) -> None:
        self.problems.append(self.source.diag(path, message, key=key, suggestion=suggestion, allowed=allowed))

    def too_new(self, min_windows: str) -> bool:
        needed = self.catalog.version(min_windows)
        return needed is not None and needed.rank > self.target.rank

    def label(self, version_id: str) -> str:
        version = self.catalog.version(version_id)
        return version.label if version else version_id

    # -- layers -----------------------------------------------------------------------------
    def layers(self) -> tuple[ResolvedLayer, ...]:
        resolved: list[ResolvedLayer] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(self.spec.layers):
            path: Path = ("layers", index, "layer") if ("layers", index, "layer") in self.source.values \
                else ("layers", index)
            layer = self.catalog.layer(entry.layer)
            if layer is None:
                self.error(path, f"unknown layer '{entry.layer}'",
                           suggestion=closest(entry.layer, self.catalog.layers),
                           allowed="a kernel run-time layer listed by 'wfpgen layers'")
                continue
            if entry.layer in seen:
                self.error(path, f"layer '{entry.layer}' is listed twice (first as item {seen[entry.layer] + 1})",
                           allowed="each layer once")
                continue
            seen[entry.layer] = index
            if self.too_new(layer.min_windows):
                self.error(path, f"layer '{layer.name}' needs {self.label(layer.min_windows)}, newer than the "
                           f"target {self.target.label}", allowed="a newer 'driver.target'")
            resolved.append(self.layer(len(resolved), index, layer))
        return tuple(resolved)

    def layer(self, position: int, index: int, layer: Layer) -> ResolvedLayer:
        entry = self.spec.layers[index]
        base: Path = ("layers", index)
        fields_path = base + ("fields",) if entry.fields is not None else ("fields",)
        meta_path = base + ("metadata",) if entry.metadata is not None else ("metadata",)
        cond_path = base + ("conditions",) if entry.conditions is not None else ("conditions",)
        action_path = base + ("action",) if entry.action is not None else ("action",)
        fields = self.fields(layer, entry.fields if entry.fields is not None else self.spec.fields, fields_path)
        metadata_names = entry.metadata if entry.metadata is not None else self.spec.metadata
        metadata = self.metadata(layer, metadata_names, meta_path)
        if not fields and not metadata and not self.problems:
            self.error(fields_path, f"layer '{layer.name}' records no value",
                       allowed="at least one field or metadata item per layer")
        if len(fields) + len(metadata) > MAX_ITEMS_PER_LAYER:
            self.error(fields_path, f"layer '{layer.name}' records {len(fields) + len(metadata)} values",
                       allowed=f"at most {MAX_ITEMS_PER_LAYER} fields and metadata items per layer")
        conditions = self.conditions(layer, entry.conditions if entry.conditions is not None
                                     else self.spec.conditions, cond_path)
        action = entry.action or self.spec.action
        if action == "block" and not layer.can_block:
            self.error(action_path, f"layer '{layer.name}' cannot block traffic",
                       allowed="'inspect' at this layer")
        names = tuple(n for n, _ in metadata)
        for clash in sorted({f.name for f in fields} & set(names)):
            self.error(meta_path, f"'{clash}' is both a field and a metadata item at layer '{layer.name}'; "
                       "a record holds each name once", allowed="the field or the metadata item, not both")
        from_flow = frozenset(n for n in names if n in FLOW_ATTRIBUTABLE and n not in layer.metadata)
        return ResolvedLayer(position, layer, fields, tuple(m for _, m in metadata), names, conditions, action,
                             from_flow)

    # -- fields -----------------------------------------------------------------------------
    def fields(self, layer: Layer, names: list[str], path: Path) -> tuple[Field, ...]:
        result: list[Field] = []
        seen: set[str] = set()
        for i, name in enumerate(names):
            item_path = path + (i,)
            found = layer.field(name)
            if found is None:
                self.unknown_field(layer, name, item_path)
                continue
            if found.name in seen:
                self.error(item_path, f"field '{name}' is listed twice for layer '{layer.name}'",
                           allowed="each field once")
                continue
            seen.add(found.name)
            if not found.extractable:
                self.error(item_path, f"field '{name}' at layer '{layer.name}' has type '{found.type}', which "
                           "wfpgen cannot record", allowed="integer, address, byte-blob and SID fields")
                continue
            if self.too_new(found.min_windows):
                self.error(item_path, f"field '{name}' at layer '{layer.name}' needs "
                           f"{self.label(found.min_windows)}, newer than the target {self.target.label}",
                           allowed="a newer 'driver.target', or drop the field")
                continue
            result.append(found)
        return tuple(result)

    def unknown_field(self, layer: Layer, name: str, path: Path) -> None:
        elsewhere = self.catalog.layers_with_field(name)
        legal = [f.name for f in layer.fields if f.extractable] + sorted(layer.aliases)
        if elsewhere:
            self.error(path, f"field '{name}' is not available at layer '{layer.name}'; layers that have it: "
                       f"{join_names(elsewhere, 8)}", suggestion=closest(name, legal))
        else:
            self.error(path, f"unknown field '{name}' at layer '{layer.name}'", suggestion=closest(name, legal),
                       allowed=f"see 'wfpgen fields {layer.name}'")

    # -- metadata ---------------------------------------------------------------------------
    def metadata(self, layer: Layer, names: list[str], path: Path) -> list[tuple[str, MetadataItem | None]]:
        result: list[tuple[str, MetadataItem | None]] = []
        seen: set[str] = set()
        for i, name in enumerate(names):
            item_path = path + (i,)
            if name in seen:
                self.error(item_path, f"metadata '{name}' is listed twice", allowed="each item once")
                continue
            seen.add(name)
            if name == CURRENT_PROCESS_ID:
                result.append((name, None))
                continue
            item = self.catalog.metadata.get(name)
            if item is None:
                legal = sorted([n for n, m in self.catalog.metadata.items() if metadata_extractable(m)]
                               + [CURRENT_PROCESS_ID])
                self.error(item_path, f"unknown metadata item '{name}'", suggestion=closest(name, legal),
                           allowed=join_names(legal, 20))
                continue
            if not metadata_extractable(item):
                self.error(item_path, f"metadata '{name}' ({item.c_type or 'no value'}) cannot be recorded",
                           allowed="integer metadata and process_path")
                continue
            if name not in layer.metadata:
                if name in FLOW_ATTRIBUTABLE and flow_capable(layer) and self.spec.flows.attribution:
                    result.append((name, item))  # from the flow's establishing event
                    continue
                self.metadata_elsewhere(layer, name, item_path)
                continue
            result.append((name, item))
        return result

    def metadata_elsewhere(self, layer: Layer, name: str, path: Path) -> None:
        where = self.catalog.layers_with_metadata(name)
        message = f"metadata '{name}' is not available at layer '{layer.name}'"
        if name in FLOW_ATTRIBUTABLE and flow_capable(layer):
            message += ("; Microsoft documents it only at the ALE layers, but 'flows: {attribution: true}' takes "
                        "it from each flow's ale_flow_established event (classify here runs in an arbitrary "
                        "thread, so 'current_process_id' is rarely the process that owns the packet)")
        elif name == "process_id":
            message += ("; Microsoft documents PROCESS_ID only at the ALE layers (e.g. ale_auth_connect_v4, "
                        "ale_auth_recv_accept_v4, ale_flow_established_v4): hook one of those for process "
                        "attribution, or ask for 'current_process_id' (the process whose thread runs classify, "
                        "often System for inbound traffic)")
        elif where:
            message += f"; layers that have it: {join_names(where, 8)}"
        usable = [n for n in layer.metadata if metadata_extractable(self.catalog.metadata[n])]
        self.error(path, message, allowed=join_names(sorted(usable) + [CURRENT_PROCESS_ID], 20))

    # -- conditions -------------------------------------------------------------------------
    def conditions(self, layer: Layer, conditions: list[ConditionSpec], path: Path) -> tuple[ResolvedCondition, ...]:
        if len(conditions) > MAX_CONDITIONS_PER_LAYER:
            self.error(path, f"{len(conditions)} conditions", allowed=f"at most {MAX_CONDITIONS_PER_LAYER}")
        result: list[ResolvedCondition] = []
        for i, condition in enumerate(conditions):
            item_path = path + (i,)
            found = layer.field(condition.field)
            if found is None:
                self.unknown_field(layer, condition.field, item_path + ("field",))
                continue
            if found.condition is None or found.condition_guid is None:
                self.error(item_path + ("field",), f"field '{condition.field}' has no filtering condition at "
                           f"layer '{layer.name}'", allowed="fields with an FWPM_CONDITION_* identifier")
                continue
            parsed = self.condition_value(found, condition, item_path + ("value",))
            if parsed is not None:
                result.append(parsed)
        return tuple(result)

    def condition_value(self, field: Field, condition: ConditionSpec, path: Path) -> ResolvedCondition | None:
        match, value = condition.match, condition.value
        try:
            if field.name == "flags" or match in _FLAG_MATCHES:
                return self.flags_condition(field, match, value)
            if field.type in _INT_BITS:
                if "address" in field.name and field.type == "uint32":
                    return self.v4_condition(field, match, value)
                return self.int_condition(field, match, value)
            if field.type == "byteArray16":
                return self.v6_condition(field, match, value)
            if field.type == "byteBlob" and field.name == "ale_app_id":
                return self.app_id_condition(field, match, value)
        except _BadValue as exc:
            self.error(path, f"condition on '{field.name}': {exc.message}", allowed=exc.allowed)
            return None
        self.error(path, f"conditions on '{field.name}' ({field.type}) are not supported",
                   allowed="integer, address, flags and ale_app_id conditions")
        return None

    def int_condition(self, field: Field, match: str, value: object) -> ResolvedCondition:
        bits = _INT_BITS[field.type]
        allowed = f"an integer 0..{(1 << bits) - 1}" + (" or a protocol name (tcp, udp, icmp, ...)"
                                                         if field.name == "ip_protocol" else "")
        if match == "range":
            if not isinstance(value, list) or len(value) != 2:
                raise _BadValue("'range' needs a list of two values", "[low, high], e.g. [1024, 65535]")
            low, high = (self.int_value(field, v, bits, allowed) for v in value)
            if low > high:
                raise _BadValue(f"range [{low}, {high}] is empty", "[low, high] with low <= high")
            return ResolvedCondition(field, match, "range", low, high)
        if match not in ("equal", "not_equal") and match not in _ORDERED_MATCHES:
            raise _BadValue(f"match '{match}' does not apply to an integer field",
                            "equal, not_equal, greater, greater_or_equal, less, less_or_equal, range")
        return ResolvedCondition(field, match, "int", self.int_value(field, value, bits, allowed))

    @staticmethod
    def int_value(field: Field, value: object, bits: int, allowed: str) -> int:
        if field.name == "ip_protocol" and isinstance(value, str) and value.isascii() \
                and value.lower() in PROTOCOL_NAMES:
            return PROTOCOL_NAMES[value.lower()]
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadValue(f"{value!r} is not an integer", allowed)
        if not 0 <= value < (1 << bits):
            raise _BadValue(f"{value} does not fit the field's type {field.type}", allowed)
        return value

    def v4_condition(self, field: Field, match: str, value: object) -> ResolvedCondition:
        allowed = "an IPv4 address or prefix, e.g. '10.0.0.1' or '10.0.0.0/8'"
        if match == "range":
            low, high = self._address_range(value, ipaddress.IPv4Address, "[10.0.0.0, 10.255.255.255]")
            return ResolvedCondition(field, match, "v4_range", int(low), int(high))
        if not isinstance(value, str):
            raise _BadValue(f"{value!r} is not an IPv4 address", allowed)
        _, length = _address_text(value, 4, allowed, prefix=True)
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise _BadValue(f"{value!r} is not an IPv4 address or prefix ({exc})", allowed) from None
        address = int(network.network_address)
        if length is not None:
            _prefix_match(match, network)
            return ResolvedCondition(field, match, "v4_mask", address, prefix=network.prefixlen)
        _address_match(match)
        return ResolvedCondition(field, match, "v4", address)

    def v6_condition(self, field: Field, match: str, value: object) -> ResolvedCondition:
        allowed = "an IPv6 address or prefix, e.g. '2001:db8::1' or 'fe80::/10'"
        if match == "range":
            low, high = self._address_range(value, ipaddress.IPv6Address, "['2001:db8::', '2001:db8::ffff']")
            return ResolvedCondition(field, match, "v6_range", data=low.packed, data_high=high.packed)
        if not isinstance(value, str):
            raise _BadValue(f"{value!r} is not an IPv6 address", allowed)
        _, length = _address_text(value, 6, allowed, prefix=True)
        try:
            network = ipaddress.IPv6Network(value, strict=True)
        except ValueError as exc:
            raise _BadValue(f"{value!r} is not an IPv6 address or prefix ({exc})", allowed) from None
        data = network.network_address.packed
        if length is not None:
            _prefix_match(match, network)
            return ResolvedCondition(field, match, "v6_mask", data=data, prefix=network.prefixlen)
        _address_match(match)
        return ResolvedCondition(field, match, "v6", data=data)

    @staticmethod
    def _address_range(value: object, kind: type[_Address], example: str) -> tuple[_Address, _Address]:
        """``[low, high]`` of one address family, low <= high."""
        allowed = f"a list of two addresses [low, high], e.g. {example}"
        if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
            raise _BadValue("'range' needs a list of two addresses", allowed)
        for bound in value:
            _address_text(bound, 4 if kind is ipaddress.IPv4Address else 6, allowed, prefix=False)
        try:
            low, high = (kind(v) for v in value)
        except ValueError as exc:
            raise _BadValue(f"{value!r} is not a pair of addresses ({exc})", allowed) from None
        if low > high:
            raise _BadValue(f"range [{low}, {high}] is empty", "[low, high] with low <= high")
        return low, high

    def app_id_condition(self, field: Field, match: str, value: object) -> ResolvedCondition:
        # FWP_BYTE_BLOB_TYPE is sortable, but an ordering of paths means nothing: equality only.
        allowed = r"a lower-case NT device path, e.g. '\device\harddiskvolume3\windows\system32\svchost.exe'"
        if match not in ("equal", "not_equal"):
            raise _BadValue(f"match '{match}' does not apply to an application id", "equal, not_equal")
        if not isinstance(value, str) or not value.startswith("\\device\\") or value != value.lower():
            raise _BadValue(f"{value!r} is not a lower-case NT device path", allowed)
        if len(value) > MAX_APP_ID_CHARS or any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
            raise _BadValue(f"{value!r} is too long or has non-printable or non-ASCII characters", allowed)
        return ResolvedCondition(field, match, "app_id", text=value)

    def flags_condition(self, field: Field, match: str, value: object) -> ResolvedCondition:
        names = sorted(self.catalog.condition_flags)
        allowed = "a list of flag names: " + join_names(names, 8)
        if field.name != "flags" or match not in _FLAG_MATCHES:
            raise _BadValue("flag matches apply only to the 'flags' field, and 'flags' only to flag matches",
                            "flags_all_set, flags_any_set or flags_none_set on 'flags'")
        items = value if isinstance(value, list) else [value]
        mask = 0
        for item in items:
            if not isinstance(item, str) or item not in self.catalog.condition_flags:
                hint = closest(str(item), names)
                raise _BadValue(f"unknown flag {item!r}" + (f" (did you mean '{hint}'?)" if hint else ""), allowed)
            mask |= self.catalog.condition_flags[item][1]
        if not items:
            raise _BadValue("no flags given", allowed)
        return ResolvedCondition(field, match, "flags", mask, text=",".join(str(i) for i in items))


class _BadValue(Exception):
    def __init__(self, message: str, allowed: str) -> None:
        super().__init__(message)
        self.message = message
        self.allowed = allowed


def resolve(spec: Spec, source: Source, catalog: Catalog) -> Resolved:
    """Resolve ``spec`` against ``catalog``; raise :class:`SpecError` listing every problem."""
    checker = _Checker(spec, source, catalog)
    layers = checker.layers()
    if spec.flows.attribution and not checker.problems and not any(layer.from_flow for layer in layers):
        path: Path = ("flows", "attribution") if ("flows", "attribution") in source.values else ("flows",)
        capable = sorted(layer.layer.name for layer in layers if flow_capable(layer.layer))
        checker.error(path, "flows.attribution is on, but no layer takes process_id or process_path from its flow",
                      allowed="metadata: [process_id, process_path] at a transport, datagram_data or stream layer"
                      + (f" ({join_names(capable, 6)})" if capable else ""))
    _check_sinks(checker, spec, source)
    if not checker.problems:
        _check_accounting(checker, spec, source, layers)
    if not checker.problems:
        _check_etw_keywords(checker, spec, source, layers)
    if checker.problems:
        raise SpecError(checker.problems)
    _check_capacity(spec, source, catalog, layers)
    return Resolved(spec, layers)


def accounted(layer: ResolvedLayer) -> bool:
    """Whether flows.accounting counts ``layer``'s packets into their flows: a transport layer that inspects."""
    return layer.layer.name in ACCOUNTED_LAYERS and layer.action == "inspect"


def _check_accounting(checker: _Checker, spec: Spec, source: Source, layers: tuple[ResolvedLayer, ...]) -> None:
    """flows.accounting needs a transport layer to count at; packets and interval need accounting."""
    flows = spec.flows

    def path(key: str) -> Path:
        return ("flows", key) if ("flows", key) in source.values else ("flows",)

    if flows.accounting and not any(accounted(layer) for layer in layers):
        checker.error(path("accounting"), "flows.accounting counts packets at the transport layers, and no "
                      "transport layer is hooked with action inspect",
                      allowed="a layer among " + ", ".join(ACCOUNTED_LAYERS))
    if not flows.accounting and not flows.packets:
        checker.error(path("packets"), "flows.packets: false leaves only flow records, and flows.accounting is off",
                      allowed="flows: {accounting: true, packets: false}, or packets: true")
    if not flows.accounting and flows.interval:
        checker.error(path("interval"), "flows.interval paces flow records, and flows.accounting is off",
                      allowed="flows: {accounting: true, interval: N}, or interval: 0")


#: TraceLogging keyword bits 0..47 are the provider's own (48..63 are Microsoft's): one per record kind.
ETW_KEYWORD_BITS = 48


def _check_sinks(checker: _Checker, spec: Spec, source: Source) -> None:
    """Each sink once, by a known name; etw_provider only with the etw sink."""
    kind = spec.sink.kind
    allowed = ", ".join(SINK_KINDS)
    if isinstance(kind, list) and not kind:
        checker.error(("sink", "kind"), "sink.kind lists no sink", allowed=f"one or more of {allowed}")
    first: dict[str, int] = {}
    for index, name in enumerate(spec.sink.kinds):
        path: Path = ("sink", "kind", index) if isinstance(kind, list) else ("sink", "kind")
        if name not in SINK_KINDS:
            checker.error(path, f"unknown sink '{name}'", suggestion=closest(name, list(SINK_KINDS)), allowed=allowed)
        elif name in first:
            checker.error(path, f"sink '{name}' is listed twice (first as item {first[name] + 1})",
                          allowed="each sink once")
        else:
            first[name] = index
    if spec.sink.etw_provider is not None and "etw" not in spec.sink.kinds:
        checker.error(("sink", "etw_provider"), "sink.etw_provider names the ETW provider, and the etw sink is not "
                      "among sink.kind", allowed="kind: etw, or a list with etw")


def _check_etw_keywords(checker: _Checker, spec: Spec, source: Source, layers: tuple[ResolvedLayer, ...]) -> None:
    """The etw sink gives each record kind a keyword bit of its own: at most 48 kinds."""
    if "etw" not in spec.sink.kinds:
        return
    versions = {layer.layer.ip_version for layer in layers if accounted(layer)} if spec.flows.accounting else set()
    kinds = len(layers) + len(versions)
    if kinds > ETW_KEYWORD_BITS:
        checker.error(("sink", "kind"), f"the etw sink gives each of the {kinds} record kinds (hooked layers and "
                      "flow records) a keyword bit of its own, and TraceLogging leaves a provider 48",
                      allowed=f"at most {ETW_KEYWORD_BITS} record kinds with the etw sink")


def _check_capacity(spec: Spec, source: Source, catalog: Catalog, layers: tuple[ResolvedLayer, ...]) -> None:
    """The ring must hold at least two of the largest records (and one READ must fit one)."""
    from wfpgen.model import flow_record_layout, record_layout  # the layout is the model's decision

    sizes = [record_layout("", layer, spec.sink.max_blob).max_size for layer in layers]
    if spec.flows.accounting:
        for version in sorted({layer.layer.ip_version for layer in layers if accounted(layer)}):
            established = catalog.layer(f"ale_flow_established_v{version}")
            assert established is not None
            sizes.append(flow_record_layout("", established, spec.sink.max_blob).max_size)
    largest = max(sizes)
    if largest > 0xFFF8:  # blob references are 16-bit offsets
        path_blob: Path = ("sink", "max_blob") if ("sink", "max_blob") in source.values else ("sink",)
        raise SpecError([source.diag(path_blob, f"records of up to {largest} bytes exceed the 65528-byte limit "
                                     "of 16-bit blob offsets", allowed="a smaller max_blob or fewer blob values")])
    if "ring" in spec.sink.kinds and spec.sink.capacity < 2 * largest:
        path: Path = ("sink", "capacity") if ("sink", "capacity") in source.values else ("sink",)
        raise SpecError([source.diag(path, f"a ring of {spec.sink.capacity} bytes cannot hold two records of "
                                     f"{largest} bytes", allowed=f"a capacity of at least {2 * largest}")])
