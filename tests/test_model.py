"""Decisions made by the model, tested without rendering anything."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from wfpgen.catalog import load_catalog
from wfpgen.model import (
    HEADER_SIZE,
    ProjectModel,
    build_model,
    c_comment,
    c_narrow_literal,
    c_wide_literal,
    derived_guid,
    etw_provider_guid,
    inf_string,
    markdown_text,
    pool_tag,
    ps_single_quoted,
    xml_text,
)
from wfpgen.spec import parse_spec
from wfpgen.validate import resolve
from wfpgen.yamlsource import load_yaml


def model_of(text: str) -> ProjectModel:
    source = load_yaml(text.encode(), "t.yaml")
    spec = parse_spec(source)
    return build_model(resolve(spec, source, load_catalog()), load_catalog(), "t.yaml", text.encode())


BASE = "version: 1\ndriver: {name: Demo}\n"


def test_defaults_reproduce_the_tutorial() -> None:
    m = model_of(BASE)
    assert [layer.name for layer in m.layers] == ["inbound_transport_v4", "outbound_transport_v4"]
    names = [item.name for item in m.layers[0].record.items]
    assert names == ["ip_protocol", "ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port"]
    assert m.sinks == ("ring",)
    assert all(layer.filter_action == "FWP_ACTION_CALLOUT_INSPECTION" for layer in m.layers)
    assert m.layers[0].line.arrow == "<-" and m.layers[1].line.arrow == "->"


def test_guids_are_stable_and_distinct() -> None:
    a, b = model_of(BASE), model_of(BASE)
    assert a.provider_guid == b.provider_guid == derived_guid("Demo", "provider")
    keys = [a.provider_guid, a.sublayer_guid, a.device_class_guid, a.project_guid]
    keys += [layer.callout_guid for layer in a.layers] + [layer.filter_guid for layer in a.layers]
    assert len(set(keys)) == len(keys)
    other = model_of("version: 1\ndriver: {name: Other}\n")
    assert other.provider_guid != a.provider_guid


def test_etw_provider_guid_is_the_documented_name_hash() -> None:
    """TRACELOGGING_DEFINE_PROVIDER's documentation names the provider "MyCompany.MyComponent" and gives it the GUID
    ETW's name hashing derives from that name (what tools enable as *MyCompany.MyComponent)."""
    assert etw_provider_guid("MyCompany.MyComponent") == uuid.UUID("ce5fa4ea-ab00-5402-8b76-9f76ac858fb5")
    # The hash takes the name upper-cased: case does not change the GUID, a different name does.
    assert etw_provider_guid("mycompany.mycomponent") == etw_provider_guid("MyCompany.MyComponent")
    assert etw_provider_guid("MyCompany.MyComponent2") != etw_provider_guid("MyCompany.MyComponent")
    m = model_of(BASE + "sink: {kind: etw, etw_provider: MyCompany.MyComponent}\n")
    assert m.etw is not None and m.etw.provider_id_args == (
        "(0xce5fa4ea, 0xab00, 0x5402, 0x8b, 0x76, 0x9f, 0x76, 0xac, 0x85, 0x8f, 0xb5)")


def test_provider_key_override() -> None:
    key = "01234567-89AB-CDEF-0123-456789ABCDEF"
    m = model_of(BASE + f"provider: {{key: {key}}}\n")
    assert m.provider_guid.value == uuid.UUID(key)
    assert m.provider_guid.define_args.startswith("0x01234567, 0x89ab, 0xcdef, 0x01, 0x23, 0x45")


