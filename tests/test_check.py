"""``wfpgen check``: every example passes, every catalog layer passes, planted bugs are caught.

* each spec in ``specs/`` passes ``wfpgen check`` (all three build variants, static analysis
  on), and the report names every step the scenario promises;
* two generated specs that together hook EVERY catalog layer (discard layers included; the
  schema allows 64 layers per spec), each recording every field it can (up to 32 values) and
  the process/flow metadata the layer has, with the smallest ring ``validate`` allows, pass in
  the plain and ASan variants;
* bugs planted in the C of a rendered copy of ``specs/monitor.yaml`` fail the check with a
  report line that names the problem: a ring overrun (ASan), an unlocked ring push (TSan),
  callouts unregistered under live filters, a failure path without cleanup, IOCTLs without
  their output-length check, an unchecked allocation, a use after free, and an LLP64 format
  error that only the MinGW-w64 cross tier sees;
* bugs planted in the etw sink of ``specs/monitor-etw.yaml`` and ``specs/flows-ring-etw.yaml``
  fail it the same way: a port in host byte order, an event missing a field, an event at the
  wrong level or with the wrong keyword, the provider unregistered while callouts can still
  classify, a flow event with a wrong counter;
* ``--pcap``: a capture built here with dpkt (IPv4 and IPv6 TCP, UDP, ICMP/ICMPv6 in both
  directions, VLAN, fragments, an IPv6 extension header, other protocols, non-IP frames) is
  replayed through the transport layers and agrees with dpkt's own reading; so do pcapng
  (several sections, interfaces and link types), a pcap whose header announces an FCS, and
  MPLS label stacks; skipped frames are counted by reason;
* without clang-tidy the static-analysis step is skipped with its install command.

Skipped, with the reason, without gcc (and per test without clang-tidy, MinGW-w64 or dpkt).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from wfpgen.catalog import load_catalog
from wfpgen.checks import traffic
from wfpgen.checks.check import REAL_HEADERS, run_check
from wfpgen.checks.runner import VARIANTS, Report
from wfpgen.checks.scenario import DBGPRINT_LINE_TEXT, dbgprint_line
from wfpgen.cli import app
from wfpgen.crossbuild import CC as MINGW_CC
from wfpgen.crossbuild import DDK_INCLUDE_DIR, analyze
from wfpgen.output import write
from wfpgen.pipeline import generate, model_for

try:
    import dpkt  # type: ignore[import-untyped]
except ImportError:  # the bench extra has it; the test extra may not
    dpkt = None

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CC", "gcc")) is None,
    reason="gcc is not installed: wfpgen check builds every driver with the host C compiler",
)
needs_clang_tidy = pytest.mark.skipif(
    analyze.clang_tidy_binary() is None,
    reason="clang-tidy is not installed (pip install clang-tidy==23.1.4: a dependency of wfpgen)",
)
needs_mingw = pytest.mark.skipif(
    shutil.which(MINGW_CC) is None or not (DDK_INCLUDE_DIR / "ntddk.h").is_file(),
    reason="MinGW-w64 is not installed (apt-get install gcc-mingw-w64-x86-64)",
)
needs_dpkt = pytest.mark.skipif(
    dpkt is None, reason="dpkt is not installed: the --pcap check compares against it (pip install dpkt)"
)

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))

runner = CliRunner()

# -- the report -------------------------------------------------------------------------------

COMMON_STEPS = (
    "build -Wall -Wextra -Werror",
    "load and register",
    "registered objects match the spec",
    "synthetic traffic on every layer",
    "unload: no leaks, no violations",
)
RING_STEPS = (
    "device: GET_INFO and bad requests",
    "short value arrays",
    "pended, cancelled and cleaned-up reads",
    "ring overflow: drops counted exactly",
    "concurrent classify and draining reader",
    "READ holds ring locks for one slice at most",
)
FLOW_STEP = "flow contexts: limit, refused association, flows ending mid-classify"
ACCOUNTING_STEP = "flow accounting: counts per direction, intervals, limit, flows ending mid-classify"
FAULT_STEP = "plain: fail every call DriverEntry makes"
ANALYSIS_STEPS = ("static analysis: gcc -fanalyzer", "static analysis: clang-tidy")


def expected_steps(ring: bool, variants: tuple[str, ...] = VARIANTS, analysis: bool = True,
                   flows: bool = False, accounting: bool = False, packets: bool = True) -> list[str]:
    """The step names a passing check reports, in order (``packets``: some layer writes per-packet records)."""
    names = ["render the project", REAL_HEADERS]
    for variant in variants:
        names += [f"{variant}: {step}" for step in COMMON_STEPS[:4]]
        if ring:
            names.insert(len(names) - 1, f"{variant}: {RING_STEPS[0]}")  # before the traffic step
            if packets:
                names += [f"{variant}: {step}" for step in RING_STEPS[1:]]
            if flows:
                names.append(f"{variant}: {FLOW_STEP}")
            if accounting:
                names.append(f"{variant}: {ACCOUNTING_STEP}")
        names.append(f"{variant}: {COMMON_STEPS[4]}")
        if variant == "plain":
            names.append(FAULT_STEP)
    return names + (list(ANALYSIS_STEPS) if analysis else [])


@dataclass(frozen=True)
class Line:
    """One step of a printed report; ``detail`` includes its continuation lines."""

    ok: bool
    name: str
    detail: str
    skipped: bool = False


STEP_LINE = re.compile(r"^(PASS|FAIL|SKIP)  (.*?) +\d+\.\d\d s(?:  (.*))?$")


def parse_report(output: str) -> list[Line]:
    """The steps ``wfpgen check`` printed (a failure's detail may span several lines)."""
    steps: list[Line] = []
    for text in output.splitlines():
        match = STEP_LINE.match(text)
        if match:
            steps.append(Line(match.group(1) != "FAIL", match.group(2), match.group(3) or "",
                              match.group(1) == "SKIP"))
        elif steps and not text.startswith(("builds, decoded records", "check: ")):
            last = steps[-1]
            steps[-1] = Line(last.ok, last.name, f"{last.detail}\n{text}", last.skipped)
    return steps


def failures(report: Report) -> str:
    return "\n".join(step.line() for step in report.steps if not step.ok)


def check_cli(*args: str) -> tuple[int, list[Line], str]:
    """``wfpgen check ARGS``: exit code, parsed steps, everything printed."""
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, parse_report(result.stdout), result.output


# -- 1. every example spec ---------------------------------------------------------------------


@needs_clang_tidy
@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_check_passes_for_every_example_spec(spec: Path, tmp_path: Path) -> None:
    code, steps, output = check_cli(str(spec), "--out", str(tmp_path))
    assert code == 0, output
    assert steps and all(step.ok for step in steps), output
    model = model_for(spec)
    ring = model.has_ring
    names = [step.name for step in steps]
    flows = model.flows
    assert names == expected_steps(ring, flows=flows is not None and flows.attribution,
                                   accounting=flows is not None and flows.accounting,
                                   packets=any(layer.emits for layer in model.layers)), output
    skipped = sum(step.skipped for step in steps)
    assert f"check: {len(steps) - skipped} passed, 0 failed" in output
    assert skipped == (0 if os.environ.get("WFPGEN_WDK") else 1), "only the real-header tier may be skipped"
    assert (tmp_path / "plain" / "calls.log").is_file()
    if ring:
        assert (tmp_path / "plain" / "decoded.jsonl").stat().st_size > 0


def test_tasks_run_in_parallel_report_in_their_own_order() -> None:
    """Later tasks finishing first change nothing: steps are added and echoed in task order."""
    import threading
    import time

    from wfpgen.checks.check import run_tasks
    from wfpgen.checks.runner import Step

    finished: list[int] = []
    lock = threading.Lock()

    def task(index: int, delay: float) -> list[Step]:
        time.sleep(delay)
        with lock:
            finished.append(index)
        return [Step(f"task {index} step {k}", True) for k in range(2)]

    delays = [0.3, 0.1, 0.0, 0.2]
    tasks = [lambda i=i, d=d: task(i, d) for i, d in enumerate(delays)]
    for jobs in (1, 4):
        finished.clear()
        report, echoed = Report(), []
        run_tasks(tasks, jobs, report, echoed.append)
        expected = [f"task {i} step {k}" for i in range(len(delays)) for k in range(2)]
        assert [step.name for step in report.steps] == expected
        assert [line.split()[1:5] for line in echoed] == [name.split() for name in expected]
        assert finished == ([0, 1, 2, 3] if jobs == 1 else [2, 1, 3, 0])


def test_check_with_jobs_reports_as_a_sequential_check(tmp_path: Path) -> None:
    spec = str(ROOT / "specs" / "monitor.yaml")
    outputs = {}
    for jobs in ("1", "3"):
        code, steps, output = check_cli(spec, "--variant", "plain", "--variant", "tsan", "--no-analysis",
                                        "--jobs", jobs, "--out", str(tmp_path / jobs))
        assert code == 0, output
        outputs[jobs] = [step.name for step in steps]
    assert outputs["1"] == outputs["3"] == expected_steps(True, ("plain", "tsan"), analysis=False)


def test_missing_clang_tidy_is_a_skipped_step_with_its_install_command(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """clang-tidy is optional for a check: without it the step says SKIP and how to install it."""
    monkeypatch.setattr(analyze, "clang_tidy_binary", lambda: None)
    code, steps, output = check_cli(str(ROOT / "specs" / "monitor.yaml"), "--variant", "plain", "--out",
                                    str(tmp_path))
    assert code == 0, output
    tidy = [step for step in steps if step.name == "static analysis: clang-tidy"]
    assert len(tidy) == 1 and tidy[0].skipped, output
    assert tidy[0].detail.startswith("skipped: clang-tidy is not installed; install it with: ")
    assert tidy[0].detail.endswith(" -m pip install clang-tidy==23.1.4")
    assert "Traceback" not in output and "FAIL" not in output
    assert re.search(r"^check: \d+ passed, 0 failed, [12] skipped$", output, re.MULTILINE), output


def test_a_dbgprint_line_stops_within_what_dbgprintex_transmits(tmp_path: Path) -> None:
    """Every recordable value of an ALE layer makes a line longer than DbgPrintEx's 512 bytes.

    The sink cuts it at 510 characters, so the text, its newline and the NUL fit; the host's
    DbgPrintEx records a violation for anything longer, and the scenario compares each line
    with the oracle's, cut the same way.
    """
    catalog = load_catalog()
    layer = catalog.layer("ale_auth_recv_accept_v6")
    target = catalog.version(TARGET)
    assert layer is not None and target is not None
    fields = [f.name for f in layer.fields if f.extractable and catalog.version(f.min_windows).rank <= target.rank]
    fields = fields[:MAX_VALUES - 2]
    spec = tmp_path / "long.yaml"
    spec.write_text(yaml.safe_dump({
        "version": 1, "driver": {"name": "LongLine", "target": TARGET}, "layers": [layer.name],
        "fields": fields, "metadata": ["process_id", "process_path"], "sink": {"kind": "dbgprint"}}),
        encoding="utf-8")
    model = model_for(spec)
    lengths = [len(dbgprint_line(model, e)) for e in traffic.events(model, model.layers[0], 40, seed=3)]
    assert max(lengths) == DBGPRINT_LINE_TEXT == 510, lengths
    report = run_check(spec, tmp_path / "out", variants=("plain",), analysis=False)
    assert report.ok, failures(report)


# -- 2. every catalog layer --------------------------------------------------------------------

TARGET = "win11_24h2"
METADATA = ("process_id", "process_path", "compartment_id", "flow_handle", "current_process_id")
MAX_VALUES = 32  # wfpgen.validate.MAX_ITEMS_PER_LAYER
MAX_LAYERS = 64  # the schema's limit per spec


def every_layer_entries() -> list[dict[str, Any]]:
    """One spec entry per catalog layer: its recordable fields and the metadata it has."""
    catalog = load_catalog()
    target = catalog.version(TARGET)
    assert target is not None
    entries = []
    for layer in catalog.layers.values():
        fields = []
        for field in layer.fields:
            needed = catalog.version(field.min_windows)
            if field.extractable and (needed is None or needed.rank <= target.rank):
                fields.append(field.name)
        # current_process_id is at every layer; a name that is also a field is recorded as the field.
        metadata = [name for name in METADATA
                    if (name == "current_process_id" or name in layer.metadata) and name not in fields]
        entries.append({"layer": layer.name, "fields": fields[:MAX_VALUES - len(metadata)], "metadata": metadata})
    return entries


def validate(spec: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(spec)])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def every_layer_specs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two specs hooking every catalog layer between them, each with the smallest ring validate allows."""
    entries = every_layer_entries()
    assert len(entries) <= 2 * MAX_LAYERS
    half = (len(entries) + 1) // 2
    directory = tmp_path_factory.mktemp("every-layer")
    specs = []
    for number, part in enumerate((entries[:half], entries[half:]), start=1):
        spec = directory / f"every-layer-{number}.yaml"
        document = {
            "version": 1,
            "driver": {"name": f"EveryLayer{number}", "description": "Records everything at every layer",
                       "target": TARGET},
            "layers": part,
            "sink": {"kind": "ring", "capacity": 4096},
        }
        spec.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        code, output = validate(spec)
        if code != 0:  # validate names the minimum: two of the largest records
            minimum = re.search(r"a capacity of at least (\d+)", output)
            assert minimum is not None, output
            document["sink"] = {"kind": "ring", "capacity": int(minimum.group(1))}
            spec.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
            code, output = validate(spec)
        assert code == 0, output
        specs.append(spec)
    return specs


def test_every_layer_specs_cover_the_catalog(every_layer_specs: list[Path]) -> None:
    catalog = load_catalog()
    hooked: list[str] = []
    recorded: set[str] = set()
    for spec in every_layer_specs:
        model = model_for(spec)
        hooked += [layer.name for layer in model.layers]
        for layer in model.layers:
            items = [item.name for item in layer.record.items]
            assert 0 < len(items) <= MAX_VALUES, layer.name
            assert "current_process_id" in items, layer.name
            recorded.update(items)
    assert sorted(hooked) == sorted(catalog.layers)
    assert any(layer.discard for layer in catalog.layers.values())
    assert set(METADATA) <= recorded  # (compartment_id as the field of the same name where there is one)


@pytest.mark.parametrize("part", [0, 1], ids=["first-half", "second-half"])
def test_check_passes_at_every_layer(every_layer_specs: list[Path], part: int, tmp_path: Path) -> None:
    report = run_check(every_layer_specs[part], tmp_path, variants=("plain", "asan"), analysis=False)
    assert report.ok, failures(report)
    names = [step.name for step in report.steps]
    assert names == expected_steps(True, ("plain", "asan"), analysis=False)


# -- 3. planted bugs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plant:
    """A bug written into a rendered MonitorNetwork project, and what the check must say."""

    file: str
    edits: tuple[tuple[str, str], ...]  # (exact text, replacement); each text occurs once
    variant: str
    says: tuple[str, ...]  # substrings of the failing step's report, all required


COPY_SPLIT = (
    "    UINT32 first = Ring->Capacity - Offset;\n\n    if (first > Length)\n    {\n        first = Length;\n    }\n"
    "    if (Source == NULL)"
)
UNREGISTER = "    if (g_EngineHandle != NULL)\n    {\n        /* Filters first"
BEGIN_FAILED = "    status = FwpmTransactionBegin0(g_EngineHandle, 0);\n    if (!NT_SUCCESS(status))\n    {\n"
FREE_RING = "            ExFreePoolWithTag(rings[i], MONITORNETWORK_POOL_TAG);\n"

PLANTS = {
    # The first part of a copy that wraps at the end of the ring is one byte too long.
    "ring-copy-off-by-one": Plant(
        "sink_ring.c", ((COPY_SPLIT, COPY_SPLIT.replace("Capacity - Offset;", "Capacity - Offset + 1;")),),
        "asan", ("AddressSanitizer: heap-buffer-overflow", "MonitorNetworkRingCopyIn")),
    # SinkEmit pushes into its processor's ring without the ring's spin lock (which READ takes).
    "ring-push-without-lock": Plant(
        "sink_ring.c",
        (("    KLOCK_QUEUE_HANDLE lockHandle;\n    MONITORNETWORK_RING *ring;\n    WFPGEN_LAYER_STATS *counters;",
          "    MONITORNETWORK_RING *ring;\n    WFPGEN_LAYER_STATS *counters;"),
         ("    KeAcquireInStackQueuedSpinLock(&ring->Lock, &lockHandle);\n    counters =", "    counters ="),
         ("    KeReleaseInStackQueuedSpinLock(&lockHandle);\n\n    if (serve)", "\n    if (serve)")),
        "tsan", ("ThreadSanitizer: data race", "MonitorNetworkSinkEmit")),
    # The run-time callouts are unregistered while their filters still exist.
    "callouts-unregistered-before-filters": Plant(
        "callouts.c", ((UNREGISTER, "    MonitorNetworkUnregisterRuntimeCallouts();\n" + UNREGISTER),),
        "plain", ("FwpsCalloutUnregisterById0", "still references")),
    # A failed FwpmTransactionBegin0 returns without closing the engine.
    "failure-path-without-cleanup": Plant(
        "callouts.c", ((BEGIN_FAILED + "        goto Exit;", BEGIN_FAILED + "        return status;"),),
        "plain", ("after FwpmTransactionBegin0 #1 failed", "left behind", "'engines': 1")),
    "get-info-without-length-check": Plant(
        "sink_ring.c", (("if (buffer == NULL || outputLength < sizeof(WFPGEN_INFO))", "if (buffer == NULL)"),),
        "plain", ("GET_INFO into an 8-byte buffer succeeded", "IoStatus.Information", "exceeds OutputBufferLength",
                  "past the end of the 8-byte system buffer")),
    "stats-without-length-check": Plant(
        "sink_ring.c",
        (("if (buffer == NULL || outputLength < sizeof(MONITORNETWORK_STATS))", "if (buffer == NULL)"),),
        "plain", ("STATS into an 8-byte buffer succeeded", "IoStatus.Information", "exceeds OutputBufferLength",
                  "past the end of the 8-byte system buffer")),
    # classify reads an incoming value without checking its index against valueCount.
    "value-read-past-value-count": Plant(
        "values.h", (("if (Values->incomingValue == NULL || Index >= Values->valueCount)",
                        "if (Values->incomingValue == NULL)"),),
        "plain", ("short value arrays", "sent None")),
    # The table of rings is used without its allocation's NULL check: the load that fails that
    # allocation crashes.
    "unchecked-allocation": Plant(
        "sink_ring.c", (("    if (g_Rings == NULL)\n    {\n        return STATUS_INSUFFICIENT_RESOURCES;\n    }\n", ""),),
        "plain", ("fail every call DriverEntry makes (the process died in it)", "Segmentation fault")),
    # READ drains four slices' worth of records in one hold of a ring lock.
    "read-holds-a-ring-lock-for-four-slices": Plant(
        "sink_ring.c", (("size > MONITORNETWORK_SLICE_BYTES - span", "size > 4u * MONITORNETWORK_SLICE_BYTES - span"),),
        "plain", ("READ holds ring locks for one slice at most", "in one hold of a ring lock", "one slice (16384 bytes)")),
    # SinkShutdown reads a ring after freeing it: gcc's -Werror=use-after-free, else ASan.
    "use-after-free": Plant(
        "sink_ring.c", ((FREE_RING, FREE_RING + "            rings[i]->HighWater = rings[i]->Used;\n"),),
        "asan", ("use-after-free",)),
}

# A 64-bit filter id printed with %lu: right on LP64 Linux, wrong on LLP64 Windows.
FORMAT_BUG = (
    '"MonitorNetwork: FwpmFilterDeleteById0 failed: 0x%08X\\n", (unsigned int)status);',
    '"MonitorNetwork: FwpmFilterDeleteById0(%lu) failed: 0x%08X\\n", g_FilterIds[i], (unsigned int)status);',
)


@pytest.fixture(scope="module")
def monitor_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """specs/monitor.yaml rendered once (generated/MonitorNetwork is never touched)."""
    spec = ROOT / "specs" / "monitor.yaml"
    model, files = generate(spec, str(spec))
    assert model.name == "MonitorNetwork" and model.has_ring
    project = tmp_path_factory.mktemp("rendered") / "MonitorNetwork"
    write(project, files, force=True)
    return project


@pytest.fixture
def planted(monitor_project: Path, tmp_path: Path) -> Callable[[str, tuple[tuple[str, str], ...]], Path]:
    """A copy of the rendered project with ``edits`` applied to ``driver/<file>``."""

    def plant(file: str, edits: tuple[tuple[str, str], ...]) -> Path:
        project = tmp_path / "project"
        shutil.copytree(monitor_project, project)
        source = project / "driver" / file
        text = source.read_text(encoding="utf-8")
        for old, new in edits:
            assert text.count(old) == 1, f"{file}: expected exactly one {old!r}, found {text.count(old)}"
            text = text.replace(old, new)
        source.write_text(text, encoding="utf-8")
        return project

    return plant


def test_unplanted_copy_passes(planted: Callable[..., Path], tmp_path: Path) -> None:
    """The control: the copy the bugs are planted in passes as it is."""
    project = planted("driver.c", ())
    code, steps, output = check_cli(str(project), "--variant", "plain", "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 0, output
    assert [step.name for step in steps] == expected_steps(True, ("plain",), analysis=False)


@pytest.mark.parametrize("name", list(PLANTS))
def test_planted_bug_fails_the_check(name: str, planted: Callable[..., Path], tmp_path: Path) -> None:
    plant = PLANTS[name]
    project = planted(plant.file, plant.edits)
    code, steps, output = check_cli(str(project), "--variant", plant.variant, "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 1, output
    failed = [step for step in steps if not step.ok]
    assert failed, output
    assert all(step.name.startswith(f"{plant.variant}: ") for step in failed), output
    naming = [step for step in failed if all(s in f"{step.name}\n{step.detail}" for s in plant.says)]
    assert naming, f"no failing step says {plant.says}:\n{output}"


# -- planted flow-context bugs (specs/monitor-process.yaml) ----------------------------------------

ESTABLISHED_END = "    ProcessMonitorFlowRelease(flow);\n    InterlockedDecrement(&g_FlowsEstablishing);"
V4_TARGETS = ("static const UINT32 ProcessMonitorTargetsAleFlowEstablishedV4[] = {0u, 1u};\n"
              "static const UINT16 ProcessMonitorTargetLayersAleFlowEstablishedV4[] = {FWPS_LAYER_INBOUND_TRANSPORT_V4,\n"
              "                                                                        FWPS_LAYER_OUTBOUND_TRANSPORT_V4};")
REMOVE_THEN_UNREGISTER = "    ProcessMonitorFlowsRemoveAll();\n    ProcessMonitorUnregisterRuntimeCallouts();"

FLOW_PLANTS = {
    # flowDeleteFn forgets to release its reference: the context never goes back to the pool.
    "flow-context-never-freed": Plant(
        "flows.c", (("        ProcessMonitorFlowRelease((PROCESSMONITOR_FLOW *)(ULONG_PTR)flowContext);\n", ""),),
        "plain", ("never returned to the driver's pool", "a context never freed")),
    # The establishing classify drops a reference it does not own; flowDeleteFn then frees it again.
    "flow-context-freed-in-classify-and-in-flow-delete": Plant(
        "flows.c", ((ESTABLISHED_END, "    ProcessMonitorFlowRelease(flow);\n" + ESTABLISHED_END),),
        "plain", ("released more often than it was referenced (freed twice)",)),
    # Unload unregisters the callouts first and removes the contexts afterwards.
    "callouts-unregistered-before-flow-contexts-removed": Plant(
        "callouts.c", ((REMOVE_THEN_UNREGISTER,
                        "    ProcessMonitorUnregisterRuntimeCallouts();\n    ProcessMonitorFlowsRemoveAll();"),),
        "plain", ("STATUS_DEVICE_BUSY", "flow context(s) were still associated")),
    # The IPv4 context is associated with the inbound callout only: outbound classify reads a
    # flowContext that was never associated with its layer.
    "flow-context-read-at-a-layer-it-was-not-associated-with": Plant(
        "flows.c", ((V4_TARGETS, ("static const UINT32 ProcessMonitorTargetsAleFlowEstablishedV4[] = {0u};\n"
                                  "static const UINT16 ProcessMonitorTargetLayersAleFlowEstablishedV4[] = "
                                  "{FWPS_LAYER_INBOUND_TRANSPORT_V4};")),),
        "plain", ("outbound_transport_v4.flow_attribution", "got no flowContext")),
    # The context is associated with the outbound callout under the inbound layer's id.
    "flow-context-associated-at-another-layer": Plant(
        "flows.c", (("FWPS_LAYER_OUTBOUND_TRANSPORT_V4};", "FWPS_LAYER_INBOUND_TRANSPORT_V4};"),),
        "plain", ("FwpsFlowAssociateContext0", "no classifyFn would receive this flowContext")),
}


@pytest.fixture(scope="module")
def process_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """specs/monitor-process.yaml rendered once."""
    spec = ROOT / "specs" / "monitor-process.yaml"
    model, files = generate(spec, str(spec))
    assert model.flows is not None
    project = tmp_path_factory.mktemp("rendered") / "ProcessMonitor"
    write(project, files, force=True)
    return project


@pytest.mark.parametrize("name", list(FLOW_PLANTS))
def test_planted_flow_bug_fails_the_check(name: str, process_project: Path, tmp_path: Path) -> None:
    plant = FLOW_PLANTS[name]
    project = tmp_path / "project"
    shutil.copytree(process_project, project)
    source = project / "driver" / plant.file
    text = source.read_text(encoding="utf-8")
    for old, new in plant.edits:
        assert text.count(old) == 1, f"{plant.file}: expected exactly one {old!r}, found {text.count(old)}"
        text = text.replace(old, new)
    source.write_text(text, encoding="utf-8")
    code, steps, output = check_cli(str(project), "--variant", plant.variant, "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 1, output
    failed = [step for step in steps if not step.ok]
    naming = [step for step in failed if all(s in f"{step.name}\n{step.detail}" for s in plant.says)]
    assert naming, f"no failing step says {plant.says}:\n{output}"


def test_unplanted_flow_copy_passes(process_project: Path, tmp_path: Path) -> None:
    """The control for the flow plants."""
    code, steps, output = check_cli(str(process_project), "--variant", "plain", "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 0, output
    assert [step.name for step in steps] == expected_steps(True, ("plain",), analysis=False, flows=True)


# -- planted flow-accounting bugs (specs/bandwidth.yaml) --------------------------------------------

ACCOUNTING_PLANTS = {
    # A report reads the counters without zeroing them: the flow's next record counts its packets again.
    "flow-counters-not-zeroed-by-a-report": Plant(
        "flows.c", (("        record.BytesIn = (UINT64)InterlockedExchange64(&Flow->BytesIn, 0);\n",
                     "        record.BytesIn = (UINT64)Flow->BytesIn;\n"),),
        "plain", (ACCOUNTING_STEP, "flow_v4.bytes_in")),
    # Outbound bytes counted with the transport header that starts each NET_BUFFER.
    "outbound-bytes-with-the-transport-header": Plant(
        "flows.c", (("            bytes += (LONG64)(length - HeaderBytes);\n", "            bytes += (LONG64)length;\n"),),
        "plain", (ACCOUNTING_STEP, "bytes_out")),
    # The establishing callout never marks the flow as associated: no flow ever reports.
    "flow-never-reported": Plant(
        "flows.c", (("    flow->Accounted = (BOOLEAN)(associated != 0);", "    flow->Accounted = FALSE;"),),
        "plain", (ACCOUNTING_STEP, "0 flow records for 12 ended flows")),
}


@pytest.fixture(scope="module")
def bandwidth_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """specs/bandwidth.yaml rendered once."""
    spec = ROOT / "specs" / "bandwidth.yaml"
    model, files = generate(spec, str(spec))
    assert model.flows is not None and model.flows.accounting
    project = tmp_path_factory.mktemp("rendered") / "BandwidthMonitor"
    write(project, files, force=True)
    return project


@pytest.mark.parametrize("name", list(ACCOUNTING_PLANTS))
def test_planted_accounting_bug_fails_the_check(name: str, bandwidth_project: Path, tmp_path: Path) -> None:
    plant = ACCOUNTING_PLANTS[name]
    project = tmp_path / "project"
    shutil.copytree(bandwidth_project, project)
    source = project / "driver" / plant.file
    text = source.read_text(encoding="utf-8")
    for old, new in plant.edits:  # a flow report is written out once per IP version: both get the bug
        assert text.count(old) in (1, 2), f"{plant.file}: expected {old!r} once or twice, found {text.count(old)}"
        text = text.replace(old, new)
    source.write_text(text, encoding="utf-8")
    code, steps, output = check_cli(str(project), "--variant", plant.variant, "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 1, output
    failed = [step for step in steps if not step.ok]
    naming = [step for step in failed if all(s in f"{step.name}\n{step.detail}" for s in plant.says)]
    assert naming, f"no failing step says {plant.says}:\n{output}"


def test_unplanted_accounting_copy_passes(bandwidth_project: Path, tmp_path: Path) -> None:
    """The control for the accounting plants: no per-packet records, so no per-packet ring steps."""
    code, steps, output = check_cli(str(bandwidth_project), "--variant", "plain", "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 0, output
    names = [step.name for step in steps]
    assert f"plain: {ACCOUNTING_STEP}" in names and "plain: ring overflow: drops counted exactly" not in names
    step = next(step for step in steps if step.name == f"plain: {ACCOUNTING_STEP}")
    assert re.search(r"flow_v4: 12 flows, \d+ packets, each record equal to its flow's counts", step.detail), step.detail
    assert "none lost" in step.detail and "counted apart, exactly" in step.detail


def test_attribution_with_accounting_passes(tmp_path: Path) -> None:
    """Both flow features in one driver: the flow step's thousands of ended flows each send a flow
    record, which must not fill the rings under its own per-packet records, nor be taken for them."""
    spec = (ROOT / "specs" / "monitor-process.yaml").read_text(encoding="utf-8")
    spec = spec.replace("flows:\n  attribution: true\n", "flows:\n  attribution: true\n  accounting: true\n")
    assert "accounting: true" in spec
    path = tmp_path / "process-bandwidth.yaml"
    path.write_text(spec, encoding="utf-8")
    code, steps, output = check_cli(str(path), "--variant", "plain", "--no-analysis", "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert [step.name for step in steps] == expected_steps(True, ("plain",), analysis=False, flows=True,
                                                           accounting=True), output


# -- planted etw-sink bugs (specs/monitor-etw.yaml, specs/flows-ring-etw.yaml) ---------------------

TRAFFIC_STEP = "plain: synthetic traffic on every layer"
UNLOAD_STEP = "plain: unload: no leaks, no violations"
ETW_UNLOAD = ("    MonitorEtwUnregisterCallouts();\n    if (g_SinkStarted)\n    {\n        MonitorEtwSinkShutdown();\n"
              "        g_SinkStarted = FALSE;\n    }\n")
ETW_SHUTDOWN_FIRST = ("    if (g_SinkStarted)\n    {\n        MonitorEtwSinkShutdown();\n        g_SinkStarted = FALSE;\n    }\n"
                      "    MonitorEtwUnregisterCallouts();\n")

ETW_PLANTS = {
    # The inbound event's remote port is written as WFP gives it (host order); TraceLoggingPort is big-endian.
    "port-in-host-byte-order": Plant(
        "sink_etw.c", ((('TraceLoggingPort(RtlUshortByteSwap(Record->IpRemotePort), "ip_remote_port"));\n}\n\n'
                         "/* outbound_transport_v4"),
                        'TraceLoggingPort(Record->IpRemotePort, "ip_remote_port"));\n}\n\n/* outbound_transport_v4'),),
        "plain", (TRAFFIC_STEP, "ETW event inbound_transport_v4.ip_remote_port: bytes")),
    # The connect event leaves out one of its fields.
    "event-missing-a-field": Plant(
        "sink_etw.c", ((('TraceLoggingHexUInt32(truncated, "truncated"), TraceLoggingUInt8(Record->IpProtocol, '
                         '"ip_protocol"),'), 'TraceLoggingHexUInt32(truncated, "truncated"),'),),
        "plain", (TRAFFIC_STEP, "ETW event ale_auth_connect_v4: fields",
                  "expected ['present', 'truncated', 'ip_protocol'")),
    # Unload stops the sinks (and so unregisters the provider) while the callouts can still classify.
    "provider-unregistered-before-the-callouts": Plant(
        "driver.c", ((ETW_UNLOAD, ETW_SHUTDOWN_FIRST),),
        "plain", (UNLOAD_STEP, ("TraceLoggingUnregister of provider 'MonitorEtw' while 3 run-time callout(s) are "
                                "still registered"))),
    # The outbound event is written at TRACE_LEVEL_VERBOSE: a session at the documented level misses it.
    "event-at-the-wrong-level": Plant(
        "sink_etw.c", (('"outbound_transport_v4", TraceLoggingLevel(TRACE_LEVEL_INFORMATION)',
                        '"outbound_transport_v4", TraceLoggingLevel(TRACE_LEVEL_VERBOSE)'),),
        "plain", (TRAFFIC_STEP, "ETW event outbound_transport_v4: level 5, expected 4")),
    # The outbound event carries the inbound layer's keyword: enabling one layer gets the other's events.
    "event-with-the-wrong-keyword": Plant(
        "sink_etw.c", (("TraceLoggingKeyword(0x2ULL)", "TraceLoggingKeyword(0x1ULL)"),),
        "plain", (TRAFFIC_STEP, "ETW event outbound_transport_v4: keyword 0x1, expected 0x2")),
}

# Plants in FlowMonitor (specs/flows-ring-etw.yaml): the flow events, which the ring's records do not cover.
FLOW_ETW_PLANTS = {
    # The flow events carry the outbound byte count as bytes_in (the ring's flow records stay right).
    "flow-event-bytes-in-from-bytes-out": Plant(
        "sink_etw.c", (('TraceLoggingUInt64(Record->BytesIn, "bytes_in")',
                        'TraceLoggingUInt64(Record->BytesOut, "bytes_in")'),),
        "plain", (f"plain: {ACCOUNTING_STEP}", "ETW event flow_v4.bytes_in: bytes")),
}


def render_spec(tmp_path_factory: pytest.TempPathFactory, spec_name: str, driver: str) -> Path:
    """``specs/<spec_name>`` rendered once into a temporary directory (generated/ is never touched)."""
    spec = ROOT / "specs" / spec_name
    model, files = generate(spec, str(spec))
    assert model.name == driver and model.has_etw
    project = tmp_path_factory.mktemp("rendered") / driver
    write(project, files, force=True)
    return project


@pytest.fixture(scope="module")
def etw_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_spec(tmp_path_factory, "monitor-etw.yaml", "MonitorEtw")


@pytest.fixture(scope="module")
def flow_etw_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_spec(tmp_path_factory, "flows-ring-etw.yaml", "FlowMonitor")


def planted_copy(rendered: Path, plant: Plant, tmp_path: Path) -> Path:
    """A copy of ``rendered`` with ``plant``'s edits applied to its driver file; every edit must apply (a flow
    event is written out once per IP version: a flow plant may apply twice)."""
    project = tmp_path / "project"
    shutil.copytree(rendered, project)
    source = project / "driver" / plant.file
    text = source.read_text(encoding="utf-8")
    for old, new in plant.edits:
        assert text.count(old) in (1, 2), f"{plant.file}: expected {old!r} once or twice, found {text.count(old)}"
        text = text.replace(old, new)
    source.write_text(text, encoding="utf-8")
    return project


def expect_named_failure(project: Path, plant: Plant, tmp_path: Path) -> None:
    code, steps, output = check_cli(str(project), "--variant", plant.variant, "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 1, output
    failed = [step for step in steps if not step.ok]
    naming = [step for step in failed if all(s in f"{step.name}\n{step.detail}" for s in plant.says)]
    assert naming, f"no failing step says {plant.says}:\n{output}"


@pytest.mark.parametrize("name", list(ETW_PLANTS))
def test_planted_etw_bug_fails_the_check(name: str, etw_project: Path, tmp_path: Path) -> None:
    plant = ETW_PLANTS[name]
    expect_named_failure(planted_copy(etw_project, plant, tmp_path), plant, tmp_path)


@pytest.mark.parametrize("name", list(FLOW_ETW_PLANTS))
def test_planted_flow_etw_bug_fails_the_check(name: str, flow_etw_project: Path, tmp_path: Path) -> None:
    plant = FLOW_ETW_PLANTS[name]
    expect_named_failure(planted_copy(flow_etw_project, plant, tmp_path), plant, tmp_path)


def test_unplanted_etw_copy_passes(etw_project: Path, tmp_path: Path) -> None:
    """The control for the etw plants: the same copy, no edit, passes; every event was compared."""
    code, steps, output = check_cli(str(planted_copy(etw_project, Plant("driver.c", (), "plain", ()), tmp_path)),
                                    "--variant", "plain", "--no-analysis", "--out", str(tmp_path / "check"))
    assert code == 0, output
    assert [step.name for step in steps] == expected_steps(False, ("plain",), analysis=False), output
    traffic_step = next(step for step in steps if step.name == TRAFFIC_STEP)
    assert re.search(r"\d+ ETW events, every field's name, TraceLogging type and bytes as sent", traffic_step.detail)


def test_unplanted_flow_etw_copy_passes(flow_etw_project: Path, tmp_path: Path) -> None:
    """The control for the flow-event plant: ring and etw together, flow events compared with the flows."""
    code, steps, output = check_cli(str(flow_etw_project), "--variant", "plain", "--no-analysis", "--out",
                                    str(tmp_path / "check"))
    assert code == 0, output
    assert [step.name for step in steps] == expected_steps(True, ("plain",), analysis=False,
                                                           accounting=True), output
    step = next(step for step in steps if step.name == f"plain: {ACCOUNTING_STEP}")
    assert step.detail.count("(and each ETW event, field by field)") == 2, step.detail


#: The end of the IPv6 layer's application-id condition in specs/app-block.yaml's callouts.c (the
#: layer that filters on the id without recording it; the pended-read step uses the IPv4 layer).
APP_ID_V6 = (r'     L"\\device\\harddiskvolume3\\windows\\system32\\curl.exe",' "\n     100},\n};\n\n"
             "const APPBLOCK_CALLOUT AppBlockCallouts[")

APP_ID_PLANTS = {
    # The blob size leaves out the terminating NUL: the filter now matches a near miss, not curl.
    "app-id-size-without-nul": (APP_ID_V6, APP_ID_V6.replace("100},", "98},")),
    # The filter names another application than the spec's.
    "app-id-of-another-application": (APP_ID_V6, APP_ID_V6.replace("curl.exe", "wget.exe")),
}


@pytest.mark.parametrize("name", list(APP_ID_PLANTS))
def test_wrong_application_id_filter_fails_the_check(name: str, tmp_path: Path) -> None:
    """The app-id traffic tells the filtered application from its near misses, so a filter on the
    wrong bytes fails the synthetic-traffic step (the control is the example spec's own check)."""
    spec = ROOT / "specs" / "app-block.yaml"
    _, files = generate(spec, str(spec))
    project = tmp_path / "AppBlock"
    write(project, files, force=True)
    source = project / "driver" / "callouts.c"
    text = source.read_text(encoding="utf-8")
    old, new = APP_ID_PLANTS[name]
    assert text.count(old) == 1, f"expected exactly one {old!r} in callouts.c"
    source.write_text(text.replace(old, new), encoding="utf-8")
    report = run_check(project, tmp_path / "out", variants=("plain",), analysis=False)
    failed = [step for step in report.steps if not step.ok]
    assert failed and failed[0].name == "plain: synthetic traffic on every layer", failures(report)
    assert "ale_auth_connect_v6: callout ran" in failed[0].detail and "oracle says" in failed[0].detail
    assert "ale_app_id='\\device\\harddiskvolume3" in failed[0].detail, failed[0].detail  # the path, as text


@needs_mingw
def test_llp64_format_error_is_caught_only_by_the_cross_build(planted: Callable[..., Path], tmp_path: Path) -> None:
    project = planted("callouts.c", (FORMAT_BUG,))
    report = run_check(project, tmp_path, variants=("plain",), analysis=False, cross=True)
    host = [step for step in report.steps if step.name.startswith("plain: ")]
    assert host and all(step.ok for step in host), failures(report)  # the host build cannot see it
    cross = [step for step in report.steps if step.name.startswith("MinGW-w64")]
    assert len(cross) == 1 and not cross[0].ok, "\n".join(step.line() for step in report.steps)
    assert "%lu" in cross[0].detail and "-Werror=format" in cross[0].detail, cross[0].detail
    assert not report.ok


# -- 4. a packet capture -----------------------------------------------------------------------

LOCAL_V4, LOCAL_V6 = "10.0.0.0/8", "fd00::/8"
HOST_V4, HOST_V6 = "10.20.30.40", "fd00:10::40"
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58


@dataclass(frozen=True)
class Sent:
    """A TCP/UDP/ICMP packet in the capture (ICMP: ``sport`` is the type, ``dport`` the code)."""

    protocol: int
    source: str
    destination: str
    sport: int
    dport: int

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.source).version


