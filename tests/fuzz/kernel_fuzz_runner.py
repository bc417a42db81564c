"""Kernel-input and IOCTL fuzzing of one generated driver on the host simulation, in its own process.

    python tests/fuzz/kernel_fuzz_runner.py LIB PROJECT SEED COUNT [kernel|ioctl]

LIB is a library built by ``wfpgen.hostsim.build.build_shared`` from the rendered project
PROJECT (which holds ``wfpgen.yaml`` and ``reader/``). A sanitized LIB must be run with
``wfpgen.hostsim.build.sanitizer_env``: a sanitizer report aborts this process (non-zero exit).
Every failed property is printed with the seed and case number, and the exit code is 1.

kernel: COUNT classifies with random values (short value lists, FWP_EMPTY, wrong FWP_VALUE0
types, NULL and empty blobs, zero-length and huge paths), every combination of metadata
flags (with and without the member), and unknown layer ids; each record READ back through
the device, decoded with the generated reader and compared with what was sent.

ioctl: COUNT random requests: random and known codes, input lengths 0/1/huge, output lengths
0/1/around the minimum/huge, cancelled and duplicate pended READs, and finally reads pended
across unload. Every request completes exactly once with a sensible status.
"""

from __future__ import annotations

import importlib
import random
import struct
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from wfpgen.catalog import load_catalog
from wfpgen.hostsim.binding import (
    DATA_TYPES,
    FWP_BYTE_ARRAY16_TYPE,
    FWP_BYTE_BLOB_TYPE,
    FWP_EMPTY,
    FWP_INT8,
    FWP_INT16,
    FWP_INT32,
    FWP_INT64,
    FWP_SID,
    FWP_UINT8,
    FWP_UINT16,
    FWP_UINT32,
    FWP_UINT64,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_CANCELLED,
    STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_PARAMETER,
    STATUS_NOT_IMPLEMENTED,
    STATUS_PENDING,
    STATUS_SUCCESS,
    HostDriver,
    Metadata,
    Value,
    status_text,
)
from wfpgen.pipeline import model_for
from wfpgen.protocol import (
    BATCH_HEADER_FORMAT,
    FILE_DEVICE_NETWORK,
    FILE_READ_DATA,
    FIRST_FUNCTION,
    INFO_FORMAT,
    LAYER_STATS_FORMAT,
    METHOD_BUFFERED,
    STATS_HEADER_FORMAT,
    ctl_code,
)

GET_INFO, READ, STATS = (
    ctl_code(FILE_DEVICE_NETWORK, FIRST_FUNCTION + i, METHOD_BUFFERED, FILE_READ_DATA) for i in range(3)
)
KNOWN = (GET_INFO, READ, STATS)
BATCH = struct.Struct(BATCH_HEADER_FORMAT)
INFO = struct.Struct(INFO_FORMAT)
STATS_HEADER = struct.Struct(STATS_HEADER_FORMAT)
LAYER_STATS = struct.Struct(LAYER_STATS_FORMAT)
SCALAR_TYPES = [FWP_EMPTY, FWP_UINT8, FWP_UINT16, FWP_UINT32, FWP_UINT64, FWP_INT8, FWP_INT16, FWP_INT32,
                FWP_INT64]
CATALOG_LAYERS = [layer.fwps_layer for layer in load_catalog().layers.values()]
META_FLAGS = {
    "process_id": 0x20,
    "process_path": 0x08,
}


class Failure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def load_reader(project: Path) -> Any:
    packages = sorted((project / "reader").glob("*_reader"))
    check(len(packages) == 1, f"expected one reader package, found {packages}")
    sys.path.insert(0, str(project / "reader"))
    return importlib.import_module(f"{packages[0].name}.decode")


# -- kernel inputs -----------------------------------------------------------------------------


def random_value(rng: random.Random, data_type: str | None, max_blob: int) -> tuple[Value | None, Any, bool]:
    """A value for a field of ``data_type``: (what to send, what the record should hold, truncated)."""
    expected_type = DATA_TYPES.get(data_type or "", -1)
    roll = rng.random()
    if roll < 0.15:
        return None, None, False  # not sent: FWP_EMPTY
    if roll < 0.25:
        return Value(FWP_EMPTY, 0), None, False
    if roll < 0.45:  # a wrong type
        wrong = rng.choice([t for t in SCALAR_TYPES + [FWP_BYTE_BLOB_TYPE, FWP_BYTE_ARRAY16_TYPE, FWP_SID]
                            if t != expected_type])
        if wrong == FWP_BYTE_BLOB_TYPE:
            return Value(wrong, rng.choice([None, b"", b"\x01\x02"])), None, False
        if wrong == FWP_BYTE_ARRAY16_TYPE:
            return Value(wrong, bytes(rng.getrandbits(8) for _ in range(16))), None, False
        if wrong == FWP_SID:
            return Value(wrong, bytes([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])), None, False
        return Value(wrong, rng.getrandbits(64)), None, False
    if expected_type in (FWP_UINT8, FWP_UINT16, FWP_UINT32, FWP_UINT64):
        bits = {FWP_UINT8: 8, FWP_UINT16: 16, FWP_UINT32: 32, FWP_UINT64: 64}[expected_type]
        number = rng.choice([0, (1 << bits) - 1, rng.getrandbits(bits)])
        return Value(expected_type, number), number, False
    if expected_type == FWP_BYTE_ARRAY16_TYPE:
        data = bytes(rng.getrandbits(8) for _ in range(16))
        return Value(expected_type, data), data, False
    if expected_type == FWP_BYTE_BLOB_TYPE:
        return blob(rng, max_blob, FWP_BYTE_BLOB_TYPE)
    return None, None, False


