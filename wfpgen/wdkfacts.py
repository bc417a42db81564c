"""WDK numbers generated code relies on, looked up in the catalog: small pure functions.

Three consumers need the same numbers and must not disagree:

* ``scripts/build_mingw_shims.py`` writes them into the MinGW cross-build shims
  (``wfpgen/crossbuild/include``), where the driver is compiled into a real ``.sys``;
* the model, for the generated project's ``ci/wdk_assumptions.c``, which asserts each of
  them against the real WDK headers when the project's Windows CI runs;
* tests.

Every value comes from the packaged catalog (``wfpgen/catalog/data``) except
:data:`METADATA_VALUES0_X64_OFFSETS` and :data:`METADATA_VALUES0_X64_SIZE`, the x64 layout
of ``FWPS_INCOMING_METADATA_VALUES0`` the cross-build shim declares. They are written out
here and verified against the layout clang computes from the WDK headers
(``wdk_facts.json``, ``incoming_metadata_values0``): ``tests/test_wdk_facts.py`` fails if
they differ. A generated project's ``ci/wdk_assumptions.c`` checks them again on Windows.

:func:`compare_catalog` checks the catalog against ``wdk_facts.json``, the facts
``scripts/extract_wdk_facts.py`` extracts from Microsoft's WDK headers (packaged beside the
catalog, read with :func:`load_wdk_facts`).

:func:`ntddi_gate` turns a fact's ``gate_ntddi`` (or its ``present`` runs) into the
``#if NTDDI_VERSION`` test the headers put around the name; the scripts that generate the
shims' WFP tables (``scripts/build_hostsim_headers.py``, ``scripts/build_mingw_shims.py``)
emit those tests with :func:`gated_lines`, so the shims declare each name at the same
``NTDDI_VERSION`` values as the WDK.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from wfpgen.catalog import Catalog, Layer, load_catalog

__all__ = [
    "FACTS_FILE",
    "METADATA_VALUES0_X64_OFFSETS",
    "METADATA_VALUES0_X64_SIZE",
    "FactComparison",
    "Ntddi",
    "NtddiGate",
    "WdkFactError",
    "compare_catalog",
    "condition_guid",
    "fields_enum_facts",
    "fixed_value",
    "fwps_field_index",
    "fwps_layer_index",
    "gated_lines",
    "guid_parts",
    "load_wdk_facts",
    "metadata_flag_value",
    "metadata_offset",
    "newest_ntddi",
    "ntddi_gate",
    "sampled_ntddis",
    "wrap",
]


class WdkFactError(LookupError):
    """The catalog has no such layer, field or metadata item."""


#: Offsets in FWPS_INCOMING_METADATA_VALUES0 on x64, as the cross-build shim declares them,
#: for every member a generated driver may read (the catalog's metadata members whose type
#: is a scalar or ``FWP_BYTE_BLOB *``).  Members in the WDK's order.  Verified against the
#: WDK 10.0.22621 headers (wdk_facts.json): each member has this offset at every
#: NTDDI_VERSION that declares it.
METADATA_VALUES0_X64_OFFSETS: Mapping[str, int] = MappingProxyType(
    {
        "currentMetadataValues": 0,
        "flowHandle": 32,
        "ipHeaderSize": 40,
        "transportHeaderSize": 44,
        "processPath": 48,
        "token": 56,
        "processId": 64,
        "sourceInterfaceIndex": 72,
        "destinationInterfaceIndex": 76,
        "compartmentId": 80,
        "pathMtu": 96,
        "completionHandle": 104,
        "transportEndpointHandle": 112,
        "packetDirection": 140,
        "headerIncludeHeader": 144,
        "headerIncludeHeaderLength": 152,
        "frameLength": 188,
        "parentEndpointHandle": 192,
        "icmpIdAndSequence": 200,
        "localRedirectTargetPID": 204,
        "redirectRecords": 216,
        "subProcessTag": 264,
    }
)

#: sizeof(FWPS_INCOMING_METADATA_VALUES0) on x64 with every member, as the shim declares it.
#: Verified against the WDK headers: the last members (subProcessTag, reserved1) are declared
#: from NTDDI_WIN8 on, and the size is 280 from there; older targets see 216 (Windows 7),
#: 160 (Vista SP1) and 144 (Vista) bytes, with the same offsets for the members they have.
METADATA_VALUES0_X64_SIZE = 280


def _layer(name: str, catalog: Catalog | None) -> Layer:
    layer = (catalog or load_catalog()).layer(name)
    if layer is None:
        raise WdkFactError(f"no layer {name!r} in the catalog")
    return layer


def fwps_layer_index(layer: str, catalog: Catalog | None = None) -> int:
    """The value of ``FWPS_LAYER_*`` for ``layer`` (e.g. ``"inbound_transport_v4"`` -> 12)."""
    return _layer(layer, catalog).fwps_layer_index


def fwps_field_index(layer: str, field: str, catalog: Catalog | None = None) -> int:
    """The value of ``FWPS_FIELD_*`` for ``field`` (a name or alias) in ``layer``'s enum."""
    found = _layer(layer, catalog).field(field)
    if found is None:
        raise WdkFactError(f"layer {layer!r} has no field {field!r}")
    return found.index