def _ethernet(payload: bytes, ethertype: int, vlan: int | None = None) -> bytes:
    head = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02"
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", ethertype) + payload


def _transport(sent: Sent) -> bytes:
    if sent.protocol == TCP:
        return bytes(dpkt.tcp.TCP(sport=sent.sport, dport=sent.dport, seq=1, flags=dpkt.tcp.TH_SYN))
    if sent.protocol == UDP:
        return bytes(dpkt.udp.UDP(sport=sent.sport, dport=sent.dport, ulen=12, data=b"ping"))
    if sent.protocol == ICMP:
        return bytes(dpkt.icmp.ICMP(type=sent.sport, code=sent.dport, data=b"\x00\x01\x00\x02abcd"))
    return bytes(dpkt.icmp6.ICMP6(type=sent.sport, code=sent.dport, data=b"\x00\x01\x00\x02"))


def _ipv4(source: str, destination: str, protocol: int, payload: bytes, offset: int = 0, more: bool = False) -> bytes:
    packet = dpkt.ip.IP(src=ipaddress.IPv4Address(source).packed, dst=ipaddress.IPv4Address(destination).packed,
                        p=protocol, ttl=64, data=payload)
    packet.offset, packet.mf = offset, int(more)
    return bytes(packet)


def _ipv6(source: str, destination: str, protocol: int, payload: bytes, hop_by_hop: bool = False) -> bytes:
    if hop_by_hop:  # a hop-by-hop options header (PadN) in front of the payload
        payload = bytes([protocol, 0, 1, 4, 0, 0, 0, 0]) + payload
        protocol = 0
    return (struct.pack("!IHBB", 6 << 28, len(payload), protocol, 64) + ipaddress.IPv6Address(source).packed
            + ipaddress.IPv6Address(destination).packed + payload)


