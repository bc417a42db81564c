"""The synthetic traffic of ``wfpgen check`` and its oracle of the filter conditions.

The check proves a filter only if its traffic holds values on both sides of every condition:
these tests hold the generator to that for application ids (recorded or not, ``equal`` and
``not_equal``) and for every other condition kind, each filtered field missed in turn while
the others hold. They need no compiler.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from wfpgen.checks import traffic
from wfpgen.checks.scenario import fixed_size_values
from wfpgen.model import LayerModel, ProjectModel
from wfpgen.pipeline import model_for

CURL = r"\device\harddiskvolume3\windows\system32\curl.exe"


def utf16(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


def spec_model(tmp_path: Path, document: dict[str, Any]) -> ProjectModel:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, **document}, sort_keys=False), encoding="utf-8")
    return model_for(spec)


def app_ids(model: ProjectModel, layer: LayerModel, count: int = 40) -> list[tuple[object, bool]]:
    return [(e.values["ale_app_id"], e.expect_match) for e in traffic.events(model, layer, count, seed=7)]


def test_app_block_spec_filters_by_application_id() -> None:
    model = model_for(ROOT / "specs" / "app-block.yaml")
    recorded = {layer.name: {item.name for item in layer.record.items} for layer in model.layers}
    assert "ale_app_id" in recorded["ale_auth_connect_v4"]
    assert "ale_app_id" not in recorded["ale_auth_connect_v6"]  # filtered on, not recorded
    for layer in model.layers:
        assert [(c.field_name, c.kind, c.text) for c in layer.conditions] == [("ale_app_id", "app_id", CURL)]
        assert layer.action == "block"


@pytest.mark.parametrize("layer_index", [0, 1], ids=["recorded", "not-recorded"])
def test_app_id_traffic_holds_paths_on_both_sides_of_the_filter(layer_index: int) -> None:
    model = model_for(ROOT / "specs" / "app-block.yaml")
    layer = model.layers[layer_index]
    seen = app_ids(model, layer)
    assert all(isinstance(value, bytes) for value, _ in seen), seen  # a path, never an integer
    matching = [value for value, matched in seen if matched]
    others = [value for value, matched in seen if not matched]
    assert matching and others
    assert set(matching) == {utf16(CURL)}  # exactly the filtered application matches
    assert utf16(CURL) not in others
    # The near misses are among the rejected: case, one character more or less, no NUL.
    near = {utf16(CURL.upper()), utf16(CURL + "x"), utf16(CURL[:-1]), CURL.encode("utf-16-le")}
    assert len(near & set(others)) >= 2, others
    assert near <= set(traffic.app_id_near_misses(CURL))


def test_app_id_not_equal_matches_every_other_application(tmp_path: Path) -> None:
    model = spec_model(tmp_path, {
        "driver": {"name": "NotCurl"}, "layers": ["ale_auth_connect_v4"],
        "fields": ["ip_remote_port"],
        "conditions": [{"field": "ale_app_id", "match": "not_equal", "value": CURL}]})
    seen = app_ids(model, model.layers[0])
    assert all(isinstance(value, bytes) for value, _ in seen)
    assert {matched for _, matched in seen} == {True, False}
    for value, matched in seen:
        assert matched == (value != utf16(CURL))


def test_overflow_and_concurrency_values_keep_the_filtered_application_id() -> None:
    """The fixed-size values of the overflow and concurrency steps still match the filter."""
    model = model_for(ROOT / "specs" / "app-block.yaml")
    for layer in model.layers:
        values = fixed_size_values(model, layer)
        assert values["ale_app_id"] == utf16(CURL)
        assert traffic.matches(layer, values)


MIXED = {
    "driver": {"name": "Mixed"},
    "layers": ["ale_auth_connect_v4"],
    "fields": ["ip_protocol", "ip_remote_address", "ip_remote_port", "flags"],
    "conditions": [
        {"field": "ale_app_id", "value": CURL},
        {"field": "ip_remote_address", "value": "192.168.0.0/16"},
        {"field": "ip_remote_address", "value": "10.0.0.1"},
        {"field": "ip_remote_port", "match": "range", "value": [1, 1023]},
        {"field": "ip_protocol", "value": "tcp"},
        {"field": "flags", "match": "flags_all_set", "value": ["is_loopback"]},
        {"field": "ip_local_port", "match": "greater", "value": 1024},
    ],
}


def test_every_filtered_field_is_missed_while_the_others_hold(tmp_path: Path) -> None:
    """A filter that ignored one of its conditions would pass a near miss of it: the traffic has one."""
    model = spec_model(tmp_path, MIXED)
    layer = model.layers[0]
    fields = traffic.filtered_fields(layer)
    assert len(fields) == 6
    events = list(traffic.events(model, layer, 80, seed=7))
    assert sum(e.expect_match for e in events) >= 40
    missed: Counter[str] = Counter()
    for event in events:
        assert event.expect_match == traffic.matches(layer, event.values)
        failing = [name for name, conditions in fields.items()
                   if not any(traffic._holds(c, event.values[name]) for c in conditions)]
        if len(failing) == 1:
            missed[failing[0]] += 1
    assert set(missed) == set(fields), missed
    for event in events:
        assert isinstance(event.values["ale_app_id"], bytes)
        assert isinstance(event.values["ip_remote_address"], ipaddress.IPv4Address)
        assert 0 <= int(event.values["ip_local_port"]) <= 0xFFFF  # type: ignore[call-overload]
        assert 0 <= int(event.values["ip_protocol"]) <= 0xFF  # type: ignore[call-overload]