def blob(rng: random.Random, max_blob: int, kind: int) -> tuple[Value | None, Any, bool]:
    roll = rng.random()
    if roll < 0.15:
        return Value(kind, None), b"", False  # NULL data, size 0: present and empty (or absent)
    length = rng.choice([0, 1, 2, max_blob - 1, max_blob, max_blob + 1, max_blob + 2, 4096, 65534,
                         rng.randrange(0, 3 * max_blob)])
    data = bytes(rng.getrandbits(8) for _ in range(min(length, 64))) * (length // 64 + 1)
    data = data[:length]
    return Value(kind, data), data[:max_blob], length > max_blob


def kernel(driver: HostDriver, model: Any, decode: Any, rng: random.Random, count: int) -> bool:
    handle = driver.open("\\\\.\\" + model.name)
    status, _ = driver.ioctl(handle, GET_INFO, b"", INFO.size)
    check(status == STATUS_SUCCESS, f"GET_INFO: {status_text(status)}")
    read_length = BATCH.size + model.ring_capacity
    hooked = {driver.layer_id(layer.fwps_layer): layer for layer in model.layers}
    for case in range(count):
        if rng.random() < 0.1:  # an unknown or unhooked layer id
            layer_id = rng.choice([rng.getrandbits(16), 0xFFFF, 0, max(hooked) + 1,
                                   driver.layer_id(rng.choice(CATALOG_LAYERS))])
            try:
                verdict = driver.classify(layer_id, [], None)
            except RuntimeError:
                continue  # the runtime refuses a layer id WFP does not have
            if layer_id not in hooked:
                check(verdict.callouts_invoked == 0, f"case {case}: layer {layer_id} ran a callout")
                continue
            # a hooked layer, with no values at all: one record, every value absent
            status, data = driver.ioctl(handle, READ, b"", read_length)
            check(status == STATUS_SUCCESS and isinstance(data, bytes), f"case {case}: READ {status_text(status)}")
            assert isinstance(data, bytes)
            records, _ = decode.decode_batch(data)
            check(len(records) == 1 and all(v is None for v in records[0].values.values()),
                  f"case {case}: empty classify recorded {records}")
            continue
        layer = rng.choice(model.layers)
        layer_id = driver.layer_id(layer.fwps_layer)
        values: list[Value | None] = []
        expected: dict[str, Any] = {}
        truncated: set[str] = set()
        field_items = [item for item in layer.record.items if item.source == "field"]
        size = max((item.field_index for item in field_items), default=-1) + 1
        values = [None] * size
        for item in field_items:
            value, want, cut = random_value(rng, item.data_type, model.max_blob)
            values[item.field_index] = value
            expected[item.name] = want
            if cut:
                truncated.add(item.name)
        if rng.random() < 0.3:  # fewer values than the layer reads: the rest arrive as FWP_EMPTY
            keep = rng.randrange(0, size + 1)
            for item in field_items:
                if item.field_index >= keep:
                    expected[item.name] = None
                    truncated.discard(item.name)
            values = values[:keep]
        metadata = None
        meta_items = [item for item in layer.record.items if item.source != "field"]
        if meta_items and rng.random() < 0.8:
            present = 0
            members: dict[str, Any] = {}
            for item in meta_items:
                flag_set = rng.random() < 0.6
                member_set = rng.random() < 0.8
                if item.name == "process_id":
                    pid = rng.getrandbits(64)
                    if member_set:
                        members["process_id"] = pid
                    if flag_set:
                        present |= META_FLAGS["process_id"]
                    expected[item.name] = (pid if member_set else 0) if flag_set else None
                elif item.name == "process_path":
                    sent, want, cut = blob(rng, model.max_blob, FWP_BYTE_BLOB_TYPE)
                    data = sent.value if sent is not None else None
                    if member_set and data is not None:
                        members["process_path"] = data
                    if flag_set:
                        present |= META_FLAGS["process_path"]
                    ok = flag_set and member_set and data is not None
                    expected[item.name] = want if ok else None
                    if ok and cut:
                        truncated.add(item.name)
                else:
                    expected.pop(item.name, None)  # not modelled here: only checked for no crash
            # present == 0 would make the binding derive the mask from the members: use a bit
            # no item reads (FWPS_METADATA_FIELD_COMPARTMENT_ID) to keep "no flag" meaning no flag.
            metadata = Metadata(present=present or 0x800, **members)
        elif meta_items:
            for item in meta_items:
                expected[item.name] = None
        try:
            verdict = driver.classify(layer_id, values, metadata)
        except RuntimeError as exc:
            raise Failure(f"case {case}: classify refused a well-formed call: {exc}") from None
        check(verdict.callouts_invoked == 1, f"case {case}: {verdict}")
        check(not driver.violations(), f"case {case}: violations {driver.violations()}")
        status, data = driver.ioctl(handle, READ, b"", read_length)
        check(status == STATUS_SUCCESS, f"case {case}: READ {status_text(status)}")
        assert isinstance(data, bytes)
        records, end = decode.decode_batch(data)
        check(end == len(data) and len(records) == 1, f"case {case}: {len(records)} records, {end}/{len(data)}")
        record = records[0]
        check(record.layer_index == layer.index, f"case {case}: layer {record.layer_index} != {layer.index}")
        for name, want in expected.items():
            got = record.values[name]
            if want == b"" and got is None:
                continue  # an empty blob may be recorded as absent
            check(got == want, f"case {case}: {layer.name}.{name}: recorded {got!r:.80}, expected {want!r:.80}; "
                  f"sent values {[(v.type, v.value if not isinstance(v.value, bytes) else len(v.value)) if v else None for v in values]}, "
                  f"metadata {metadata!r:.300}")
        check(set(record.truncated) == truncated,
              f"case {case}: truncated {sorted(record.truncated)}, expected {sorted(truncated)}")
    driver.close(handle)
    return False


# -- IOCTLs ------------------------------------------------------------------------------------


def ioctls(driver: HostDriver, model: Any, decode: Any, rng: random.Random, count: int) -> bool:
    """True when it unloaded the driver itself."""
    handle = driver.open("\\\\.\\" + model.name)
    status, info = driver.ioctl(handle, GET_INFO, b"", INFO.size)
    check(status == STATUS_SUCCESS and isinstance(info, bytes), f"GET_INFO: {status_text(status)}")
    assert isinstance(info, bytes)
    max_record = INFO.unpack(info)[5]
    min_read = BATCH.size + max_record
    stats_size = STATS_HEADER.size + len(model.layers) * LAYER_STATS.size
    minimum = {GET_INFO: INFO.size, STATS: stats_size, READ: min_read}
    layer = model.layers[0]
    layer_id = driver.layer_id(layer.fwps_layer)
    pending: list[tuple[int, int]] = []  # (request id, output length)
    completed: set[int] = set()

    def finish(request: int, status: int, data: bytes, length: int, case: int) -> None:
        check(request not in completed, f"case {case}: request {request} completed twice")
        completed.add(request)
        again, _ = driver.wait(request, 0)
        check(again == STATUS_INVALID_PARAMETER, f"case {case}: request {request} still known after completion: "
              f"{status_text(again)}")
        check(status in (STATUS_SUCCESS, STATUS_CANCELLED), f"case {case}: pended READ ended {status_text(status)}")
        check(len(data) <= length, f"case {case}: {len(data)} bytes into a {length}-byte buffer")
        if status == STATUS_SUCCESS:
            decode.decode_batch(data)
        else:
            check(data == b"", f"case {case}: a cancelled READ returned {len(data)} bytes")

    for case in range(count):
        roll = rng.random()
        if roll < 0.15:
            driver.classify(layer_id, [], None)  # one record: completes the oldest pended READ
            if pending:
                request, length = pending.pop(0)
                status, data = driver.wait(request, 2000)
                check(status == STATUS_SUCCESS, f"case {case}: the oldest pended READ ended {status_text(status)}"
                      " after a record arrived")
                finish(request, status, data, length, case)
                check(len(decode.decode_batch(data)[0]) == 1, f"case {case}: not one record")
                for other, _ in pending:
                    check(driver.wait(other, 0)[0] == STATUS_PENDING, f"case {case}: a second READ completed")
            continue
        if roll < 0.25 and pending:
            request, length = rng.choice(pending)
            cancel_status = driver.cancel(request)
            if rng.random() < 0.5:
                driver.cancel(request)  # a duplicate cancel
            status, data = driver.wait(request, 2000)
            check(status != STATUS_PENDING, f"case {case}: cancel ({status_text(cancel_status)}) left it pending")
            finish(request, status, data, length, case)
            pending.remove((request, length))
            check(driver.cancel(request) != STATUS_SUCCESS, f"case {case}: a completed request was cancelled")
            continue
        code = rng.choice([*KNOWN, *KNOWN, rng.getrandbits(32), KNOWN[0] ^ (1 << rng.randrange(32)),
                           ctl_code(FILE_DEVICE_NETWORK, FIRST_FUNCTION + 3, METHOD_BUFFERED, FILE_READ_DATA),
                           ctl_code(FILE_DEVICE_NETWORK, FIRST_FUNCTION, 3, FILE_READ_DATA)])
        input_length = rng.choice([0, 0, 0, 1, 8, 4096, 1 << 20])
        base = minimum.get(code, 64)
        output_length = rng.choice([0, 1, base - 1, base, base + 1, min_read - 1, min_read, min_read + 1,
                                    BATCH.size, BATCH.size + 8, 1 << 20])
        output_length = max(0, output_length)
        status, result = driver.ioctl(handle, code, bytes(input_length), output_length)
        if code & 3 != METHOD_BUFFERED:
            # the simulation models METHOD_BUFFERED only: the request never reaches the driver
            check(status == STATUS_NOT_IMPLEMENTED, f"case {case}: method {code & 3}: {status_text(status)}")
            continue
        valid = code in KNOWN and input_length == 0 and output_length >= minimum.get(code, 1 << 62)
        if status == STATUS_PENDING:
            check(code == READ and valid, f"case {case}: code 0x{code:08X} pended")
            assert isinstance(result, int)
            check(result not in completed, f"case {case}: request id {result} reused")
            pending.append((result, output_length))
            continue
        assert isinstance(result, bytes)
        check(len(result) <= output_length, f"case {case}: {len(result)} bytes > {output_length}")
        if status == STATUS_SUCCESS:
            check(valid, f"case {case}: code 0x{code:08X} in {input_length} out {output_length} succeeded")
            if code == READ:
                decode.decode_batch(result)
        else:
            check(not valid, f"case {case}: valid code 0x{code:08X} out {output_length} failed "
                  f"{status_text(status)}")
            check(status in (STATUS_INVALID_PARAMETER, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST),
                  f"case {case}: unexpected status {status_text(status)}")
            check(result == b"", f"case {case}: a failed request returned {len(result)} bytes")
        check(not driver.violations(), f"case {case}: violations {driver.violations()}")

    # reads pended across unload: close the handle (cleanup cancels them), then unload
    for _ in range(rng.randrange(1, 4)):
        status, result = driver.ioctl(handle, READ, b"", min_read)
        if status == STATUS_PENDING:
            assert isinstance(result, int)
            pending.append((result, min_read))
        else:
            check(status == STATUS_SUCCESS, f"final READ {status_text(status)}")
    if rng.random() < 0.5:
        driver.close(handle)  # IRP_MJ_CLEANUP cancels the handle's pended reads
        for request, length in pending:
            status, data = driver.wait(request, 2000)
            check(status == STATUS_CANCELLED, f"a READ pended at close ended {status_text(status)}")
            finish(request, status, data, length, -1)
        return False
    # unload with the reads still pended (and, so, the handle open: the runtime notes that as
    # the harness's doing, nothing else): every pended read must end cancelled, once
    driver.unload()
    harness = [v for v in driver.violations() if "handle(s) are still open" not in v]
    check(not harness, f"violations at unload with pended reads: {harness}")
    for request, length in pending:
        status, data = driver.wait(request, 2000)
        check(status == STATUS_CANCELLED, f"a READ pended across unload ended {status_text(status)}")
        finish(request, status, data, length, -1)
    driver.close(handle)
    left = driver.counters().nonzero()
    check(not left, f"left after unload: {left}")
    return True


def main(argv: list[str]) -> int:
    library, project, seed, count = Path(argv[1]), Path(argv[2]), int(argv[3]), int(argv[4])
    mode = argv[5] if len(argv) > 5 else "kernel"
    model = model_for(project / "wfpgen.yaml")
    decode = load_reader(project)
    rng = random.Random(seed)
    driver = HostDriver(library)
    driver.reset()
    try:
        check(driver.load() == STATUS_SUCCESS, "DriverEntry failed")
        unloaded = (kernel if mode == "kernel" else ioctls)(driver, model, decode, rng, count)
        if not unloaded:
            violations = driver.unload()
            check(violations == 0 and not driver.violations(), f"violations at unload: {driver.violations()}")
        left = driver.counters().nonzero()
        check(not left, f"left after unload: {left}")
    except Failure as failure:
        print(f"FAIL (seed {seed}, mode {mode}): {failure}", flush=True)
        return 1
    print(f"ok: {count} {mode} cases, seed {seed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