def build_capture(path: Path) -> list[Sent]:
    """Write an Ethernet pcap; the TCP/UDP/ICMP packets in it, in order."""
    frames: list[bytes] = []
    packets: list[Sent] = []

    def ip(sent: Sent, vlan: int | None = None, hop_by_hop: bool = False, more: bool = False) -> None:
        if sent.version == 4:
            frame = _ethernet(_ipv4(sent.source, sent.destination, sent.protocol, _transport(sent), more=more),
                              0x0800, vlan)
        else:
            frame = _ethernet(_ipv6(sent.source, sent.destination, sent.protocol, _transport(sent), hop_by_hop),
                              0x86DD, vlan)
        frames.append(frame)
        packets.append(sent)

    far4, dns4, ping4 = "93.184.216.34", "8.8.4.4", "198.51.100.7"
    far6, dns6 = "2001:db8::443", "2001:db8::53"
    ip(Sent(TCP, HOST_V4, far4, 50000, 443))
    ip(Sent(TCP, far4, HOST_V4, 443, 50000))
    ip(Sent(TCP, HOST_V4, far4, 50002, 8080))
    ip(Sent(UDP, HOST_V4, dns4, 5353, 53))
    ip(Sent(UDP, dns4, HOST_V4, 53, 5353))
    ip(Sent(ICMP, HOST_V4, ping4, 8, 0))  # echo request
    ip(Sent(ICMP, ping4, HOST_V4, 0, 0))  # echo reply
    ip(Sent(ICMP, ping4, HOST_V4, 3, 1))  # host unreachable: type and code differ
    ip(Sent(ICMP, HOST_V4, ping4, 3, 3))  # port unreachable, sent
    ip(Sent(UDP, dns4, HOST_V4, 123, 123), vlan=7)
    ip(Sent(UDP, HOST_V4, ping4, 40000, 514), more=True)  # a first fragment: ports present
    ip(Sent(TCP, "192.0.2.1", ping4, 1000, 80))  # transit: neither end local
    ip(Sent(TCP, HOST_V6, far6, 50001, 443))
    ip(Sent(TCP, far6, HOST_V6, 443, 50001))
    ip(Sent(UDP, HOST_V6, dns6, 5000, 53))
    ip(Sent(UDP, dns6, HOST_V6, 53, 5000), hop_by_hop=True)
    ip(Sent(ICMPV6, HOST_V6, far6, 128, 0))  # echo request
    ip(Sent(ICMPV6, far6, HOST_V6, 1, 4))  # port unreachable
    # No transport header WFP's transport layers classify:
    frames.append(_ethernet(_ipv4(HOST_V4, ping4, UDP, b"\x00" * 16, offset=1480), 0x0800))  # a later fragment
    frames.append(_ethernet(_ipv4(HOST_V4, ping4, 47, b"\x00\x00\x08\x00" + b"\x45" * 24), 0x0800))  # GRE
    frames.append(_ethernet(_ipv6(HOST_V6, far6, 132, b"\x00" * 28), 0x86DD))  # SCTP
    frames.append(_ethernet(bytes(dpkt.arp.ARP()), 0x0806))  # ARP
    frames.append(_ethernet(b"\x02\x07\x04" + b"\x00" * 40, 0x88CC))  # LLDP
    frames.append(b"\x01\x80\xc2\x00\x00\x00" + b"\x02" * 6 + struct.pack("!H", 38) + b"\x42\x42\x03" + b"\x00" * 35)
    frames.append(b"\x02\x00\x00\x00")  # a runt
    with open(path, "wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for number, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + number / 1000)
    return packets


def local_events(packets: list[Sent], network: str) -> list[tuple[str, Sent]]:
    """(layer, packet) for each packet with an end in ``network``."""
    local = ipaddress.ip_network(network)
    events = []
    for sent in packets:
        source, destination = ipaddress.ip_address(sent.source), ipaddress.ip_address(sent.destination)
        if source in local:
            events.append((f"outbound_transport_v{sent.version}", sent))
        elif destination in local:
            events.append((f"inbound_transport_v{sent.version}", sent))
    return events


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sent]]:
    if dpkt is None:
        pytest.skip("dpkt is not installed: the --pcap check compares against it (pip install dpkt)")
    path = tmp_path_factory.mktemp("capture") / "mixed.pcap"
    return path, build_capture(path)


