"""The spec: a typed, strict model of the YAML a user writes, and its JSON Schema.

This module checks shape only (keys, types, formats). Whether a layer, field or metadata
item exists, and whether a condition fits its field, is checked against the catalog in
:mod:`wfpgen.validate`.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from wfpgen.errors import Diagnostic, SpecError, closest, join_names
from wfpgen.windows_names import INBOX_SERVICE_NAMES
from wfpgen.yamlsource import (
    ALLOWED_TEXT,
    Source,
    describe_character,
    forbidden_character,
    load_yaml,
    read_spec_bytes,
)

# Whole-string patterns, always used with fullmatch: "$" would also match before a trailing
# newline (a YAML block scalar's), and \d would match Arabic-Indic or fullwidth digits.
C_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)
GUID_TEXT = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}", re.ASCII)
DRIVER_VERSION = re.compile(r"(?:0|[1-9][0-9]{0,4})(?:\.(?:0|[1-9][0-9]{0,4})){3}", re.ASCII)
MAX_NAME = 32
MAX_TEXT = 200
#: More than the catalog's layers (66), each of which may be listed once.
MAX_LAYERS = 128

Target = Literal["win10", "win10_1607", "win10_1709", "win10_1809", "win10_2004", "win11", "win11_22h2",
                 "win11_24h2"]
TARGETS: tuple[str, ...] = get_args(Target)
_OLD_WDK = ("the WDK the project uses (10.0.26100) builds drivers for Windows 10 and later only, and wfpgen "
            "generates for no older WDK")
#: Releases a generated project cannot be built for, and why.
UNBUILDABLE_TARGETS = {
    # Microsoft builds Windows 7, 8 and 8.1 drivers only with the Windows 10 2004 WDK and Visual
    # Studio 2019; the current WDK rejects their TargetVersion values.
    "win7": f"Windows 7: {_OLD_WDK}",
    "win8": f"Windows 8: {_OLD_WDK}",
    "win81": f"Windows 8.1: {_OLD_WDK}",
    # At NTDDI_WIN10_RS2 the WDK's fwpsk.h declares FwpsCalloutRegister3 with a parameter of type
    # FWPS_CALLOUT3, which it declares only from NTDDI_WIN10_RS3: the header itself does not compile.
    "win10_1703": ("Windows 10, version 1703: at its NTDDI_VERSION (NTDDI_WIN10_RS2) the WDK's own fwpsk.h "
                   "does not compile (FwpsCalloutRegister3 takes an FWPS_CALLOUT3, declared only from "
                   "version 1709); target win10_1607 to load on 1703 too, or win10_1709"),
}
MatchKind = Literal[
    "equal",
    "not_equal",
    "greater",
    "greater_or_equal",
    "less",
    "less_or_equal",
    "range",
    "flags_all_set",
    "flags_any_set",
    "flags_none_set",
]
# Windows opens these as devices whatever the extension: CON.sln is the console, not a file.
RESERVED_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
DEFAULT_FIELDS = ("ip_protocol", "ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port")
DEFAULT_LAYERS = ("inbound_transport_v4", "outbound_transport_v4")


def _text(value: str, what: str) -> str:
    """``value`` if it holds only visible text (the loader refuses the rest first; this guards a Spec
    built in code)."""
    index = forbidden_character(value)
    if index is not None:
        raise ValueError(f"{what} contains {describe_character(value[index])}; allowed: {ALLOWED_TEXT}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DriverSpec(_Strict):
    """The driver: its name is a C identifier and the base of service, device and provider names."""

    name: Annotated[str, Field(description="C identifier; also the service, device and file base name")]
    description: Annotated[str, Field(max_length=MAX_TEXT)] = ""
    version: Annotated[str, Field(description="DriverVer version, four dot-separated numbers")] = "1.0.0.0"
    target: Annotated[Target, Field(description="Oldest Windows version the driver must load on")] = "win10"

    @field_validator("name")
    @classmethod
    def _c_identifier(cls, value: str) -> str:
        if not C_IDENTIFIER.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a C identifier (a letter, then letters, digits or '_'; at most {MAX_NAME})"
            )
        if len(value) > MAX_NAME:
            raise ValueError(f"'{value}' is {len(value)} characters long; at most {MAX_NAME} are allowed")
        if value.upper() in RESERVED_DEVICE_NAMES:
            raise ValueError(f"'{value}' is a reserved Windows device name: files named {value}.sln or "
                             f"{value}.inf cannot be created on Windows (reserved: CON, PRN, AUX, NUL, "
                             "COM1-COM9, LPT1-LPT9, in any case)")
        if value.lower() in INBOX_SERVICE_NAMES:
            raise ValueError(f"'{value}' is taken by Windows ({INBOX_SERVICE_NAMES[value.lower()]}, in any "
                             "case): installing this driver would take over or collide with it, and "
                             "scripts/uninstall.ps1 would stop and delete the service of that name; allowed: a "
                             "name no Windows service, driver or device uses")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return _text(value, "description")

    @field_validator("target", mode="before")
    @classmethod
    def _buildable_target(cls, value: object) -> object:
        if isinstance(value, str) and value in UNBUILDABLE_TARGETS:
            raise ValueError(f"target '{value}' cannot be built ({UNBUILDABLE_TARGETS[value]}); "
                             f"allowed: {', '.join(TARGETS)}")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not DRIVER_VERSION.fullmatch(value) or any(int(p) > 65535 for p in value.split(".")):
            raise ValueError(f"{value!r} is not a driver version (four ASCII decimal numbers 0-65535 without "
                             "leading zeros, e.g. 1.0.0.0)")
        return value


class ProviderSpec(_Strict):
    """The WFP provider object that owns the sublayer, callouts and filters."""

    description: Annotated[str | None, Field(max_length=MAX_TEXT)] = None
    key: Annotated[str | None, Field(description="Provider GUID; derived from the driver name if omitted")] = None

    @field_validator("key")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if value is not None and not GUID_TEXT.fullmatch(value):
            raise ValueError(f"'{value}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hexadecimal)")
        return None if value is None else str(uuid.UUID(value))

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return None if value is None else _text(value, "description")


class SublayerSpec(_Strict):
    """The driver's own sublayer; its weight orders it against other sublayers."""

    weight: Annotated[int, Field(ge=0, le=0xFFFF)] = 0x8000
    description: Annotated[str | None, Field(max_length=MAX_TEXT)] = None

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return None if value is None else _text(value, "description")


