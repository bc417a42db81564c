"""The committed captures replay through each committed (golden) reader.

tests/data/<spec>.bin is written by scripts/make_captures.py; refresh it with that script.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

from wfpgen.pipeline import model_for

RING_SPECS = [s for s in SPECS if model_for(s).has_ring]


def test_captures_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_captures.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("spec", RING_SPECS, ids=[s.stem for s in RING_SPECS])
def test_golden_reader_replays_capture(spec: Path) -> None:
    model = model_for(spec)
    reader_dir = ROOT / "generated" / model.name / "reader"
    capture = ROOT / "tests" / "data" / f"{spec.stem}.bin"
    result = subprocess.run([sys.executable, "-m", model.reader_package, "--replay", str(capture), "--format",
                             "jsonl"], cwd=reader_dir, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [kind for kind in model.record_kinds if kind.emits]  # flows.packets: false silences some layers
    assert len(records) == 6 * len(kinds)
    assert {r["layer"] for r in records} == {kind.name for kind in kinds}
    numbers = [(r["processor"], r["sequence"]) for r in records]  # each processor numbers its own
    assert len(set(numbers)) == len(numbers)
    assert len({processor for processor, _ in numbers}) > 1
    times = [r["timestamp"] for r in records]
    assert times == sorted(times), "each batch is written in time order (the capture's batches follow each other)"
    first = next(r for r in records if r["layer"] == kinds[0].name)
    assert first["values"]["ip_remote_port"] == 443


def test_dbgprint_specs_have_no_reader() -> None:
    for spec in SPECS:
        model = model_for(spec)
        assert (ROOT / "generated" / model.name / "reader").is_dir() == (model.has_ring), spec.name


@pytest.mark.parametrize("spec", RING_SPECS, ids=[s.stem for s in RING_SPECS])
def test_golden_reader_table_shows_icmp_type_and_code(spec: Path) -> None:
    """The captures hold ICMP echo requests (type 8 or 128, code 0 unless absent): the table names them so.

    The type is the local-port field and the code the remote-port field; a layer that records only
    one of them shows only that one.
    """
    model = model_for(spec)
    reader_dir = ROOT / "generated" / model.name / "reader"
    capture = ROOT / "tests" / "data" / f"{spec.stem}.bin"
    result = subprocess.run([sys.executable, "-m", model.reader_package, "--replay", str(capture)],
                            cwd=reader_dir, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    icmp = [line for line in result.stdout.splitlines()[1:] if line.split()[3] in ("icmp", "icmpv6")]
    assert icmp, "the capture holds ICMP records"
    recorded = {layer.name: {item.name for item in layer.record.items} for layer in model.record_kinds}
    for line in (line + " " for line in icmp):
        names = recorded[line.split()[1]]
        kind = r" type (8|128)" if "ip_local_port" in names else ""
        code = r"( code 0)?" if "ip_remote_port" in names else ""  # the capture leaves some codes absent
        assert re.search(rf" (8\.8\.8\.8|fe80::2){kind}{code} ", line), line
        assert ":8 " not in line and ":128 " not in line, line


def test_golden_reader_shows_why_a_process_is_unknown() -> None:
    """flows.attribution: the capture holds packets of a flow established before the driver
    (no_context) and without a flow handle (no_flow); the table names the reason where the process
    would be, and JSON lines name it with its value, the process fields absent."""
    spec = ROOT / "specs" / "monitor-process.yaml"
    model = model_for(spec)
    reader_dir = ROOT / "generated" / model.name / "reader"
    capture = ROOT / "tests" / "data" / f"{spec.stem}.bin"
    table = subprocess.run([sys.executable, "-m", model.reader_package, "--replay", str(capture)],
                           cwd=reader_dir, capture_output=True, text=True, check=False)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()[1:]
    for reason in ("no_context", "no_flow"):
        shown = [line for line in lines if line.rstrip().endswith(f"({reason})")]
        assert len(shown) == len(model.layers), (reason, lines)
    attributed = [line for line in lines if line.rstrip().endswith(".exe")]
    assert attributed and all(re.search(r" 12\d\d +\\device\\", line) for line in attributed), attributed
    jsonl = subprocess.run([sys.executable, "-m", model.reader_package, "--replay", str(capture), "--format", "jsonl"],
                           cwd=reader_dir, capture_output=True, text=True, check=False)
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    reasons = {r["values"]["flow_attribution"]["name"] for r in records}
    assert reasons == {"flow", "no_context", "no_flow"}
    for record in records:
        if record["values"]["flow_attribution"]["value"]:
            assert record["values"]["process_id"] is None and record["values"]["process_path"] is None
