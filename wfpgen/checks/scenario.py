"""The end-to-end scenario against one host build of a generated driver.

Run as ``python -m wfpgen.checks.scenario --library L --project P --out O --variant V`` (the
check runs it in a subprocess so sanitizer runtimes can be preloaded). Each step prints
``{"begin": name}`` before it runs and one JSON line ``{"name", "ok", "detail", "seconds"}``
after; the exit code is 0 when every step passed, 1 when one failed.

Steps: load and audit what was registered against the spec; synthetic traffic through every
layer (filters evaluated by an independent oracle, verdicts checked against the layer's
action); read through the device and decode with the project's own generated reader;
short-buffer IOCTLs; pended, completed and cancelled reads; statistics; ring
overflow with exact drop accounting per processor; concurrent classify on every processor
against a draining reader; lock holds bounded while READ drains full rings; failure of every
kernel call DriverEntry makes; unload with zero leaks and zero violations; and, with
``--pcap``, a real capture compared with an independent decoder (dpkt). A rule the runtime
sees broken during any step fails that step.

The simulated machine has ``PROCESSORS`` processors, so a ring-sink driver keeps one ring per
processor (fewer when its capacity cannot hold that many rings of two of the largest records;
processors then share rings); classify runs on each processor in turn (and, in the concurrency
step, on all at once).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import importlib
import ipaddress
import json
import random
import re
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from wfpgen.catalog import Layer, load_catalog
from wfpgen.checks import traffic
from wfpgen.checks.traffic import Event
from wfpgen.hostsim.binding import (
    FWPS_RIGHT_ACTION_WRITE,
    STATUS_CANCELLED,
    STATUS_PENDING,
    EtwEvent,
    HostDriver,
    LockHolds,
    Metadata,
    Value,
    status_text,
)
from wfpgen.model import (
    ATTRIBUTION_NAMES,
    EstablishingCallout,
    FlowRecordKind,
    LayerModel,
    ProjectModel,
    RecordItem,
)
from wfpgen.output import SPEC_COPY
from wfpgen.pipeline import model_for

FWP_TYPES = {"uint8": 1, "uint16": 2, "uint32": 3, "uint64": 4, "byteArray16": 11, "byteBlob": 12, "sid": 13}
ACTIONS = {"inspect": 0x6004, "block": 0x5003}
FWP_ACTION_BLOCK = 0x1001
FWP_ACTION_CONTINUE = 0x2006
EVENTS_PER_LAYER = 40
PROCESSORS = 4  # what the simulated machine reports; more than this one's cores, on purpose
# READs of full rings whose lock holds are checked (in bytes) and timed (reported only).
LOCK_HOLD_ROUNDS = 5
PID_PLACEHOLDER = "<pid>"  # current_process_id: whichever process runs classify


class Failure(Exception):
    """A step's expectation did not hold."""


def expect(condition: bool, message: str) -> None:
    """Fail the current step with ``message`` unless ``condition``."""
    if not condition:
        raise Failure(message)