def capture_step(steps: list[Line], output: str) -> Line:
    found = [step for step in steps if step.name == "plain: capture mixed.pcap versus dpkt"]
    assert len(found) == 1, output
    return found[0]


def capture_detail(total: int, classified: int, matched: int) -> re.Pattern[str]:
    return re.compile(rf"^{total} TCP/UDP/ICMP packets in the capture; {classified} with a local end at a hooked "
                      rf"layer classified \(.*\); {matched} matched, decoded and equal to dpkt's reading; "
                      rf"pcap(ng)?, \d+ frames, skipped: .+$")


def decoded_records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "plain" / "decoded.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@needs_dpkt
@pytest.mark.parametrize("network", [LOCAL_V4, LOCAL_V6], ids=["ipv4-local", "ipv6-local"])
def test_pcap_replays_through_the_transport_layers(capture: tuple[Path, list[Sent]], network: str,
                                                   tmp_path: Path) -> None:
    path, packets = capture
    spec = ROOT / "specs" / "monitor-v6.yaml"
    code, steps, output = check_cli(str(spec), "--variant", "plain", "--no-analysis", "--pcap", str(path),
                                    "--local", network, "--out", str(tmp_path))
    assert code == 0, output
    step = capture_step(steps, output)
    assert step.ok, output
    events = local_events(packets, network)
    assert events and all(layer.endswith(f"v{4 if network == LOCAL_V4 else 6}") for layer, _ in events)
    assert capture_detail(len(packets), len(events), len(events)).match(step.detail), step.detail
    # Every frame that is not a classified packet is counted, by reason.
    for reason in ("1 later IP fragment", "1 IP protocol 47 (GRE)", "1 IP protocol 132 (SCTP)",
                   "1 not IP (ethertype 0x0806 ARP)", "1 not IP (ethertype 0x88cc LLDP)",
                   "1 not IP (802.3 LLC frame)", "1 truncated (shorter than an Ethernet header)"):
        assert reason in step.detail, step.detail
    for layer in {layer for layer, _ in events}:
        assert f"{sum(1 for name, _ in events if name == layer)} at {layer}" in step.detail, step.detail
    # The capture's records come last; WFP carries an ICMP type as the local port and its code
    # as the remote port, whichever way the packet goes.
    records = decoded_records(tmp_path)[-len(events):]
    for record, (layer, sent) in zip(records, events):
        values = record["values"]
        assert record["layer"] == layer
        assert values["ip_protocol"]["value"] == sent.protocol
        outbound = layer.startswith("outbound")
        local_address, remote_address = (sent.source, sent.destination) if outbound else (sent.destination,
                                                                                         sent.source)
        assert (values["ip_local_address"], values["ip_remote_address"]) == (local_address, remote_address)
        if sent.protocol in (ICMP, ICMPV6):
            ports = (sent.sport, sent.dport)
        else:
            ports = (sent.sport, sent.dport) if outbound else (sent.dport, sent.sport)
        assert (values["ip_local_port"], values["ip_remote_port"]) == ports, record


