"""The WFP catalog: kernel run-time filtering layers, their fields and metadata.

The data lives in ``wfpgen/catalog/data/*.json``, written by
``scripts/build_catalog.py`` from the WFP reference and, where they disagree, from the
facts ``scripts/extract_wdk_facts.py`` extracted from the WDK headers
(``wdk_facts.json``).  This module only reads those packaged files (through
:mod:`importlib.resources`), validates them and exposes them as frozen dataclasses.
Use :func:`load_catalog`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "KNOWN_TYPES",
    "Catalog",
    "CatalogError",
    "Field",
    "Layer",
    "MetadataItem",
    "WindowsVersion",
    "load_catalog",
    "load_catalog_from",
]

PACKAGE = "wfpgen.catalog"
DATA_DIR = "data"
LAYERS_FILE = "layers.json"
METADATA_FILE = "metadata.json"
VERSIONS_FILE = "versions.json"
CONDITION_FLAGS_FILE = "condition_flags.json"
WDK_NAMES_FILE = "wdk_names.json"

#: FWP_VALUE0 union members a field value can be read from, plus "unknown".
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


class CatalogError(Exception):
    """The packaged catalog data is missing, malformed or inconsistent."""


@dataclasses.dataclass(frozen=True)
class WindowsVersion:
    """A Windows release used as a minimum version; ``rank`` orders them (0 = oldest)."""

    id: str
    label: str
    ntddi: str
    hex: str
    rank: int


@dataclasses.dataclass(frozen=True)
class Field:
    """One member of a layer's ``FWPS_FIELDS_*`` enum (incoming value at classify time)."""

    name: str
    member: str
    index: int
    type: str
    data_type: str | None
    extractable: bool
    reserved: bool
    min_windows: str
    condition: str | None
    condition_guid: str | None
    description: str


@dataclasses.dataclass(frozen=True)
class MetadataItem:
    """One ``FWPS_METADATA_FIELD_*`` flag and the metadata member it guards."""

    name: str
    flag: str
    flag_value: int
    member: str | None
    c_type: str | None
    min_windows: str
    description: str


@dataclasses.dataclass(frozen=True)
class Layer:
    """A kernel run-time filtering layer (a base layer or one of its _DISCARD variants)."""

    name: str
    fwps_layer: str
    fwps_layer_index: int  # value in FWPS_BUILTIN_LAYERS, as the WDK header defines it (wdk_facts.json)
    fwpm_layer: str
    fwpm_layer_guid: str
    fields_enum: str
    base: str | None
    family: str
    ip_version: int
    direction: str | None
    discard: bool
    can_block: bool
    min_windows: str
    fields: tuple[Field, ...]
    aliases: Mapping[str, str] = dataclasses.field(hash=False)
    metadata: tuple[str, ...]
    source: str

    def field(self, name: str) -> Field | None:
        """The field called ``name``; an alias name returns the field it stands for."""
        target = self.aliases.get(name, name)
        for candidate in self.fields:
            if candidate.name == target:
                return candidate
        return None


@dataclasses.dataclass(frozen=True, eq=False)
class Catalog:
    """Everything in the packaged catalog."""

    layers: Mapping[str, Layer]
    metadata: Mapping[str, MetadataItem]
    versions: tuple[WindowsVersion, ...]
    condition_flags: Mapping[str, tuple[str, int]]
    wdk_names: Mapping[str, str]

    def layer(self, name: str) -> Layer | None:
        """The layer called ``name`` (e.g. ``"ale_auth_connect_v4"``), or None."""
        return self.layers.get(name)

    def version(self, id: str) -> WindowsVersion | None:
        """The Windows version with this id (e.g. ``"win7"``), or None."""
        for candidate in self.versions:
            if candidate.id == id:
                return candidate
        return None

    def layers_with_field(self, field_name: str) -> list[str]:
        """Names of the layers having ``field_name`` as a field or an alias, sorted."""
        return [name for name, layer in self.layers.items() if layer.field(field_name) is not None]

    def layers_with_metadata(self, meta_name: str) -> list[str]:
        """Names of the layers where metadata ``meta_name`` may be present, sorted."""
        return [name for name, layer in self.layers.items() if meta_name in layer.metadata]


# --------------------------------------------------------------------------- reading


def _read_data_text(name: str) -> str:
    """Text of one packaged data file."""
    resource = files(PACKAGE).joinpath(DATA_DIR).joinpath(name)
    try:
        return resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{name}: cannot read packaged data file ({exc})") from exc


def _parse(read: Callable[[str], str], name: str) -> Any:
    """Parse one data file as JSON."""
    try:
        return json.loads(read(name))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{name}: invalid JSON ({exc})") from exc


# --------------------------------------------------------------------------- typed access


