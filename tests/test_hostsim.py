"""Generated ring-sink drivers running on the host runtime (``wfpgen.hostsim``).

Each driver is built with :func:`wfpgen.hostsim.build.build_shared` (the generated
``driver/*.c`` plus the runtime) and driven through :class:`wfpgen.hostsim.binding.HostDriver`:

* load: the objects DriverEntry leaves behind, counted; unload leaves nothing and no violation;
* classify at every hooked layer, then READ: the batch decodes with the model's
  ``record.struct_format`` and carries the values that were sent;
* an empty-ring READ pends and a later classify (from another thread too) completes it;
  cancellation completes it with STATUS_CANCELLED; STATS; exact drop accounting on overflow;
* a filtered spec runs its callout only for matching values; a blocking spec blocks;
* every API DriverEntry calls is failed once: the load fails and leaves nothing behind;
* a planted ordering bug (callouts unregistered before the dynamic session is closed) is
  reported; direct calls check the runtime's own rules (spin locks, IRQL, pool, engine);
* one scenario under ASan+UBSan and a 4-thread classify stress under TSan, in subprocesses.

Skipped, with the reason, when gcc is not installed.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import GATED_FIELD, WIN10_SPEC, load_script

from wfpgen import wdkfacts
from wfpgen.errors import FWPM_REINCLUDED
from wfpgen.hostsim.binding import (
    DATA_TYPES,
    FWP_ACTION_BLOCK,
    FWP_ACTION_CONTINUE,
    FWP_ACTION_PERMIT,
    FWPS_RIGHT_ACTION_WRITE,
    STATUS_CANCELLED,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_PENDING,
    STATUS_SUCCESS,
    HostDriver,
    LockHolds,
    Metadata,
    Value,
    ntstatus,
    status_text,
)
from wfpgen.hostsim.build import BuildError, Variant, build_shared, sanitizer_env
from wfpgen.pipeline import model_for
from wfpgen.protocol import (
    BATCH_HEADER_FORMAT,
    BATCH_MAGIC,
    FILE_DEVICE_NETWORK,
    FILE_READ_DATA,
    FIRST_FUNCTION,
    INFO_FORMAT,
    INFO_MAGIC,
    LAYER_STATS_FORMAT,
    METHOD_BUFFERED,
    STATS_HEADER_FORMAT,
    ctl_code,
)
from wfpgen.render import project_files, render_file

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
GCC = shutil.which("gcc")

pytestmark = pytest.mark.skipif(
    GCC is None, reason="gcc is not installed: the host simulation cannot be built"
)

RING = {"kind": "ring", "capacity": 65536}
CAPACITY = 65536
GET_INFO, READ, STATS = (
    ctl_code(FILE_DEVICE_NETWORK, FIRST_FUNCTION + i, METHOD_BUFFERED, FILE_READ_DATA) for i in range(3)
)
BATCH = struct.Struct(BATCH_HEADER_FORMAT)
READ_ALL = BATCH.size + CAPACITY

FILTERED_SPEC = {
    "version": 1,
    "driver": {"name": "HttpsOnly", "description": "Records outbound connections to port 443 only"},
    "layers": [{"layer": "ale_auth_connect_v4", "conditions": [{"field": "ip_remote_port", "value": 443}]}],
    "fields": ["ip_protocol", "ip_remote_address", "ip_remote_port"],
    "metadata": [],
}


# -- projects and libraries ------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """A generated project on disk and its model."""

    name: str
    root: Path
    spec: Path

    @property
    def model(self) -> Any:
        return model_for(self.spec)

    @property
    def device_path(self) -> str:
        return "\\\\.\\" + str(self.model.name)


def write_project(data: dict[str, Any], root: Path, name: str) -> Project:
    """The C sources of spec ``data`` (with the ring sink) under ``root``."""
    data = dict(data)
    data["sink"] = dict(RING)
    root.mkdir(parents=True, exist_ok=True)
    spec = root / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    model = model_for(spec)
    files = project_files(model)
    for output in files:
        if output.c_source:
            target = root / output.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(render_file(model, output, files))
    return Project(name, root, spec)


def plant_unregister_first(project: Project, root: Path) -> Project:
    """A copy of ``project`` whose unload unregisters the run-time callouts before closing the engine."""
    shutil.copytree(project.root, root)
    callouts = root / "driver" / "callouts.c"
    text = callouts.read_text(encoding="utf-8")
    name = project.model.name
    anchor = "    PAGED_CODE();\n\n    if (g_EngineHandle != NULL)"
    assert text.count(anchor) == 1, "the generated unload no longer looks as expected"
    text = text.replace(
        anchor,
        f"    PAGED_CODE();\n\n    {name}UnregisterRuntimeCallouts();\n    if (g_EngineHandle != NULL)",
    )
    callouts.write_text(text, encoding="utf-8")
    return Project(project.name + "-planted", root, project.spec)


def _spec(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "specs" / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    base = tmp_path_factory.mktemp("hostsim")
    made = {
        "ale": write_project(_spec("ale-connect.yaml"), base / "ale", "ale"),
        "transport": write_project(_spec("monitor.yaml"), base / "transport", "transport"),
        "filtered": write_project(FILTERED_SPEC, base / "filtered", "filtered"),
        "block": write_project(_spec("https-block.yaml"), base / "block", "block"),
    }
    made["planted"] = plant_unregister_first(made["ale"], base / "planted")
    return made


@pytest.fixture(scope="session")
def libraries(projects: dict[str, Project], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every library the tests load, built in parallel: ``<project>`` (plain), ``ale-asan``, ``ale-tsan``."""
    out = tmp_path_factory.mktemp("libs")
    jobs: list[tuple[str, Project, Variant]] = [
        (name, project, "plain") for name, project in projects.items()
    ]
    jobs += [("ale-asan", projects["ale"], "asan"), ("ale-tsan", projects["ale"], "tsan")]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {
            name: pool.submit(build_shared, p.root, out / f"{name}.so", variant) for name, p, variant in jobs
        }
        return {name: future.result() for name, future in futures.items()}


_drivers: dict[Path, HostDriver] = {}


def host(library: Path) -> HostDriver:
    """The (one) HostDriver of ``library``, reset."""
    driver = _drivers.get(library)
    if driver is None:
        driver = _drivers[library] = HostDriver(library)
    driver.reset()
    return driver


# -- values in, records out --------------------------------------------------------------------


def field_value(data_type: str | None, bit: int, k: int) -> Value | None:
    """A distinct value of ``data_type`` for item ``bit`` of event ``k``."""
    kind = DATA_TYPES.get(data_type or "")
    if data_type == "FWP_UINT8":
        return Value(kind, (6 + 11 * k + bit) % 256)  # type: ignore[arg-type]
    if data_type == "FWP_UINT16":
        return Value(kind, (400 + 37 * k + bit) % 65536)  # type: ignore[arg-type]
    if data_type == "FWP_UINT32":
        return Value(kind, (0x0A000001 + 0x101 * k + bit) & 0xFFFFFFFF)  # type: ignore[arg-type]
    if data_type == "FWP_UINT64":
        return Value(kind, 0x1122334455667700 + k * 3 + bit)  # type: ignore[arg-type]
    if data_type == "FWP_BYTE_ARRAY16_TYPE":
        return Value(kind, bytes((k * 16 + i + bit) % 256 for i in range(16)))  # type: ignore[arg-type]
    if data_type == "FWP_BYTE_BLOB_TYPE":
        return Value(kind, f"\\device\\harddiskvolume1\\app{k}.exe\0".encode("utf-16-le"))  # type: ignore[arg-type]
    return None


@dataclass
class Event:
    """What one classify sent: the values by field index and the expected record values."""

    values: list[Value | None]
    metadata: Metadata | None
    expected: dict[str, int | bytes]


