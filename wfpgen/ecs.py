"""The Elastic Common Schema (ECS) facts behind the reader's ``--format ecs``.

``wfpgen/data/ecs_fields.json`` is written by ``scripts/extract_ecs_fields.py`` from Elastic's
published field list of one ECS release (the ``elastic/ecs`` repository's
``generated/csv/fields.csv`` and ``generated/ecs/ecs_flat.yml``): each field's name, type,
level and normalizations, the field sets, and the allowed values of the fields that have a
closed list. This module reads it and checks its shape (a broken table fails loudly), and
states what the reader writes where (``MAPPING``), checked against the table: every ECS
field named exists, is a field of its own (not a multi-field), and the custom namespace that
holds everything without an ECS field is no ECS field set or top-level name. The reader's
templates print the version and the mapping table; ``tests/test_reader_ecs.py`` checks every
document the reader writes against the same table.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType
from typing import Any, NamedTuple

DATA_FILE = "ecs_fields.json"
#: The top-level name of every value without an ECS field (the driver's name, the record kind,
#: the processor, and the values ECS has no field for), as ECS allows custom fields to be named.
CUSTOM_NAMESPACE = "wfpgen"


class EcsError(ValueError):
    """The ECS table is malformed, or the mapping names something it does not have."""


@dataclass(frozen=True)
class EcsField:
    """One ECS field: its type (``keyword``, ``long``, ``ip``, ``date``, ...) and how it is held."""

    type: str
    level: str
    normalize: tuple[str, ...]
    indexed: bool
    multi_field: bool  # a second mapping of its parent's value (``.text``): never a key of a document

    @property
    def array(self) -> bool:
        """Whether ECS normalizes the field to a list."""
        return "array" in self.normalize


@dataclass(frozen=True)
class EcsTable:
    """The extracted facts of one ECS release."""

    version: str
    fields: Mapping[str, EcsField]
    fieldsets: frozenset[str]
    allowed_values: Mapping[str, tuple[str, ...]]
    expected_values: Mapping[str, tuple[str, ...]]
    expected_event_types: Mapping[str, tuple[str, ...]]

    @functools.cached_property
    def top_level_names(self) -> frozenset[str]:
        """The first part of every field name (``@timestamp``, ``event``, ``labels``, ...)."""
        return frozenset(name.split(".", 1)[0] for name in self.fields)

    def allowed(self, name: str) -> tuple[str, ...]:
        """The closed list of values of ``name`` (allowed, else expected); empty when it has none."""
        return self.allowed_values.get(name) or self.expected_values.get(name, ())


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EcsError(f"{DATA_FILE}: {where} is not a list of strings")
    return tuple(value)


def _lists(value: Any, where: str) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise EcsError(f"{DATA_FILE}: {where} is not a mapping")
    return MappingProxyType({str(key): _strings(item, f"{where}.{key}") for key, item in value.items()})


def _field(name: str, value: Any) -> EcsField:
    if not isinstance(value, dict) or set(value) != {"type", "level", "normalize", "indexed", "multi_field"}:
        raise EcsError(f"{DATA_FILE}: field {name} has not the extracted shape")
    if not isinstance(value["type"], str) or not isinstance(value["indexed"], bool):
        raise EcsError(f"{DATA_FILE}: field {name} has a malformed type or indexed flag")
    return EcsField(value["type"], str(value["level"]), _strings(value["normalize"], f"{name}.normalize"),
                    value["indexed"], bool(value["multi_field"]))


def parse_table(data: Any) -> EcsTable:
    """The table from the file's JSON; ``EcsError`` when it is not what the extraction script writes."""
    if not isinstance(data, dict) or not isinstance(data.get("ecs_version"), str) or not data["ecs_version"]:
        raise EcsError(f"{DATA_FILE}: no ECS version")
    fields = data.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise EcsError(f"{DATA_FILE}: no fields")
    return EcsTable(
        version=data["ecs_version"],
        fields=MappingProxyType({name: _field(name, value) for name, value in fields.items()}),
        fieldsets=frozenset(_strings(data.get("fieldsets"), "fieldsets")),
        allowed_values=_lists(data.get("allowed_values"), "allowed_values"),
        expected_values=_lists(data.get("expected_values"), "expected_values"),
        expected_event_types=_lists(data.get("expected_event_types"), "expected_event_types"),
    )