def _obj(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a JSON object."""
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    """``value`` as a JSON list."""
    if not isinstance(value, list):
        raise CatalogError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    """A required string member."""
    value = obj.get(key)
    if not isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a string, got {value!r}")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    """A string-or-null member (must be present)."""
    if key not in obj:
        raise CatalogError(f"{where}: missing '{key}'")
    value = obj[key]
    if value is not None and not isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a string or null, got {value!r}")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    """A required integer member."""
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CatalogError(f"{where}: '{key}' must be an integer, got {value!r}")
    return value


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool:
    """A required boolean member."""
    value = obj.get(key)
    if not isinstance(value, bool):
        raise CatalogError(f"{where}: '{key}' must be a boolean, got {value!r}")
    return value


def _str_list(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """A required list of strings."""
    items = _list(obj.get(key), f"{where} '{key}'")
    if not all(isinstance(item, str) for item in items):
        raise CatalogError(f"{where}: '{key}' must hold only strings")
    return tuple(items)


def _str_map(value: Any, where: str) -> dict[str, str]:
    """A JSON object of strings."""
    mapping = _obj(value, where)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise CatalogError(f"{where}: value of '{key}' must be a string, got {item!r}")
    return dict(mapping)


def _unique(names: Iterable[str], what: str, where: str) -> None:
    """Fail if ``names`` repeats a name."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CatalogError(f"{where}: duplicate {what} '{name}'")
        seen.add(name)


def _known_version(version_id: str, versions: frozenset[str], where: str) -> str:
    """Fail unless ``version_id`` names a version of versions.json."""
    if version_id not in versions:
        raise CatalogError(f"{where}: unknown min_windows '{version_id}' (not in {VERSIONS_FILE})")
    return version_id


# --------------------------------------------------------------------------- parsing


def _parse_versions(data: Any) -> tuple[WindowsVersion, ...]:
    """versions.json -> WindowsVersion tuple ranked by position."""
    entries = _list(data, VERSIONS_FILE)
    versions = []
    for rank, raw in enumerate(entries):
        where = f"{VERSIONS_FILE}: entry {rank}"
        obj = _obj(raw, where)
        versions.append(
            WindowsVersion(
                id=_str(obj, "id", where),
                label=_str(obj, "label", where),
                ntddi=_str(obj, "ntddi", where),
                hex=_str(obj, "hex", where),
                rank=rank,
            )
        )
    _unique((v.id for v in versions), "version id", VERSIONS_FILE)
    return tuple(versions)


def _parse_metadata_item(raw: Any, versions: frozenset[str], where: str) -> MetadataItem:
    """One metadata.json entry."""
    obj = _obj(raw, where)
    return MetadataItem(
        name=_str(obj, "name", where),
        flag=_str(obj, "flag", where),
        flag_value=_int(obj, "flag_value", where),
        member=_opt_str(obj, "member", where),
        c_type=_opt_str(obj, "c_type", where),
        min_windows=_known_version(_str(obj, "min_windows", where), versions, where),
        description=_str(obj, "description", where),
    )


def _parse_metadata(data: Any, versions: frozenset[str]) -> dict[str, MetadataItem]:
    """metadata.json -> name -> MetadataItem, sorted by name."""
    items = [
        _parse_metadata_item(raw, versions, f"{METADATA_FILE}: entry {i}")
        for i, raw in enumerate(_list(data, METADATA_FILE))
    ]
    _unique((item.name for item in items), "metadata name", METADATA_FILE)
    return {item.name: item for item in sorted(items, key=lambda item: item.name)}


def _parse_field(raw: Any, versions: frozenset[str], where: str) -> Field:
    """One field object of a layer."""
    obj = _obj(raw, where)
    value_type = _str(obj, "type", where)
    if value_type not in KNOWN_TYPES:
        raise CatalogError(f"{where}: unknown type '{value_type}'")
    return Field(
        name=_str(obj, "name", where),
        member=_str(obj, "member", where),
        index=_int(obj, "index", where),
        type=value_type,
        data_type=_opt_str(obj, "data_type", where),
        extractable=_bool(obj, "extractable", where),
        reserved=_bool(obj, "reserved", where),
        min_windows=_known_version(_str(obj, "min_windows", where), versions, where),
        condition=_opt_str(obj, "condition", where),
        condition_guid=_opt_str(obj, "condition_guid", where),
        description=_str(obj, "description", where),
    )


def _parse_fields(obj: Mapping[str, Any], versions: frozenset[str], where: str) -> tuple[Field, ...]:
    """A layer's fields, validated for unique names."""
    raws = _list(obj.get("fields"), f"{where} 'fields'")
    fields = tuple(_parse_field(raw, versions, f"{where} field {i}") for i, raw in enumerate(raws))
    _unique((f.name for f in fields), "field name", where)
    return fields


def _check_aliases(aliases: Mapping[str, str], fields: tuple[Field, ...], where: str) -> None:
    """Every alias must point at an existing field and not shadow one."""
    names = {f.name for f in fields}
    for alias, target in aliases.items():
        if target not in names:
            raise CatalogError(f"{where}: alias '{alias}' targets missing field '{target}'")
        if alias in names:
            raise CatalogError(f"{where}: alias '{alias}' shadows a real field")


def _check_metadata(names: tuple[str, ...], metadata: Mapping[str, MetadataItem], where: str) -> None:
    """Every metadata name of a layer must exist in metadata.json."""
    for name in names:
        if name not in metadata:
            raise CatalogError(f"{where}: metadata '{name}' not in {METADATA_FILE}")


def _parse_layer(
    raw: Any, versions: frozenset[str], metadata: Mapping[str, MetadataItem], where: str
) -> Layer:
    """One layers.json entry."""
    obj = _obj(raw, where)
    where = f"{LAYERS_FILE}: layer '{_str(obj, 'name', where)}'"
    fields = _parse_fields(obj, versions, where)
    aliases = _str_map(obj.get("aliases"), f"{where} 'aliases'")
    _check_aliases(aliases, fields, where)
    meta = _str_list(obj, "metadata", where)
    _check_metadata(meta, metadata, where)
    return Layer(
        name=_str(obj, "name", where),
        fwps_layer=_str(obj, "fwps_layer", where),
        fwps_layer_index=_int(obj, "fwps_layer_index", where),
        fwpm_layer=_str(obj, "fwpm_layer", where),
        fwpm_layer_guid=_str(obj, "fwpm_layer_guid", where),
        fields_enum=_str(obj, "fields_enum", where),
        base=_opt_str(obj, "base", where),
        family=_str(obj, "family", where),
        ip_version=_int(obj, "ip_version", where),
        direction=_opt_str(obj, "direction", where),
        discard=_bool(obj, "discard", where),
        can_block=_bool(obj, "can_block", where),
        min_windows=_known_version(_str(obj, "min_windows", where), versions, where),
        fields=fields,
        aliases=MappingProxyType(aliases),
        metadata=meta,
        source=_str(obj, "source", where),
    )


def _check_bases(layers: Mapping[str, Layer]) -> None:
    """The base layer of every discard variant must exist and not be a variant itself."""
    for layer in layers.values():
        if layer.base is None:
            continue
        base = layers.get(layer.base)
        if base is None or base.base is not None:
            raise CatalogError(
                f"{LAYERS_FILE}: layer '{layer.name}': base layer '{layer.base}' does not exist"
            )


def _parse_layers(
    data: Any, versions: frozenset[str], metadata: Mapping[str, MetadataItem]
) -> dict[str, Layer]:
    """layers.json -> name -> Layer, sorted by name."""
    layers = [
        _parse_layer(raw, versions, metadata, f"{LAYERS_FILE}: entry {i}")
        for i, raw in enumerate(_list(data, LAYERS_FILE))
    ]
    _unique((layer.name for layer in layers), "layer name", LAYERS_FILE)
    by_name = {layer.name: layer for layer in sorted(layers, key=lambda layer: layer.name)}
    _check_bases(by_name)
    return by_name


def _parse_condition_flags(data: Any) -> dict[str, tuple[str, int]]:
    """condition_flags.json -> short name -> (FWP_CONDITION_FLAG_* name, value)."""
    flags: dict[str, tuple[str, int]] = {}
    for key, raw in sorted(_obj(data, CONDITION_FLAGS_FILE).items()):
        where = f"{CONDITION_FLAGS_FILE}: flag '{key}'"
        obj = _obj(raw, where)
        flags[key] = (_str(obj, "name", where), _int(obj, "value", where))
    return flags


def _load(read: Callable[[str], str]) -> Catalog:
    """Build and validate a Catalog from data files obtained through ``read``."""
    versions = _parse_versions(_parse(read, VERSIONS_FILE))
    version_ids = frozenset(v.id for v in versions)
    metadata = _parse_metadata(_parse(read, METADATA_FILE), version_ids)
    layers = _parse_layers(_parse(read, LAYERS_FILE), version_ids, metadata)
    flags = _parse_condition_flags(_parse(read, CONDITION_FLAGS_FILE))
    names = _str_map(_parse(read, WDK_NAMES_FILE), WDK_NAMES_FILE)
    return Catalog(
        layers=MappingProxyType(layers),
        metadata=MappingProxyType(metadata),
        versions=versions,
        condition_flags=MappingProxyType(flags),
        wdk_names=MappingProxyType(dict(sorted(names.items()))),
    )


@functools.cache
def load_catalog() -> Catalog:
    """Load the packaged catalog (cached); raises CatalogError if the data is inconsistent."""
    return _load(_read_data_text)


def load_catalog_from(directory: Path) -> Catalog:
    """Load and validate the data files of ``directory`` instead of the packaged ones (not cached)."""

    def read(name: str) -> str:
        try:
            return (directory / name).read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{name}: cannot read data file in {directory} ({exc})") from exc

    return _load(read)