def condition_guid(layer: str, field: str, catalog: Catalog | None = None) -> str:
    """The GUID of the ``FWPM_CONDITION_*`` that filters on ``field`` at ``layer``."""
    found = _layer(layer, catalog).field(field)
    if found is None or found.condition_guid is None:
        raise WdkFactError(f"layer {layer!r} has no condition for field {field!r}")
    return found.condition_guid


def metadata_flag_value(name: str, catalog: Catalog | None = None) -> int:
    """The value of ``FWPS_METADATA_FIELD_*`` for metadata item ``name`` (e.g. ``"process_id"`` -> 0x20)."""
    item = (catalog or load_catalog()).metadata.get(name)
    if item is None:
        raise WdkFactError(f"no metadata item {name!r} in the catalog")
    return item.flag_value


def metadata_offset(member: str) -> int:
    """The x64 offset of ``FWPS_INCOMING_METADATA_VALUES0.member`` (the shim's, verified against the WDK)."""
    try:
        return METADATA_VALUES0_X64_OFFSETS[member]
    except KeyError:
        raise WdkFactError(f"the cross-build shim declares no readable metadata member {member!r}") from None


def guid_parts(text: str) -> tuple[int, int, int, tuple[int, ...]]:
    """``(Data1, Data2, Data3, Data4)`` of a GUID written ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``."""
    value = uuid.UUID(text)
    return value.time_low, value.time_mid, value.time_hi_version, tuple(value.bytes[8:])


# -- the catalog against Microsoft's headers ---------------------------------------------------

#: The facts ``scripts/extract_wdk_facts.py`` extracted from the WDK headers, beside the catalog.
FACTS_FILE = "wdk_facts.json"


@functools.cache
def load_wdk_facts() -> Mapping[str, Any]:
    """The packaged ``wdk_facts.json`` (cached): names, values, GUIDs and gates read from the WDK headers."""
    text = files("wfpgen.catalog").joinpath("data").joinpath(FACTS_FILE).read_text(encoding="utf-8")
    facts = json.loads(text)
    if not isinstance(facts, dict):
        raise WdkFactError(f"{FACTS_FILE} is not a JSON object")
    return facts


# -- NTDDI gates: at which NTDDI_VERSION the headers declare a name ------------------------------


@dataclass(frozen=True)
class Ntddi:
    """One ``NTDDI_VERSION`` the facts were sampled at: its ``NTDDI_*`` name and value."""

    name: str
    value: int

    @property
    def hex(self) -> str:
        """The value as a C literal (``0x0A000003``)."""
        return f"0x{self.value:08X}"