@pytest.mark.parametrize(("target", "number", "nt_target"), [
    ("win10", 2, "0xA000000"),
    ("win10_1607", 2, "0xA000002"),
    ("win10_1709", 3, "0xA000004"),
    ("win11_24h2", 3, "0xA000010"),
])
def test_api_version_and_ntddi_follow_target(target: str, number: int, nt_target: str) -> None:
    m = model_of(f"version: 1\ndriver: {{name: Demo, target: {target}}}\n")
    assert m.api.number == number
    assert m.api.callout_struct == f"FWPS_CALLOUT{number}"
    assert m.api.register_fn == f"FwpsCalloutRegister{number}"
    assert m.api.classify_type == f"FWPS_CALLOUT_CLASSIFY_FN{number}"
    assert m.api.filter_type == f"FWPS_FILTER{number}"
    assert m.api.timestamp_fn == "KeQuerySystemTimePrecise"
    assert m.vs_target_version == "Windows10"
    assert m.nt_target_version == nt_target
    assert f"NTDDI_VERSION=0x{int(nt_target, 16):08X}" in m.build_defines
    assert set(m.preprocessor_defines) < set(m.build_defines)


def test_record_layout_is_aligned_and_explicitly_padded() -> None:
    m = model_of(BASE + "layers: [ale_auth_connect_v6]\nfields: [ip_protocol, ip_remote_address, "
                 "ip_remote_port, ale_app_id, ip_local_interface]\nmetadata: [process_id, process_path]\n")
    record = m.layers[0].record
    offset = HEADER_SIZE
    for member in record.members:
        assert member.offset == offset, member
        offset += member.size
    assert offset == record.size and record.size % 8 == 0
    by_name = {i.name: i for i in record.items}
    assert by_name["ip_local_interface"].offset % 8 == 0 and by_name["process_id"].offset % 8 == 0
    assert by_name["ip_remote_address"].size == 16 and by_name["ip_remote_address"].display == "ipv6"
    assert [i.bit for i in record.items] == list(range(7))
    assert [i.name for i in record.blobs] == ["ale_app_id", "process_path"]
    assert record.max_size == record.size + 2 * 520


def test_fingerprint_tracks_the_layout() -> None:
    a = model_of(BASE)
    b = model_of(BASE + "fields: [ip_protocol, ip_local_address]\n")
    assert a.fingerprint != b.fingerprint and len(a.fingerprint) == 16
    assert model_of(BASE).fingerprint == a.fingerprint


def test_conditions_become_filter_condition_data() -> None:
    m = model_of(BASE + "conditions:\n"
                 "  - {field: ip_remote_port, value: 443}\n"
                 "  - {field: ip_protocol, value: udp}\n"
                 "  - {field: ip_remote_address, value: 192.168.0.0/16}\n"
                 "  - {field: ip_local_port, match: range, value: [1024, 65535]}\n"
                 "  - {field: flags, match: flags_none_set, value: [is_loopback]}\n")
    c = m.layers[0].conditions
    assert (c[0].field_key, c[0].match_type, c[0].data_type, c[0].low) == (
        "FWPM_CONDITION_IP_REMOTE_PORT", "FWP_MATCH_EQUAL", "FWP_UINT16", "443ULL")
    assert c[1].low == "17ULL" and c[1].data_type == "FWP_UINT8"
    assert (c[2].data_type, c[2].low, c[2].prefix) == ("FWP_V4_ADDR_MASK", f"{0xC0A80000}ULL", 16)
    assert (c[3].data_type, c[3].range_type, c[3].high) == ("FWP_RANGE_TYPE", "FWP_UINT16", "65535ULL")
    assert (c[4].match_type, c[4].data_type, c[4].low) == ("FWP_MATCH_FLAGS_NONE_SET", "FWP_UINT32", "1ULL")


def test_block_action_uses_a_terminating_callout() -> None:
    m = model_of(BASE + "layers: [{layer: ale_auth_connect_v4, action: block}]\n")
    assert m.layers[0].filter_action == "FWP_ACTION_CALLOUT_TERMINATING" and m.has_blocking


def test_pool_tag_is_a_number_in_memory_order() -> None:
    value, text = pool_tag("MonitorNetwork")
    assert text == "Moni" and value.to_bytes(4, "little") == b"Moni"
    assert pool_tag("A_b")[1] == "Abxx"