class Scenario:
    """One driver build under test, with the project's model and generated reader."""

    def __init__(self, library: Path, project: Path, out: Path, variant: str) -> None:
        self.model: ProjectModel = model_for(project / SPEC_COPY)
        self.catalog = load_catalog()
        self.driver = HostDriver(library)
        self.project = project
        self.out = out
        self.variant = variant
        self.ring = self.model.has_ring
        self.reader = self._import_reader() if self.ring else None
        self.handle = 0
        self.rings = expected_rings(self.model)  # the driver's ring count (checked by GET_INFO)
        self.ring_capacity = 0  # bytes in each ring (GET_INFO)
        self.decoded: list[dict[str, Any]] = []
        self.failed = False
        self.next_flow = 0x10000  # flow handles handed out (flows.attribution)
        self.live_flows: list[int] = []  # established, not ended
        # Layers that write a record per packet (flows.packets: false silences the accounted ones).
        self.emitting = [layer for layer in self.model.layers if layer.emits]
        self.flow_kinds = {kind.name for kind in self.model.flow_kinds}
        self.etw_flows: list[EtwEvent] = []  # the etw sink's flow events taken by the last read_flow_records

    # -- plumbing ------------------------------------------------------------------------------
    def _import_reader(self) -> ModuleType:
        sys.path.insert(0, str(self.project / "reader"))
        importlib.import_module(self.model.reader_package)
        return importlib.import_module(f"{self.model.reader_package}.decode")

    def step(self, name: str, action: Callable[[], str]) -> None:
        """Run one step and print its JSON line (announced first: a crash inside names the step)."""
        print(json.dumps({"begin": name}), flush=True)
        start = time.perf_counter()
        before = len(self.driver.violations())
        try:
            detail, ok = action(), True
        except Failure as exc:
            detail, ok = str(exc), False
        except Exception as exc:  # noqa: BLE001 - a crash in a step is a failed step, with its traceback
            detail, ok = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}", False
        # Any rule the runtime saw broken during the step fails it, whatever the step checked.
        violations = self.driver.violations()
        new = violations[before:] if len(violations) >= before else violations  # (a reset forgets them)
        if new:
            listed = "; ".join(new[:5]) + (f"; and {len(new) - 5} more" if len(new) > 5 else "")
            detail = (f"{detail}; " if not ok else "") + f"runtime rule violated: {listed}"
            ok = False
        self.failed |= not ok
        line = {"name": name, "ok": ok, "detail": detail, "seconds": round(time.perf_counter() - start, 3)}
        print(json.dumps(line), flush=True)

    def catalog_layer(self, layer: LayerModel) -> Layer:
        found = self.catalog.layer(layer.name)
        assert found is not None
        return found

    def layer_id(self, layer: LayerModel) -> int:
        number = self.driver.layer_id(layer.fwps_layer)
        expect(number >= 0, f"the runtime does not know {layer.fwps_layer}")
        return number

    def inputs(self, layer: LayerModel, values: dict[str, object | None]) -> tuple[list[Value | None], Metadata]:
        """The incoming values (by field index) and metadata that carry ``values``; for a layer that
        takes process data from its flow, the flow too (established first when it has a context)."""
        catalog = self.catalog_layer(layer)
        slots: list[Value | None] = [None] * (max(f.index for f in catalog.fields) + 1)
        meta: dict[str, Any] = {}
        from_flow = {i.name for i in layer.record.items if i.source in ("flow", "attribution")}
        for name, value in values.items():
            field = catalog.field(name)
            if value is None or name == "current_process_id" or name in from_flow:
                continue
            if field is None:
                meta[name] = value
                continue
            slots[field.index] = Value(FWP_TYPES[field.type], _raw(field.type, value))
        if layer.flow_attributed:
            meta["flow_handle"] = self.flow_for(layer, values)
        return slots, Metadata(**meta)

    def establishing(self, layer: LayerModel) -> EstablishingCallout:
        """The ALE_FLOW_ESTABLISHED callout that attributes ``layer``'s flows."""
        assert self.model.flows is not None
        return next(e for e in self.model.flows.establishing if any(t.name == layer.name for t in e.targets))

    def flow_for(self, layer: LayerModel, values: dict[str, object | None]) -> int | None:
        """The flow handle a packet of ``layer`` carries for ``values``'s flow_attribution: a new flow
        established with the values' process (0), a flow the driver never saw (1), or none (2)."""
        attribution = layer.record.attribution
        assert attribution is not None
        code = values.get(attribution.name)
        if code == 2:
            return None
        self.next_flow += 1
        flow = self.next_flow
        if code == 0:
            pid, path = values.get("process_id"), values.get("process_path")
            est = self.establishing(layer)
            number = self.driver.layer_id(est.fwps_layer)
            metadata = Metadata(flow_handle=flow, process_id=pid if isinstance(pid, int) else None,
                                process_path=bytes(path) if isinstance(path, (bytes, bytearray)) else None)
            verdict = self.driver.classify(number, [], metadata)
            expect(verdict.callouts_invoked == 1, f"{est.name}: the flow callout ran {verdict.callouts_invoked} times")
            self.live_flows.append(flow)
        return flow

    def end_flows(self) -> int:
        """End the flows established so far; how many contexts they had."""
        ending, self.live_flows = self.live_flows, []
        return self.end_draining(ending)

    def end_draining(self, handles: Sequence[int]) -> int:
        """End the flows of ``handles`` (how many contexts they had), draining the rings as often as
        their flow records (flows.accounting) could fill one processor's ring; the drained records
        are dropped: a step that checks flow records ends its flows itself."""
        largest = max((kind.record.max_size for kind in self.model.flow_kinds), default=0)
        chunk = max(1, self.ring_capacity // (2 * largest) if largest and self.ring_capacity else len(handles))
        contexts = 0
        for start in range(0, len(handles), chunk):
            contexts += sum(self.driver.flow_end(handle) for handle in handles[start:start + chunk])
            if largest:
                while self.stats()["used"]:
                    self.drain()
        return contexts

    def on_processor(self, index: int) -> None:
        """Run this thread's next classifies as processor ``index``."""
        self.driver.set_current_processor(index)

    def ring_of(self, processor: int) -> int:
        """The ring a processor writes (a record's ``processor`` field)."""
        return processor % self.rings

    def in_sent_order(self, records: list[Any], processors: list[int]) -> list[Any]:
        """``records`` of one or more READs back in the order they were sent, given the processor
        each was sent on: a READ returns each ring's records in order, ring after ring."""
        runs: dict[int, list[Any]] = {}
        for record in records:
            runs.setdefault(record.processor, []).append(record)
        for ring, run in runs.items():
            numbers = [r.sequence for r in run]
            expect(numbers == sorted(numbers), f"ring {ring}: records out of sequence order {numbers[:8]}")
        rings = [self.ring_of(p) for p in processors]
        counts = {r: rings.count(r) for r in set(rings)}
        found = {r: len(run) for r, run in runs.items()}
        expect(found == counts, f"records per ring {found}, sent per ring {counts}")
        queues = {r: iter(run) for r, run in runs.items()}
        return [next(queues[r]) for r in rings]

    def classify(self, layer: LayerModel, values: dict[str, object | None]) -> int:
        slots, metadata = self.inputs(layer, values)
        verdict = self.driver.classify(self.layer_id(layer), slots, metadata)
        return verdict.callouts_invoked

    def classify_checked(self, layer: LayerModel, values: dict[str, object | None], what: str,
                         extra: dict[str, Any] | None = None) -> bool:
        """Classify; the callout must run exactly when the oracle says the filter matches, and the
        verdict must be the layer's action: blocked (for good) when a blocking filter matched, else not.
        ``extra`` replaces metadata members (a packet's flow handle and NET_BUFFERs)."""
        slots, metadata = self.inputs(layer, values)
        if extra:
            metadata = dataclasses.replace(metadata, **extra)
        verdict = self.driver.classify(self.layer_id(layer), slots, metadata)
        matched = traffic.matches(layer, values)
        expect(verdict.callouts_invoked == int(matched), f"{layer.name}: callout ran {verdict.callouts_invoked} "
               f"times for {what}, oracle says {'match' if matched else 'no match'}")
        block = matched and layer.action == "block"
        blocked = verdict.action_type == FWP_ACTION_BLOCK
        expect(blocked == block, f"{layer.name}: verdict 0x{verdict.action_type:04X} for {what}, expected "
               f"{'a block' if block else 'no block'} ({layer.action}, {'match' if matched else 'no match'})")
        expect(not block or not verdict.rights & FWPS_RIGHT_ACTION_WRITE,
               f"{layer.name}: blocked {what} but left FWPS_RIGHT_ACTION_WRITE set (a later filter can override)")
        return matched

    def read(self, length: int | None = None) -> bytes:
        """One READ through the device (which must have records)."""
        size = length or max(self.model.channel.capacity + 64, 4096)
        status, data = self.driver.ioctl(self.handle, self.model.channel.ioctl("READ").code, b"", size)
        expect(status == 0, f"READ returned {status_text(status)}")
        assert isinstance(data, bytes)
        return data

    def decode(self, data: bytes, keep: bool = True) -> list[Any]:
        """The batch's records, decoded by the generated reader; with ``keep``, also kept for
        ``decoded.jsonl`` (the lock-hold step's thousands of identical filler records are not)."""
        assert self.reader is not None
        records, end = self.reader.decode_batch(data, 0)
        expect(end == len(data), f"the batch ends at {end} but READ returned {len(data)} bytes")
        if keep:
            self.decoded += [r.to_json() for r in records]
        return list(records)

    # -- steps ---------------------------------------------------------------------------------
    def load(self) -> str:
        self.driver.reset()
        self.driver.set_processor_count(PROCESSORS)
        status = self.driver.load()
        expect(status == 0, f"DriverEntry returned {status_text(status)}; log tail: {self.driver.call_log()[-5:]}")
        counters = self.driver.counters()
        n = len(self.model.callouts)  # one per layer, and one per ALE_FLOW_ESTABLISHED layer (flows.attribution)
        pools = (1 + self.rings if self.ring else 0) + (1 if self.model.flows else 0)  # + the flow context pool
        wanted = {"engines": 1, "providers": 1, "sublayers": 1, "callouts": n, "runtime_callouts": n, "filters": n,
                  "devices": 1, "symbolic_links": 1 if self.ring else 0, "transactions": 0, "pool_blocks": pools}
        found = {name: getattr(counters, name) for name in wanted}
        expect(found == wanted, f"registered objects {found}, expected {wanted}")
        expect(not self.driver.violations(), f"violations: {self.driver.violations()}")
        return ", ".join(f"{k}={v}" for k, v in found.items() if v)

    def registered_filters(self) -> str:
        lines = self.driver.filters()
        expect(len(lines) == len(self.model.callouts), f"{len(lines)} filters for {len(self.model.callouts)} callouts")
        for layer in self.model.callouts:
            line = next((text for text in lines if layer.callout_guid.text in text.lower()), None)
            expect(line is not None, f"no filter names the callout {layer.callout_guid.text} ({layer.name})")
            assert line is not None
            expect(layer.fwpm_layer_guid in line.lower(), f"{layer.name}: filter not at {layer.fwpm_layer}: {line}")
            expect(f"action=0x{ACTIONS[layer.action]:04x}" in line.lower(),
                   f"{layer.name}: expected action 0x{ACTIONS[layer.action]:04X} in: {line}")
            expect(f"conditions={len(layer.conditions)}" in line,
                   f"{layer.name}: expected {len(layer.conditions)} conditions in: {line}")
        flows = (f" (with {len(self.model.flows.establishing)} flow attribution filter(s) at "
                 f"{', '.join(e.name for e in self.model.flows.establishing)})") if self.model.flows else ""
        return f"{len(lines)} filters: layers, actions, callouts and condition counts as the spec says{flows}"

    def device_info(self) -> str:
        self.handle = self.driver.open(self.model.channel.user_path)
        status, data = self.driver.ioctl(self.handle, self.model.channel.ioctl("GET_INFO").code, b"", 64)
        expect(status == 0, f"GET_INFO returned {status_text(status)}")
        assert isinstance(data, bytes)
        device = importlib.import_module(f"{self.model.reader_package}.device")
        info = device.check_info(data)  # the reader's own check: magic, version, fingerprint
        share = self.model.channel.capacity // self.rings // 8 * 8
        expect((info.ring_count, info.ring_capacity) == (self.rings, share),
               f"{info.ring_count} rings of {info.ring_capacity} bytes; expected {self.rings} of {share} (the spec's "
               f"{self.model.channel.capacity} bytes shared by {PROCESSORS} processors)")
        expect(info.capacity == self.rings * share, f"GET_INFO capacity {info.capacity} != {self.rings} x {share}")
        self.ring_capacity = info.ring_capacity
        status, _ = self.driver.ioctl(self.handle, self.model.channel.ioctl("GET_INFO").code, b"", 8)
        expect(status != 0, "GET_INFO into an 8-byte buffer succeeded")
        status, _ = self.driver.ioctl(self.handle, self.model.channel.ioctl("STATS").code, b"", 8)
        expect(status != 0, "STATS into an 8-byte buffer succeeded")
        status, _ = self.driver.ioctl(self.handle, self.model.channel.ioctl("READ").code, b"", 8)
        expect(status not in (0, STATUS_PENDING), f"READ into an 8-byte buffer returned {status_text(status)}")
        status, _ = self.driver.ioctl(self.handle, 0x0012C3FC, b"", 64)
        expect(status != 0, "an unknown IOCTL succeeded")
        return (f"fingerprint 0x{info.fingerprint:016x}, {info.ring_count} rings of {info.ring_capacity} bytes "
                f"for {PROCESSORS} processors")

    def traffic_and_decode(self) -> str:
        if self.model.has_etw:
            self.driver.etw_clear()
        sent: list[Event] = []
        pending: list[tuple[int, Event]] = []  # sent, not read yet, with the processor each ran on
        stored = [0] * self.rings  # bytes the pending records take in each ring
        reads = 0
        filtered = []  # per filtered layer: how many events its filter passed
        for layer in self.model.layers:
            passed = 0
            for number, event in enumerate(traffic.events(self.model, layer, EVENTS_PER_LAYER, seed=7)):
                processor = number % PROCESSORS
                size = record_size(self.model, layer, event.values) if event.expect_match else 0
                ring = self.ring_of(processor)
                if self.ring and stored[ring] + size > self.ring_capacity:
                    self.read_and_compare(pending)  # drain first: a small ring would drop records
                    pending, stored, reads = [], [0] * self.rings, reads + 1
                self.on_processor(processor)
                self.classify_checked(layer, event.values, describe(event.values))
                if event.expect_match:
                    passed += 1
                if event.expect_match and layer.emits:
                    sent.append(event)
                    pending.append((processor, event))
                    stored[self.ring_of(processor)] += size
            if layer.conditions:
                # Both sides of the filter must be exercised, or its conditions are not tested.
                expect(0 < passed < EVENTS_PER_LAYER, f"{layer.name}: {passed} of {EVENTS_PER_LAYER} events "
                       "match its filter; the traffic must hold matching and non-matching values")
                fields = ", ".join(traffic.filtered_fields(layer))
                filtered.append(f"{layer.name} passed {passed} of {EVENTS_PER_LAYER} ({fields})")
        self.on_processor(0)
        summary = ("; filters select exactly what the oracle selects: " + "; ".join(filtered)) if filtered else ""
        etw = ("; " + self.check_etw(sent)) if self.model.has_etw else ""
        if not self.ring:
            if not self.model.has_dbgprint:
                return etw.removeprefix("; ") + summary
            return self.check_dbgprint(sent) + etw + summary
        if pending:
            self.read_and_compare(pending)
            reads += 1
        if not self.emitting:
            return (f"{EVENTS_PER_LAYER} events at each of {len(self.model.layers)} layers, each callout run as the "
                    "oracle says; no per-packet records (flows.packets: false)" + summary)
        return (f"{len(sent)} records from {PROCESSORS} processors decoded by the generated reader in {reads} "
                f"READ(s), every field equal to what was sent" + etw + summary)

    def check_etw(self, sent: list[Event]) -> str:
        """One TraceLogging event per record sent, in order, each field (name, TraceLogging types, bytes) what
        the record must carry: the etw sink's events, from the host runtime's ETW session."""
        assert self.model.etw is not None
        names = {layer.name for layer in self.model.layers}
        events = [e for e in self.driver.etw_events() if e.name in names]
        expect(len(events) == len(sent), f"{len(events)} ETW events for {len(sent)} matching events")
        for got, event in zip(events, sent):
            compare_etw(got, event, self.model)
        return f"{len(sent)} ETW events, every field's name, TraceLogging type and bytes as sent"

    def short_values(self) -> str:
        """A short FWPS_INCOMING_VALUES0 (valueCount below a field's index): that field reads as absent."""
        checked = []
        for layer in self.emitting:
            indices = sorted({i.field_index for i in layer.record.items if i.source == "field"})
            catalog = self.catalog_layer(layer)
            filtered = {f.index for c in layer.conditions for f in [catalog.field(c.field_name)] if f is not None}
            if not indices or any(index >= indices[-1] for index in filtered):
                continue  # no field to cut off, or the filter itself needs the field that would go
            limit = indices[-1]
            event = next((e for e in traffic.events(self.model, layer, 16, seed=19) if e.expect_match), None)
            if event is None:
                continue
            cut = dict(event.values)
            for item in layer.record.items:
                if item.source == "field" and item.field_index >= limit:
                    cut[item.name] = None
            self.driver.limit_value_count(limit)
            try:
                invoked = self.classify(layer, event.values)
            finally:
                self.driver.limit_value_count(0)
            expect(invoked == 1, f"{layer.name}: the callout did not run with valueCount {limit}")
            self.read_and_compare([(0, Event(layer, cut, True))])
            checked.append(f"{layer.name}<{limit}")
        return "values at or beyond valueCount read as absent: " + (", ".join(checked) or "no layer applies")

    def read_and_compare(self, sent: list[tuple[int, Event]]) -> None:
        """READ the rings: exactly the records of ``sent`` (each with the processor it was sent on),
        each processor's in order, every value as sent. Flow records (flows.accounting: a flow the
        step ended) are the accounting step's to check, not this one's."""
        records = [r for r in self.decode(self.read()) if r.layer not in self.flow_kinds]
        expect(len(records) == len(sent), f"decoded {len(records)} records for {len(sent)} matching events")
        for record, (_, event) in zip(self.in_sent_order(records, [p for p, _ in sent]), sent):
            compare(record, event, self.model)

    def check_dbgprint(self, sent: list[Event]) -> str:
        lines = [line.split("): ", 1)[1] for line in self.driver.call_log() if "DbgPrintEx(" in line
                 and f"): [{self.model.name}] [" in line]
        expect(len(lines) == len(sent), f"{len(lines)} DbgPrintEx lines for {len(sent)} matching events")
        for line, event in zip(lines, sent):
            wanted = dbgprint_line(self.model, event)
            pattern = re.escape(wanted).replace(re.escape(PID_PLACEHOLDER), r"\d+")
            expect(re.fullmatch(pattern, line) is not None, f"line {line!r}, expected {wanted!r}")
        return f"{len(sent)} lines, each exactly the tutorial's format"

    def pended_read(self) -> str:
        code = self.model.channel.ioctl("READ").code
        status, request = self.driver.ioctl(self.handle, code, b"", 4096 + self.model.max_record_size)
        expect(status == STATUS_PENDING, f"READ on an empty ring returned {status_text(status)}, not pending")
        assert isinstance(request, int)
        layer = self.emitting[0]
        event = next(e for e in traffic.events(self.model, layer, 8, seed=11) if e.expect_match)

        def classify_elsewhere() -> None:
            self.on_processor(PROCESSORS - 1)
            self.classify(layer, event.values)

        worker = threading.Thread(target=classify_elsewhere)
        worker.start()
        worker.join()
        status, data = self.driver.wait(request, 5000)
        expect(status == 0, f"the pended READ completed with {status_text(status)}")
        records = self.decode(data)
        expect(len(records) == 1, f"{len(records)} records in the completed READ")
        compare(records[0], event, self.model)
        ring = self.ring_of(PROCESSORS - 1)
        expect(records[0].processor == ring, f"the record came from ring {records[0].processor}, not {ring}")
        status, request = self.driver.ioctl(self.handle, code, b"", 4096 + self.model.max_record_size)
        expect(status == STATUS_PENDING, "second READ not pended")
        assert isinstance(request, int)
        self.driver.cancel(request)
        status, _ = self.driver.wait(request, 5000)
        expect(status == STATUS_CANCELLED, f"the cancelled READ completed with {status_text(status)}")
        other = self.driver.open(self.model.channel.user_path)
        status, request = self.driver.ioctl(other, code, b"", 4096 + self.model.max_record_size)
        expect(status == STATUS_PENDING, "READ on a second handle not pended")
        self.driver.close(other)
        assert isinstance(request, int)
        status, _ = self.driver.wait(request, 5000)
        expect(status == STATUS_CANCELLED, f"closing the handle left its READ with {status_text(status)}")
        expect(self.driver.counters().pending_irps == 0, "requests left pending")
        return ("completed by a later classify on another thread and processor; cancelled; cleaned up with its "
                "handle")

    def stats(self) -> dict[str, int]:
        size = self.model.channel.stats_header_size + self.model.channel.layer_stats_size * len(self.model.record_kinds)
        status, data = self.driver.ioctl(self.handle, self.model.channel.ioctl("STATS").code, b"", size)
        expect(status == 0, f"STATS returned {status_text(status)}")
        assert isinstance(data, bytes)
        device = importlib.import_module(f"{self.model.reader_package}.device")
        parsed = device.parse_stats(data)
        return {"high_water": parsed.high_water, "used": parsed.used,
                "classified": sum(layer.classified for layer in parsed.layers),
                "emitted": sum(layer.emitted for layer in parsed.layers),
                "dropped": sum(layer.dropped for layer in parsed.layers)}

    def overflow(self) -> str:
        """One processor's ring overflows: its drops are counted exactly and show as a gap in its
        sequence, while another processor's ring still takes records. A processor numbered past the
        count (added after load) shares a ring by its number modulo the count."""
        layer = self.emitting[0]
        values = fixed_size_values(self.model, layer)
        size = record_size(self.model, layer, values)
        fits = self.ring_capacity // size
        full = self.ring_of(1)
        added = PROCESSORS + (full - PROCESSORS) % self.rings  # added after load; it writes ring `full` too
        other = next((p for p in range(PROCESSORS) if self.ring_of(p) != full), None)  # None: one ring
        before = self.stats()
        slots, metadata = self.inputs(layer, values)
        if layer.conditions:
            expect(traffic.matches(layer, values), "could not build a matching event for the overflow")
        layer_id = self.layer_id(layer)
        self.on_processor(full)
        self.driver.classify_repeat(layer_id, slots, metadata, fits + 10)
        self.on_processor(added)
        self.driver.classify_repeat(layer_id, slots, metadata, 5)
        if other is not None:
            self.on_processor(other)
            self.driver.classify_repeat(layer_id, slots, metadata, 1)
        self.on_processor(0)
        after = self.stats()
        dropped = after["dropped"] - before["dropped"]
        expect(dropped == 15, f"{fits + 15} records of {size} bytes into a ring of {self.ring_capacity} bytes: "
                              f"{dropped} dropped, expected exactly 15")
        expect(after["high_water"] >= fits * size, f"high-water mark {after['high_water']} < {fits * size}")
        records = self.decode(self.read())
        mine = [r.sequence for r in records if r.processor == full]
        stored = fits + (other is not None)
        expect(len(records) == stored, f"drained {len(records)} records, expected {stored}")
        expect(mine == list(range(mine[0], mine[0] + fits)) if mine else False,
               f"ring {full}: sequence numbers not consecutive")
        if other is not None:
            expect([r.processor for r in records].count(self.ring_of(other)) == 1,
                   f"ring {self.ring_of(other)} did not take its record")
        self.on_processor(added)
        self.classify(layer, values)
        self.on_processor(0)
        after_gap = [r for r in self.decode(self.read()) if r.processor == full]
        expect(len(after_gap) == 1 and after_gap[0].sequence == mine[-1] + 16,
               f"after 15 drops the next number on ring {full} is {[r.sequence for r in after_gap]}, "
               f"expected {mine[-1] + 16}")
        unaffected = f"; ring {self.ring_of(other)} unaffected" if other is not None else " (the only ring)"
        return (f"ring {full}: {fits} of {fits + 15} stored (5 from processor {added}, added after load), 15 "
                f"dropped, counted and seen as a gap of 15" + unaffected)

    def concurrency(self) -> str:
        layer = self.emitting[0]
        values = fixed_size_values(self.model, layer)
        expect(traffic.matches(layer, values), "could not build a matching event for the concurrent classifies")
        slots, metadata = self.inputs(layer, values)
        threads, per_thread = PROCESSORS, 2000 if self.variant != "tsan" else 500
        got: list[Any] = []
        errors: list[str] = []
        done = threading.Event()
        length = max(65536, 4096 + self.model.max_record_size)  # one READ always fits a record

        def drain() -> None:
            try:
                drain_until_cancelled()
            except Exception as exc:  # noqa: BLE001 - reported by the step, not lost with the thread
                errors.append(f"{type(exc).__name__}: {exc}")

        def drain_until_cancelled() -> None:
            code = self.model.channel.ioctl("READ").code
            while True:
                status, result = self.driver.ioctl(self.handle, code, b"", length)
                if status == STATUS_PENDING:
                    assert isinstance(result, int)
                    while True:
                        status, data = self.driver.wait(result, 50)
                        if status != STATUS_PENDING:
                            break
                        if done.is_set():
                            self.driver.cancel(result)
                    if status == STATUS_CANCELLED:
                        return
                else:
                    data = result if isinstance(result, bytes) else b""
                if status != 0:
                    errors.append(f"READ returned {status_text(status)}")
                    return
                assert self.reader is not None
                got.extend(self.reader.decode_batch(data, 0)[0])

        layer_id = self.layer_id(layer)
        base = self.last_sequences(layer, values)
        before = self.stats()

        def classify_on(processor: int) -> None:
            self.on_processor(processor)
            self.driver.classify_repeat(layer_id, slots, metadata, per_thread)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        workers = [threading.Thread(target=classify_on, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.stats()["used"] > 0:
            time.sleep(0.01)
        done.set()
        reader.join(15)
        expect(not reader.is_alive(), "the reader thread did not stop")
        expect(not errors, f"the reader thread failed: {'; '.join(errors)}")
        after = self.stats()
        sent = threads * per_thread
        emitted = after["emitted"] - before["emitted"]
        dropped = after["dropped"] - before["dropped"]
        expect(emitted + dropped == sent, f"emitted {emitted} + dropped {dropped} != classified {sent}")
        expect(len(got) == emitted, f"reader decoded {len(got)} of {emitted} emitted records")
        numbers: dict[int, list[int]] = {}
        for record in got:
            numbers.setdefault(record.processor, []).append(record.sequence)
        expect(sorted(numbers) == list(range(self.rings)), f"records came from rings {sorted(numbers)}")
        gaps = 0
        for ring, seen in numbers.items():
            expect(seen == sorted(set(seen)), f"ring {ring}: sequence numbers repeated or out of order")
            events = per_thread * sum(1 for n in range(threads) if self.ring_of(n) == ring)
            first, last = base[ring] + 1, base[ring] + events
            expect(first <= seen[0] and seen[-1] <= last,
                   f"ring {ring}: sequence numbers {seen[0]}..{seen[-1]} outside {first}..{last}")
            gaps += events - len(seen)
        expect(gaps == dropped, f"{gaps} numbers missing from the sequences, {dropped} records dropped")
        sent_event = Event(layer, values, True)
        for record in got:  # a torn or interleaved write would decode, but not to these values
            compare(record, sent_event, self.model)
        return (f"{threads} threads x {per_thread} classifies, one per processor, against a draining reader: "
                f"{len(got)} read, {dropped} dropped (each a gap in its processor's sequence)")

    # -- flows.attribution ----------------------------------------------------------------------
    def driver_counter(self, suffix: str) -> int:
        """One of the driver's own counters (``<Name>FlowsUnattributed``...), read from its image."""
        return ctypes.c_int32.in_dll(self.driver.lib, f"{self.model.name}{suffix}").value

    def packet(self, layer: LayerModel, values: dict[str, object | None], flow: int | None) -> int:
        """Classify one packet of ``layer`` carrying ``flow`` (None: no flow handle) and ``values``'s fields."""
        attribution = layer.record.attribution
        assert attribution is not None
        slots, metadata = self.inputs(layer, {**values, attribution.name: 2})  # 2: no flow set up here
        metadata = dataclasses.replace(metadata, flow_handle=flow)
        return self.driver.classify(self.layer_id(layer), slots, metadata).callouts_invoked

    def establish(self, layer: LayerModel, process_id: int) -> int:
        """A new flow of ``layer``'s IP version, established by ``process_id``; its handle."""
        est = self.establishing(layer)
        self.next_flow += 1
        self.driver.classify(self.driver.layer_id(est.fwps_layer), [],
                             Metadata(flow_handle=self.next_flow, process_id=process_id))
        return self.next_flow

    def expect_no_flow_contexts(self) -> None:
        """After every flow ended: WFP holds no context, and every context is back in the driver's pool."""
        held = self.driver.counters().flow_contexts
        expect(held == 0, f"WFP still holds {held} flow context(s) after every flow ended")
        in_use = self.driver_counter("FlowContextsInUse")
        expect(in_use == 0, f"{in_use} flow context(s) never returned to the driver's pool after their flows ended "
               "(a context never freed)")

    def drain(self) -> list[Any]:
        """Every record in the rings (none when they are empty)."""
        return self.decode(self.read()) if self.stats()["used"] else []

    def flows(self) -> str:
        """Flow contexts at their limit, a refused association, and flows ending while other threads
        classify their packets; a few flows are left for unload to remove."""
        assert self.model.flows is not None and self.reader is not None
        flows = self.model.flows
        self.end_flows()  # the earlier steps' flows
        self.expect_no_flow_contexts()
        self.drain()
        layer = next(layer for layer in self.model.layers if layer.flow_attributed)
        est = self.establishing(layer)
        attribution = layer.record.attribution
        assert attribution is not None
        base = fixed_size_values(self.model, layer)
        for item in layer.record.items:
            if item.source == "flow":
                base[item.name] = None
        self.on_processor(0)
        self.drain()  # the flow records of the flows just ended (flows.accounting)

        # 1. More flows than contexts: the rest are counted and their packets say no_context.
        before = self.driver_counter("FlowsUnattributed")
        handles = [self.establish(layer, 1000 + n) for n in range(flows.max_contexts + 3)]
        over = self.driver_counter("FlowsUnattributed") - before
        expect(over == 3, f"{flows.max_contexts + 3} flows for {flows.max_contexts} contexts: {over} counted "
               "unattributed, expected 3")
        pid_item = next((i for i in layer.record.items if i.name == "process_id"), None)
        first = {**base, attribution.name: 0, **({"process_id": 1000} if pid_item else {})}
        last = {**base, attribution.name: 1}
        expect(self.packet(layer, base, handles[0]) == 1 and self.packet(layer, base, handles[-1]) == 1,
               f"{layer.name}: the callout did not run")
        self.read_and_compare([(0, Event(layer, first, True)), (0, Event(layer, last, True))])
        contexts = self.end_draining(handles)
        expect(contexts == flows.max_contexts * len(est.targets),
               f"{contexts} contexts ended with {len(handles)} flows, expected {flows.max_contexts} x "
               f"{len(est.targets)} target callouts")
        self.expect_no_flow_contexts()

        # 2. WFP refuses the first association: that layer's packets say no_context, the others' do not.
        failures = self.driver_counter("FlowAssociationFailures")
        self.driver.fail_call("FwpsFlowAssociateContext0", 1)
        flow = self.establish(layer, 77)
        expect(self.driver_counter("FlowAssociationFailures") == failures + 1, "the refused association was not "
               "counted")
        sent = []
        by_name = {target.name: target for target in self.model.layers}
        for number, target in enumerate(est.targets):
            target_layer = by_name[target.name]
            values = {**fixed_size_values(self.model, target_layer)}
            for item in target_layer.record.items:
                if item.source == "flow":
                    values[item.name] = 77 if item.name == "process_id" and number else None
            values[attribution.name] = 1 if number == 0 else 0
            expect(self.packet(target_layer, values, flow) == 1, f"{target.name}: the callout did not run")
            sent.append((0, Event(target_layer, values, True)))
        self.read_and_compare(sent)
        expect(self.end_draining([flow]) == len(est.targets) - 1, "the refused association left a context")

        # 3. Flows end on this thread while two others classify their packets.
        count, repeat = (100, 2) if self.variant == "tsan" else (300, 4)
        handles = [self.establish(layer, 5000 + n) for n in range(count)]
        pids = {5000 + n for n in range(count)}
        errors: list[str] = []

        def classify_half(half: int) -> None:
            try:
                self.on_processor(half)
                for handle in handles[half::2]:
                    for _ in range(repeat):
                        self.packet(layer, base, handle)
            except Exception as exc:  # noqa: BLE001 - reported by the step
                errors.append(f"{type(exc).__name__}: {exc}")

        before_stats = self.stats()
        workers = [threading.Thread(target=classify_half, args=(half,)) for half in (0, 1)]
        for worker in workers:
            worker.start()
        for handle in reversed(handles):  # the workers go forward: they meet in the middle
            self.driver.flow_end(handle)
        for worker in workers:
            worker.join()
        expect(not errors, "; ".join(errors))
        records = []
        while self.stats()["used"]:
            records += self.drain()
        flow_records = [r for r in records if r.layer in self.flow_kinds]
        records = [r for r in records if r.layer not in self.flow_kinds]
        emitted = self.stats()["emitted"] - before_stats["emitted"] - len(flow_records)
        expect(len(records) == emitted, f"read {len(records)} of {emitted} records")
        names = {0: "flow", 1: "no_context"}
        seen = {0: 0, 1: 0}
        for record in records:
            code = record.values.get(attribution.name)
            expect(code in names, f"flow_attribution {code} for a packet with a flow handle")
            seen[code] += 1
            pid = record.values.get("process_id")
            if pid_item is not None:
                expect((pid in pids) if code == 0 else pid is None,
                       f"{names[code]} record with process_id {pid}")
        self.expect_no_flow_contexts()

        # 4. Flows still open at unload: the driver must remove their contexts itself.
        self.live_flows += [self.establish(layer, 9000 + n) for n in range(5)]
        return (f"{flows.max_contexts} contexts for {flows.max_contexts + 3} flows: 3 counted and recorded as "
                f"no_context; a refused association: that layer no_context, the others attributed; {count} flows "
                f"ended while 2 threads classified {count * repeat} packets: {seen[0]} attributed, {seen[1]} after "
                f"their flow ended, no context leaked; 5 flows left open for unload")

    # -- flows.accounting ---------------------------------------------------------------------------
    def counter64(self, suffix: str) -> int:
        """One of the driver's 64-bit counters (``<Name>PacketsUnaccounted``...), read from its image."""
        return ctypes.c_int64.in_dll(self.driver.lib, f"{self.model.name}{suffix}").value

    def open_flow(self, kind: FlowRecordKind, flow: AccountedFlow) -> None:
        """Establish ``flow`` at its ALE_FLOW_ESTABLISHED layer with its 5-tuple and process; give it a handle."""
        assert self.model.flows is not None
        est = next(e for e in self.model.flows.establishing if e.kind is kind)
        catalog = self.catalog.layer(est.name)
        assert catalog is not None
        slots: list[Value | None] = [None] * (max(f.index for f in catalog.fields) + 1)
        for name, value in flow.five_tuple.items():
            field = catalog.field(name)
            assert field is not None
            slots[field.index] = Value(FWP_TYPES[field.type], _raw(field.type, value))
        self.next_flow += 1
        flow.handle = self.next_flow
        verdict = self.driver.classify(self.driver.layer_id(est.fwps_layer), slots,
                                       Metadata(flow_handle=flow.handle, process_id=flow.process_id,
                                                process_path=flow.process_path))
        expect(verdict.callouts_invoked == 1, f"{est.name}: the flow callout ran {verdict.callouts_invoked} times")

    def send_counted(self, layer: LayerModel, flow: AccountedFlow | None, lengths: Sequence[int],
                     header: int | None, handle: int | None = None) -> bool:
        """One packet of ``layer`` with ``lengths`` (one NET_BUFFER each, from the layer's data offset), its
        flow's handle (``handle`` overrides: a flow the driver never saw, or None: none) and, outbound, the
        transport header size; the flow's expected counts follow. Whether the callout ran."""
        values = fixed_size_values(self.model, layer)
        if flow is not None:
            values.update({k: v for k, v in flow.five_tuple.items() if k in values})
        if layer.record.attribution is not None:
            values[layer.record.attribution.name] = 2  # inputs() sets up no flow: this packet's handle is given
        matched = traffic.matches(layer, values)
        slots, metadata = self.inputs(layer, values)
        metadata = dataclasses.replace(metadata, flow_handle=flow.handle if flow is not None else handle,
                                       net_buffers=tuple(lengths), transport_header_size=header)
        verdict = self.driver.classify(self.layer_id(layer), slots, metadata)
        expect(verdict.callouts_invoked == int(matched), f"{layer.name}: callout ran {verdict.callouts_invoked} times")
        if matched and flow is not None:
            flow.count(layer.inbound, lengths, header)
        return matched

    def end_flow(self, flow: AccountedFlow) -> int:
        """End ``flow`` (opened with ``open_flow``); how many contexts it had."""
        assert flow.handle is not None, "a flow ended before it was opened"
        return self.driver.flow_end(flow.handle)

    def read_flow_records(self) -> tuple[list[Any], int]:
        """Drain the rings: the flow records, and how many other records came with them. With the etw sink,
        the flow events written since the last read are taken too (``etw_flows``: ``check_flow_records``
        compares them) and the runtime's event log is emptied."""
        records: list[Any] = []
        while self.stats()["used"]:
            records += self.drain()
        flows = [r for r in records if r.layer in self.flow_kinds]
        if self.model.has_etw:
            self.etw_flows = [e for e in self.driver.etw_events() if e.name in self.flow_kinds]
            self.driver.etw_clear()
        return flows, len(records) - len(flows)

    def check_flow_records(self, records: list[Any], flows: list[AccountedFlow], since: int, until: int,
                           reason: int = 0) -> None:
        """One record per flow (matched by its process), every value as the flow counted it."""
        by_pid = {flow.process_id: flow for flow in flows}
        expect(len(records) == len(flows), f"{len(records)} flow records for {len(flows)} ended flows")
        for record in records:
            flow = by_pid.get(record.values.get("process_id"))
            expect(flow is not None, f"a flow record with process_id {record.values.get('process_id')} that no "
                   "ended flow had")
            assert flow is not None
            kind = next(k for k in self.model.flow_kinds if k.name == record.layer)
            first, last = record.values.get("first_seen"), record.values.get("last_seen")
            expect(isinstance(first, int) and isinstance(last, int) and since <= first <= last <= until,
                   f"flow {flow.process_id}: first_seen {first}, last_seen {last} outside the step's "
                   f"{since}..{until} or out of order")
            wanted = {**flow.expected(), "first_seen": first, "last_seen": last, "end_reason": reason}
            compare(record, Event(kind, wanted, True), self.model)  # type: ignore[arg-type]
        if self.model.has_etw:
            self.check_flow_events(self.etw_flows, flows, since, until, reason)

    def check_flow_events(self, events: list[EtwEvent], flows: list[AccountedFlow], since: int, until: int,
                          reason: int) -> None:
        """The etw sink's flow events: one per flow (matched by its process), every field as the flow counted
        it, the timestamps read from the event itself."""
        by_pid = {flow.process_id: flow for flow in flows}
        expect(len(events) == len(flows), f"{len(events)} flow ETW events for {len(flows)} ended flows")
        for got in events:
            pid = etw_number(got, "process_id")
            flow = by_pid.get(pid) if pid is not None else None
            expect(flow is not None, f"ETW event {got.name} with process_id {pid} that no ended flow had")
            assert flow is not None
            kind = next(k for k in self.model.flow_kinds if k.name == got.name)
            first, last = etw_number(got, "first_seen"), etw_number(got, "last_seen")
            expect(first is not None and last is not None and since <= first <= last <= until,
                   f"ETW event {got.name} of flow {flow.process_id}: first_seen {first}, last_seen {last} outside "
                   f"the step's {since}..{until} or out of order")
            wanted = {**flow.expected(), "first_seen": first, "last_seen": last, "end_reason": reason}
            compare_etw(got, Event(kind, wanted, True), self.model)  # type: ignore[arg-type]

    def accounting(self) -> str:
        """Flows counted per direction from the packets' NET_BUFFER_LISTs, reported when they end (and,
        with flows.interval, while they last); packets of flows without a context counted apart; the
        context limit; flows ending while two threads count their packets (exact totals)."""
        assert self.model.flows is not None and self.reader is not None
        flows_model = self.model.flows
        self.end_flows()
        self.read_flow_records()
        self.on_processor(0)
        rng = random.Random(41)
        details: list[str] = []
        accounted = [layer for layer in self.model.layers if layer.accounted]
        unaccounted_before = self.counter64("PacketsUnaccounted")
        unknown_before = self.counter64("PacketBytesUnknown")
        unaccounted = unknown = 0
        for kind in self.model.flow_kinds:
            layers = [layer for layer in accounted if layer.ip_version == kind.ip_version]
            # 1. Flows with their own 5-tuple and process; packets in both directions on every processor.
            since = self.clock()
            flows = [AccountedFlow.make(kind, n, rng, self.model.max_blob) for n in range(12)]
            for flow in flows:
                self.open_flow(kind, flow)
            packets = 0
            for _ in range(120):
                flow = rng.choice(flows)
                layer = rng.choice(layers)
                lengths = [rng.choice((0, 1, 40, 536, 1460, 1500)) for _ in range(rng.randint(1, 3))]
                header = None if layer.inbound else flow.header_size
                if not layer.inbound and flow.process_id % 5 == 0:
                    header = None  # no transport header size: the packets count, their bytes cannot
                self.on_processor(rng.randrange(PROCESSORS))
                if self.send_counted(layer, flow, lengths, header):
                    packets += len(lengths)
                    unknown += len(lengths) if header is None and not layer.inbound else 0
            # Packets of a flow the driver never saw, and packets with no flow handle: counted apart.
            for handle in (0xDEAD0000 + kind.ip_version, None):
                layer = layers[0]
                lengths = [100, 200]
                if self.send_counted(layer, None, lengths, 20, handle=handle):
                    unaccounted += len(lengths)
            self.on_processor(0)
            for flow in flows:
                self.end_flow(flow)
            records, others = self.read_flow_records()
            self.check_flow_records(records, flows, since, self.clock())
            etw = " (and each ETW event, field by field)" if self.model.has_etw else ""
            details.append(f"{kind.name}: {len(flows)} flows, {packets} packets, each record equal to its flow's "
                           f"counts{etw} ({others} per-packet records besides)")

            # 2. flows.interval: a flow reports at its first packet after the interval, and again when it ends.
            layer = layers[0]
            flow = AccountedFlow.make(kind, 100, rng, self.model.max_blob)
            since = self.clock()
            self.open_flow(kind, flow)
            self.send_counted(layer, flow, [300], flow.header_size)
            self.driver.advance_clock(max(flows_model.interval_100ns, 864_000_000_000) + 1)
            self.send_counted(layer, flow, [400], flow.header_size)
            interim, _ = self.read_flow_records()
            if flows_model.interval_100ns:
                expect(len(interim) == 1, f"{len(interim)} interval records after the interval passed")
                first = flow.take()
                self.check_flow_records(interim, [first], since, self.clock(), reason=1)
            else:
                expect(not interim, "a flow reported while it lasted, and flows.interval is 0")
            self.send_counted(layer, flow, [500, 600], flow.header_size)
            self.end_flow(flow)
            final, _ = self.read_flow_records()
            self.check_flow_records(final, [flow], since, self.clock())

        # 3. The context limit: flows beyond it are counted, their packets too, and they send no record.
        kind = self.model.flow_kinds[0]
        layer = next(layer for layer in accounted if layer.ip_version == kind.ip_version)
        before = self.driver_counter("FlowsUnattributed")
        many = [AccountedFlow.make(kind, 1000 + n, rng, 0) for n in range(flows_model.max_contexts + 2)]
        for flow in many:
            self.open_flow(kind, flow)
        over = self.driver_counter("FlowsUnattributed") - before
        expect(over == 2, f"{len(many)} flows for {flows_model.max_contexts} contexts: {over} counted unattributed")
        for flow in many[-2:]:
            unaccounted += self.send_counted(layer, None, [10], flow.header_size, handle=flow.handle)
        self.send_counted(layer, many[0], [10], many[0].header_size)
        chunk = max(1, self.ring_capacity // (2 * kind.record.max_size))  # one processor's ring: no drop
        got: list[Any] = []
        for start in range(0, len(many), chunk):
            for flow in many[start:start + chunk]:
                self.end_flow(flow)
            got += self.read_flow_records()[0]
        expect(len(got) == flows_model.max_contexts, f"{len(got)} flow records for {flows_model.max_contexts} "
               "flows with a context")
        self.expect_no_flow_contexts()
        details.append(f"{flows_model.max_contexts} contexts for {len(many)} flows: 2 counted, their packets apart")

        # 4. Flows end on this thread while two others count the packets of each of them at once: no packet is
        # lost or counted twice.
        count, repeat = (60, 3) if self.variant == "tsan" else (200, 6)
        racing = [AccountedFlow.make(kind, 5000 + n, rng, 0) for n in range(count)]
        for flow in racing:
            self.open_flow(kind, flow)
        layer_id = self.layer_id(layer)
        errors: list[str] = []
        length = 100

        def count_half(half: int) -> None:
            try:
                self.on_processor(half)
                for flow in racing:
                    slots, metadata = self.inputs(layer, {**fixed_size_values(self.model, layer),
                                                          **({layer.record.attribution.name: 2}
                                                             if layer.record.attribution else {})})
                    metadata = dataclasses.replace(metadata, flow_handle=flow.handle, net_buffers=(length,),
                                                   transport_header_size=0)
                    self.driver.classify_repeat(layer_id, slots, metadata, repeat)
            except Exception as exc:  # noqa: BLE001 - reported by the step
                errors.append(f"{type(exc).__name__}: {exc}")

        matches = traffic.matches(layer, fixed_size_values(self.model, layer))
        mark = self.counter64("PacketsUnaccounted")
        workers = [threading.Thread(target=count_half, args=(half,)) for half in (0, 1)]
        for worker in workers:
            worker.start()
        for flow in reversed(racing):
            self.end_flow(flow)
        for worker in workers:
            worker.join()
        expect(not errors, "; ".join(errors))
        raced, _ = self.read_flow_records()
        direction = "in" if layer.inbound else "out"
        counted = sum(int(r.values.get(f"packets_{direction}") or 0) for r in raced)
        counted_bytes = sum(int(r.values.get(f"bytes_{direction}") or 0) for r in raced)
        late = self.counter64("PacketsUnaccounted") - mark
        sent = 2 * count * repeat if matches else 0
        expect(len(raced) == count, f"{len(raced)} flow records for {count} flows")
        expect(counted + late == sent, f"{counted} packets counted in flows + {late} after their flow ended != "
               f"{sent} sent")
        expect(counted_bytes == counted * length, f"{counted_bytes} bytes for {counted} packets of {length}")
        unaccounted += late
        self.expect_no_flow_contexts()
        details.append(f"{count} flows ended while 2 threads sent {sent} packets of each: {counted} counted, {late} "
                       "after their flow ended, none lost")

        got_unaccounted = self.counter64("PacketsUnaccounted") - unaccounted_before
        expect(got_unaccounted == unaccounted, f"{got_unaccounted} packets counted unaccounted, expected "
               f"{unaccounted}")
        got_unknown = self.counter64("PacketBytesUnknown") - unknown_before
        expect(got_unknown == unknown, f"{got_unknown} packets without a header size, expected {unknown}")

        # 5. Flows still open at unload: their contexts are removed, and nothing is reported.
        for n in range(3):
            flow = AccountedFlow.make(kind, 9000 + n, rng, 0)
            self.open_flow(kind, flow)
            assert flow.handle is not None
            self.live_flows.append(flow.handle)
        return "; ".join(details) + f"; {unaccounted} packets without a flow context counted apart, exactly"

    def clock(self) -> int:
        """The simulated system time (FILETIME), as the driver's records carry it."""
        return self.driver.system_time()

    def last_sequences(self, layer: LayerModel, values: dict[str, object | None]) -> list[int]:
        """The sequence number each ring is at: one event on each, read back."""
        for ring in range(self.rings):
            self.on_processor(ring)
            self.classify(layer, values)
        self.on_processor(0)
        records = self.decode(self.read())
        last = {r.processor: r.sequence for r in records}
        expect(sorted(last) == list(range(self.rings)), f"one event per ring came back from rings {sorted(last)}")
        return [last[r] for r in range(self.rings)]

    def lock_holds(self) -> str:
        """Fill every ring, then READ it all at once: READ takes a ring lock at least once per slice,
        and no hold copies more than a slice (or one record, when a record is larger), in bytes
        counted by the host runtime's RtlCopyMemory. How long the holds last is reported, for
        LOCK_HOLD_ROUNDS rounds, not enforced: on a shared host any one hold may be stretched by an
        interrupt or a neighbour, so durations belong to bench/lock_hold_bench.py."""
        rounds = self.lock_hold_rounds(LOCK_HOLD_ROUNDS)
        holds = rounds[-1]
        timing = (f"longest hold per round {', '.join(f'{r.longest_ns / 1000:.1f}' for r in rounds)} us "
                  f"({holds.context}; reported, not enforced)")
        return (f"READ of {self.rings} full rings: {holds.holds} lock holds, each copying at most "
                f"{max(r.most_bytes for r in rounds)} of the {self.model.channel.slice_bytes} bytes a slice allows; "
                f"{timing}")

    def lock_hold_rounds(self, rounds: int) -> list[LockHolds]:
        """``rounds`` times: fill every ring with fixed-size records of the first emitting layer,
        READ them all at once, and check the READ's lock holds; each round's holds."""
        layer = self.emitting[0]
        values = fixed_size_values(self.model, layer)
        size = record_size(self.model, layer, values)
        slots, metadata = self.inputs(layer, values)
        layer_id = self.layer_id(layer)
        fits = self.ring_capacity // size
        total = self.rings * fits * size
        slice_bytes = self.model.channel.slice_bytes
        bound = max(slice_bytes, self.model.max_record_size)
        per_ring = -(-fits * size // slice_bytes)  # the slices one full ring takes
        acquire = "KeAcquireInStackQueuedSpinLock"
        measured: list[LockHolds] = []
        for _ in range(rounds):
            for ring in range(self.rings):
                self.on_processor(ring)
                self.driver.classify_repeat(layer_id, slots, metadata, fits)
            self.on_processor(0)
            before = self.driver.call_counts().get(acquire, 0)
            self.driver.reset_lock_holds()
            records = self.decode(self.read(), keep=False)
            holds = self.driver.lock_holds()
            acquired = self.driver.call_counts().get(acquire, 0) - before
            expect(len(records) == self.rings * fits,
                   f"one READ returned {len(records)} of {self.rings * fits} records")
            expect(0 < holds.most_bytes <= bound,
                   f"READ of {total} bytes copied {holds.most_bytes} bytes in one hold of a ring lock; a hold may "
                   f"copy one slice ({slice_bytes} bytes) or one record when a record is larger")
            expect(acquired >= self.rings * per_ring,
                   f"READ of {total} bytes took ring locks {acquired} times; slices of {slice_bytes} bytes need at "
                   f"least {self.rings * per_ring}")
            measured.append(holds)
        return measured

    def fault_injection(self) -> str:
        self.driver.reset()
        self.driver.set_processor_count(PROCESSORS)
        expect(self.driver.load() == 0, "clean load failed")
        counts = self.driver.call_counts()
        self.driver.unload()
        apis = sorted(api for api, count in counts.items() if count and self.driver.can_fail(api) == 1)
        runs = 0
        tolerated = []
        for api in apis:
            if api == "TraceLoggingRegister":
                tolerated.append(self.etw_registration_refused())
                continue
            for nth in range(1, counts[api] + 1):
                self.driver.reset()
                self.driver.set_processor_count(PROCESSORS)
                self.driver.fail_call(api, nth)
                status = self.driver.load()
                expect(status < 0, f"DriverEntry succeeded although call {nth} of {api} failed")
                violations = self.driver.unload()
                left = self.driver.counters().nonzero()
                problems = ([f"left behind: {left}"] if left else []) + self.driver.violations()[:5]
                expect(not left and violations == 0, f"after {api} #{nth} failed: {'; '.join(problems)}")
                runs += 1
        failing = [api for api in apis if api != "TraceLoggingRegister"]
        return (f"{runs} failing loads ({', '.join(failing)}): each failed cleanly, nothing left"
                + "".join(f"; {text}" for text in tolerated))

    def etw_registration_refused(self) -> str:
        """ETW refusing the provider must not stop the driver: it loads, classifies, feeds its other sinks and
        writes no event; it unloads cleanly."""
        self.driver.reset()
        self.driver.set_processor_count(PROCESSORS)
        self.driver.fail_call("TraceLoggingRegister", 1)
        status = self.driver.load()
        expect(status == 0, f"DriverEntry failed with {status_text(status)} because TraceLoggingRegister failed: "
                            "ETW refusing the provider must not stop the driver")
        layer = self.emitting[0] if self.emitting else self.model.layers[0]
        event = next(e for e in traffic.events(self.model, layer, 16, seed=23) if e.expect_match)
        self.classify_checked(layer, event.values, describe(event.values))
        expect(not self.driver.etw_events(), "ETW events written although the provider was never registered")
        done = "TraceLoggingRegister failing: the driver loads and writes no ETW event"
        if self.ring and layer.emits:
            handle = self.driver.open(self.model.channel.user_path)
            try:
                self.handle = handle
                records = [r for r in self.decode(self.read()) if r.layer not in self.flow_kinds]
            finally:
                self.handle = 0
                self.driver.close(handle)
            expect(len(records) == 1, f"with ETW refused, the ring holds {len(records)} records for 1 event")
            compare(records[0], event, self.model)
            done += ", and its ring still records"
        violations = self.driver.unload()
        left = self.driver.counters().nonzero()
        problems = ([f"left behind: {left}"] if left else []) + self.driver.violations()[:5]
        expect(not left and violations == 0, f"after TraceLoggingRegister failed: {'; '.join(problems)}")
        return done

    def unload(self) -> str:
        if self.handle:
            self.driver.close(self.handle)
            self.handle = 0
        violations = self.driver.unload()
        left = self.driver.counters().nonzero()
        problems = ([f"left after unload: {left}"] if left else []) + self.driver.violations()
        expect(not left and violations == 0, "; ".join(problems))
        return "nothing registered, allocated or pending; no rule violated"

    def pcap(self, path: Path, local: str | None) -> str:
        from wfpgen.checks import pcap as capture

        network = capture.parse_network(local or "10.0.0.0/8")
        hooked = [layer.name for layer in self.model.layers if layer.name in TRANSPORT_LAYERS]
        expect(bool(hooked), "the project hooks no transport layer: nothing in a capture can be replayed")
        read = capture.read_capture(path)
        packets = read.packets
        wanted: list[Event] = []
        processors: list[int] = []  # the processor each wanted record was classified on
        records: list[Any] = []
        logged = len(self.decoded)
        classified: dict[str, int] = {}
        unstored = [0] * self.rings  # records emitted to each ring since the last READ
        flows: dict[tuple[object, ...], AccountedFlow] = {}  # flows.accounting: by 5-tuple, each its own process
        counted = 0  # packets counted into flows
        for packet in packets:
            event = capture.to_event(packet, network)
            layer = next((lay for lay in self.model.layers if event is not None and lay.name == event.layer), None)
            if event is None or layer is None:
                continue
            # Everything the packet tells the layer, recorded or not: conditions may test any of it.
            values: dict[str, object | None] = dict(event.values)
            processor = packet.index % PROCESSORS
            ring = self.ring_of(processor)
            if (unstored[ring] + 1) * self.model.max_record_size > self.ring_capacity:
                records += self.decode(self.read())  # drain before the ring could drop a record
                unstored = [0] * self.rings
            self.on_processor(processor)
            flow, extra, lengths = self.capture_flow(layer, packet, values, flows)
            matched = self.classify_checked(layer, values, f"packet {packet.index}", extra)
            classified[layer.name] = classified.get(layer.name, 0) + 1
            if matched and flow is not None:
                flow.count(layer.inbound, lengths, packet.transport_header)
                counted += 1
                if layer.flow_attributed:  # the record's process is the flow's
                    values = {**values, **flow.attribution(layer)}
            if matched and layer.emits:
                wanted.append(Event(layer, values, True))
                processors.append(processor)
                unstored[ring] += 1
        self.on_processor(0)
        if any(unstored):
            records += self.decode(self.read())
        records = [r for r in records if r.layer not in self.flow_kinds]
        expect(len(records) == len(wanted), f"decoded {len(records)} records for {len(wanted)} matching packets")
        records = self.in_sent_order(records, processors)
        self.decoded[logged:] = [r.to_json() for r in records]  # the log in capture order
        flow_summary = self.compare_capture_flows(path, network, flows, counted) if flows else ""
        for record, wanted_event in zip(records, wanted):
            compare(record, wanted_event, self.model)
        layers = {layer.name: layer for layer in self.model.layers}
        reference = []  # dpkt's reading, filtered by the same layers and conditions
        for seen in dpkt_events(path, network):
            layer = layers.get(seen[0])
            if layer is not None and layer.emits and traffic.matches(layer, flow_values(seen)):
                reference.append(project_flow(seen, layer))
        decoded = [record_tuple(r, layers[r.layer]) for r in records]
        if decoded != reference:
            index = next((i for i, (a, b) in enumerate(zip(decoded, reference)) if a != b),
                         min(len(decoded), len(reference)))
            raise Failure(f"reader and dpkt disagree: {len(decoded)} records, {len(reference)} dpkt flows; first "
                          f"difference at {index}: reader {decoded[index] if index < len(decoded) else None}, "
                          f"dpkt {reference[index] if index < len(reference) else None}")
        per_layer = ", ".join(f"{count} at {name}" for name, count in classified.items())
        return (f"{len(packets)} TCP/UDP/ICMP packets in the capture; {sum(classified.values())} with a local end "
                f"at a hooked layer classified ({per_layer or 'none'}); {len(records)} matched, decoded and equal "
                f"to dpkt's reading{flow_summary}; {read.format}, {read.frames} frames, skipped: {read.skipped_text()}")

    def capture_flow(self, layer: LayerModel, packet: Any, values: dict[str, object | None],
                     flows: dict[tuple[object, ...], AccountedFlow]
                     ) -> tuple[AccountedFlow | None, dict[str, Any] | None, list[int]]:
        """flows.accounting: the flow of a captured TCP or UDP packet (established, with a process of its
        own, at its first packet), the metadata that carries it and its NET_BUFFER lengths as WFP
        gives them at ``layer``; (None, None, []) for a packet no flow counts."""
        if not layer.accounted or packet.payload is None:
            return None, None, []
        kind = next(k for k in self.model.flow_kinds if k.ip_version == layer.ip_version)
        key = (layer.ip_version, *(str(values[name]) for name in FLOW_FIELDS))
        flow = flows.get(key)
        if flow is None:
            number = len(flows)
            path = f"\\device\\harddiskvolume3\\capture\\process{number}.exe\0".encode("utf-16-le")
            five = {name: values[name] for name in FLOW_FIELDS}
            five["direction"] = 1 if layer.inbound else 0  # the flow is established by its first packet
            flow = AccountedFlow(five, 20000 + number, path, packet.transport_header)
            self.open_flow(kind, flow)
            flows[key] = flow
        lengths = [packet.payload] if layer.inbound else [packet.transport_header + packet.payload]
        extra = {"flow_handle": flow.handle, "net_buffers": tuple(lengths),
                 "transport_header_size": None if layer.inbound else packet.transport_header}
        return flow, extra, lengths

    def compare_capture_flows(self, path: Path, network: Any, flows: dict[tuple[object, ...], AccountedFlow],
                              counted: int) -> str:
        """End every flow of the capture: their records' packets and payload bytes per direction must equal
        dpkt's count over the same capture, exactly."""
        kind_size = max(kind.record.max_size for kind in self.model.flow_kinds)
        chunk = max(1, self.ring_capacity // (2 * kind_size))
        got: list[Any] = []
        ended = list(flows.values())
        for start in range(0, len(ended), chunk):
            for flow in ended[start:start + chunk]:
                self.end_flow(flow)
            got += self.read_flow_records()[0]
        reference = {key: counts for key, counts in dpkt_flow_totals(path, network).items() if key in flows}
        decoded: dict[tuple[object, ...], list[int]] = {}
        for record in got:
            text = record.decoded()
            key = (int(record.layer[-1]), *(str(text[name]) for name in FLOW_FIELDS))
            counts = decoded.setdefault(key, [0, 0, 0, 0])
            for index, name in enumerate(("packets_in", "packets_out", "bytes_in", "bytes_out")):
                counts[index] += int(record.values[name])
        expect(len(got) == len(flows), f"{len(got)} flow records for {len(flows)} flows")
        expect(set(decoded) == set(flows), "flow records for other 5-tuples than the capture's flows")
        for key in sorted(flows, key=str):
            expect(decoded.get(key) == reference.get(key),
                   f"flow {key}: decoded packets in/out, bytes in/out {decoded.get(key)}, dpkt counts "
                   f"{reference.get(key)}")
        ratio = counted / len(got) if got else 0.0
        return (f"; {len(flows)} flows: their records' packets and payload bytes each way equal dpkt's count "
                f"exactly; {counted} packets became {len(got)} flow records ({ratio:.1f} packets per record)")

    @staticmethod
    def fail(message: str) -> str:
        raise Failure(message)

    def write_output(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "decoded.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(record) + "\n" for record in self.decoded)
        (self.out / "calls.log").write_text("\n".join(self.driver.call_log()) + "\n", encoding="utf-8")


# -- expectations -----------------------------------------------------------------------------------

def _raw(value_type: str, value: object) -> int | bytes:
    if value_type == "byteArray16":
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return int(value).to_bytes(16, "big") if isinstance(value, int) else ipaddress.IPv6Address(value).packed
    if value_type in ("byteBlob", "sid"):
        assert isinstance(value, (bytes, bytearray))
        return bytes(value)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return int(value)
    assert isinstance(value, int)
    return value


@dataclasses.dataclass
class AccountedFlow:
    """A flow of the accounting step: its 5-tuple and process, and what the driver must have counted."""

    five_tuple: dict[str, object]
    process_id: int
    process_path: bytes | None
    header_size: int  # its transport header: TCP 20, UDP 8
    handle: int | None = None
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    @classmethod
    def make(cls, kind: FlowRecordKind, number: int, rng: random.Random, max_blob: int) -> AccountedFlow:
        """Flow ``number`` of ``kind``'s IP version: TCP or UDP, either direction, its own process; a long path
        (cut to ``max_blob``) for some, none for others; ``max_blob`` 0: no path."""
        protocol = (6, 17)[number % 2]
        if kind.ip_version == 4:
            local: object = ipaddress.IPv4Address(0x0A000000 + 1 + number % 200)
            remote: object = ipaddress.IPv4Address(0xC6336400 + rng.randrange(1, 255))
        else:
            local = ipaddress.IPv6Address(0x20010DB8 << 96 | (number + 1))
            remote = ipaddress.IPv6Address(0x2606470000000000 << 64 | rng.randrange(1, 1 << 32))
        five = {"ip_protocol": protocol, "ip_local_address": local, "ip_local_port": 49152 + number % 16000,
                "ip_remote_address": remote, "ip_remote_port": rng.choice((53, 80, 443, 8443)),
                "direction": number % 2}
        path = None
        if max_blob and number % 7 != 3:
            name = "x" * (max_blob // 2 + 10) if number % 7 == 5 else f"app{number}"
            path = f"\\device\\harddiskvolume3\\apps\\{name}.exe\0".encode("utf-16-le")
        return cls(five, 4000 + number, path, 20 if protocol == 6 else 8)

    def count(self, inbound: bool, lengths: Sequence[int], header: int | None) -> None:
        """What the driver counts for one packet of this flow."""
        if inbound:
            self.packets_in += len(lengths)
            self.bytes_in += sum(lengths)
        else:
            self.packets_out += len(lengths)
            self.bytes_out += 0 if header is None else sum(max(0, n - header) for n in lengths)

    def attribution(self, layer: LayerModel) -> dict[str, object | None]:
        """What a packet record of an attributed ``layer`` shows of this flow: its process."""
        assert layer.record.attribution is not None
        shown: dict[str, object | None] = {layer.record.attribution.name: 0}
        for item in layer.record.flow_scalars + layer.record.flow_blobs:
            shown[item.name] = self.process_id if item.name == "process_id" else self.process_path
        return shown

    def take(self) -> AccountedFlow:
        """The counts so far (what an interval record reports), and this flow's counts zeroed."""
        taken = dataclasses.replace(self)
        self.packets_in = self.packets_out = self.bytes_in = self.bytes_out = 0
        return taken

    def expected(self) -> dict[str, object | None]:
        """The flow record's values (end_reason: ended; the timestamps are checked apart)."""
        return {**self.five_tuple, "process_id": self.process_id, "process_path": self.process_path,
                "packets_in": self.packets_in, "packets_out": self.packets_out, "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out, "end_reason": 0}


def expected_rings(model: ProjectModel) -> int:
    """How many rings the driver keeps on the simulated machine: one per processor, as many as the
    capacity holds rings of two of the largest records."""
    return max(1, min(PROCESSORS, model.channel.capacity // (2 * model.max_record_size)))


def describe(values: dict[str, object | None]) -> str:
    """An event's values for a failure message: a UTF-16 path as its text, other blobs by size."""
    parts = []
    for name, value in values.items():
        if isinstance(value, (bytes, bytearray)):
            text = _utf16_text(bytes(value))
            value = text if text is not None else f"<{len(value)} bytes>"
        elif isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            value = str(value)
        if isinstance(value, str) and not value.startswith("<"):
            value = f"'{value}'" if value.isprintable() else ascii(value)
        parts.append(f"{name}={value}")
    return "{" + ", ".join(parts) + "}"


def _utf16_text(data: bytes) -> str | None:
    """A NUL-terminated UTF-16LE path as text (``... (no NUL)`` without its terminator), else None."""
    if len(data) < 2 or len(data) % 2 or not data.startswith(b"\\\x00"):
        return None
    try:
        text = data.decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    return text[:-1] if text.endswith("\x00") else f"{text} (no NUL)"


def expected_raw(item: RecordItem, value: object | None, max_blob: int) -> object | None:
    """What the reader's raw value for ``item`` must be after the driver recorded ``value``."""
    if value is None:
        return None
    if item.is_blob:
        assert isinstance(value, (bytes, bytearray))
        return bytes(value)[:max_blob]
    if item.struct_format == "16s":
        return _raw("byteArray16", value)
    return _raw("uint64", value)


def compare(record: Any, event: Event, model: ProjectModel) -> None:
    """Every value of ``record`` equals what ``event`` sent (absent stays absent)."""
    layer = event.layer
    expect(record.layer == layer.name, f"record of layer {record.layer}, expected {layer.name}")
    # flow_attribution first: where the process data came from explains the process values.
    for item in sorted(layer.record.items, key=lambda i: i.source != "attribution"):
        got = record.values.get(item.name)
        if item.name == "current_process_id":
            expect(got is not None, "current_process_id absent")
            continue
        sent = event.values.get(item.name)
        wanted = expected_raw(item, sent, model.max_blob)
        if item.source == "attribution" and got != wanted:
            names: dict[object, str] = dict(enumerate(ATTRIBUTION_NAMES))
            hint = (": the flow was established, but this layer's classifyFn got no flowContext (the context "
                    "was not associated with this layer's callout)") if wanted == 0 else ""
            expect(False, f"{layer.name}.{item.name}: decoded {names.get(got, got)}, expected "
                          f"{names.get(wanted, wanted)}{hint}")
        expect(got == wanted, f"{layer.name}.{item.name}: decoded {got!r}, sent {sent!r}")
        if item.is_blob and sent is not None:
            assert isinstance(sent, (bytes, bytearray))
            expect((item.name in record.truncated) == (len(sent) > model.max_blob),
                   f"{item.name}: truncation flag wrong for {len(sent)} bytes")


TLG_IN = {"TlgInUINT8": 4, "TlgInUINT16": 6, "TlgInUINT32": 8, "TlgInUINT64": 10, "TlgInBINARY": 14,
          "TlgInFILETIME": 17, "TlgInSID": 19, "TlgInHEXINT32": 20, "TlgInHEXINT64": 21, "TlgInCOUNTEDSTRING": 22}
TLG_OUT = {"TlgOutNULL": 0, "TlgOutHEX": 4, "TlgOutPORT": 7, "TlgOutIPV4": 8, "TlgOutIPV6": 9,
           "TlgOutDATETIME_UTC": 38}
_C_SIZES = {"UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8}
NO_SID = bytes([1, 0, 0, 0, 0, 0, 0, 0])  # the etw sink's stand-in for an absent SID


def expected_etw_bytes(item: RecordItem, value: object | None, max_blob: int) -> bytes | None:
    """The bytes the etw sink's field for ``item`` must hold after the driver recorded ``value``; None where
    any value will do (current_process_id)."""
    if item.name == "current_process_id":
        return None
    if item.is_blob:
        if value is None:
            return NO_SID if item.display == "sid" else b""
        assert isinstance(value, (bytes, bytearray))
        data = bytes(value)
        if item.display == "sid":
            return data[:8 + 4 * data[1]]  # TraceLoggingSid sends the SID's own length, whole
        data = data[:max_blob]
        if item.display == "utf16":
            data = data[:len(data) // 2 * 2]
            if data.endswith(b"\0\0"):
                data = data[:-2]  # the terminating NUL is not part of the text
        return data
    if item.array_length:
        return bytes(item.array_length) if value is None else bytes(_raw("byteArray16", value))
    size = _C_SIZES[item.c_type]
    number = 0 if value is None else int(_raw("uint64", value))
    order: Literal["big", "little"] = "big" if item.display in ("ipv4", "port") else "little"  # network order
    return number.to_bytes(size, order)


def etw_number(event: EtwEvent, name: str) -> int | None:
    """Field ``name`` of ``event`` as a little-endian unsigned number; None if the event lacks it."""
    field = event.field(name)
    return int.from_bytes(field.data, "little") if field is not None else None


def compare_etw(got: Any, event: Event, model: ProjectModel) -> None:
    """The ETW event ``got`` is the etw sink's event for ``event``: name, level, keyword, and every field."""
    assert model.etw is not None
    layer = event.layer
    spec = next(e for e in model.etw.events if e.index == layer.index)
    where = f"ETW event {got.name}"
    expect(got.provider == model.etw.provider_name, f"{where}: provider {got.provider!r}")
    expect(got.name == spec.name, f"ETW event {got.name!r}, expected {spec.name!r}")
    expect(got.level == model.etw.level, f"{where}: level {got.level}, expected {model.etw.level}")
    expect(got.keyword == spec.keyword, f"{where}: keyword 0x{got.keyword:x}, expected 0x{spec.keyword:x}")
    present = truncated = 0
    for item in layer.record.items:
        sent = event.values.get(item.name)
        if sent is not None or item.name == "current_process_id":
            present |= 1 << item.bit
        if item.is_blob and item.display != "sid" and isinstance(sent, (bytes, bytearray)) and len(sent) > model.max_blob:
            truncated |= 1 << item.bit
    wanted_names = ["present"] + (["truncated"] if spec.has_blobs else []) + [f.name for f in spec.fields]
    expect([f.name for f in got.fields] == wanted_names, f"{where}: fields {[f.name for f in got.fields]}, expected "
                                                         f"{wanted_names}")
    expect(got.field("present").data == present.to_bytes(4, "little"),
           f"{where}.present: 0x{int.from_bytes(got.field('present').data, 'little'):x}, expected 0x{present:x}")
    if spec.has_blobs:
        expect(got.field("truncated").data == truncated.to_bytes(4, "little"), f"{where}.truncated wrong")
    for item, field in zip(layer.record.items, spec.fields):
        written = got.field(field.name)
        expect((written.in_type, written.out_type) == (TLG_IN[field.in_type], TLG_OUT[field.out_type]),
               f"{where}.{field.name}: TraceLogging types {written.in_type}/{written.out_type}, expected "
               f"{field.in_type}/{field.out_type}")
        wanted = expected_etw_bytes(item, event.values.get(item.name), model.max_blob)
        if wanted is not None:
            expect(written.data == wanted, f"{where}.{field.name}: bytes {written.data.hex()}, expected "
                                           f"{wanted.hex()} (sent {event.values.get(item.name)!r})")


def fixed_size_values(model: ProjectModel, layer: LayerModel) -> dict[str, object | None]:
    """Values that match the layer's filter and give every record the same small size.

    Blobs become 8 bytes (a SID its smallest valid form), except those the filter tests: an
    application id a condition names keeps the value that matches it.
    """
    events = list(traffic.events(model, layer, 16, seed=3))
    values = dict(next((e.values for e in events if e.expect_match), events[0].values))
    filtered = traffic.filtered_fields(layer)
    for item in layer.record.items:
        if item.is_blob and item.name not in filtered:
            values[item.name] = bytes(8) if item.display != "sid" else bytes([1, 1, 0, 0, 0, 0, 0, 5, 7, 0, 0, 0])
    return values


def record_size(model: ProjectModel, layer: LayerModel, values: dict[str, object | None]) -> int:
    tail = sum(min(len(v), model.max_blob) for i in layer.record.items if i.is_blob
               for v in [values.get(i.name)] if isinstance(v, (bytes, bytearray)))
    size = layer.record.size + tail
    return size + (-size) % model.record_alignment


def _dbg_value(item: RecordItem, value: object | None) -> str:
    if value is None:
        return "-"
    if item.is_blob:
        assert isinstance(value, (bytes, bytearray))
        return f"<{len(value)} bytes>"
    number = _raw("byteArray16" if item.struct_format == "16s" else "uint64", value)
    if item.display == "ipv4":
        assert isinstance(number, int)
        return ".".join(str((number >> s) & 0xFF) for s in (24, 16, 8, 0))
    if item.display == "ipv6":
        assert isinstance(number, bytes)
        return ":".join(f"{(number[i] << 8) | number[i + 1]:x}" for i in range(0, 16, 2))
    if item.display == "protocol":
        assert isinstance(number, int)
        return {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}.get(number, str(number))
    assert isinstance(number, int)
    if item.display in ("hex", "flags"):
        return f"0x{number:x}"
    return str(number)


#: Characters of a dbgprint line before its newline: DbgPrintEx transmits 512 bytes, NUL included.
DBGPRINT_LINE_TEXT = 510


def dbgprint_line(model: ProjectModel, event: Event) -> str:
    """The line the dbgprint sink must print for ``event`` (mirrors the C formatter)."""
    layer = event.layer
    by_bit = {item.bit: item for item in layer.record.items}

    def show(bit: int) -> str:
        if bit < 0:
            return "-"
        item = by_bit[bit]
        if item.name == "current_process_id":
            return PID_PLACEHOLDER
        return _dbg_value(item, event.values.get(item.name))

    def endpoint(address: int, port: int) -> str:
        text = show(address)
        if address >= 0 and port >= 0 and by_bit[address].display == "ipv6":
            text = f"[{text}]"
        return text + (f":{show(port)}" if port >= 0 else "")

    line = layer.line
    head = (f"[{model.name}] [{show(line.pid)}] {endpoint(line.local_address, line.local_port)} {line.arrow} "
            f"{endpoint(line.remote_address, line.remote_port)}")
    parts = [head]
    parts += [f" {by_bit[bit].name}={show(bit)}" for bit in line.extras]
    return "".join(parts)[:DBGPRINT_LINE_TEXT]


Flow = tuple[str, int, str, int, str, int]
#: The transport layers a capture replays through, and the fields a flow carries.
TRANSPORT_LAYERS = ("inbound_transport_v4", "outbound_transport_v4", "inbound_transport_v6", "outbound_transport_v6")
FLOW_FIELDS = ("ip_protocol", "ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port")


def _recorded(layer: LayerModel) -> set[str]:
    return {item.name for item in layer.record.items}


def record_tuple(record: Any, layer: LayerModel) -> tuple[object, ...]:
    """(layer, then each flow field the layer records, as text) of a decoded record."""
    values = record.decoded()
    recorded = _recorded(layer)
    return (record.layer, *(str(values.get(name)) if name in recorded else None for name in FLOW_FIELDS))


def project_flow(flow: Flow, layer: LayerModel) -> tuple[object, ...]:
    """A dpkt flow as :func:`record_tuple` shows it: the fields the layer does not record left out."""
    recorded = _recorded(layer)
    return (flow[0], *(str(value) if name in recorded else None for name, value in zip(FLOW_FIELDS, flow[1:])))


def flow_values(flow: Flow) -> dict[str, object | None]:
    """A dpkt flow as classify values, for the condition oracle."""
    return {"ip_protocol": flow[1], "ip_local_address": ipaddress.ip_address(flow[2]), "ip_local_port": flow[3],
            "ip_remote_address": ipaddress.ip_address(flow[4]), "ip_remote_port": flow[5]}


def _dpkt_fcs(fcs: int, frame: bytes, original: int) -> bytes:
    """``frame`` without the part of its ``fcs``-byte frame check sequence that was captured."""
    kept = max(0, min(fcs - (max(original, len(frame)) - len(frame)), len(frame))) if fcs else 0
    return frame[:len(frame) - kept]


def _dpkt_pcap_frames(dpkt: Any, data: bytes) -> Iterator[tuple[int, bytes]]:
    """(link type, frame) of a classic pcap file, through dpkt's file and record headers."""
    pcap = dpkt.pcap
    magic = pcap.FileHdr(data[:24]).magic  # (read big-endian: a little-endian file shows a swapped magic)
    little = magic in (pcap.PMUDPCT_MAGIC, pcap.PMUDPCT_MAGIC_NANO, pcap.PACPDOM_MAGIC)
    header = (pcap.LEFileHdr if little else pcap.FileHdr)(data[:24])
    record = pcap.MAGIC_TO_PKT_HDR[magic]
    field = header.linktype  # the upper bits may announce an FCS: its length in 16-bit words
    fcs = 2 * (field >> 28) if field & 0x04000000 else 0
    offset = 24
    while offset + record.__hdr_len__ <= len(data):
        head = record(data[offset:offset + record.__hdr_len__])
        start = offset + record.__hdr_len__
        yield field & 0xFFFF, _dpkt_fcs(fcs, data[start:start + head.caplen], head.len)
        offset = start + head.caplen


def _dpkt_pcapng_frames(dpkt: Any, data: bytes) -> Iterator[tuple[int, bytes]]:
    """(link type, frame) of a pcapng file, through dpkt's block classes, interface by interface."""
    ng = dpkt.pcapng
    offset, little = 0, True
    interfaces: list[tuple[int, int, int]] = []  # (link type, snap length, FCS bytes)
    while offset + 12 <= len(data):
        if data[offset:offset + 4] == b"\x0a\x0d\x0d\x0a":
            little = struct.unpack_from("<I", data, offset + 8)[0] == ng.BYTE_ORDER_MAGIC
            interfaces = []
        kind, length = struct.unpack_from("<II" if little else ">II", data, offset)
        block = data[offset:offset + length]
        if kind == ng.PCAPNG_BT_IDB:
            idb = (ng.InterfaceDescriptionBlockLE if little else ng.InterfaceDescriptionBlock)(block)
            fcslen = next((o.data[0] for o in idb.opts if o.code == ng.PCAPNG_OPT_IF_FCSLEN and o.data), 0)
            interfaces.append((idb.linktype, idb.snaplen, fcslen // 8 if fcslen >= 8 and fcslen % 8 == 0 else fcslen))
        elif kind in (ng.PCAPNG_BT_EPB, ng.PCAPNG_BT_PB):
            cls = {ng.PCAPNG_BT_EPB: (ng.EnhancedPacketBlockLE, ng.EnhancedPacketBlock),
                   ng.PCAPNG_BT_PB: (ng.PacketBlockLE, ng.PacketBlock)}[kind][0 if little else 1]
            packet = cls(block)
            linktype, _, fcs = interfaces[packet.iface_id]
            for option in packet.opts if kind == ng.PCAPNG_BT_EPB else ():
                if option.code == 2 and len(option.data) == 4:  # epb_flags: bits 5-8, the FCS length
                    fcs = (struct.unpack("<I" if little else ">I", option.data)[0] >> 5) & 0xF or fcs
            yield linktype, _dpkt_fcs(fcs, packet.pkt_data, packet.pkt_len)
        elif kind == ng.PCAPNG_BT_SPB:  # no dpkt class: the original length, then the data
            original = struct.unpack_from("<I" if little else ">I", block, 8)[0]
            linktype, snaplen, fcs = interfaces[0]
            frame = block[12:12 + min(original, snaplen or original, length - 16)]
            yield linktype, _dpkt_fcs(fcs, frame, original)
        offset += length


def _dpkt_ip(dpkt: Any, linktype: int, frame: bytes) -> Any:
    """The IP packet of one frame as dpkt reads it (None if there is none)."""
    if linktype == dpkt.pcap.DLT_EN10MB:
        ethernet = dpkt.ethernet.Ethernet(frame)
        return _dpkt_mpls(dpkt, ethernet.data, frame) if getattr(ethernet, "mpls_labels", None) else ethernet.data
    if linktype == 113:  # LINKTYPE_LINUX_SLL
        return dpkt.sll.SLL(frame).data
    if linktype == 276:  # LINKTYPE_LINUX_SLL2
        return dpkt.sll2.SLL2(frame).data
    if linktype in (0, 108):  # BSD loopback (host byte order), OpenBSD loopback (network byte order)
        families = {int.from_bytes(frame[:4], "big")} | ({int.from_bytes(frame[:4], "little")} if linktype == 0
                                                         else set())
        if families & {2}:
            return dpkt.ip.IP(frame[4:])
        return dpkt.ip6.IP6(frame[4:]) if families & {24, 28, 30} else None
    if linktype in (101, 228, 229, dpkt.pcap.DLT_RAW):  # raw IP (DLT_RAW is 12 or 14 by platform)
        version = frame[0] >> 4 if frame else 0
        return dpkt.ip.IP(frame) if version == 4 else dpkt.ip6.IP6(frame) if version == 6 else None
    return None  # a link type the capture reader skips too


def _dpkt_mpls(dpkt: Any, decoded: Any, frame: bytes) -> Any:
    """dpkt's MPLS payload; it guesses IPv4 only from 0x45, so any other IPv4 header (options) or an
    IPv6 one after a VLAN tag is decoded here from the bytes past dpkt's own label stack."""
    if isinstance(decoded, (dpkt.ip.IP, dpkt.ip6.IP6)):
        return decoded
    ethernet = dpkt.ethernet.Ethernet(frame)
    offset = 14 + 4 * len(getattr(ethernet, "vlan_tags", [])) + 4 * len(ethernet.mpls_labels)
    inner = frame[offset:]
    version = inner[0] >> 4 if inner else 0
    return dpkt.ip.IP(inner) if version == 4 else dpkt.ip6.IP6(inner) if version == 6 else None


def _later_fragment(dpkt: Any, ip: Any) -> bool:
    """Whether dpkt's ``ip`` is a fragment after the first (no transport header in it)."""
    if isinstance(ip, dpkt.ip.IP):
        return bool(ip.offset)
    return any(isinstance(header, dpkt.ip6.IP6FragmentHeader) and header.frag_off
               for header in getattr(ip, "all_extension_headers", []))


def dpkt_events(path: Path, local: Any) -> list[Flow]:
    """The same capture read by dpkt: (layer, protocol, local, local port, remote, remote port)."""
    return [flow for flow, _ in _dpkt_packets(path, local)]


def dpkt_flow_totals(path: Path, local: Any) -> dict[tuple[object, ...], list[int]]:
    """dpkt's count of the capture's TCP and UDP flows: per (version, protocol, local, local port, remote,
    remote port), [packets in, packets out, payload bytes in, payload bytes out]."""
    totals: dict[tuple[object, ...], list[int]] = {}
    for flow, payload in _dpkt_packets(path, local):
        if payload is None:
            continue
        key = (int(flow[0][-1]), *(str(part) for part in flow[1:]))
        counts = totals.setdefault(key, [0, 0, 0, 0])
        outbound = flow[0].startswith("outbound")
        counts[outbound] += 1
        counts[2 + outbound] += payload
    return totals


def _dpkt_packets(path: Path, local: Any) -> Iterator[tuple[Flow, int | None]]:
    """Each packet with a local end as dpkt reads it, and its TCP or UDP payload length (None: no
    complete TCP or UDP header)."""
    import dpkt  # type: ignore[import-untyped]  # the independent decoder

    data = path.read_bytes()
    frames = _dpkt_pcapng_frames(dpkt, data) if data[:4] == b"\x0a\x0d\x0d\x0a" else _dpkt_pcap_frames(dpkt, data)
    for linktype, frame in frames:
        try:
            ip = _dpkt_ip(dpkt, linktype, frame)
        except (dpkt.UnpackError, IndexError):  # a frame too short for its headers
            continue
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            continue
        transport, protocol = ip.data, ip.p  # (for IPv6, p is past the extension headers)
        payload = None
        if isinstance(transport, (dpkt.tcp.TCP, dpkt.udp.UDP)):
            ports = (transport.sport, transport.dport)
            payload = len(transport.data)
        elif isinstance(transport, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
            ports = (transport.type, transport.code)
        elif (isinstance(transport, bytes) and protocol in (6, 17) and len(transport) >= 4
              and not _later_fragment(dpkt, ip)):
            ports = struct.unpack("!HH", transport[:4])  # a header cut short by the snap length
        else:
            continue
        source, destination = ipaddress.ip_address(ip.src), ipaddress.ip_address(ip.dst)
        version = 4 if isinstance(ip, dpkt.ip.IP) else 6
        if source in local:
            direction, near, far = "outbound", (source, ports[0]), (destination, ports[1])
        elif destination in local:
            direction, near, far = "inbound", (destination, ports[1]), (source, ports[0])
        else:
            continue
        if protocol in (1, 58):  # ICMP_TYPE is IP_LOCAL_PORT, ICMP_CODE IP_REMOTE_PORT, either way
            near, far = (near[0], ports[0]), (far[0], ports[1])
        yield (f"{direction}_transport_v{version}", protocol, str(near[0]), near[1], str(far[0]), far[1]), payload


def main(argv: Sequence[str] | None = None) -> int:
    """Run every step; exit 0 when all passed."""
    parser = argparse.ArgumentParser(description="host-simulation scenario for a generated driver")
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", default="plain")
    parser.add_argument("--pcap", type=Path)
    parser.add_argument("--local")
    args = parser.parse_args(argv)
    scenario = Scenario(args.library, args.project, args.out, args.variant)
    scenario.step("load and register", scenario.load)
    scenario.step("registered objects match the spec", scenario.registered_filters)
    if scenario.ring:
        scenario.step("device: GET_INFO and bad requests", scenario.device_info)
    scenario.step("synthetic traffic on every layer", scenario.traffic_and_decode)
    if scenario.ring:
        if scenario.emitting:  # else every record is a flow record: the accounting step reads them
            scenario.step("short value arrays", scenario.short_values)
            scenario.step("pended, cancelled and cleaned-up reads", scenario.pended_read)
            scenario.step("ring overflow: drops counted exactly", scenario.overflow)
            scenario.step("concurrent classify and draining reader", scenario.concurrency)
            scenario.step("READ holds ring locks for one slice at most", scenario.lock_holds)
        flows = scenario.model.flows
        if flows is not None and flows.attribution:
            scenario.step("flow contexts: limit, refused association, flows ending mid-classify", scenario.flows)
        if flows is not None and flows.accounting:
            scenario.step("flow accounting: counts per direction, intervals, limit, flows ending mid-classify",
                          scenario.accounting)
        if args.pcap is not None:
            scenario.step(f"capture {args.pcap.name} versus dpkt", lambda: scenario.pcap(args.pcap, args.local))
    elif args.pcap is not None:  # not silently ignored
        scenario.step(f"capture {args.pcap.name} versus dpkt", lambda: scenario.fail(
            "--pcap compares decoded records, and the dbgprint sink has none: use a ring-sink project"))
    scenario.step("unload: no leaks, no violations", scenario.unload)
    if args.variant == "plain":
        scenario.step("fail every call DriverEntry makes", scenario.fault_injection)
    scenario.write_output()
    return 1 if scenario.failed else 0


if __name__ == "__main__":
    sys.exit(main())
