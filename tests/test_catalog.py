"""Tests for the packaged WFP catalog (wfpgen.catalog) and its build script."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wfpgen.catalog as catalog_module
from wfpgen.catalog import Catalog, CatalogError, load_catalog

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "wfpgen" / "catalog" / "data"
SCRIPT = REPO / "scripts" / "build_catalog.py"
REFERENCE = REPO.parent / "shared" / "reference"
DATA_FILES = ("layers.json", "metadata.json", "versions.json", "condition_flags.json", "wdk_names.json")

BASE_LAYERS = {
    f"{stem}_v{ip}"
    for stem in (
        "inbound_transport",
        "outbound_transport",
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
        "inbound_ippacket",
        "outbound_ippacket",
        "ipforward",
        "inbound_icmp_error",
        "outbound_icmp_error",
    )
    for ip in (4, 6)
}
# Base layers whose enum the reference lists no _DISCARD variant for.
WITHOUT_DISCARD = {
    f"{stem}_v{ip}"
    for stem in (
        "ale_resource_release",
        "ale_endpoint_closure",
        "ale_connect_redirect",
        "ale_bind_redirect",
        "stream_packet",
    )
    for ip in (4, 6)
}
NON_BLOCKING_FAMILIES = {
    "ale_resource_release",
    "ale_endpoint_closure",
    "ale_connect_redirect",
    "ale_bind_redirect",
    "stream_packet",
}


@pytest.fixture(name="cat")
def fixture_cat() -> Catalog:
    """The packaged catalog."""
    return load_catalog()


# --------------------------------------------------------------------------- layer set


def test_catalog_loads_and_is_cached(cat: Catalog) -> None:
    assert load_catalog() is cat
    assert list(cat.layers) == sorted(cat.layers)


def test_exactly_the_base_layers_and_their_discard_variants(cat: Catalog) -> None:
    base = {name for name, layer in cat.layers.items() if not layer.discard}
    discard = {name for name, layer in cat.layers.items() if layer.discard}
    assert base == BASE_LAYERS
    assert len(base) == 38
    assert discard == {f"{name}_discard" for name in BASE_LAYERS - WITHOUT_DISCARD}
    assert len(discard) == 28


def test_discard_variants_share_the_base_enum(cat: Catalog) -> None:
    for layer in cat.layers.values():
        if not layer.discard:
            assert layer.base is None
            continue
        base = cat.layer(layer.base or "")
        assert base is not None
        assert layer.name == f"{base.name}_discard"
        assert layer.fields == base.fields
        assert layer.fields_enum == base.fields_enum
        assert layer.fwps_layer == f"{base.fwps_layer}_DISCARD"
        assert layer.fwpm_layer == f"{base.fwpm_layer}_DISCARD"
        assert layer.fwpm_layer_guid != base.fwpm_layer_guid
        assert layer.can_block is False


def test_layer_identity_fields(cat: Catalog) -> None:
    layer = cat.layer("inbound_transport_v4")
    assert layer is not None
    assert layer.fwps_layer == "FWPS_LAYER_INBOUND_TRANSPORT_V4"
    assert layer.fwpm_layer == "FWPM_LAYER_INBOUND_TRANSPORT_V4"
    assert layer.fwpm_layer_guid == "5926dfc8-e3cf-4426-a283-dc393f5d0f9d"
    assert layer.fields_enum == "FWPS_FIELDS_INBOUND_TRANSPORT_V4"
    assert layer.family == "transport"
    assert layer.ip_version == 4
    assert layer.direction == "inbound"
    assert layer.source.endswith("ne-fwpsk-fwps_fields_inbound_transport_v4_.md")
    connect = cat.layer("ale_auth_connect_v6")
    assert connect is not None and connect.direction is None and connect.ip_version == 6


def test_can_block_and_min_windows_are_curated(cat: Catalog) -> None:
    for layer in cat.layers.values():
        non_blocking = layer.family in NON_BLOCKING_FAMILIES
        assert layer.can_block is not (non_blocking or layer.discard), layer.name
        assert layer.min_windows == ("win7" if non_blocking else "vista"), layer.name


def test_fields_are_in_header_order(cat: Catalog) -> None:
    for layer in cat.layers.values():
        assert [f.index for f in layer.fields] == list(range(len(layer.fields))), layer.name
        assert all(f.name != "max" for f in layer.fields)
        for f in layer.fields:
            assert f.member.endswith("_" + f.name.upper())


# --------------------------------------------------------------------------- spot checks


def test_inbound_transport_v4_fields(cat: Catalog) -> None:
    layer = cat.layer("inbound_transport_v4")
    assert layer is not None
    proto = layer.fields[0]
    assert (proto.name, proto.index, proto.type, proto.data_type) == ("ip_protocol", 0, "uint8", "FWP_UINT8")
    assert proto.member == "FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_PROTOCOL"
    assert proto.condition == "FWPM_CONDITION_IP_PROTOCOL"
    assert proto.condition_guid == "3971ef2b-623e-4f9a-8cb1-6e79b806b9a7"
    assert proto.extractable and not proto.reserved
    local = layer.field("ip_local_address")
    assert local is not None and local.type == "uint32"
    assert "process_id" not in layer.metadata
    assert list(layer.metadata) == sorted(layer.metadata)


def test_v6_addresses_are_byte_array16(cat: Catalog) -> None:
    for name in ("inbound_transport_v6", "ale_auth_connect_v6", "outbound_ippacket_v6"):
        layer = cat.layer(name)
        assert layer is not None
        for field_name in ("ip_local_address",):
            field = layer.field(field_name)
            assert field is not None
            assert (field.type, field.data_type) == ("byteArray16", "FWP_BYTE_ARRAY16_TYPE")


def test_ale_auth_connect_v4(cat: Catalog) -> None:
    layer = cat.layer("ale_auth_connect_v4")
    assert layer is not None
    app_id = layer.field("ale_app_id")
    assert app_id is not None and app_id.type == "byteBlob" and app_id.extractable
    user_id = layer.field("ale_user_id")
    assert user_id is not None
    assert user_id.type == "tokenAccessInformation"
    assert user_id.data_type == "FWP_TOKEN_ACCESS_INFORMATION_TYPE"
    assert not user_id.extractable
    package_id = layer.field("ale_package_id")
    assert package_id is not None and package_id.type == "sid"
    assert package_id.min_windows == "win8"
    assert {"process_id", "process_path"} <= set(layer.metadata)
    assert not any(f.name.startswith("bitmap_") for f in layer.fields)


def test_reserved_and_untyped_fields(cat: Catalog) -> None:
    layer = cat.layer("ale_auth_connect_v4")
    assert layer is not None
    reserved = [f for f in layer.fields if f.reserved]
    assert [f.name for f in reserved] == ["reserved_0", "reserved_1", "reserved_2", "reserved_3"]
    assert not any(f.extractable for f in reserved)
    # The WDK header gates the reserved members at NTDDI_WIN10_RS5 and ends the enum with them;
    # PACKAGE_FAMILY_NAME, which the documentation lists after them, is not in the header.
    assert {f.min_windows for f in reserved} == {"win10_1809"}
    assert reserved[-1].index == len(layer.fields) - 1
    assert layer.field("package_family_name") is None
    untyped = [f for f in layer.fields if f.type == "unknown"]
    assert untyped == reserved
    assert all((f.data_type, f.extractable) == (None, False) for f in untyped)


def test_outbound_icmp_error_v4_has_real_icmp_fields(cat: Catalog) -> None:
    v4 = cat.layer("outbound_icmp_error_v4")
    assert v4 is not None
    icmp_type = v4.field("icmp_type")
    assert icmp_type is not None
    assert icmp_type.member == "FWPS_FIELD_OUTBOUND_ICMP_ERROR_V4_ICMP_TYPE"
    assert dict(v4.aliases) == {}
    assert v4.field("ip_local_port") is None
    # The v6 enum has IP_LOCAL_PORT with ICMP_TYPE as an alias macro.
    v6 = cat.layer("outbound_icmp_error_v6")
    assert v6 is not None
    assert v6.aliases["icmp_type"] == "ip_local_port"
    resolved = v6.field("icmp_type")
    assert resolved is not None and resolved.name == "ip_local_port"


def test_aliases_resolve(cat: Catalog) -> None:
    layer = cat.layer("inbound_transport_v4")
    assert layer is not None
    assert dict(layer.aliases) == {"icmp_type": "ip_local_port", "icmp_code": "ip_remote_port"}
    assert layer.field("icmp_code") == layer.field("ip_remote_port")
    assert layer.field("no_such_field") is None
    for each in cat.layers.values():
        for alias, target in each.aliases.items():
            resolved = each.field(alias)
            assert resolved is not None and resolved.name == target


def test_metadata_items(cat: Catalog) -> None:
    assert len(cat.metadata) == 32
    pid = cat.metadata["process_id"]
    assert (pid.flag, pid.flag_value, pid.member, pid.c_type) == (
        "FWPS_METADATA_FIELD_PROCESS_ID",
        0x20,
        "processId",
        "UINT64",
    )
    assert cat.metadata["process_path"].flag_value == 0x8
    assert cat.metadata["system_flags"].member is None
    layers = cat.layers_with_metadata("process_id")
    assert "ale_auth_connect_v4" in layers and "inbound_transport_v4" not in layers


def test_discard_metadata(cat: Catalog) -> None:
    discard = cat.layer("inbound_transport_v4_discard")
    base = cat.layer("inbound_transport_v4")
    assert discard is not None and base is not None
    assert "discard_reason" in discard.metadata
    assert "discard_reason" not in base.metadata


def test_layers_with_field(cat: Catalog) -> None:
    with_app_id = cat.layers_with_field("ale_app_id")
    assert "ale_auth_connect_v4" in with_app_id
    assert "inbound_transport_v4" not in with_app_id
    assert with_app_id == sorted(with_app_id)
    assert "inbound_transport_v4" in cat.layers_with_field("icmp_type")


def test_versions(cat: Catalog) -> None:
    ids = [v.id for v in cat.versions]
    assert ids == [
        "vista",
        "vista_sp1",
        "win7",
        "win8",
        "win81",
        "win10",
        "win10_1607",
        "win10_1703",
        "win10_1709",
        "win10_1809",
        "win10_2004",
        "win11",
        "win11_22h2",
        "ws2022_23h2",
        "win11_24h2",
    ]
    assert [v.rank for v in cat.versions] == list(range(len(ids)))
    win10 = cat.version("win10")
    assert win10 is not None and (win10.ntddi, win10.hex) == ("NTDDI_WIN10", "0x0A000000")
    assert cat.version("nope") is None
    hexes = [int(v.hex, 16) for v in cat.versions]
    assert hexes == sorted(hexes)


def test_condition_flags_and_names(cat: Catalog) -> None:
    assert cat.condition_flags["is_loopback"] == ("FWP_CONDITION_FLAG_IS_LOOPBACK", 1)
    assert cat.condition_flags["is_reauthorize"] == ("FWP_CONDITION_FLAG_IS_REAUTHORIZE", 4)
    names = cat.wdk_names
    assert names["FWPS_LAYER_ALE_AUTH_CONNECT_V4"] == "current_header"
    assert names["FWPS_FIELD_INBOUND_TRANSPORT_V4_ICMP_TYPE"] == "alias_macro"
    assert names["FwpsCalloutRegister3"] == "callout_api_page"
    assert "FWPM_SUBLAYER_INSPECTION" in names
    assert "FWP_VALUE0" in names and "FWP_VALUE0_0" not in names
    assert "FWPS_FIELD_ALE_AUTH_CONNECT_V4_BITMAP_IP_LOCAL_ADDRESS" not in names
    for layer in cat.layers.values():
        assert layer.fwps_layer in names and layer.fwpm_layer in names
        assert layer.fields_enum in names
        for field in layer.fields:
            assert field.member in names
            assert field.condition is None or field.condition in names


# --------------------------------------------------------------------------- broken data

Mutation = Callable[[Any], None]


def _first_layer_fields(data: Any) -> list[Any]:
    fields: list[Any] = data[0]["fields"]
    return fields


def _duplicate_field(data: Any) -> None:
    fields = _first_layer_fields(data)
    fields.append(dict(fields[0]))


def _unknown_type(data: Any) -> None:
    _first_layer_fields(data)[0]["type"] = "uint128"


def _unknown_version(data: Any) -> None:
    _first_layer_fields(data)[0]["min_windows"] = "win95"


def _bad_alias(data: Any) -> None:
    data[0]["aliases"] = {"icmp_type": "no_such_field"}


def _missing_base(data: Any) -> None:
    data[0]["base"] = "no_such_layer"


def _unknown_metadata(data: Any) -> None:
    data[0]["metadata"] = ["no_such_metadata"]


def _duplicate_layer(data: Any) -> None:
    data.append(data[0])


@pytest.fixture(name="patch_layers")
def fixture_patch_layers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Mutation], None]]:
    """Replace layers.json (as the loader reads it) by a mutated copy; restores the cache."""
    original: Callable[[str], str] = catalog_module._read_data_text

    def install(mutate: Mutation) -> None:
        data = json.loads(original("layers.json"))
        mutate(data)
        text = json.dumps(data)

        def fake_read(name: str) -> str:
            return text if name == "layers.json" else original(name)

        monkeypatch.setattr(catalog_module, "_read_data_text", fake_read)
        load_catalog.cache_clear()

    yield install
    monkeypatch.undo()
    load_catalog.cache_clear()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_duplicate_field, "duplicate field name 'ale_app_id'"),
        (_unknown_type, "unknown type 'uint128'"),
        (_unknown_version, "unknown min_windows 'win95'"),
        (_bad_alias, "alias 'icmp_type' targets missing field 'no_such_field'"),
        (_missing_base, "base layer 'no_such_layer' does not exist"),
        (_unknown_metadata, "metadata 'no_such_metadata' not in metadata.json"),
        (_duplicate_layer, "duplicate layer name 'ale_auth_connect_v4'"),
    ],
)
def test_broken_catalog_raises(
    patch_layers: Callable[[Mutation], None], mutate: Mutation, message: str
) -> None:
    patch_layers(mutate)
    with pytest.raises(CatalogError) as info:
        load_catalog()
    assert "layers.json" in str(info.value)
    assert message in str(info.value)


def test_invalid_json_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    original: Callable[[str], str] = catalog_module._read_data_text

    def fake_read(name: str) -> str:
        return "{" if name == "metadata.json" else original(name)

    monkeypatch.setattr(catalog_module, "_read_data_text", fake_read)
    load_catalog.cache_clear()
    try:
        with pytest.raises(CatalogError, match=r"metadata\.json: invalid JSON"):
            load_catalog()
    finally:
        monkeypatch.undo()
        load_catalog.cache_clear()


# --------------------------------------------------------------------------- regeneration


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference not available")
def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--reference", str(REFERENCE), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "layers: 66" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DATA_FILES)
    for name in DATA_FILES:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