class ConditionSpec(_Strict):
    """One filter condition: a field, how to match, and a value that fits the field's type."""

    field: str
    match: MatchKind = "equal"
    value: Annotated[
        Any,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer"},
                    {"type": "string"},
                    {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
                ],
                "description": "Checked against the field's type: 443, 'tcp', '10.0.0.0/8', [1024, 65535]",
            }
        ),
    ]


class LayerSpec(_Strict):
    """One layer to hook; each key overrides the top-level default of the same name."""

    layer: str
    fields: list[str] | None = None
    metadata: list[str] | None = None
    conditions: list[ConditionSpec] | None = None
    action: Literal["inspect", "block"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"layer": data} if isinstance(data, str) else data


#: Every sink, in the order a record reaches them: the ring (which numbers it) first.
SINK_KINDS = ("ring", "dbgprint", "etw")
#: An ETW provider name: what TraceLogging tools accept after '*' (wpr, PerfView, logman), and
#: safe in every context the name reaches (C literal, XML, Markdown) without escaping.
ETW_PROVIDER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*", re.ASCII)
MAX_ETW_PROVIDER_NAME = 128
_SINK_KIND_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"enum": list(SINK_KINDS)},
        {"type": "array", "items": {"enum": list(SINK_KINDS)}, "minItems": 1, "uniqueItems": True},
    ],
    "description": "ring (default): records to user mode | dbgprint: the tutorial's line | etw: TraceLogging "
                   "events; one name or a list of distinct names",
}


