"""The catalog against the facts extracted from Microsoft's WDK headers (``wdk_facts.json``).

* Always: every layer id, layer GUID and gate, field (name, index, gate), alias, condition
  GUID, metadata flag and condition flag of the packaged catalog agrees with the committed
  ``wfpgen/catalog/data/wdk_facts.json``, and so does the x64 layout ``wfpgen.wdkfacts``
  records for ``FWPS_INCOMING_METADATA_VALUES0``; hand edits of either side are caught.
* With ``WFPGEN_WDK`` set to a WDK include root (``km/``, ``shared/``) and clang installed:
  ``scripts/extract_wdk_facts.py`` run afresh gives the committed facts.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from wfpgen import wdkfacts
from wfpgen.catalog import Catalog, load_catalog, load_catalog_from
from wfpgen.model import ProjectModel, build_model
from wfpgen.realheaders import CLANG_CANDIDATES
from wfpgen.spec import Target, parse_spec
from wfpgen.validate import resolve
from wfpgen.wdkfacts import compare_catalog, load_wdk_facts
from wfpgen.yamlsource import load_yaml

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "wfpgen" / "catalog" / "data"
FACTS = DATA_DIR / wdkfacts.FACTS_FILE
SCRIPT = REPO / "scripts" / "extract_wdk_facts.py"
CATALOG_FILES = ("layers.json", "metadata.json", "versions.json", "condition_flags.json", "wdk_names.json")


@pytest.fixture(scope="module")
def facts() -> Mapping[str, Any]:
    return load_wdk_facts()


def _layer(facts: Mapping[str, Any], name: str) -> dict[str, Any]:
    return dict(next(m for m in facts["builtin_layers"]["members"] if m["name"] == name))


# --------------------------------------------------------------------------- the committed facts


def test_catalog_agrees_with_the_header_facts(facts: Mapping[str, Any]) -> None:
    cat = load_catalog()
    result = compare_catalog(cat, facts)
    assert result.differences == [], "\n".join(result.differences)
    counts = result.counts
    assert counts["layer ids"] == [len(cat.layers)] * 2
    assert counts["layer GUIDs"] == [len(cat.layers)] * 2
    assert counts["fields"][1] == sum(len(layer.fields) for layer in cat.layers.values())
    assert counts["field gates"][1] == counts["fields"][1]
    assert counts["metadata flags"] == [len(cat.metadata)] * 2
    assert counts["condition flags"] == [len(cat.condition_flags)] * 2
    assert counts["condition GUIDs"][1] > 1000


def test_the_facts_file_is_canonical(facts: Mapping[str, Any]) -> None:
    text = FACTS.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"
    assert facts["versions"] == {v.id: v.hex for v in load_catalog().versions}
    sampled = [s["value"] for s in facts["sampled"]]
    assert sampled == sorted(sampled) and len(set(sampled)) == len(sampled)


def test_metadata_offsets_are_the_headers(facts: Mapping[str, Any]) -> None:
    """wdkfacts' offsets hold at every NTDDI_VERSION that declares the member; the size is the newest."""
    layouts = facts["incoming_metadata_values0"]["layouts"]
    assert layouts[-1]["size"] == wdkfacts.METADATA_VALUES0_X64_SIZE
    newest = {m["name"]: m["offset"] for m in layouts[-1]["members"]}
    for member, offset in wdkfacts.METADATA_VALUES0_X64_OFFSETS.items():
        assert newest.get(member) == offset, member
        for layout in layouts:
            for found in layout["members"]:
                if found["name"] == member:
                    assert found["offset"] == offset, (member, layout["from"])
    # Every member a catalog metadata item names is in the header's structure.
    members = set(newest)
    assert {item.member for item in load_catalog().metadata.values() if item.member} <= members


def test_layer_values_move_with_ntddi_only_outside_the_catalog(facts: Mapping[str, Any]) -> None:
    """FWPS_BUILTIN_LAYERS gates members in its middle, so later values depend on NTDDI_VERSION."""
    moving = {m["name"] for m in facts["builtin_layers"]["members"] if "value_changes" in m}
    assert "FWPS_LAYER_IPSEC_KM_DEMUX_V4" in moving
    assert not moving & {layer.fwps_layer for layer in load_catalog().layers.values()}
    reserved = _layer(facts, "FWPS_LAYER_RESERVED1_V4")
    assert reserved["present"] == [["NTDDI_WIN7", "NTDDI_WIN7"]]
    assert _layer(facts, "FWPS_LAYER_INBOUND_MAC_FRAME_NATIVE")["gate"] == "win8"