@pytest.mark.parametrize("hostile", ['a"b', "a\\b", "*/ x /*", "%s%n", "\u00e9\U0001f600", "??=", "$(x)"])
def test_escaping_keeps_every_context_closed(hostile: str) -> None:
    wide = c_wide_literal(hostile)
    assert wide.startswith('L"') and wide.endswith('"')
    body = wide[2:-1].replace('\\"', "").replace('" L"', "")
    assert '"' not in body
    assert "*/" not in c_comment(hostile)
    narrow = c_narrow_literal(hostile)
    assert '"' not in narrow[1:-1].replace('\\"', "")
    assert "<" not in xml_text(hostile + "<") and "&quot;" in xml_text('"')
    assert inf_string('say "hi" 100%') == '"say ""hi"" 100%%"'
    assert ps_single_quoted("it's") == "'it''s'"
    assert markdown_text("*x*") == "\\*x\\*"


def test_spec_name_never_carries_a_directory(tmp_path: Path) -> None:
    spec = tmp_path / "deep" / "x.yaml"
    spec.parent.mkdir()
    spec.write_text(BASE)
    from wfpgen.pipeline import model_for

    assert model_for(spec).spec_name == "x.yaml"


# -- flows.attribution ---------------------------------------------------------------------------

FLOWS = BASE + """\
layers: [inbound_transport_v4, outbound_transport_v4, outbound_transport_v6, ale_auth_connect_v4]
metadata: [process_id, process_path]
flows: {attribution: true, max_contexts: 64}
"""


def test_flow_attribution_takes_process_data_from_the_flow() -> None:
    m = model_of(FLOWS)
    assert m.flows is not None and m.flows.max_contexts == 64 and m.flows.path_capacity == 520
    by_name = {layer.name: layer for layer in m.layers}
    for name in ("inbound_transport_v4", "outbound_transport_v4", "outbound_transport_v6"):
        items = {item.name: item for item in by_name[name].record.items}
        assert items["process_id"].source == "flow" and items["process_path"].source == "flow"
        assert items["flow_attribution"].source == "attribution" and items["flow_attribution"].display == "attribution"
        assert by_name[name].flow_delete_c == "DemoFlowDelete" and by_name[name].record.uses_metadata
    # The ALE layer has the process itself: metadata as before, no flowDeleteFn.
    ale = {item.name: item for item in by_name["ale_auth_connect_v4"].record.items}
    assert ale["process_id"].source == "metadata" and "flow_attribution" not in ale
    assert by_name["ale_auth_connect_v4"].flow_delete_c == "NULL"
    # One establishing callout per IP version, after the record layers, aimed at that version's layers.
    est = m.flows.establishing
    assert [(e.name, e.index, [t.name for t in e.targets]) for e in est] == [
        ("ale_flow_established_v4", 4, ["inbound_transport_v4", "outbound_transport_v4"]),
        ("ale_flow_established_v6", 5, ["outbound_transport_v6"]),
    ]
    assert [c.index for c in m.callouts] == list(range(6))
    keys = {c.callout_guid for c in m.callouts} | {c.filter_guid for c in m.callouts}
    assert len(keys) == 12


def test_without_flows_nothing_changes() -> None:
    m = model_of(BASE)
    assert m.flows is None and m.callouts == m.layers
    assert all(layer.flow_delete_c == "NULL" and not layer.flow_attributed for layer in m.layers)


def test_flow_attribution_changes_the_layout_fingerprint() -> None:
    plain = model_of(BASE + "layers: [outbound_transport_v4]\nmetadata: [current_process_id]\n")
    flows = model_of(BASE + "layers: [outbound_transport_v4]\nmetadata: [process_id]\nflows: {attribution: true}\n")
    assert plain.fingerprint != flows.fingerprint