class SinkSpec(_Strict):
    """Where events go: ``ring`` (device + generated reader, the default), ``dbgprint`` (the tutorial's line),
    ``etw`` (kernel-mode TraceLogging events), or a list of them: each record goes to every one."""

    kind: Annotated[Any, WithJsonSchema(_SINK_KIND_SCHEMA)] = "ring"
    etw_provider: Annotated[
        str | None,
        Field(description="ETW provider name (default: the driver's name); its GUID is derived from it as "
                          "TraceLogging and EventSource do, so tools enable it as *Name"),
    ] = None
    capacity: Annotated[int, Field(ge=4096, le=64 * 1024 * 1024, description="Ring size in bytes")] = 1024 * 1024
    max_blob: Annotated[int, Field(ge=16, le=4096, description="Bytes kept of each path or SID")] = 520

    @field_validator("capacity")
    @classmethod
    def _aligned(cls, value: int) -> int:
        if value % 8:
            raise ValueError(f"capacity {value} is not a multiple of 8 (records are 8-byte aligned)")
        return value

    @field_validator("max_blob")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"max_blob {value} is odd; UTF-16 paths need an even byte count")
        return value

    @field_validator("kind")
    @classmethod
    def _kind_shape(cls, value: Any) -> Any:
        # The names are checked in wfpgen.validate, which can point at each list item.
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        raise ValueError(f"'kind' must be a sink name or a list of sink names, not {_describe(value)}; "
                         f"allowed: {', '.join(SINK_KINDS)}")

    @field_validator("etw_provider")
    @classmethod
    def _provider_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value) > MAX_ETW_PROVIDER_NAME or not ETW_PROVIDER_NAME.fullmatch(value):
            raise ValueError(f"invalid ETW provider name {value!r}; allowed: an ASCII letter, then letters, digits, "
                             f"'_', '.' or '-', at most {MAX_ETW_PROVIDER_NAME} characters")
        return value

    @property
    def kinds(self) -> tuple[str, ...]:
        """The sinks as given (one name, or the list's names in their order)."""
        return (self.kind,) if isinstance(self.kind, str) else tuple(self.kind)


class FlowsSpec(_Strict):
    """Flows: process data at the packet layers taken from each flow's ALE_FLOW_ESTABLISHED event, and
    per-flow packet and byte counts reported as flow records."""

    attribution: Annotated[
        bool,
        Field(description="process_id and process_path at transport, datagram and stream layers come from the "
                          "flow's establishing event (a callout at ale_flow_established_v4/v6 is added)"),
    ] = False
    max_contexts: Annotated[
        int,
        Field(ge=16, le=1 << 16, description="Live flow contexts, preallocated at load; a flow beyond them is "
                                             "recorded without process data and counted"),
    ] = 4096
    accounting: Annotated[
        bool,
        Field(description="Count each flow's packets and payload bytes in each direction at the transport layers "
                          "and report them in a flow record (flow_v4, flow_v6) with its 5-tuple and process when "
                          "the flow ends (a callout at ale_flow_established_v4/v6 is added)"),
    ] = False
    interval: Annotated[
        int,
        Field(ge=0, le=86400, description="Seconds: a flow also reports what it counted since its last record at "
                                          "its first packet after this long; 0 reports only when the flow ends"),
    ] = 0
    packets: Annotated[
        bool,
        Field(description="Per-packet records at the transport layers; false keeps only the flow records "
                          "(needs accounting)"),
    ] = True