@functools.cache
def ecs_table() -> EcsTable:
    """The packaged table (read once)."""
    text = files("wfpgen").joinpath("data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_table(json.loads(text))


class Mapped(NamedTuple):
    """One ECS field the reader writes, and what it holds (Markdown)."""

    field: str
    source: str


MAPPING: tuple[Mapped, ...] = (
    Mapped("@timestamp", "the record's timestamp (a FILETIME) as ISO 8601 UTC, to the microsecond"),
    Mapped("ecs.version", "the ECS version above"),
    Mapped("event.kind", "`event`"),
    Mapped("event.category", '`["network"]`'),
    Mapped("event.type", '`["connection"]`; a flow record `["connection", "end"]` (`end_reason` `ended`) or '
                         '`["connection", "info"]` (`interval`: the flow goes on)'),
    Mapped("event.action", "the record kind: the layer's name, or `flow_v4` / `flow_v6`"),
    Mapped("event.provider", "the driver's name"),
    Mapped("event.sequence", "`sequence` (each processor numbers its own records: see `wfpgen.processor`)"),
    Mapped("event.start", "flow records: `first_seen`"),
    Mapped("event.end", "flow records: `last_seen`"),
    Mapped("event.duration", "flow records: `last_seen` - `first_seen`, in nanoseconds"),
    Mapped("event.reason", "flow records: `end_reason` (`ended`, `interval`)"),
    Mapped("network.transport", "`ip_protocol` as its IANA keyword in lower case (`tcp`, `udp`, `icmp`, "
                                "`ipv6-icmp`, `igmp`, `gre`, `esp`, `ah`, `sctp`, `udplite`); other protocols "
                                "have `network.iana_number` only"),
    Mapped("network.iana_number", "`ip_protocol` as a decimal string"),
    Mapped("network.type", "`ipv4` or `ipv6`: the kind of the layer's addresses"),
    Mapped("network.direction", "`egress` (outbound) or `ingress` (inbound), seen from the host: the "
                                "layer's direction, else the record's `direction` or `packet_direction` (a "
                                "flow record: the direction its flow was established in)"),
    Mapped("network.bytes", "flow records: `bytes_in` + `bytes_out`"),
    Mapped("network.packets", "flow records: `packets_in` + `packets_out`"),
    Mapped("source.ip", "egress: `ip_local_address`; ingress: `ip_remote_address`"),
    Mapped("source.port", "the port of the same end (not for ICMP: see `wfpgen.icmp_type`)"),
    Mapped("source.bytes", "flow records: what the source sent (egress `bytes_out`, ingress `bytes_in`)"),
    Mapped("source.packets", "flow records: egress `packets_out`, ingress `packets_in`"),
    Mapped("destination.ip", "egress: `ip_remote_address`; ingress: `ip_local_address`"),
    Mapped("destination.port", "the port of the same end (not for ICMP: see `wfpgen.icmp_code`)"),
    Mapped("destination.bytes", "flow records: what the destination sent (egress `bytes_in`, ingress "
                                "`bytes_out`)"),
    Mapped("destination.packets", "flow records: egress `packets_in`, ingress `packets_out`"),
    Mapped("process.pid", "`process_id`"),
    Mapped("process.executable", "`process_path`, or `ale_app_id` at a layer that does not record "
                                 "`process_path` (NT device paths, as the kernel gives them)"),
    Mapped("process.name", "the executable's last path component (not when the path was cut at `max_blob`)"),
    Mapped("related.ip", "the record's addresses, source first"),
)


def check_mapping(table: EcsTable) -> None:
    """``EcsError`` unless every mapped field is an ECS field of its own and the custom namespace is free."""
    for mapped in MAPPING:
        field = table.fields.get(mapped.field)
        if field is None or field.multi_field:
            raise EcsError(f"ECS {table.version} has no field {mapped.field}")
    if CUSTOM_NAMESPACE in table.fieldsets or CUSTOM_NAMESPACE in table.top_level_names:
        raise EcsError(f"{CUSTOM_NAMESPACE} is an ECS field set or top-level name in ECS {table.version}")


def _type(field: EcsField) -> str:
    return f"{field.type} (list)" if field.array else field.type


def mapping_table(table: EcsTable) -> str:
    """The Markdown table of ``MAPPING``: ECS field, its ECS type, what it holds."""
    check_mapping(table)
    rows = ["| ECS field | type | holds |", "| --- | --- | --- |"]
    rows += [f"| `{m.field}` | {_type(table.fields[m.field])} | {m.source} |" for m in MAPPING]
    return "\n".join(rows)


@dataclass(frozen=True)
class ReaderEcs:
    """What the reader's templates print about ECS."""

    version: str
    namespace: str
    table_md: str


@functools.cache
def reader_ecs() -> ReaderEcs:
    """The ECS facts of the reader's templates, checked."""
    table = ecs_table()
    return ReaderEcs(table.version, CUSTOM_NAMESPACE, mapping_table(table))