def test_flow_contexts_are_zeroed_on_every_target() -> None:
    """ExAllocatePoolZero zeroes before Windows 10 2004 only with POOL_ZERO_DOWN_LEVEL_SUPPORT: a driver
    whose only pool is the flow contexts (dbgprint sink) needs it as much as the ring sink does."""
    text = (BASE + "layers: [outbound_transport_v4]\nmetadata: [process_id]\nflows: {attribution: true}\n"
            "sink: {kind: dbgprint}\n")
    old, new = model_of(text), model_of(text.replace("{name: Demo}", "{name: Demo, target: win11}"))
    assert old.allocates_pool and "POOL_ZERO_DOWN_LEVEL_SUPPORT" in old.preprocessor_defines
    assert new.alloc_pool2 and "POOL_ZERO_DOWN_LEVEL_SUPPORT" not in new.preprocessor_defines
    assert "POOL_ZERO_DOWN_LEVEL_SUPPORT" not in model_of(BASE + "sink: {kind: dbgprint}\n").preprocessor_defines


ACCOUNTING = BASE + """layers:
  - inbound_transport_v4
  - outbound_transport_v4
  - outbound_transport_v6
  - ale_auth_connect_v4
flows: {accounting: true, packets: false, interval: 30}
"""


def test_flow_accounting_adds_a_flow_record_per_ip_version() -> None:
    m = model_of(ACCOUNTING)
    assert m.flows is not None and m.flows.accounting and not m.flows.attribution
    assert m.flows.interval_100ns == 30 * 10_000_000
    # The transport layers count and stay silent; the ALE layer records as before and counts nothing.
    by_name = {layer.name: layer for layer in m.layers}
    for name in ("inbound_transport_v4", "outbound_transport_v4", "outbound_transport_v6"):
        layer = by_name[name]
        assert layer.accounted and not layer.emits and layer.reads_flow and layer.flow_delete_c == "DemoFlowDelete"
    assert by_name["inbound_transport_v4"].inbound and not by_name["outbound_transport_v4"].inbound
    assert by_name["outbound_transport_v4"].reads_metadata  # the transport header size
    ale = by_name["ale_auth_connect_v4"]
    assert not ale.accounted and ale.emits and ale.flow_delete_c == "NULL"
    # Flow records follow the hooked layers in LayerIndex, one per IP version counted.
    assert [(k.name, k.index) for k in m.flow_kinds] == [("flow_v4", 4), ("flow_v6", 5)]
    assert [k.index for k in m.record_kinds] == list(range(6))
    assert [e.kind.name if e.kind else None for e in m.flows.establishing] == ["flow_v4", "flow_v6"]
    v4, v6 = m.flow_kinds
    names = [item.name for item in v4.record.items]
    assert names == ["ip_protocol", "ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port",
                     "direction", "process_id", "process_path", "packets_in", "packets_out", "bytes_in",
                     "bytes_out", "first_seen", "last_seen", "end_reason"]
    items = {item.name: item for item in v4.record.items}
    assert items["ip_local_address"].display == "ipv4" and items["ip_local_address"].source == "field"
    assert items["ip_local_address"].field_member == "FWPS_FIELD_ALE_FLOW_ESTABLISHED_V4_IP_LOCAL_ADDRESS"
    assert {item.name: item.display for item in v6.record.items}["ip_remote_address"] == "ipv6"
    assert items["process_path"].is_blob and items["first_seen"].display == "time"
    assert items["end_reason"].display == "flow_end" and items["bytes_out"].size == 8
    # Every report item is filled when the flow reports, from a counter taken in one interlocked step.
    assert [item.name for item, _ in v4.report_values] == names[8:]
    assert all("InterlockedExchange64" in source for item, source in v4.report_values
               if item.name.startswith(("packets", "bytes")))
    assert m.max_record_size >= v4.record.max_size and m.max_blobs >= 1
    assert m.flows.capture_process_id and m.flows.capture_process_path


def test_flow_accounting_keeps_packet_records_by_default() -> None:
    m = model_of(ACCOUNTING.replace(", packets: false", ""))
    assert all(layer.emits for layer in m.layers)
    assert "counted into its flow, record" in m.layers[0].classify_summary


def test_flow_accounting_changes_the_layout_fingerprint() -> None:
    counted = model_of(ACCOUNTING)
    assert counted.fingerprint != model_of(ACCOUNTING.replace("accounting: true, packets: false, interval: 30",
                                                              "attribution: false")).fingerprint