class Spec(_Strict):
    """A wfpgen spec, version 1."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, title="wfpgen spec", json_schema_extra={"$id": "wfpgen-spec-v1"}
    )

    version: Literal[1]
    driver: DriverSpec
    provider: ProviderSpec = ProviderSpec()
    sublayer: SublayerSpec = SublayerSpec()
    layers: Annotated[list[LayerSpec], Field(min_length=1, max_length=MAX_LAYERS)] = [
        LayerSpec(layer=name) for name in DEFAULT_LAYERS
    ]
    fields: list[str] = list(DEFAULT_FIELDS)
    metadata: list[str] = []
    conditions: list[ConditionSpec] = []
    action: Literal["inspect", "block"] = "inspect"
    sink: SinkSpec = SinkSpec()
    flows: FlowsSpec = FlowsSpec()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec, for editors and for validating examples."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    layer_ref = schema["properties"]["layers"]["items"]
    schema["properties"]["layers"]["items"] = {"anyOf": [{"type": "string"}, layer_ref]}
    return schema


_TYPE_WORDS = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return type(value).__name__


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the last key of ``loc``."""
    model: Any = Spec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _inner_model(info.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    for candidate in getattr(annotation, "__args__", ()) or (annotation,):
        found = _inner_model(candidate) if getattr(candidate, "__args__", None) else candidate
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _section(loc: tuple[str | int, ...]) -> str:
    parts = [p for p in loc if isinstance(p, str)]
    return "'" + ".".join(parts) + "'" if parts else "the top level"


_ABSENT = object()


def _child(node: Any, part: str | int) -> Any:
    """``node[part]`` when the document has it, else ``_ABSENT``."""
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``loc`` without the parts pydantic adds for union members and validators (``list[str]``,
    ``function-before[...]``): a part that names a key or index of the document is always kept,
    whatever characters it holds, and so is a missing key (a field name: never synthetic-looking)."""
    path: list[str | int] = []
    node: Any = data
    for part in loc:
        child = _child(node, part)
        if child is not _ABSENT:
            path.append(part)
            node = child
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # synthetic: the data below it is the same node
        else:
            path.append(part)
            node = None
    return tuple(path)


def _diagnostic(source: Source, error: Any) -> Diagnostic:
    kind: str = error["type"]
    loc = _data_path(source.data, tuple(error["loc"]))
    name = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        owner = _model_at(loc)
        legal = sorted(owner.model_fields) if owner else []
        return source.diag(loc, f"unknown key '{name}' in {_section(loc[:-1])}", key=True,
                           suggestion=closest(str(name), legal), allowed=join_names(legal))
    if kind == "missing":
        owner = _model_at(loc)
        where = _section(loc[:-1])
        allowed = "1" if loc == ("version",) else None
        hint = f"missing required key '{name}' in {where}"
        return source.diag(loc[:-1], hint, allowed=allowed) if owner else source.diag(loc, hint)
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", ""))
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        value = error.get("input")
        return source.diag(loc, f"invalid value {value!r} for '{name}'",
                           suggestion=closest(str(value), options), allowed=", ".join(options))
    if kind in _TYPE_WORDS:
        return source.diag(loc, f"'{name}' must be {_TYPE_WORDS[kind]}, not {_describe(error.get('input'))}")
    if kind == "value_error":
        return source.diag(loc, str(error["msg"]).removeprefix("Value error, "))
    if kind in ("greater_than_equal", "less_than_equal", "too_short", "too_long", "string_too_long"):
        return source.diag(loc, f"invalid '{name}': {error['msg'].lower()}")
    return source.diag(loc, f"invalid '{name}': {error['msg']}")


def parse_spec(source: Source) -> Spec:
    """Validate the shape of a loaded document; raise :class:`SpecError` with every problem."""
    if not isinstance(source.data, dict):
        raise SpecError([source.diag((), "the spec must be a mapping", allowed="a mapping with 'version: 1'")])
    try:
        return Spec.model_validate(source.data)
    except ValidationError as exc:
        problems = [_diagnostic(source, error) for error in exc.errors()]
        raise SpecError(problems) from None


def load_spec(path: Path, display: str | None = None) -> tuple[Spec, Source]:
    """Read (once: ``source.raw`` holds the bytes), parse and shape-check the spec at ``path``."""
    name = display if display is not None else str(path)
    source = load_yaml(read_spec_bytes(path, name), name)
    return parse_spec(source), source