@dataclass(frozen=True)
class NtddiGate:
    """The ``NTDDI_VERSION`` values at which the headers declare a name.

    ``runs`` are half-open ranges ``[since, until)``: ``since`` None from the oldest sampled
    NTDDI on (no test needed), ``until`` None through the newest. A name the headers declare
    at every sampled NTDDI has the single run ``(None, None)``: :attr:`always`.
    """

    runs: tuple[tuple[Ntddi | None, Ntddi | None], ...]

    @property
    def always(self) -> bool:
        return self.runs == ((None, None),)

    def holds(self, ntddi: int) -> bool:
        """Whether the headers declare the name at ``NTDDI_VERSION`` ``ntddi``."""
        return any((since is None or ntddi >= since.value) and (until is None or ntddi < until.value)
                   for since, until in self.runs)

    def condition(self) -> str:
        """The ``#if`` condition, with hex literals (not every shim defines the ``NTDDI_*`` names)
        and the names in a trailing comment."""
        tests: list[str] = []
        names: list[str] = []
        for since, until in self.runs:
            parts = [f"(NTDDI_VERSION >= {since.hex})"] if since is not None else []
            words = [since.name] if since is not None else []
            if until is not None:
                parts.append(f"(NTDDI_VERSION < {until.hex})")
                words.append(f"not from {until.name}")
            tests.append(" && ".join(parts) or "1")
            names.append(", ".join(words) or "always")
        if len(tests) == 1:
            return f"{tests[0]} /* {names[0]} */"
        return " || ".join(f"({test})" for test in tests) + f" /* {'; '.join(names)} */"

    def directive(self) -> str:
        """``#if <condition>``."""
        return f"#if {self.condition()}"


def sampled_ntddis(facts: Mapping[str, Any] | None = None) -> list[Ntddi]:
    """Every ``NTDDI_VERSION`` the facts were extracted at, oldest first."""
    facts = facts if facts is not None else load_wdk_facts()
    return [Ntddi(sample["ntddi"], int(sample["value"], 16)) for sample in facts["sampled"]]


def newest_ntddi(facts: Mapping[str, Any] | None = None) -> Ntddi:
    """The newest ``NTDDI_VERSION`` the facts know."""
    return sampled_ntddis(facts)[-1]


def ntddi_gate(entry: Mapping[str, Any], facts: Mapping[str, Any] | None = None) -> NtddiGate:
    """The gate of a facts ``entry`` (a member, alias, GUID, flag or enum): from its ``gate_ntddi``
    on, or, when it disappears again, over its ``present`` runs of sampled NTDDIs. A run ends
    before the next sampled NTDDI, the first the headers no longer declare the name at."""
    samples = sampled_ntddis(facts)
    position = {sample.name: i for i, sample in enumerate(samples)}
    runs = entry.get("present") or [[entry.get("gate_ntddi"), samples[-1].name]]
    out: list[tuple[Ntddi | None, Ntddi | None]] = []
    for first, last in runs:
        if first not in position or last not in position:
            raise WdkFactError(f"gate {first!r}..{last!r} names an NTDDI the facts were not sampled at")
        start, end = position[first], position[last]
        since = samples[start] if start > 0 else None
        until = samples[end + 1] if end + 1 < len(samples) else None
        out.append((since, until))
    return NtddiGate(tuple(out))


def gated_lines(lines: Iterable[tuple[NtddiGate | None, str]]) -> list[str]:
    """``lines`` with each run of consecutive lines under one gate wrapped in ``#if`` ... ``#endif``
    (no wrapping for a None or :attr:`NtddiGate.always` gate)."""
    out: list[str] = []
    current: NtddiGate | None = None
    for gate, line in lines:
        if gate is not None and gate.always:
            gate = None
        if gate != current:
            if current is not None:
                out.append("#endif")
            if gate is not None:
                out.append(gate.directive())
            current = gate
        out.append(line)
    if current is not None:
        out.append("#endif")
    return out


def fixed_value(entry: Mapping[str, Any]) -> object:
    """A facts entry's value when the headers declare it, with that value, at every NTDDI_VERSION
    from its gate on; else None."""
    return None if "value_changes" in entry or "present" in entry else entry.get("value")


def wrap(gate: NtddiGate | None, lines: Sequence[str]) -> list[str]:
    """``lines`` under ``gate`` (unwrapped for None)."""
    return gated_lines((gate, line) for line in lines)


def fields_enum_facts(facts: Mapping[str, Any], typedef: str) -> Mapping[str, Any] | None:
    """The facts of the ``FWPS_FIELDS_*`` enum named ``typedef`` (tag or typedef name), if any."""
    for tag, entry in facts["fields_enums"].items():
        if typedef in entry["typedefs"] or tag == typedef + "_":
            return dict(entry)
    return None