@needs_dpkt
def test_pcap_with_filter_conditions(capture: tuple[Path, list[Sent]], tmp_path: Path) -> None:
    """https-block filters outbound_transport_v4 to remote ports 1-1023 (ICMP: the code)."""
    path, packets = capture
    spec = ROOT / "specs" / "https-block.yaml"
    code, steps, output = check_cli(str(spec), "--variant", "plain", "--no-analysis", "--pcap", str(path),
                                    "--local", LOCAL_V4, "--out", str(tmp_path))
    assert code == 0, output
    step = capture_step(steps, output)
    assert step.ok, output
    outbound = [sent for layer, sent in local_events(packets, LOCAL_V4) if layer == "outbound_transport_v4"]
    matched = [sent for sent in outbound if 1 <= sent.dport <= 1023]
    assert 0 < len(matched) < len(outbound)
    assert capture_detail(len(packets), len(outbound), len(matched)).match(step.detail), step.detail


def encapsulated_captures(directory: Path) -> dict[str, tuple[Path, list[Sent], dict[str, int]]]:
    """Captures of the same kind of traffic in other formats and encapsulations, built byte by byte:
    path, the TCP/UDP/ICMP packets in it (in order) and the frames skipped, by reason."""
    from test_pcap import (
        enhanced,
        fcs,
        interface,
        ipv4,
        ipv6,
        mpls,
        obsolete,
        section,
        simple,
        tcp,
        udp,
        write_pcap,
    )
    from test_pcap import ethernet as frame

    def ip(sent: Sent, options: bytes = b"") -> bytes:
        payload = tcp(sent.sport, sent.dport) if sent.protocol == TCP else udp(sent.sport, sent.dport)
        if sent.version == 4:
            return ipv4(sent.source, sent.destination, sent.protocol, payload, options)
        return ipv6(sent.source, sent.destination, sent.protocol, payload)

    far4, far6 = "93.184.216.34", "2001:db8::443"
    out4, in4 = Sent(TCP, HOST_V4, far4, 50000, 443), Sent(UDP, far4, HOST_V4, 53, 5353)
    out6, in6 = Sent(TCP, HOST_V6, far6, 50001, 443), Sent(UDP, far6, HOST_V6, 53, 5000)
    captures = {}
    # MPLS: one and three labels, under a VLAN tag, IPv4 with options; a pseudowire is skipped.
    path = write_pcap(directory / "mpls.pcap", [
        mpls(ip(out4)), mpls(ip(in6), labels=(16, 17, 18)), mpls(ip(in4, b"\x01\x01\x01\x00"), vlans=(7,)),
        mpls(ip(out6)), mpls(b"\x00\x00\x00\x00" + frame(ip(out4), 0x0800))])
    captures["mpls"] = (path, [out4, in6, in4, out6],
                        {"MPLS pseudowire (payload not IPv4 or IPv6): not supported": 1})
    # The FCS bits of a pcap header: a 4-byte FCS after every frame.
    path = write_pcap(directory / "fcs.pcap", [fcs(frame(ip(s), 0x0800 if s.version == 4 else 0x86DD))
                                               for s in (out4, in4, out6, in6)], fcs_words=2)
    captures["pcap-fcs"] = (path, [out4, in4, out6, in6], {})
    # pcapng: Ethernet, raw IP and 802.11 interfaces; a second, big-endian section with a 4-byte FCS.
    data = (section() + interface(1) + interface(101) + interface(105)
            + enhanced(0, frame(ip(out4), 0x0800)) + enhanced(1, ip(in6)) + enhanced(2, b"\x08\x02" + bytes(30))
            + obsolete(0, frame(ip(in4), 0x0800))
            + section(">") + interface(1, ">", fcslen=32) + enhanced(0, fcs(frame(ip(out6), 0x86DD)), ">")
            + simple(fcs(frame(ip(out4), 0x0800)), ">"))
    path = directory / "multi.pcapng"
    path.write_bytes(data)
    captures["pcapng"] = (path, [out4, in6, in4, out6, out4], {"link type 105 (IEEE 802.11): not supported": 1})
    return captures


