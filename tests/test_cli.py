"""The command line, through typer's runner: exit codes and text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT, SPECS
from typer.testing import CliRunner

from wfpgen.catalog import load_catalog
from wfpgen.cli import app
from wfpgen.output import MANIFEST

runner = CliRunner()


def test_layers_lists_every_catalog_layer() -> None:
    result = runner.invoke(app, ["layers"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(load_catalog().layers)
    assert any(line.startswith("inbound_transport_v4 ") and "FWPS_LAYER_INBOUND_TRANSPORT_V4" in line for line in lines)


def test_fields_shows_types_and_metadata() -> None:
    result = runner.invoke(app, ["fields", "ale_auth_connect_v4"])
    assert result.exit_code == 0
    assert "FWPS_FIELD_ALE_AUTH_CONNECT_V4_ALE_APP_ID" in result.stdout
    assert "byteBlob" in result.stdout and "process_id" in result.stdout


def test_fields_unknown_layer_suggests() -> None:
    result = runner.invoke(app, ["fields", "ale_auth_conect_v4"])
    assert result.exit_code == 2
    assert "did you mean 'ale_auth_connect_v4'" in result.stderr


def test_schema_validates_every_spec() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for spec in SPECS:
        jsonschema.validate(yaml.safe_load(spec.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "driver": {"name": "X"}, "bogus": 1}, schema)


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_validate_accepts_examples(spec: Path) -> None:
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0, result.stderr


def test_new_then_identical_then_conflict(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    spec = ROOT / "specs" / "monitor.yaml"
    first = runner.invoke(app, ["new", str(spec), "-o", str(out)])
    assert first.exit_code == 0, first.stderr
    assert (out / "MonitorNetwork.sln").is_file() and (out / MANIFEST).is_file()
    second = runner.invoke(app, ["new", str(spec), "-o", str(out)])
    assert second.exit_code == 0
    actions = [line.split()[0] for line in second.stdout.splitlines()[:-1]]
    assert actions and set(actions) == {"identical"}
    edited = out / "driver" / "driver.c"
    edited.write_bytes(edited.read_bytes() + b"/* mine */\n")
    third = runner.invoke(app, ["new", str(spec), "-o", str(out)])
    assert third.exit_code == 1
    assert "conflict  driver/driver.c" in third.stderr and edited.read_bytes().endswith(b"/* mine */\n")
    forced = runner.invoke(app, ["new", str(spec), "-o", str(out), "--force"])
    assert forced.exit_code == 0 and "overwrite  driver/driver.c" in forced.stdout
    assert not edited.read_bytes().endswith(b"/* mine */\n")


def test_new_updates_unedited_files_and_deletes_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\ndriver: {name: Demo}\n")
    assert runner.invoke(app, ["new", str(spec), "-o", str(out)]).exit_code == 0
    spec.write_text("version: 1\ndriver: {name: Demo}\nfields: [ip_protocol]\n")
    result = runner.invoke(app, ["new", str(spec), "-o", str(out)])
    assert result.exit_code == 0
    assert "update  driver/records.h" in result.stdout


def test_new_default_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "specs" / "monitor.yaml", tmp_path / "monitor.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["new", "monitor.yaml"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "generated" / "MonitorNetwork" / "MonitorNetwork.sln").is_file()


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = runner.invoke(app, ["new", str(ROOT / "specs" / "monitor.yaml"), "-o", str(target)])
    assert result.exit_code == 1 and "not a directory" in result.stderr and "Traceback" not in result.output


def test_missing_spec_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "cannot read the spec" in result.stderr


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("wfpgen ")