@dataclass
class FactComparison:
    """How the catalog compares with the header facts: per check, how many agree, and every difference."""

    counts: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # check -> [agreeing, compared]
    differences: list[str] = dataclasses.field(default_factory=list)

    def check(self, what: str, agrees: bool, difference: str) -> None:
        """Count one comparison of kind ``what``; record ``difference`` when it does not agree."""
        count = self.counts.setdefault(what, [0, 0])
        count[1] += 1
        if agrees:
            count[0] += 1
        else:
            self.differences.append(f"{what}: {difference}")

    def summary(self) -> list[str]:
        """One line per kind of comparison."""
        return [f"{what}: {agree} of {total} agree" + ("" if agree == total else f", {total - agree} differ")
                for what, (agree, total) in self.counts.items()]


def _later(catalog: Catalog, *gates: str | None) -> str | None:
    """The newest of ``gates``; None when one of them is None (no catalog version has the name)."""
    versions = []
    for gate in gates:
        version = catalog.version(gate) if gate is not None else None
        if version is None:
            return None
        versions.append(version)
    return max(versions, key=lambda version: version.rank).id if versions else None


def _value(entry: Mapping[str, Any] | None) -> int | None:
    """An entry's value when it is the same at every NTDDI that has it, else None."""
    if entry is None or "value_changes" in entry:
        return None
    value = entry.get("value")
    return value if isinstance(value, int) else None


def _member_gates(facts: Mapping[str, Any]) -> dict[str, str | None]:
    """FWPS_INCOMING_METADATA_VALUES0 member -> the gate of the first layout having it."""
    gates: dict[str, str | None] = {}
    for layout in facts["incoming_metadata_values0"]["layouts"]:
        for member in layout["members"]:
            gates.setdefault(member["name"], layout["gate"])
    return gates


#: Identifier families the facts list completely (FWPM_LAYER_FLAG_* are flag bits, not layers).
_FACT_FAMILIES = ("FWPS_LAYER_", "FWPS_FIELD_", "FWPS_FIELDS_", "FWPM_LAYER_", "FWPM_CONDITION_",
                  "FWPS_METADATA_FIELD_", "FWP_CONDITION_FLAG_", "FWP_CALLOUT_FLAG_")
_NOT_FACT_FAMILIES = ("FWPM_LAYER_FLAG_",)


def _header_names(facts: Mapping[str, Any]) -> set[str]:
    """Every name of those families the header has."""
    names = {m["name"] for m in facts["builtin_layers"]["members"]}
    for tag, enum in facts["fields_enums"].items():
        names |= {tag, *enum["typedefs"], *(m["name"] for m in enum["members"]), *enum.get("aliases", {})}
    for section in ("layer_guids", "condition_guids", "guid_aliases", "metadata_fields", "condition_flags",
                    "callout_flags"):
        names |= set(facts[section])
    return names


def compare_catalog(catalog: Catalog, facts: Mapping[str, Any]) -> FactComparison:
    """Compare every layer id, layer GUID and gate, field (name, index, gate), alias, condition GUID,
    metadata flag (value, member, gate), condition flag and offered WFP name of ``catalog`` with the
    header ``facts``."""
    result = FactComparison()
    layers = {m["name"]: m for m in facts["builtin_layers"]["members"]}
    layer_guids, condition_guids = facts["layer_guids"], facts["condition_guids"]
    for layer in catalog.layers.values():
        fwps = layers.get(layer.fwps_layer)
        value = _value(fwps)
        result.check("layer ids", value == layer.fwps_layer_index,
                     f"{layer.fwps_layer}: catalog {layer.fwps_layer_index}, header "
                     f"{'absent' if fwps is None else fwps.get('value_changes', value)}")
        fwpm = layer_guids.get(layer.fwpm_layer)
        result.check("layer GUIDs", fwpm is not None and fwpm["guid"] == layer.fwpm_layer_guid,
                     f"{layer.fwpm_layer}: catalog {layer.fwpm_layer_guid}, header {fwpm and fwpm['guid']}")
        gate = _later(catalog, fwps and fwps["gate"], fwpm and fwpm["gate"]) if fwps and fwpm else None
        result.check("layer gates", gate == layer.min_windows,
                     f"{layer.name}: catalog {layer.min_windows}, header {gate}")
        _compare_fields(catalog, layer, facts, condition_guids, result)
    _compare_metadata(catalog, facts, result)
    known = _header_names(facts)
    for name in catalog.wdk_names:
        if name.startswith(_FACT_FAMILIES) and not name.startswith(_NOT_FACT_FAMILIES):
            result.check("WFP names", name in known, f"{name} is offered and is not in the header")
    flags = facts["condition_flags"]
    for name, flag_value in catalog.condition_flags.values():
        entry = flags.get(name)
        result.check("condition flags", _value(entry) == flag_value,
                     f"{name}: catalog {flag_value:#x}, header {'absent' if entry is None else _value(entry)}")
    return result