ENCAPSULATED = ("mpls", "pcap-fcs", "pcapng")


@needs_dpkt
@pytest.mark.parametrize("kind", ENCAPSULATED)
def test_pcap_formats_and_encapsulations_agree_with_dpkt(kind: str, tmp_path: Path) -> None:
    """pcapng (several interfaces and link types), a pcap whose header announces an FCS, and MPLS
    label stacks replay through the transport layers; the reader and dpkt agree on every packet."""
    path, packets, skipped = encapsulated_captures(tmp_path)[kind]
    spec = ROOT / "specs" / "monitor-v6.yaml"
    records = []
    for network in (LOCAL_V4, LOCAL_V6):
        out = tmp_path / network.replace("/", "_").replace(":", "_")
        code, steps, output = check_cli(str(spec), "--variant", "plain", "--no-analysis", "--pcap", str(path),
                                        "--local", network, "--out", str(out))
        assert code == 0, output
        found = [step for step in steps if step.name == f"plain: capture {path.name} versus dpkt"]
        assert len(found) == 1 and found[0].ok, output
        events = local_events(packets, network)
        assert capture_detail(len(packets), len(events), len(events)).match(found[0].detail), found[0].detail
        for reason, count in skipped.items():
            assert f"{count} {reason}" in found[0].detail, found[0].detail
        summary = [step for step in steps if step.name == f"read capture {path.name}"]
        assert len(summary) == 1 and summary[0].ok and f"{len(packets)} TCP/UDP/ICMP packets" in summary[0].detail
        records += [(r["layer"], r["values"]["ip_local_port"], r["values"]["ip_remote_port"])
                    for r in decoded_records(out)[-len(events):]]
    assert len(records) == len(packets)