# --------------------------------------------------------------------------- hand edits are caught


def _edited_catalog(tmp_path: Path, edit: typing.Callable[[dict[str, Any]], None], name: str) -> Catalog:
    for file in CATALOG_FILES:
        shutil.copy(DATA_DIR / file, tmp_path / file)
    data = json.loads((tmp_path / name).read_text(encoding="utf-8"))
    edit(data)
    (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")
    return load_catalog_from(tmp_path)


def _layer_named(data: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(layer for layer in data if layer["name"] == name)


def _field_named(data: list[dict[str, Any]], layer: str, name: str) -> dict[str, Any]:
    return next(f for f in _layer_named(data, layer)["fields"] if f["name"] == name)


def _set(target: typing.Callable[[Any], dict[str, Any]], key: str, value: object) -> typing.Callable[[Any], None]:
    def edit(data: Any) -> None:
        target(data)[key] = value

    return edit


CATALOG_EDITS: dict[str, tuple[str, typing.Callable[[Any], None], str]] = {
    "layer id": ("layers.json", _set(lambda d: _layer_named(d, "stream_v4"), "fwps_layer_index", 21), "layer ids"),
    "layer guid": ("layers.json", _set(lambda d: _layer_named(d, "stream_v4"), "fwpm_layer_guid",
                                       "00000000-0000-0000-0000-000000000000"), "layer GUIDs"),
    "layer gate": ("layers.json", _set(lambda d: _layer_named(d, "stream_packet_v4"), "min_windows", "vista"),
                   "layer gates"),
    "field gate": ("layers.json", _set(lambda d: _field_named(d, "ale_auth_connect_v4", "reserved_0"),
                                       "min_windows", "vista"), "field gates"),
    "field index": ("layers.json", _set(lambda d: _field_named(d, "ale_auth_connect_v4", "compartment_id"),
                                        "index", 41), "fields"),
    "condition guid": ("layers.json", _set(lambda d: _field_named(d, "inbound_transport_v4", "ip_local_port"),
                                           "condition_guid", "00000000-0000-0000-0000-000000000001"),
                       "condition GUIDs"),
    "alias": ("layers.json", _set(lambda d: _layer_named(d, "inbound_transport_v4")["aliases"], "icmp_code",
                                  "ip_local_port"), "aliases"),
    "metadata value": ("metadata.json", _set(lambda d: next(m for m in d if m["name"] == "process_id"),
                                             "flag_value", 0x40), "metadata flags"),
    "metadata gate": ("metadata.json", _set(lambda d: next(m for m in d if m["name"] == "sub_process_tag"),
                                            "min_windows", "win7"), "metadata gates"),
    "condition flag": ("condition_flags.json", _set(lambda d: d["is_loopback"], "value", 2), "condition flags"),
    "offered name": ("wdk_names.json", _set(lambda d: d, "FWPS_FIELD_ALE_AUTH_CONNECT_V4_PACKAGE_FAMILY_NAME",
                                            "current_header"), "WFP names"),
}


@pytest.mark.parametrize("edit", sorted(CATALOG_EDITS))
def test_a_hand_edit_of_the_catalog_is_caught(tmp_path: Path, facts: Mapping[str, Any], edit: str) -> None:
    name, change, check = CATALOG_EDITS[edit]
    result = compare_catalog(_edited_catalog(tmp_path, change, name), facts)
    assert any(line.startswith(f"{check}: ") for line in result.differences), result.differences


def test_a_dropped_field_is_caught(tmp_path: Path, facts: Mapping[str, Any]) -> None:
    def drop(data: list[dict[str, Any]]) -> None:
        layer = _layer_named(data, "inbound_transport_v4")
        layer["fields"] = [f for f in layer["fields"] if f["name"] != "ipsec_security_realm_id"]

    result = compare_catalog(_edited_catalog(tmp_path, drop, "layers.json"), facts)
    assert any("IPSEC_SECURITY_REALM_ID" in line and "not in the catalog" in line for line in result.differences)


FACT_EDITS: dict[str, tuple[typing.Callable[[dict[str, Any]], None], str]] = {
    "layer value": (lambda f: next(m for m in f["builtin_layers"]["members"]
                                   if m["name"] == "FWPS_LAYER_STREAM_V4").update(value=99), "layer ids"),
    "layer value by ntddi": (lambda f: next(m for m in f["builtin_layers"]["members"]
                                            if m["name"] == "FWPS_LAYER_STREAM_V4").update(
        value_changes=[{"from": "NTDDI_VISTA", "value": 19}, {"from": "NTDDI_WIN7", "value": 20}]), "layer ids"),
    "field gate": (lambda f: f["fields_enums"]["FWPS_FIELDS_STREAM_V4_"]["members"][0].update(gate="win7"),
                   "field gates"),
    "condition guid": (lambda f: f["condition_guids"]["FWPM_CONDITION_IP_PROTOCOL"].update(
        guid="00000000-0000-0000-0000-000000000002"), "condition GUIDs"),
    "metadata value": (lambda f: f["metadata_fields"]["FWPS_METADATA_FIELD_TOKEN"].update(value=0x11),
                       "metadata flags"),
}


@pytest.mark.parametrize("edit", sorted(FACT_EDITS))
def test_a_hand_edit_of_the_facts_is_caught(facts: Mapping[str, Any], edit: str) -> None:
    change, check = FACT_EDITS[edit]
    edited = copy.deepcopy(dict(facts))
    change(edited)
    result = compare_catalog(load_catalog(), edited)
    assert any(line.startswith(f"{check}: ") for line in result.differences), result.differences


# --------------------------------------------------------------------------- the generator's API choices


TARGETS: tuple[str, ...] = typing.get_args(Target)


def _model(target: str) -> ProjectModel:
    text = f"version: 1\ndriver: {{name: Demo, target: {target}}}\n"
    source = load_yaml(text.encode(), "t.yaml")
    catalog = load_catalog()
    return build_model(resolve(parse_spec(source), source, catalog), catalog, "t.yaml", text.encode())


@pytest.mark.parametrize("target", TARGETS)
def test_the_callout_api_a_target_selects_exists_there(facts: Mapping[str, Any], target: str) -> None:
    """Every name the model picks for a target is declared by the headers at that target's NTDDI."""
    cat = load_catalog()
    version = cat.version(target)
    assert version is not None
    model = _model(target)
    api = model.api
    names = [api.callout_struct, api.classify_type, api.notify_type, api.filter_type, api.register_fn,
             api.timestamp_fn, "FwpsCalloutUnregisterById0", "ExAllocatePool2" if model.alloc_pool2 else
             "ExAllocatePoolZero"]
    too_new = []
    for name in names:
        gate = facts["apis"].get(name, {}).get("gate")
        found = cat.version(gate) if gate else None
        if found is None or found.rank > version.rank:
            too_new.append(f"{name} (from {gate})")
    assert not too_new, f"{target} selects {too_new}"


# --------------------------------------------------------------------------- against the headers


def _clang_available() -> bool:
    return any(shutil.which(name) for name in (os.environ.get("WFPGEN_CLANG") or "", *CLANG_CANDIDATES) if name)


def test_the_facts_are_the_headers(tmp_path: Path) -> None:
    """Re-extract from $WFPGEN_WDK and compare with the committed file."""
    root = os.environ.get("WFPGEN_WDK")
    if not root:
        pytest.skip("set WFPGEN_WDK to a WDK include root (km/, shared/) to check the facts against "
                    "Microsoft's headers")
    if not _clang_available():
        pytest.skip("no clang to compile the probes with (apt-get install clang-19, or set WFPGEN_CLANG)")
    out = tmp_path / "wdk_facts.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--wdk", root, "--out", str(out)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = json.loads(out.read_text(encoding="utf-8"))
    committed = json.loads(FACTS.read_text(encoding="utf-8"))
    differing = sorted(key for key in set(fresh) | set(committed) if fresh.get(key) != committed.get(key))
    assert not differing, f"re-extracted facts differ from {FACTS.name} in {differing}: rerun " \
                          f"scripts/extract_wdk_facts.py --wdk {root} and scripts/build_catalog.py"
    assert out.read_text(encoding="utf-8") == FACTS.read_text(encoding="utf-8")