def make_event(layer: Any, k: int, *, blobs: bool = True) -> Event:
    values: list[Value | None] = []
    expected: dict[str, int | bytes] = {}
    meta: dict[str, Any] = {}
    for item in layer.record.items:
        if item.source == "field":
            value = field_value(item.data_type, item.bit, k)
            if value is None or (isinstance(value.value, bytes) and item.is_blob and not blobs):
                continue
            while len(values) <= item.field_index:
                values.append(None)
            values[item.field_index] = value
            expected[item.name] = value.value
        elif item.name == "process_id":
            meta["process_id"] = expected[item.name] = 1000 + k
        elif item.name == "process_path" and blobs:
            path = f"\\device\\harddiskvolume1\\bin\\tool{k}.exe\0".encode("utf-16-le")
            meta["process_path"] = expected[item.name] = path
    return Event(values, Metadata(**meta) if meta else None, expected)


@dataclass
class Record:
    layer_index: int
    size: int
    processor: int
    present: int
    sequence: int
    timestamp: int
    values: dict[str, int | bytes]


def decode_batch(model: Any, data: bytes) -> tuple[int, list[Record]]:
    """``(dropped_total, records)`` of one READ result."""
    magic, length, count, dropped = BATCH.unpack_from(data)
    assert magic == BATCH_MAGIC and length == len(data), (hex(magic), length, len(data))
    records: list[Record] = []
    offset = BATCH.size
    for _ in range(count):
        size, layer_index = struct.unpack_from("<IH", data, offset)
        layout = model.layers[layer_index].record
        raw = struct.unpack_from(layout.struct_format, data, offset)
        items = iter(raw[7:])
        values: dict[str, int | bytes] = {}
        for item in layout.value_items:
            if item.struct_format == "HH":
                start, length_ = next(items), next(items)
                values[item.name] = data[offset + start : offset + start + length_]
            else:
                values[item.name] = next(items)
        records.append(Record(layer_index, size, raw[2], raw[3], raw[5], raw[6], values))
        assert size % 8 == 0 and size >= layout.size
        offset += size
    assert offset == length
    return dropped, records


def check_record(record: Record, layer: Any, event: Event) -> None:
    assert record.layer_index == layer.index
    assert record.timestamp > 116444736000000000  # after 1970, in 100 ns units since 1601
    for item in layer.record.items:
        if item.name in event.expected:
            assert record.present & (1 << item.bit), f"{layer.name}.{item.name} not marked present"
            assert record.values[item.name] == event.expected[item.name], item.name
        else:
            assert not record.present & (1 << item.bit), f"{layer.name}.{item.name} present but not sent"


def read_batch(driver: HostDriver, handle: int, model: Any) -> tuple[int, list[Record]]:
    status, data = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_SUCCESS, status_text(status)
    assert isinstance(data, bytes)
    return decode_batch(model, data)


def stats(driver: HostDriver, handle: int, layers: int) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    header = struct.Struct(STATS_HEADER_FORMAT)
    per_layer = struct.Struct(LAYER_STATS_FORMAT)
    status, data = driver.ioctl(handle, STATS, b"", header.size + layers * per_layer.size)
    assert status == STATUS_SUCCESS, status_text(status)
    assert isinstance(data, bytes)
    return header.unpack_from(data), [
        per_layer.unpack_from(data, header.size + i * per_layer.size) for i in range(layers)
    ]


def assert_clean(driver: HostDriver) -> None:
    assert driver.violations() == []
    assert driver.counters().nonzero() == {}