def _compare_fields(catalog: Catalog, layer: Layer, facts: Mapping[str, Any], condition_guids: Mapping[str, Any],
                    result: FactComparison) -> None:
    enum = fields_enum_facts(facts, layer.fields_enum)
    if enum is None:
        result.check("field enums", False, f"{layer.name}: no enum {layer.fields_enum} in the header")
        return
    members = [m for m in enum["members"] if not m["name"].endswith("_MAX")]
    by_name = {m["name"]: m for m in members}
    header_order = [m["name"] for m in members]
    catalog_order = [f.member for f in sorted(layer.fields, key=lambda f: f.index)]
    result.check("field enums", header_order == catalog_order,
                 f"{layer.name}: catalog {len(catalog_order)} fields, header {len(header_order)}; only in the "
                 f"catalog {sorted(set(catalog_order) - set(header_order))}, only in the header "
                 f"{sorted(set(header_order) - set(catalog_order))}"
                 + ("" if set(header_order) != set(catalog_order) else "; order differs"))
    for name in sorted(set(header_order) - set(catalog_order)):
        result.check("fields", False, f"{layer.name}: {name} (index {by_name[name].get('value')}) "
                                      "is in the header, not in the catalog")
    for item in layer.fields:
        member = by_name.get(item.member)
        if member is None:
            result.check("fields", False, f"{layer.name}: {item.member} is not in the header")
            continue
        value = _value(member)
        result.check("fields", value == item.index,
                     f"{layer.name}: {item.member} index: catalog {item.index}, header "
                     f"{member.get('value_changes', value)}")
        result.check("field gates", member["gate"] == item.min_windows,
                     f"{layer.name}: {item.member}: catalog {item.min_windows}, header {member['gate']} "
                     f"({member['gate_ntddi']})")
        if item.condition is not None:
            target = facts["guid_aliases"].get(item.condition, {}).get("target", item.condition)
            condition = condition_guids.get(target)
            result.check("condition GUIDs", condition is not None and condition["guid"] == item.condition_guid,
                         f"{layer.name}: {item.condition}: catalog {item.condition_guid}, header "
                         f"{condition['guid'] if condition else 'absent'}")
    prefix = layer.fields_enum.replace("FWPS_FIELDS_", "FWPS_FIELD_", 1) + "_"
    header_aliases = {alias: entry["target"] for alias, entry in enum.get("aliases", {}).items()}
    catalog_aliases = {prefix + alias.upper(): prefix + target.upper() for alias, target in layer.aliases.items()}
    for alias in sorted(set(header_aliases) | set(catalog_aliases)):
        result.check("aliases", header_aliases.get(alias) == catalog_aliases.get(alias),
                     f"{layer.name}: {alias}: catalog {catalog_aliases.get(alias)}, header "
                     f"{header_aliases.get(alias)}")


def _compare_metadata(catalog: Catalog, facts: Mapping[str, Any], result: FactComparison) -> None:
    flags = facts["metadata_fields"]
    member_gates = _member_gates(facts)
    for item in catalog.metadata.values():
        entry = flags.get(item.flag)
        if entry is None:
            result.check("metadata flags", False, f"{item.flag} is not in the header")
            continue
        result.check("metadata flags", _value(entry) == item.flag_value,
                     f"{item.flag}: catalog {item.flag_value:#x}, header {entry.get('value_changes', _value(entry))}")
        if item.member is not None:
            result.check("metadata members", item.member in member_gates,
                         f"{item.flag}: member {item.member} is not in FWPS_INCOMING_METADATA_VALUES0")
        gate = _later(catalog, entry["gate"], member_gates.get(item.member)) if item.member in member_gates \
            else entry["gate"]
        result.check("metadata gates", gate == item.min_windows,
                     f"{item.flag}: catalog {item.min_windows}, header {gate}")
