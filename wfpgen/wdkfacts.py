"""WDK numbers generated code relies on, looked up in the catalog: small pure functions.

Three consumers need the same numbers and must not disagree:

* ``scripts/build_mingw_shims.py`` writes them into the MinGW cross-build shims
  (``wfpgen/crossbuild/include``), where the driver is compiled into a real ``.sys``;
* the model, for the generated project's ``ci/wdk_assumptions.c``, which asserts each of
  them against the real WDK headers when the project's Windows CI runs;
* tests.

Every value comes from the packaged catalog (``wfpgen/catalog/data``) except
:data:`METADATA_VALUES0_X64_OFFSETS`, which is the x64 layout the cross-build shim's
``FWPS_INCOMING_METADATA_VALUES0`` assumes (typed from the documented member list, with
natural alignment): it is UNVERIFIED until a WDK build compiles ``ci/wdk_assumptions.c``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import MappingProxyType

from wfpgen.catalog import Catalog, Layer, load_catalog

__all__ = [
    "METADATA_VALUES0_X64_OFFSETS",
    "METADATA_VALUES0_X64_SIZE",
    "WdkFactError",
    "condition_guid",
    "fwps_field_index",
    "fwps_layer_index",
    "guid_parts",
    "metadata_flag_value",
    "metadata_offset",
]


class WdkFactError(LookupError):
    """The catalog has no such layer, field or metadata item."""


#: Offsets in FWPS_INCOMING_METADATA_VALUES0 on x64, as the cross-build shim declares them,
#: for every member a generated driver may read (the catalog's metadata members whose type
#: is a scalar or ``FWP_BYTE_BLOB *``).  Members in the WDK's order; UNVERIFIED.
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

#: sizeof(FWPS_INCOMING_METADATA_VALUES0) on x64 with every member up to Windows 10
#: (NTDDI_WINTHRESHOLD: subProcessTag, reserved1), as the shim declares it; UNVERIFIED.
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
    """The x64 offset the cross-build shim assumes for ``FWPS_INCOMING_METADATA_VALUES0.member``."""
    try:
        return METADATA_VALUES0_X64_OFFSETS[member]
    except KeyError:
        raise WdkFactError(f"the cross-build shim declares no readable metadata member {member!r}") from None


def guid_parts(text: str) -> tuple[int, int, int, tuple[int, ...]]:
    """``(Data1, Data2, Data3, Data4)`` of a GUID written ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``."""
    value = uuid.UUID(text)
    return value.time_low, value.time_mid, value.time_hi_version, tuple(value.bytes[8:])