def ring_pool_bytes(layers: int, processors: int = 1, capacity: int = CAPACITY) -> int:
    """What the ring sink allocates: a table of ring pointers, then per processor one block of its
    ring header (56 bytes + 24 per layer, rounded up to 128) followed by its share of the bytes."""
    header = -(-(56 + 24 * layers) // 128) * 128
    return 8 * processors + processors * (header + (capacity // processors) // 8 * 8)


def expected_counters(layers: int, processors: int = 1) -> dict[str, int]:
    return {
        "engines": 1,
        "providers": 1,
        "sublayers": 1,
        "callouts": layers,
        "runtime_callouts": layers,
        "filters": layers,
        "devices": 1,
        "symbolic_links": 1,
        "pool_blocks": 1 + processors,
        "pool_bytes": ring_pool_bytes(layers, processors),
    }


# -- load, classify, read --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ale", "transport"])
def test_load_counts_the_objects_and_unload_removes_them(
    projects: dict[str, Project], libraries: dict[str, Path], name: str
) -> None:
    driver = host(libraries[name])
    model = projects[name].model
    assert driver.load() == STATUS_SUCCESS, driver.violations()
    counters = driver.counters()
    assert counters.nonzero() == expected_counters(len(model.layers))
    assert counters.transactions == 0 and counters.pending_irps == 0
    assert len(driver.filters()) == len(model.layers)
    assert driver.violations() == []
    log = driver.call_log()
    assert sum("notifyFn(FWPS_CALLOUT_NOTIFY_ADD_FILTER" in line for line in log) == len(model.layers)
    assert driver.unload() == 0, driver.violations()
    log = driver.call_log()
    assert sum("notifyFn(FWPS_CALLOUT_NOTIFY_DELETE_FILTER" in line for line in log) == len(model.layers)
    assert_clean(driver)


@pytest.mark.parametrize("name", ["ale", "transport"])
def test_classify_records_what_was_sent(
    projects: dict[str, Project], libraries: dict[str, Path], name: str
) -> None:
    driver = host(libraries[name])
    project = projects[name]
    model = project.model
    assert driver.load() == STATUS_SUCCESS
    sent: list[tuple[Any, Event]] = []
    for layer in model.layers:
        layer_id = driver.layer_id(layer.fwps_layer)
        assert layer_id == layer.fwps_layer_index
        for k in range(3):
            event = make_event(layer, k + 10 * layer.index)
            verdict = driver.classify(layer_id, event.values, event.metadata)
            assert verdict.action_type == FWP_ACTION_CONTINUE
            assert verdict.callouts_invoked == 1 and verdict.filters_matched == 1
            assert verdict.rights & FWPS_RIGHT_ACTION_WRITE
            sent.append((layer, event))

    handle = driver.open(project.device_path)
    status, info = driver.ioctl(handle, GET_INFO, b"", struct.calcsize(INFO_FORMAT))
    assert status == STATUS_SUCCESS
    assert isinstance(info, bytes)
    magic, _version, fingerprint, capacity, layer_count, _max, rings, ring_capacity = struct.unpack(INFO_FORMAT, info)
    assert (magic, capacity, layer_count) == (INFO_MAGIC, CAPACITY, len(model.layers))
    assert (rings, ring_capacity) == (1, CAPACITY)
    assert fingerprint == int(model.fingerprint_c.rstrip("ULul"), 16)

    dropped, records = read_batch(driver, handle, model)
    assert dropped == 0 and len(records) == len(sent)
    for number, (record, (layer, event)) in enumerate(zip(records, sent), start=1):
        assert record.sequence == number
        check_record(record, layer, event)
    assert driver.close(handle) == STATUS_SUCCESS
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_unknown_layer_and_device_errors(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    driver = host(libraries["ale"])
    assert driver.layer_id("FWPS_LAYER_NOT_A_LAYER") == -1
    assert driver.layer_id("ale_auth_connect_v4") == driver.layer_id("FWPS_LAYER_ALE_AUTH_CONNECT_V4") >= 0
    with pytest.raises(OSError):
        driver.open(projects["ale"].device_path)  # not loaded: no symbolic link yet
    assert driver.load() == STATUS_SUCCESS
    handle = driver.open(projects["ale"].device_path)
    status, _ = driver.ioctl(handle, READ, b"", 64)
    assert ntstatus(status) == ntstatus(0xC0000023)  # STATUS_BUFFER_TOO_SMALL
    status, _ = driver.ioctl(
        handle, ctl_code(FILE_DEVICE_NETWORK, 0x8FF, METHOD_BUFFERED, FILE_READ_DATA), b"", 16
    )
    assert ntstatus(status) == ntstatus(0xC0000010)  # STATUS_INVALID_DEVICE_REQUEST
    with pytest.raises(RuntimeError):
        driver.classify(0xFFF, [])
    driver.close(handle)
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


# -- pending reads, cancellation, stats, overflow ------------------------------------------------


def test_empty_read_pends_until_a_classify(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    driver = host(libraries["ale"])
    project = projects["ale"]
    model = project.model
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    assert driver.load() == STATUS_SUCCESS
    handle = driver.open(project.device_path)

    status, request = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_PENDING and isinstance(request, int)
    assert driver.counters().pending_irps == 1
    assert driver.wait(request, 50) == (STATUS_PENDING, b"")
    event = make_event(layer, 1)
    driver.classify(layer_id, event.values, event.metadata)
    status, data = driver.wait(request, 5000)
    assert status == STATUS_SUCCESS
    dropped, records = decode_batch(model, data)
    assert dropped == 0 and len(records) == 1
    check_record(records[0], layer, event)

    # The same, with the classify on another Python thread while this one waits.
    status, request = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_PENDING and isinstance(request, int)
    event = make_event(layer, 2)
    classifier = threading.Thread(target=driver.classify, args=(layer_id, event.values, event.metadata))
    classifier.start()
    status, data = driver.wait(request, 5000)
    classifier.join()
    assert status == STATUS_SUCCESS
    _, records = decode_batch(model, data)
    assert [r.sequence for r in records] == [2]
    check_record(records[0], layer, event)

    # And a reader thread waiting while this thread classifies.
    status, request = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_PENDING and isinstance(request, int)
    result: list[tuple[int, bytes]] = []
    waiter = threading.Thread(target=lambda: result.append(driver.wait(request, 5000)))
    waiter.start()
    event = make_event(layer, 3)
    driver.classify(layer_id, event.values, event.metadata)
    waiter.join()
    assert result and result[0][0] == STATUS_SUCCESS
    assert [r.sequence for r in decode_batch(model, result[0][1])[1]] == [3]

    assert driver.close(handle) == STATUS_SUCCESS
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_cancel_and_close_complete_pending_reads(
    projects: dict[str, Project], libraries: dict[str, Path]
) -> None:
    driver = host(libraries["ale"])
    project = projects["ale"]
    model = project.model
    assert driver.load() == STATUS_SUCCESS
    handle = driver.open(project.device_path)
    status, request = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_PENDING and isinstance(request, int)
    assert driver.cancel(request) == STATUS_SUCCESS
    assert driver.wait(request, 1000) == (STATUS_CANCELLED, b"")
    assert driver.counters().pending_irps == 0
    assert driver.ioctl(handle, STATS, b"", 200)[0] == STATUS_SUCCESS

    # A read still pending when the handle closes is cancelled by IRP_MJ_CLEANUP.
    status, request = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_PENDING and isinstance(request, int)
    head, _ = stats(driver, handle, len(model.layers))
    assert head[3] == 1  # PendingReads
    assert driver.close(handle) == STATUS_SUCCESS
    assert driver.wait(request, 1000) == (STATUS_CANCELLED, b"")
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_stats_count_per_layer(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    driver = host(libraries["transport"])
    project = projects["transport"]
    model = project.model
    assert driver.load() == STATUS_SUCCESS
    counts = [5, 2]
    for layer, count in zip(model.layers, counts):
        for k in range(count):
            event = make_event(layer, k)
            driver.classify(driver.layer_id(layer.fwps_layer), event.values, event.metadata)
    handle = driver.open(project.device_path)
    (high_water, used, layer_count, pending), layers = stats(driver, handle, len(model.layers))
    assert layer_count == len(model.layers) and pending == 0
    assert [entry[:3] for entry in layers] == [(c, c, 0) for c in counts]
    sizes = [((layer.record.size + 7) // 8) * 8 for layer in model.layers]
    assert used == high_water == sum(c * s for c, s in zip(counts, sizes))
    _, records = read_batch(driver, handle, model)
    assert len(records) == sum(counts)
    (high_water2, used2, _, _), _ = stats(driver, handle, len(model.layers))
    assert (high_water2, used2) == (high_water, 0)
    driver.close(handle)
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_overflow_drops_exactly_what_does_not_fit(
    projects: dict[str, Project], libraries: dict[str, Path]
) -> None:
    driver = host(libraries["ale"])
    project = projects["ale"]
    model = project.model
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    assert driver.load() == STATUS_SUCCESS
    event = make_event(layer, 7, blobs=False)  # fixed-size records
    size = layer.record.size
    assert size % 8 == 0 and CAPACITY % size == 0
    fit = CAPACITY // size
    extra = 37
    driver.classify_repeat(layer_id, event.values, event.metadata, fit + extra)
    handle = driver.open(project.device_path)
    (_, used, _, _), layers = stats(driver, handle, len(model.layers))
    assert used == CAPACITY
    assert layers[0] == (fit + extra, fit, extra)
    dropped, records = read_batch(driver, handle, model)
    assert dropped == extra and len(records) == fit
    assert [r.sequence for r in records] == list(range(1, fit + 1))  # the dropped ones are the newest
    # The ring has room again; the sequence numbers show the gap.
    driver.classify(layer_id, event.values, event.metadata)
    dropped, records = read_batch(driver, handle, model)
    assert dropped == extra and [r.sequence for r in records] == [fit + extra + 1]
    driver.close(handle)
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_one_ring_per_processor(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    """Each processor writes its own ring and numbers its own events; a processor added after load
    shares a ring by its number modulo the count; STATS sums the rings."""
    driver = host(libraries["ale"])
    project = projects["ale"]
    model = project.model
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    driver.set_processor_count(3)
    assert driver.load() == STATUS_SUCCESS
    handle = driver.open(project.device_path)
    status, info = driver.ioctl(handle, GET_INFO, b"", struct.calcsize(INFO_FORMAT))
    assert status == STATUS_SUCCESS and isinstance(info, bytes)
    *_, capacity, _layers, _max, rings, ring_capacity = struct.unpack(INFO_FORMAT, info)
    share = CAPACITY // 3 // 8 * 8
    assert (rings, ring_capacity, capacity) == (3, share, 3 * share)
    assert driver.counters().pool_bytes == ring_pool_bytes(len(model.layers), 3)

    sent = {0: 4, 1: 2, 2: 3, 4: 1}  # processor 4 was added after load: it writes ring 1
    for processor, count in sent.items():
        driver.set_current_processor(processor)
        for k in range(count):
            event = make_event(layer, k, blobs=False)
            driver.classify(layer_id, event.values, event.metadata)
    driver.set_current_processor(0)
    (_, used, _, _), layers = stats(driver, handle, len(model.layers))
    assert layers[0] == (10, 10, 0) and used == 10 * layer.record.size
    dropped, records = read_batch(driver, handle, model)
    assert dropped == 0
    runs: dict[int, list[int]] = {}
    for record in records:
        runs.setdefault(record.processor, []).append(record.sequence)
    assert runs == {0: [1, 2, 3, 4], 1: [1, 2, 3], 2: [1, 2, 3]}
    driver.close(handle)
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_a_full_ring_drops_while_the_others_store(
    projects: dict[str, Project], libraries: dict[str, Path]
) -> None:
    driver = host(libraries["ale"])
    project = projects["ale"]
    model = project.model
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    driver.set_processor_count(2)
    assert driver.load() == STATUS_SUCCESS
    event = make_event(layer, 7, blobs=False)
    fit = (CAPACITY // 2) // layer.record.size
    driver.set_current_processor(1)
    driver.classify_repeat(layer_id, event.values, event.metadata, fit + 3)
    driver.set_current_processor(0)
    driver.classify(layer_id, event.values, event.metadata)
    handle = driver.open(project.device_path)
    (_, _, _, _), layers = stats(driver, handle, len(model.layers))
    assert layers[0] == (fit + 4, fit + 1, 3)
    dropped, records = read_batch(driver, handle, model)
    assert dropped == 3 and len(records) == fit + 1
    assert sorted(r.sequence for r in records if r.processor == 0) == [1]
    assert [r.sequence for r in records if r.processor == 1] == list(range(1, fit + 1))
    driver.close(handle)
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_a_read_copies_one_slice_per_lock_hold(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    """A READ of a full ring takes the ring lock once per slice of records, never once for all."""
    driver = host(libraries["ale"])
    project = projects["ale"]
    model = project.model
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    assert driver.load() == STATUS_SUCCESS
    event = make_event(layer, 7, blobs=False)
    fit = CAPACITY // layer.record.size
    driver.classify_repeat(layer_id, event.values, event.metadata, fit)
    handle = driver.open(project.device_path)
    before = driver.call_counts()["KeAcquireInStackQueuedSpinLock"]
    driver.reset_lock_holds()
    _, records = read_batch(driver, handle, model)
    holds = driver.lock_holds()
    acquired = driver.call_counts()["KeAcquireInStackQueuedSpinLock"] - before
    per_slice = model.channel.slice_bytes // layer.record.size
    assert len(records) == fit
    assert acquired == -(-fit // per_slice)
    assert holds.holds == acquired and holds.context == "IRP_MJ_DEVICE_CONTROL" and holds.longest_ns > 0
    assert holds.most_bytes == min(fit, per_slice) * layer.record.size  # whole slices, then the rest
    driver.reset_lock_holds()
    assert driver.lock_holds() == LockHolds(0, 0, "", 0)
    driver.close(handle)
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


# -- filters with conditions -------------------------------------------------------------------


def test_condition_selects_the_callout(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    driver = host(libraries["filtered"])
    project = projects["filtered"]
    model = project.model
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    assert driver.load() == STATUS_SUCCESS
    (listing,) = driver.filters()
    assert "conditions=1" in listing and "match=0 type=2 value=443" in listing
    port = next(item for item in layer.record.items if item.name == "ip_remote_port")

    def values(remote_port: int | None) -> list[Value | None]:
        event = make_event(layer, 1)
        event.values[port.field_index] = None if remote_port is None else Value.uint16(remote_port)
        return event.values

    verdict = driver.classify(layer_id, values(443))
    assert (verdict.filters_matched, verdict.callouts_invoked, verdict.action_type) == (
        1,
        1,
        FWP_ACTION_CONTINUE,
    )
    for other in (80, 444, 442, None):
        verdict = driver.classify(layer_id, values(other))
        assert (verdict.filters_matched, verdict.callouts_invoked, verdict.action_type) == (
            0,
            0,
            FWP_ACTION_PERMIT,
        )
    handle = driver.open(project.device_path)
    _, records = read_batch(driver, handle, model)
    assert [r.values["ip_remote_port"] for r in records] == [443]
    driver.close(handle)
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_blocking_filter_with_mask_and_range(
    projects: dict[str, Project], libraries: dict[str, Path]
) -> None:
    """https-block.yaml: tcp AND port 443 AND remote outside 10.0.0.0/8 blocks; a port range elsewhere.

    "Outside 10.0.0.0/8" is two ranges on the same field, which the engine ORs (and ANDs with the
    other fields): their edges decide.
    """
    driver = host(libraries["block"])
    model = projects["block"].model
    assert driver.load() == STATUS_SUCCESS
    connect, transport = model.layers

    def values(layer: Any, protocol: int, address: int, remote_port: int) -> list[Value | None]:
        event = make_event(layer, 0)
        for item in layer.record.items:
            if item.name == "ip_protocol":
                event.values[item.field_index] = Value.uint8(protocol)
            elif item.name == "ip_remote_address":
                event.values[item.field_index] = Value.uint32(address)
            elif item.name == "ip_remote_port":
                event.values[item.field_index] = Value.uint16(remote_port)
        return event.values

    connect_id = driver.layer_id(connect.fwps_layer)
    blocked = driver.classify(connect_id, values(connect, 6, 0x08080808, 443))
    assert blocked.action_type == FWP_ACTION_BLOCK and blocked.callouts_invoked == 1
    assert not blocked.rights & FWPS_RIGHT_ACTION_WRITE
    for address in (0x00000000, 0x09FFFFFF, 0x0B000000, 0xFFFFFFFF):  # each range, at both ends
        verdict = driver.classify(connect_id, values(connect, 6, address, 443))
        assert verdict.action_type == FWP_ACTION_BLOCK, hex(address)
    for protocol, address, port in ((6, 0x0A010203, 443), (6, 0x0A000000, 443), (6, 0x0AFFFFFF, 443),
                                    (17, 0x08080808, 443), (6, 0x08080808, 80)):
        verdict = driver.classify(connect_id, values(connect, protocol, address, port))
        assert (verdict.filters_matched, verdict.action_type) == (0, FWP_ACTION_PERMIT), (
            protocol,
            address,
            port,
        )
    transport_id = driver.layer_id(transport.fwps_layer)
    for port, matched in ((1, 1), (80, 1), (1023, 1), (1024, 0), (8080, 0)):
        verdict = driver.classify(transport_id, values(transport, 6, 0x01020304, port))
        assert verdict.filters_matched == verdict.callouts_invoked == matched, port
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_the_engine_refuses_not_equal_on_an_address_mask(tmp_path: Path) -> None:
    """FWP_MATCH_NOT_EQUAL takes sortable types only, and an FWP_V4_ADDR_MASK is not one.

    The validator refuses such a spec; a driver that builds the condition anyway (planted here)
    fails to load with STATUS_FWP_MATCH_TYPE_MISMATCH, as BFE may refuse it.
    """
    spec = {"version": 1, "driver": {"name": "MaskFilter"},
            "layers": [{"layer": "ale_auth_connect_v4",
                        "conditions": [{"field": "ip_remote_address", "value": "10.0.0.0/8"}]}],
            "fields": ["ip_remote_address"], "metadata": []}
    project = write_project(spec, tmp_path / "equal", "mask")
    driver = host(build_shared(project.root, tmp_path / "equal.so"))
    assert driver.load() == STATUS_SUCCESS
    assert driver.unload() == 0, driver.violations()

    planted = tmp_path / "not_equal"
    shutil.copytree(project.root, planted)
    callouts = planted / "driver" / "callouts.c"
    text = callouts.read_text(encoding="utf-8")
    planted_text, count = re.subn(r"FWP_MATCH_EQUAL,(\s*)FWP_V4_ADDR_MASK", r"FWP_MATCH_NOT_EQUAL,\1FWP_V4_ADDR_MASK",
                                  text)
    assert count == 1
    callouts.write_text(planted_text, encoding="utf-8")
    driver = host(build_shared(planted, tmp_path / "not_equal.so"))
    assert ntstatus(driver.load()) == ntstatus(0xC0220026)  # STATUS_FWP_MATCH_TYPE_MISMATCH
    assert driver.counters().nonzero() == {}, "a failed load must leave nothing behind"


# -- fault injection and planted bugs ----------------------------------------------------------


@pytest.mark.parametrize("name", ["ale", "transport"])
def test_every_driver_entry_call_can_fail_cleanly(
    projects: dict[str, Project], libraries: dict[str, Path], name: str
) -> None:
    driver = host(libraries[name])
    assert driver.load() == STATUS_SUCCESS
    counts = driver.call_counts()
    assert driver.unload() == 0
    failable = {api: n for api, n in counts.items() if driver.can_fail(api) == 1}
    register = projects[name].model.api.register_fn  # FwpsCalloutRegister2 below Windows 10 1709
    assert {"FwpmEngineOpen0", "FwpmFilterAdd0", register, "FwpmTransactionCommit0"} <= set(failable)
    for api, calls in sorted(failable.items()):
        for nth in range(1, calls + 1):
            driver.reset()
            driver.fail_call(api, nth, STATUS_INSUFFICIENT_RESOURCES)
            status = driver.load()
            assert status != STATUS_SUCCESS, f"{api} #{nth} failed but DriverEntry succeeded"
            assert driver.counters().nonzero() == {}, (api, nth, driver.counters().nonzero())
            assert driver.violations() == [], (api, nth)


def test_fwpmk_included_again_after_initguid_is_named(projects: dict[str, Project], tmp_path: Path) -> None:
    """As in the WDK, fwpmk.h's GUID block is outside its guard: included again after <initguid.h>,
    it defines every FWPM GUID twice, and the build error says what happened."""
    root = tmp_path / "planted"
    shutil.copytree(projects["transport"].root, root)
    callouts = root / "driver" / "callouts.c"
    text = callouts.read_text(encoding="utf-8")
    assert text.count('#include "driver.h"\n') == 1
    callouts.write_text(
        text.replace('#include "driver.h"\n', '#include <initguid.h>\n#include <fwpmk.h>\n#include "driver.h"\n'),
        encoding="utf-8",
    )
    with pytest.raises(BuildError) as failure:
        build_shared(root, tmp_path / "planted.so", "plain", projects["transport"].model.preprocessor_defines)
    message = str(failure.value)
    assert re.search(r"redefinition of .FWPM_LAYER_\w+", message), message
    assert FWPM_REINCLUDED in message.splitlines(), message


def test_unregistering_callouts_before_closing_the_session_is_reported(libraries: dict[str, Path]) -> None:
    driver = host(libraries["planted"])
    assert driver.load() == STATUS_SUCCESS
    assert driver.unload() > 0
    violations = driver.violations()
    assert any("callout unregistered while a filter still references it" in v for v in violations), violations
    assert any("FwpsCalloutUnregisterById0" in line and "0x80000011" in line for line in driver.call_log())


# -- the runtime's own rules, through direct calls ---------------------------------------------


class GUID(ctypes.Structure):
    _fields_ = [
        ("Data1", ctypes.c_uint32),
        ("Data2", ctypes.c_uint16),
        ("Data3", ctypes.c_uint16),
        ("Data4", ctypes.c_uint8 * 8),
    ]

    @classmethod
    def parse(cls, text: str) -> GUID:
        import uuid

        b = uuid.UUID(text).bytes
        return cls(
            int.from_bytes(b[0:4], "big"),
            int.from_bytes(b[4:6], "big"),
            int.from_bytes(b[6:8], "big"),
            (ctypes.c_uint8 * 8)(*b[8:]),
        )


class DISPLAY(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("description", ctypes.c_void_p)]


class BLOB(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("data", ctypes.c_void_p)]


class SESSION(ctypes.Structure):
    _fields_ = [
        ("sessionKey", GUID),
        ("displayData", DISPLAY),
        ("flags", ctypes.c_uint32),
        ("txnWaitTimeoutInMSec", ctypes.c_uint32),
        ("processId", ctypes.c_uint32),
        ("sid", ctypes.c_void_p),
        ("username", ctypes.c_void_p),
        ("kernelMode", ctypes.c_int32),
    ]


class PROVIDER(ctypes.Structure):
    _fields_ = [
        ("providerKey", GUID),
        ("displayData", DISPLAY),
        ("flags", ctypes.c_uint32),
        ("providerData", BLOB),
        ("serviceName", ctypes.c_void_p),
    ]


class SUBLAYER(ctypes.Structure):
    _fields_ = [
        ("subLayerKey", GUID),
        ("displayData", DISPLAY),
        ("flags", ctypes.c_uint32),
        ("providerKey", ctypes.POINTER(GUID)),
        ("providerData", BLOB),
        ("weight", ctypes.c_uint16),
    ]


class CALLOUT(ctypes.Structure):
    _fields_ = [
        ("calloutKey", GUID),
        ("displayData", DISPLAY),
        ("flags", ctypes.c_uint32),
        ("providerKey", ctypes.POINTER(GUID)),
        ("providerData", BLOB),
        ("applicableLayer", GUID),
        ("calloutId", ctypes.c_uint32),
    ]


class VALUE0(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("u64", ctypes.c_uint64)]


class ACTION0(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("calloutKey", GUID)]


class CONTEXT(ctypes.Union):
    _fields_ = [("rawContext", ctypes.c_uint64), ("providerContextKey", GUID)]


class FILTER(ctypes.Structure):
    _fields_ = [
        ("filterKey", GUID),
        ("displayData", DISPLAY),
        ("flags", ctypes.c_uint32),
        ("providerKey", ctypes.POINTER(GUID)),
        ("providerData", BLOB),
        ("layerKey", GUID),
        ("subLayerKey", GUID),
        ("weight", VALUE0),
        ("numFilterConditions", ctypes.c_uint32),
        ("filterCondition", ctypes.c_void_p),
        ("action", ACTION0),
        ("context", CONTEXT),
        ("reserved", ctypes.c_void_p),
        ("filterId", ctypes.c_uint64),
        ("effectiveWeight", VALUE0),
    ]


def test_ctypes_mirrors_have_the_x64_sizes() -> None:
    sizes = {SESSION: 72, PROVIDER: 64, SUBLAYER: 72, CALLOUT: 88, ACTION0: 20, FILTER: 200}
    assert {cls.__name__: ctypes.sizeof(cls) for cls in sizes} == {
        cls.__name__: n for cls, n in sizes.items()
    }
    assert FILTER.layerKey.offset == 0x40 and FILTER.action.offset == 0x80


def _kernel(library: Path) -> tuple[HostDriver, Any]:
    driver = host(library)
    lib = driver.lib
    lib.KeAcquireSpinLockRaiseToDpc.restype = ctypes.c_uint8
    lib.KeAcquireSpinLockRaiseToDpc.argtypes = [ctypes.POINTER(ctypes.c_uint64)]
    lib.KeReleaseSpinLock.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_uint8]
    lib.KeGetCurrentIrql.restype = ctypes.c_uint8
    lib.ExAllocatePool2.restype = ctypes.c_void_p
    lib.ExAllocatePool2.argtypes = [ctypes.c_uint64, ctypes.c_size_t, ctypes.c_uint32]
    lib.ExFreePoolWithTag.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    for name in (
        "FwpmEngineOpen0",
        "FwpmEngineClose0",
        "FwpmTransactionBegin0",
        "FwpmTransactionCommit0",
        "FwpmTransactionAbort0",
        "FwpmProviderAdd0",
        "FwpmSubLayerAdd0",
        "FwpmCalloutAdd0",
        "FwpmFilterAdd0",
        "FwpmFilterDeleteById0",
        "FwpmProviderDeleteByKey0",
    ):
        getattr(lib, name).restype = ctypes.c_int32
    lib.FwpmEngineOpen0.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_void_p,
        ctypes.POINTER(SESSION),
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.FwpmEngineClose0.argtypes = [ctypes.c_void_p]
    lib.FwpmTransactionBegin0.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.FwpmTransactionCommit0.argtypes = [ctypes.c_void_p]
    lib.FwpmTransactionAbort0.argtypes = [ctypes.c_void_p]
    lib.FwpmProviderAdd0.argtypes = [ctypes.c_void_p, ctypes.POINTER(PROVIDER), ctypes.c_void_p]
    lib.FwpmProviderDeleteByKey0.argtypes = [ctypes.c_void_p, ctypes.POINTER(GUID)]
    lib.FwpmSubLayerAdd0.argtypes = [ctypes.c_void_p, ctypes.POINTER(SUBLAYER), ctypes.c_void_p]
    lib.FwpmCalloutAdd0.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(CALLOUT),
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint32),
    ]
    lib.FwpmFilterAdd0.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(FILTER),
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint64),
    ]
    lib.FwpmFilterDeleteById0.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
    return driver, lib


def _has(violations: Sequence[str], text: str) -> bool:
    return any(text in v for v in violations)


def test_spin_lock_irql_and_pool_rules(libraries: dict[str, Path]) -> None:
    driver, lib = _kernel(libraries["ale"])
    lock = ctypes.c_uint64(0)
    assert lib.KeGetCurrentIrql() == 0
    assert lib.KeAcquireSpinLockRaiseToDpc(ctypes.byref(lock)) == 0
    assert lib.KeGetCurrentIrql() == 2
    handle = ctypes.c_void_p()
    assert ntstatus(lib.FwpmEngineOpen0(None, 10, None, None, ctypes.byref(handle))) != STATUS_SUCCESS
    assert _has(driver.violations(), "FwpmEngineOpen0 called at DISPATCH_LEVEL")
    lib.KeAcquireSpinLockRaiseToDpc(ctypes.byref(lock))  # recursive: a deadlock on Windows
    assert _has(driver.violations(), "acquired again by the thread that holds it")
    lib.KeReleaseSpinLock(ctypes.byref(lock), 2)
    lib.KeReleaseSpinLock(ctypes.byref(lock), 0)
    assert lib.KeGetCurrentIrql() == 0
    lib.KeReleaseSpinLock(ctypes.byref(lock), 0)
    assert _has(driver.violations(), "released but it is not held")

    driver.reset()
    tag = int.from_bytes(b"Test", "little")
    block = lib.ExAllocatePool2(0x40, 32, tag)
    assert block and ctypes.string_at(block, 32) == bytes(32)
    assert driver.counters().pool_blocks == 1
    lib.ExFreePoolWithTag(block, tag + 1)
    assert _has(driver.violations(), "was allocated with tag 'Test'")
    lib.ExFreePoolWithTag(block, tag)
    assert _has(driver.violations(), "double free")
    driver.fail_call("ExAllocatePool2", 1)
    assert lib.ExAllocatePool2(0x40, 32, tag) is None
    leaked = lib.ExAllocatePool2(0x40, 8, tag)
    assert driver.counters().pool_blocks == 1 and leaked
    driver.reset()
    assert driver.counters().nonzero() == {}


def test_filter_engine_rules(libraries: dict[str, Path]) -> None:
    driver, lib = _kernel(libraries["ale"])
    connect_v4 = GUID.parse("c38d57d1-05a7-4c33-904f-7fbceee60e82")
    connect_v6 = GUID.parse("4a72393b-319f-44bc-84c3-ba54dcb3b6b4")
    provider_key = GUID.parse("11111111-2222-3333-4444-555555555555")
    sublayer_key = GUID.parse("21111111-2222-3333-4444-555555555555")
    callout_key = GUID.parse("31111111-2222-3333-4444-555555555555")
    unknown = GUID.parse("41111111-2222-3333-4444-555555555555")
    session = SESSION(flags=1)  # FWPM_SESSION_FLAG_DYNAMIC
    engine = ctypes.c_void_p()
    assert lib.FwpmEngineOpen0(None, 10, None, ctypes.byref(session), ctypes.byref(engine)) == 0

    def status(value: int) -> str:
        return status_text(value)

    provider = PROVIDER(providerKey=provider_key)
    assert status(lib.FwpmTransactionBegin0(engine, 0)) == "0x00000000"
    assert status(lib.FwpmTransactionBegin0(engine, 0)) == "0xC022000E"  # STATUS_FWP_TXN_IN_PROGRESS
    assert lib.FwpmProviderAdd0(engine, ctypes.byref(provider), None) == 0
    assert (
        status(lib.FwpmProviderAdd0(engine, ctypes.byref(provider), None)) == "0xC0220009"
    )  # ALREADY_EXISTS
    orphan = SUBLAYER(subLayerKey=sublayer_key, providerKey=ctypes.pointer(unknown))
    assert (
        status(lib.FwpmSubLayerAdd0(engine, ctypes.byref(orphan), None)) == "0xC0220005"
    )  # PROVIDER_NOT_FOUND
    assert driver.counters().providers == 1 and driver.counters().transactions == 1
    assert lib.FwpmTransactionAbort0(engine) == 0
    assert driver.counters().providers == 0  # rolled back
    assert status(lib.FwpmTransactionCommit0(engine)) == "0xC022000D"  # STATUS_FWP_NO_TXN_IN_PROGRESS

    assert lib.FwpmProviderAdd0(engine, ctypes.byref(provider), None) == 0  # outside a transaction: immediate
    sublayer = SUBLAYER(subLayerKey=sublayer_key, providerKey=ctypes.pointer(provider_key), weight=7)
    assert lib.FwpmSubLayerAdd0(engine, ctypes.byref(sublayer), None) == 0
    bad_layer = CALLOUT(calloutKey=callout_key, applicableLayer=unknown)
    assert (
        status(lib.FwpmCalloutAdd0(engine, ctypes.byref(bad_layer), None, None)) == "0xC0220004"
    )  # LAYER_NOT_FOUND
    callout = CALLOUT(calloutKey=callout_key, applicableLayer=connect_v4)
    assert lib.FwpmCalloutAdd0(engine, ctypes.byref(callout), None, None) == 0

    def filter_at(layer: GUID, sub: GUID, callout_guid: GUID) -> FILTER:
        return FILTER(layerKey=layer, subLayerKey=sub, action=ACTION0(0x6004, callout_guid))

    filter_id = ctypes.c_uint64()
    for candidate, expected in (
        (filter_at(unknown, sublayer_key, callout_key), "0xC0220004"),  # LAYER_NOT_FOUND
        (filter_at(connect_v4, unknown, callout_key), "0xC0220007"),  # SUBLAYER_NOT_FOUND
        (filter_at(connect_v4, sublayer_key, unknown), "0xC0220001"),  # CALLOUT_NOT_FOUND
        (filter_at(connect_v6, sublayer_key, callout_key), "0xC0220014"),  # INCOMPATIBLE_LAYER
    ):
        assert (
            status(lib.FwpmFilterAdd0(engine, ctypes.byref(candidate), None, ctypes.byref(filter_id)))
            == expected
        )
    good = filter_at(connect_v4, sublayer_key, callout_key)
    assert (
        lib.FwpmFilterAdd0(engine, ctypes.byref(good), None, ctypes.byref(filter_id)) == 0 and filter_id.value
    )
    assert status(lib.FwpmProviderDeleteByKey0(engine, ctypes.byref(provider_key))) == "0xC022000A"  # IN_USE
    assert (
        status(lib.FwpmFilterDeleteById0(engine, filter_id.value + 100)) == "0xC0220003"
    )  # FILTER_NOT_FOUND
    assert driver.counters().nonzero() == {
        "engines": 1,
        "providers": 1,
        "sublayers": 1,
        "callouts": 1,
        "filters": 1,
    }
    assert lib.FwpmEngineClose0(engine) == 0  # a dynamic session takes its objects with it
    assert driver.counters().nonzero() == {}
    assert driver.violations() == []


# -- I/O rules, with a small hand-written driver that breaks them on request ----------------------

RULES_DRIVER = r"""
#include <ntddk.h>
#include <wdmsec.h>

#define RULE(n) CTL_CODE(FILE_DEVICE_NETWORK, 0x900 + (n), METHOD_BUFFERED, FILE_ANY_ACCESS)

static PDEVICE_OBJECT g_Device;
static KSPIN_LOCK g_Lock;
static PIRP g_Parked;

DRIVER_INITIALIZE DriverEntry;
DRIVER_UNLOAD RulesUnload;
DRIVER_DISPATCH RulesCreateClose;
DRIVER_DISPATCH RulesControl;

static NTSTATUS Complete(PIRP Irp, NTSTATUS Status, ULONG_PTR Information)
{
    Irp->IoStatus.Status = Status;
    Irp->IoStatus.Information = Information;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return Status;
}

NTSTATUS RulesCreateClose(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    PAGED_CODE();
    return Complete(Irp, STATUS_SUCCESS, 0);
}

NTSTATUS RulesControl(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(Irp);
    ULONG out = stack->Parameters.DeviceIoControl.OutputBufferLength;
    KIRQL irql;
    PVOID block;

    UNREFERENCED_PARAMETER(DeviceObject);
    switch (stack->Parameters.DeviceIoControl.IoControlCode)
    {
    case RULE(0): /* well behaved */
        RtlZeroMemory(Irp->AssociatedIrp.SystemBuffer, out);
        return Complete(Irp, STATUS_SUCCESS, out);
    case RULE(1): /* completes twice */
        Complete(Irp, STATUS_SUCCESS, 0);
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    case RULE(2): /* claims more output than the buffer holds */
        return Complete(Irp, STATUS_SUCCESS, (ULONG_PTR)out + 1);
    case RULE(3): /* returns something else than it completed with */
        Complete(Irp, STATUS_SUCCESS, 0);
        return STATUS_UNSUCCESSFUL;
    case RULE(4): /* pends without IoMarkIrpPending */
        return STATUS_PENDING;
    case RULE(5): /* returns holding a spin lock */
        KeAcquireSpinLock(&g_Lock, &irql);
        return Complete(Irp, STATUS_SUCCESS, 0);
    case RULE(6): /* pends properly */
        IoMarkIrpPending(Irp);
        g_Parked = Irp;
        return STATUS_PENDING;
    case RULE(7): /* completes the parked request */
        if (g_Parked != NULL)
        {
            Complete(g_Parked, STATUS_SUCCESS, 0);
            g_Parked = NULL;
        }
        return Complete(Irp, STATUS_SUCCESS, 0);
    case RULE(8): /* pageable code at DISPATCH_LEVEL */
        KeAcquireSpinLock(&g_Lock, &irql);
        PAGED_CODE();
        KeReleaseSpinLock(&g_Lock, irql);
        return Complete(Irp, STATUS_SUCCESS, 0);
    case RULE(9): /* leaks pool */
        block = ExAllocatePool2(POOL_FLAG_NON_PAGED, 24, 0x6b61654cu);
        return Complete(Irp, block ? STATUS_SUCCESS : STATUS_INSUFFICIENT_RESOURCES, 0);
    case RULE(10): /* returns without completing or pending */
        return STATUS_SUCCESS;
    default:
        return Complete(Irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
}

VOID RulesUnload(PDRIVER_OBJECT DriverObject)
{
    UNICODE_STRING link = RTL_CONSTANT_STRING(L"\\DosDevices\\HwRules");

    UNREFERENCED_PARAMETER(DriverObject);
    (VOID) IoDeleteSymbolicLink(&link);
    IoDeleteDevice(g_Device);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNICODE_STRING name = RTL_CONSTANT_STRING(L"\\Device\\HwRules");
    UNICODE_STRING link = RTL_CONSTANT_STRING(L"\\DosDevices\\HwRules");
    PDEVICE_OBJECT twin;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeSpinLock(&g_Lock);
    status = IoCreateDevice(DriverObject, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &g_Device);
    if (!NT_SUCCESS(status))
    {
        return status;
    }
    if (IoCreateDevice(DriverObject, 0, &name, FILE_DEVICE_NETWORK, 0, FALSE, &twin) != STATUS_OBJECT_NAME_COLLISION)
    {
        IoDeleteDevice(g_Device);
        return STATUS_UNSUCCESSFUL; /* the runtime let a device name be used twice */
    }
    status = IoCreateSymbolicLink(&link, &name);
    if (!NT_SUCCESS(status))
    {
        IoDeleteDevice(g_Device);
        return status;
    }
    DriverObject->MajorFunction[IRP_MJ_CREATE] = RulesCreateClose;
    DriverObject->MajorFunction[IRP_MJ_CLOSE] = RulesCreateClose;
    DriverObject->MajorFunction[IRP_MJ_DEVICE_CONTROL] = RulesControl;
    DriverObject->DriverUnload = RulesUnload;
    return STATUS_SUCCESS;
}
"""


@pytest.fixture(scope="session")
def rules_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rules")
    (root / "driver").mkdir()
    (root / "driver" / "rules.c").write_text(RULES_DRIVER, encoding="utf-8")
    return build_shared(root, root / "rules.so")


def test_irp_rules(rules_library: Path) -> None:
    driver = host(rules_library)

    def rule(n: int) -> int:
        return ctl_code(FILE_DEVICE_NETWORK, 0x900 + n, METHOD_BUFFERED, 0)

    def new_violations(call: Callable[[], object]) -> list[str]:
        before = len(driver.violations())
        call()
        return driver.violations()[before:]

    assert driver.load() == STATUS_SUCCESS, driver.violations()  # includes: a duplicate device name collides
    handle = driver.open("\\\\.\\HwRules")
    assert driver.ioctl(handle, rule(0), b"12345678", 4) == (STATUS_SUCCESS, bytes(4))
    assert driver.violations() == []
    expectations = {
        1: "called twice for the same IRP",
        2: "IoStatus.Information 5 exceeds OutputBufferLength 4",
        3: "returned 0xC0000001 but completed the IRP with IoStatus.Status 0x00000000",
        4: "returned STATUS_PENDING without marking the IRP pending",
        5: "returned holding spin lock",
        8: "PAGED_CODE() in RulesControl reached at DISPATCH_LEVEL",
        10: "returned 0x00000000 without completing the IRP",
    }
    for number, text in expectations.items():
        code = rule(number)
        found = new_violations(lambda: driver.ioctl(handle, code, b"", 4))  # noqa: B023 (called at once)
        assert any(text in v for v in found), (number, found)
    status, parked = driver.ioctl(handle, rule(6), b"", 4)
    assert status == STATUS_PENDING and isinstance(parked, int)
    assert driver.wait(parked, 10) == (STATUS_PENDING, b"")
    assert new_violations(lambda: driver.ioctl(handle, rule(7), b"", 0)) == []
    assert driver.wait(parked, 1000) == (STATUS_SUCCESS, b"")
    assert driver.ioctl(handle, rule(9), b"", 0)[0] == STATUS_SUCCESS
    assert driver.close(handle) == STATUS_SUCCESS
    found = new_violations(driver.unload)
    assert any("tag 'Leak'" in v and "never freed" in v for v in found), found
    assert sum("was never completed" in v for v in found) == 2, found  # rules 4 and 10
    assert driver.counters().devices == 0 and driver.counters().symbolic_links == 0


# -- sanitizers ----------------------------------------------------------------------------------


def scenario_full(library: str, spec: str) -> None:
    """Load, classify every layer, read, pend + cancel, overflow, unload: no violation."""
    model = model_for(Path(spec))
    driver = HostDriver(library)
    driver.reset()
    assert driver.load() == STATUS_SUCCESS, driver.violations()
    handle = driver.open("\\\\.\\" + model.name)
    status, request = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_PENDING and isinstance(request, int)
    for layer in model.layers:
        for k in range(4):
            event = make_event(layer, k)
            driver.classify(driver.layer_id(layer.fwps_layer), event.values, event.metadata)
    status, data = driver.wait(request, 5000)
    assert status == STATUS_SUCCESS
    count = len(decode_batch(model, data)[1])
    _, records = read_batch(driver, handle, model)
    assert count + len(records) == 4 * len(model.layers)
    status, request = driver.ioctl(handle, READ, b"", READ_ALL)
    assert status == STATUS_PENDING and isinstance(request, int)
    assert driver.cancel(request) == STATUS_SUCCESS and driver.wait(request)[0] == STATUS_CANCELLED
    layer = model.layers[0]
    event = make_event(layer, 1)
    driver.classify_repeat(driver.layer_id(layer.fwps_layer), event.values, event.metadata, 3000)
    dropped, records = read_batch(driver, handle, model)
    assert dropped > 0 and records
    assert driver.close(handle) == STATUS_SUCCESS
    assert driver.unload() == 0, driver.violations()
    assert driver.counters().nonzero() == {}
    print("scenario ok")


def scenario_stress(library: str, spec: str, threads: str, repeat: str) -> None:
    """Classify threads against a draining reader; the driver's locks are all that orders them."""
    model = model_for(Path(spec))
    driver = HostDriver(library)
    driver.reset()
    assert driver.load() == STATUS_SUCCESS, driver.violations()
    handle = driver.open("\\\\.\\" + model.name)
    stop = threading.Event()
    received = [0]
    errors: list[str] = []

    def reader() -> None:
        while True:
            status, result = driver.ioctl(handle, READ, b"", READ_ALL)
            if status == STATUS_PENDING:
                assert isinstance(result, int)
                while True:
                    status, data = driver.wait(result, 20)
                    if status != STATUS_PENDING:
                        break
                    if stop.is_set():
                        driver.cancel(result)
                if status == STATUS_CANCELLED:
                    return
                result = data
            if status != STATUS_SUCCESS:
                errors.append(status_text(status))
                return
            assert isinstance(result, bytes)
            received[0] += len(decode_batch(model, result)[1])

    draining = threading.Thread(target=reader)
    draining.start()
    workers = []
    for number in range(int(threads)):
        layer = model.layers[number % len(model.layers)]
        event = make_event(layer, number)
        workers.append(
            threading.Thread(
                target=driver.classify_repeat,
                args=(driver.layer_id(layer.fwps_layer), event.values, event.metadata, int(repeat)),
            )
        )
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    draining.join()
    assert not errors, errors
    (_, used, _, _), layers = stats(driver, handle, len(model.layers))
    assert sum(entry[0] for entry in layers) == int(threads) * int(repeat)
    assert 0 < received[0] <= sum(entry[1] for entry in layers)
    assert used == 0 or received[0] < sum(entry[1] for entry in layers)
    assert driver.close(handle) == STATUS_SUCCESS
    assert driver.unload() == 0, driver.violations()
    print("stress ok", received[0])


SCENARIOS: dict[str, Callable[..., None]] = {"full": scenario_full, "stress": scenario_stress}


def run_scenario(variant: Variant, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``SCENARIOS[name](*args)`` in a fresh interpreter with the sanitizer runtime preloaded."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_hostsim as t; "
        "t.SCENARIOS[sys.argv[2]](*sys.argv[3:])"
    )
    env = sanitizer_env(variant)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-c", code, str(TESTS), name, *args]
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    setarch = shutil.which("setarch")
    if "unexpected memory mapping" in result.stderr and setarch is not None:
        # ThreadSanitizer of older gcc cannot map its shadow with high-entropy ASLR: run without ASLR.
        command = [setarch, os.uname().machine, "-R", *command]
        result = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    return result


def test_full_scenario_under_asan_and_ubsan(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    result = run_scenario("asan", "full", str(libraries["ale-asan"]), str(projects["ale"].spec))
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "scenario ok" in result.stdout
    assert "AddressSanitizer" not in report and "runtime error" not in report, report


def test_classify_stress_under_tsan(projects: dict[str, Project], libraries: dict[str, Path]) -> None:
    result = run_scenario(
        "tsan", "stress", str(libraries["ale-tsan"]), str(projects["ale"].spec), "4", "5000"
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "stress ok" in result.stdout
    assert "ThreadSanitizer" not in report, report


# -- the generated runtime table is current ------------------------------------------------------




def test_wfp_catalog_matches_a_fresh_run() -> None:
    script = load_script("build_hostsim_headers")
    fresh = script.render_catalog(script.load_layers())
    committed = (REPO / "wfpgen" / "hostsim" / "runtime" / "wfp_catalog.c").read_text(encoding="utf-8")
    assert committed == fresh, "wfp_catalog.c is stale: run python scripts/build_hostsim_headers.py"


def test_every_runtime_file_sees_the_newest_headers() -> None:
    """Each runtime source sets NTDDI_VERSION to the newest value the facts know before it
    includes anything (itself, or first thing in hostwdk_internal.h, its first include)."""
    newest = wdkfacts.newest_ntddi()
    override = f"#undef NTDDI_VERSION\n#define NTDDI_VERSION {newest.hex} /* {newest.name} */\n"
    runtime = REPO / "wfpgen" / "hostsim" / "runtime"

    def sets_it_first(text: str) -> bool:
        return override in text and text.index(override) < text.index("#include")

    sources = sorted(runtime.glob("*.c"))
    assert {s.name for s in sources} >= {"core.c", "fwp.c", "io.c", "fwpm_guids.c", "wfp_catalog.c"}
    for source in sources:
        text = source.read_text(encoding="utf-8")
        first = re.search(r'^#include [<"](.+)[>"]', text, re.MULTILINE)
        assert first is not None, source.name
        if first[1] == "hostwdk_internal.h":
            text = (runtime / first[1]).read_text(encoding="utf-8")
        assert sets_it_first(text), f"{source.name} is compiled at the driver's NTDDI_VERSION"


# -- NTDDI gates: a driver sees its target's headers, the runtime the newest's --------------------



def read_gated_field(text: str) -> str:
    """classify.c reading GATED_FIELD where it read the protocol."""
    return text.replace("FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_PROTOCOL,", f"{GATED_FIELD},", 1)


@pytest.fixture(scope="module")
def win10_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return write_project(WIN10_SPEC, tmp_path_factory.mktemp("gates") / "win10", "win10")


def test_the_runtime_plays_the_newest_system_for_an_older_target(win10_project: Project,
                                                                 tmp_path: Path) -> None:
    """Built with a Windows 10 driver's defines, the runtime still knows every layer and field of
    the newest headers: it hands the driver all 41 ale_auth_connect_v4 values where the driver's
    own headers count 36."""
    model = win10_project.model
    assert "NTDDI_VERSION=0x0A000000" in model.build_defines
    facts = wdkfacts.load_wdk_facts()
    enum = wdkfacts.fields_enum_facts(facts, "FWPS_FIELDS_ALE_AUTH_CONNECT_V4")
    assert enum is not None
    newest_count = enum["members"][-1]["value"]
    win10_count = next(c["value"] for c in enum["members"][-1]["value_changes"] if c["from"] == "NTDDI_WIN10")
    assert newest_count > win10_count
    policy = next(m for m in facts["builtin_layers"]["members"]
                  if m["name"] == "FWPS_LAYER_OUTBOUND_NETWORK_CONNECTION_POLICY_V4")
    assert not wdkfacts.ntddi_gate(policy, facts).holds(0x0A000000)

    library = build_shared(win10_project.root, tmp_path / "win10.so", "plain", model.build_defines)
    driver = host(library)
    assert driver.layer_id(policy["name"]) == policy["value"]
    assert driver.load() == STATUS_SUCCESS
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    values: list[Value | None] = [None] * newest_count
    values[wdkfacts.fwps_field_index("ale_auth_connect_v4", "ip_protocol")] = Value.uint8(6)
    verdict = driver.classify(layer_id, values)
    assert verdict.callouts_invoked == 1, verdict
    with pytest.raises(RuntimeError):
        driver.classify(layer_id, [*values, None])  # one more than the layer has
    assert driver.unload() == 0, driver.violations()
    assert_clean(driver)


def test_host_build_refuses_a_field_the_target_lacks(win10_project: Project, tmp_path: Path) -> None:
    """classify.c reading a field gated after the target fails to compile, naming the field; the
    same sources build for Windows 10 1709, where the headers declare it."""
    root = tmp_path / "planted"
    shutil.copytree(win10_project.root, root)
    classify = root / "driver" / "classify.c"
    text = classify.read_text(encoding="utf-8")
    assert read_gated_field(text) != text
    classify.write_text(read_gated_field(text), encoding="utf-8")
    with pytest.raises(BuildError) as failure:
        build_shared(root, tmp_path / "win10.so", "plain", win10_project.model.build_defines)
    assert re.search(rf"error: \W{GATED_FIELD}\W undeclared", str(failure.value)), str(failure.value)

    later = dict(WIN10_SPEC, driver={**WIN10_SPEC["driver"], "target": "win10_1709"})
    spec = tmp_path / "win10_1709.yaml"
    spec.write_text(yaml.safe_dump(later, sort_keys=False), encoding="utf-8")
    defines = model_for(spec).build_defines
    assert "NTDDI_VERSION=0x0A000004" in defines
    build_shared(root, tmp_path / "win10_1709.so", "plain", defines)