@needs_dpkt
@pytest.mark.parametrize("network", [LOCAL_V4, LOCAL_V6], ids=["ipv4-local", "ipv6-local"])
def test_pcap_flow_totals_equal_dpkt(capture: tuple[Path, list[Sent]], network: str, tmp_path: Path) -> None:
    """Every TCP and UDP 5-tuple of the capture becomes one flow record whose totals are dpkt's."""
    path, packets = capture
    code, steps, output = check_cli(str(ROOT / "specs" / "bandwidth.yaml"), "--variant", "plain", "--no-analysis",
                                    "--pcap", str(path), "--local", network, "--out", str(tmp_path))
    assert code == 0, output
    step = capture_step(steps, output)
    events = [(layer, sent) for layer, sent in local_events(packets, network) if sent.protocol in (TCP, UDP)]
    keys = set()
    for layer, sent in events:
        outbound = layer.startswith("outbound")
        keys.add((sent.protocol, *((sent.source, sent.sport, sent.destination, sent.dport) if outbound
                                   else (sent.destination, sent.dport, sent.source, sent.sport))))
    assert keys
    assert (f"; {len(keys)} flows: their records' packets and payload bytes each way equal dpkt's count exactly; "
            f"{len(events)} packets became {len(keys)} flow records") in step.detail, step.detail
    flows = [r for r in decoded_records(tmp_path) if r["layer"].startswith("flow_v")]
    assert len(flows) >= len(keys)  # the accounting step's flows come first, the capture's last
    for record in flows[-len(keys):]:
        assert record["values"]["end_reason"]["name"] == "ended"
        assert record["values"]["process_path"].startswith("\\device\\harddiskvolume3\\capture\\process")
