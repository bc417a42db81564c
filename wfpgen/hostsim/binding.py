"""A typed ctypes wrapper of the host runtime's test hooks (``runtime/hostwdk_test.h``).

``HostDriver(path)`` loads a library built by :func:`wfpgen.hostsim.build.build_shared` (a
generated driver linked with the runtime). Every call goes straight to C and releases the
GIL, so several Python threads can classify and read at once. A library holds one driver
and one simulated kernel: use one ``HostDriver`` per library, ``reset()`` between scenarios.

Strings cross as UTF-8 bytes; UTF-16 data (process paths) is given as ``bytes`` already
encoded (``"...".encode("utf-16-le")``), because ctypes' ``c_wchar`` is 32-bit on Linux.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

# FWP_DATA_TYPE values (fwptypes.h)
FWP_EMPTY = 0
FWP_UINT8 = 1
FWP_UINT16 = 2
FWP_UINT32 = 3
FWP_UINT64 = 4
FWP_INT8 = 5
FWP_INT16 = 6
FWP_INT32 = 7
FWP_INT64 = 8
FWP_BYTE_ARRAY16_TYPE = 11
FWP_BYTE_BLOB_TYPE = 12
FWP_SID = 13
FWP_SECURITY_DESCRIPTOR_TYPE = 14
FWP_TOKEN_ACCESS_INFORMATION_TYPE = 16
FWP_UNICODE_STRING_TYPE = 17
FWP_BYTE_ARRAY6_TYPE = 18

#: FWP_DATA_TYPE by the catalog's ``data_type`` names.
DATA_TYPES = {
    "FWP_EMPTY": FWP_EMPTY,
    "FWP_UINT8": FWP_UINT8,
    "FWP_UINT16": FWP_UINT16,
    "FWP_UINT32": FWP_UINT32,
    "FWP_UINT64": FWP_UINT64,
    "FWP_INT8": FWP_INT8,
    "FWP_INT16": FWP_INT16,
    "FWP_INT32": FWP_INT32,
    "FWP_INT64": FWP_INT64,
    "FWP_BYTE_ARRAY16_TYPE": FWP_BYTE_ARRAY16_TYPE,
    "FWP_BYTE_BLOB_TYPE": FWP_BYTE_BLOB_TYPE,
    "FWP_SID": FWP_SID,
    "FWP_SECURITY_DESCRIPTOR_TYPE": FWP_SECURITY_DESCRIPTOR_TYPE,
    "FWP_TOKEN_ACCESS_INFORMATION_TYPE": FWP_TOKEN_ACCESS_INFORMATION_TYPE,
    "FWP_UNICODE_STRING_TYPE": FWP_UNICODE_STRING_TYPE,
    "FWP_BYTE_ARRAY6_TYPE": FWP_BYTE_ARRAY6_TYPE,
}

_BYTES_TYPES = frozenset(
    {
        FWP_BYTE_ARRAY16_TYPE,
        FWP_BYTE_BLOB_TYPE,
        FWP_SID,
        FWP_SECURITY_DESCRIPTOR_TYPE,
        FWP_TOKEN_ACCESS_INFORMATION_TYPE,
        FWP_UNICODE_STRING_TYPE,
        FWP_BYTE_ARRAY6_TYPE,
    }
)

# FWP_ACTION_TYPE values (fwptypes.h)
FWP_ACTION_BLOCK = 0x1001
FWP_ACTION_PERMIT = 0x1002
FWP_ACTION_CALLOUT_TERMINATING = 0x5003
FWP_ACTION_CALLOUT_INSPECTION = 0x6004
FWP_ACTION_CALLOUT_UNKNOWN = 0x4005
FWP_ACTION_CONTINUE = 0x2006

FWPS_RIGHT_ACTION_WRITE = 0x1

# FWPS_METADATA_FIELD_* (fwpsk.h) for Metadata.present
FWPS_METADATA_FIELD_FLOW_HANDLE = 0x00000002
FWPS_METADATA_FIELD_IP_HEADER_SIZE = 0x00000004
FWPS_METADATA_FIELD_PROCESS_PATH = 0x00000008
FWPS_METADATA_FIELD_TOKEN = 0x00000010
FWPS_METADATA_FIELD_PROCESS_ID = 0x00000020
FWPS_METADATA_FIELD_TRANSPORT_HEADER_SIZE = 0x00000400
FWPS_METADATA_FIELD_COMPARTMENT_ID = 0x00000800
FWPS_METADATA_FIELD_PATH_MTU = 0x00002000
FWPS_METADATA_FIELD_TRANSPORT_ENDPOINT_HANDLE = 0x00008000
FWPS_METADATA_FIELD_PACKET_DIRECTION = 0x00040000
FWPS_METADATA_FIELD_PARENT_ENDPOINT_HANDLE = 0x04000000
FWPS_METADATA_FIELD_ICMP_ID_AND_SEQUENCE = 0x08000000
FWPS_METADATA_FIELD_LOCAL_REDIRECT_TARGET_PID = 0x10000000

#: The most NET_BUFFERs one classify's layerData may hold (HOSTWDK_MAX_NET_BUFFERS, hostwdk_test.h);
#: more makes the classify fail with STATUS_INVALID_PARAMETER.
MAX_NET_BUFFERS = 64

# NTSTATUS values the tests look at (ntstatus.h), as signed 32-bit numbers.
STATUS_SUCCESS = 0
STATUS_PENDING = 0x103
STATUS_UNSUCCESSFUL = -0x3FFFFFFF  # 0xC0000001
STATUS_NOT_IMPLEMENTED = -0x3FFFFFFE  # 0xC0000002
STATUS_INVALID_PARAMETER = -0x3FFFFFF3  # 0xC000000D
STATUS_INVALID_DEVICE_REQUEST = -0x3FFFFFF0  # 0xC0000010
STATUS_BUFFER_TOO_SMALL = -0x3FFFFFDD  # 0xC0000023
STATUS_INSUFFICIENT_RESOURCES = -0x3FFFFF66  # 0xC000009A
STATUS_CANCELLED = -0x3FFFFEE0  # 0xC0000120
STATUS_OBJECT_NAME_NOT_FOUND = -0x3FFFFFCC  # 0xC0000034


def ntstatus(value: int) -> int:
    """``value`` (signed or unsigned 32-bit) as a signed NTSTATUS."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def nt_success(status: int) -> bool:
    """``NT_SUCCESS``."""
    return ntstatus(status) >= 0


def status_text(status: int) -> str:
    """``0xC0000120`` style."""
    return f"0x{status & 0xFFFFFFFF:08X}"


@dataclass(frozen=True)
class Value:
    """One incoming value: ``type`` is an FWP_DATA_TYPE; ``value`` an int for scalars, bytes for
    byte arrays (16 bytes for FWP_BYTE_ARRAY16_TYPE), blobs, SIDs and UTF-16LE strings."""

    type: int
    value: int | bytes | None = 0  # None with a byte type: a NULL data pointer of size 0

    @staticmethod
    def uint8(value: int) -> Value:
        return Value(FWP_UINT8, value)

    @staticmethod
    def uint16(value: int) -> Value:
        return Value(FWP_UINT16, value)

    @staticmethod
    def uint32(value: int) -> Value:
        return Value(FWP_UINT32, value)

    @staticmethod
    def uint64(value: int) -> Value:
        return Value(FWP_UINT64, value)

    @staticmethod
    def array16(value: bytes) -> Value:
        return Value(FWP_BYTE_ARRAY16_TYPE, bytes(value))

    @staticmethod
    def blob(value: bytes) -> Value:
        return Value(FWP_BYTE_BLOB_TYPE, bytes(value))


@dataclass(frozen=True)
class Metadata:
    """FWPS_INCOMING_METADATA_VALUES0 for one classify; ``present`` is a FWPS_METADATA_FIELD_* mask
    (0 means: derive it from the members that are set).

    ``net_buffers`` describes the packet(s) classifyFn gets as ``layerData``: one NET_BUFFER_LIST
    holding a NET_BUFFER per length, in order (at most :data:`MAX_NET_BUFFERS`; empty: layerData
    is NULL). The lengths count from the layer's data offset position: at the inbound transport
    layers the payload bytes, at the outbound transport layers transport header + payload (give
    the header's size as ``transport_header_size``); see ``hostwdk_test.h``."""

    present: int = 0
    process_id: int | None = None
    process_path: bytes | None = None  # UTF-16LE, terminating NUL included
    compartment_id: int | None = None
    flow_handle: int | None = None
    transport_endpoint_handle: int | None = None
    ip_header_size: int | None = None
    transport_header_size: int | None = None
    packet_direction: int | None = None
    icmp_id_and_sequence: int | None = None
    parent_endpoint_handle: int | None = None
    token: int | None = None
    local_redirect_target_pid: int | None = None
    path_mtu: int | None = None
    net_buffers: tuple[int, ...] = ()  # DataLength of each NET_BUFFER of layerData's NET_BUFFER_LIST


_METADATA_FLAGS = {
    "process_id": FWPS_METADATA_FIELD_PROCESS_ID,
    "process_path": FWPS_METADATA_FIELD_PROCESS_PATH,
    "compartment_id": FWPS_METADATA_FIELD_COMPARTMENT_ID,
    "flow_handle": FWPS_METADATA_FIELD_FLOW_HANDLE,
    "transport_endpoint_handle": FWPS_METADATA_FIELD_TRANSPORT_ENDPOINT_HANDLE,
    "ip_header_size": FWPS_METADATA_FIELD_IP_HEADER_SIZE,
    "transport_header_size": FWPS_METADATA_FIELD_TRANSPORT_HEADER_SIZE,
    "packet_direction": FWPS_METADATA_FIELD_PACKET_DIRECTION,
    "icmp_id_and_sequence": FWPS_METADATA_FIELD_ICMP_ID_AND_SEQUENCE,
    "parent_endpoint_handle": FWPS_METADATA_FIELD_PARENT_ENDPOINT_HANDLE,
    "token": FWPS_METADATA_FIELD_TOKEN,
    "local_redirect_target_pid": FWPS_METADATA_FIELD_LOCAL_REDIRECT_TARGET_PID,
    "path_mtu": FWPS_METADATA_FIELD_PATH_MTU,
}


@dataclass(frozen=True)
class Verdict:
    """The outcome of one classify (HOSTWDK_VERDICT)."""

    callouts_invoked: int
    filters_matched: int
    action_type: int
    rights: int


@dataclass(frozen=True)
class EtwField:
    """One field of a TraceLogging event: its name, TlgIn/TlgOut numbers and bytes as written."""

    name: str
    in_type: int
    out_type: int
    data: bytes


@dataclass(frozen=True)
class EtwEvent:
    """One TraceLogging event the driver wrote (HostWdk_EtwEvents)."""

    provider: str
    name: str
    level: int
    keyword: int
    fields: tuple[EtwField, ...]

    @classmethod
    def parse(cls, line: str) -> EtwEvent:
        """An event from its line: provider, name, level, keyword, then name=in:out:hex per field."""
        provider, name, level, keyword, *items = line.split("\t")
        fields_ = []
        for item in items:
            field_name, _, rest = item.partition("=")
            in_type, out_type, data = rest.split(":")
            fields_.append(EtwField(field_name, int(in_type), int(out_type), bytes.fromhex(data)))
        return cls(provider, name, int(level), int(keyword, 16), tuple(fields_))

    def field(self, name: str) -> EtwField | None:
        """The field called ``name``, if the event has it."""
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Counters:
    """Live objects of the simulated kernel (HOSTWDK_COUNTERS)."""

    engines: int
    transactions: int
    providers: int
    sublayers: int
    callouts: int
    runtime_callouts: int
    filters: int
    devices: int
    symbolic_links: int
    pool_blocks: int
    pool_bytes: int
    pending_irps: int
    open_handles: int
    flow_contexts: int  # associated with a flow and not yet handed to flowDeleteFn
    etw_providers: int  # TraceLogging providers registered

    def nonzero(self) -> dict[str, int]:
        """The counters that are not 0."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class LockHolds:
    """The longest spin-lock hold since the last reset (HOSTWDK_LOCK_HOLDS), in the holder's CPU time."""

    longest_ns: int
    holds: int
    context: str  # what the holder ran: "classifyFn", "IRP_MJ_DEVICE_CONTROL", ...
    most_bytes: int  # the most bytes RtlCopyMemory copied during one hold of a lock


# -- the C structures ---------------------------------------------------------------------------


class _LockHolds(ctypes.Structure):
    _fields_ = [("longest_ns", ctypes.c_uint64), ("holds", ctypes.c_uint64), ("most_bytes", ctypes.c_uint64),
                ("context", ctypes.c_char * 48)]



class _Value(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("u64", ctypes.c_uint64),
        ("data", ctypes.c_void_p),
    ]


class _Metadata(ctypes.Structure):
    _fields_ = [
        ("present", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("process_id", ctypes.c_uint64),
        ("process_path", ctypes.c_void_p),
        ("process_path_size", ctypes.c_uint32),
        ("compartment_id", ctypes.c_uint32),
        ("flow_handle", ctypes.c_uint64),
        ("transport_endpoint_handle", ctypes.c_uint64),
        ("ip_header_size", ctypes.c_uint32),
        ("transport_header_size", ctypes.c_uint32),
        ("packet_direction", ctypes.c_uint32),
        ("icmp_id_and_sequence", ctypes.c_uint32),
        ("parent_endpoint_handle", ctypes.c_uint64),
        ("token", ctypes.c_uint64),
        ("local_redirect_target_pid", ctypes.c_uint32),
        ("path_mtu", ctypes.c_uint32),
        ("net_buffer_lengths", ctypes.POINTER(ctypes.c_uint32)),
        ("net_buffer_count", ctypes.c_uint32),
        ("reserved2", ctypes.c_uint32),
    ]


class _Verdict(ctypes.Structure):
    _fields_ = [
        ("callouts_invoked", ctypes.c_uint32),
        ("filters_matched", ctypes.c_uint32),
        ("action_type", ctypes.c_uint32),
        ("rights", ctypes.c_uint32),
    ]


class _Counters(ctypes.Structure):
    _fields_ = [
        ("engines", ctypes.c_uint32),
        ("transactions", ctypes.c_uint32),
        ("providers", ctypes.c_uint32),
        ("sublayers", ctypes.c_uint32),
        ("callouts", ctypes.c_uint32),
        ("runtime_callouts", ctypes.c_uint32),
        ("filters", ctypes.c_uint32),
        ("devices", ctypes.c_uint32),
        ("symbolic_links", ctypes.c_uint32),
        ("pool_blocks", ctypes.c_uint32),
        ("pool_bytes", ctypes.c_uint64),
        ("pending_irps", ctypes.c_uint32),
        ("open_handles", ctypes.c_uint32),
        ("flow_contexts", ctypes.c_uint32),
        ("etw_providers", ctypes.c_uint32),
    ]


class _Encoded:
    """The C arrays for one classify, with the Python objects their pointers borrow."""

    def __init__(self, values: Sequence[Value | None], metadata: Metadata | None) -> None:
        self.keep: list[object] = []
        self.count = len(values)
        self.values = (_Value * max(1, self.count))()
        for index, value in enumerate(values):
            if value is None:
                continue
            slot = self.values[index]
            slot.type = value.type
            if value.value is None:
                if value.type not in _BYTES_TYPES:
                    raise TypeError(f"value {index}: only a byte type takes None (a NULL pointer)")
                continue  # size 0, data NULL
            if isinstance(value.value, (bytes, bytearray)):
                if value.type not in _BYTES_TYPES:
                    raise TypeError(f"value {index}: type {value.type} takes an int, not bytes")
                buffer = ctypes.create_string_buffer(bytes(value.value), len(value.value))
                self.keep.append(buffer)
                slot.size = len(value.value)
                slot.data = ctypes.cast(buffer, ctypes.c_void_p)
            else:
                if value.type in _BYTES_TYPES:
                    raise TypeError(f"value {index}: type {value.type} takes bytes")
                slot.u64 = value.value & 0xFFFFFFFFFFFFFFFF
        self.metadata: _Metadata | None = None
        if metadata is not None:
            meta = _Metadata()
            present = metadata.present
            for name, flag in _METADATA_FLAGS.items():
                item = getattr(metadata, name)
                if item is None:
                    continue
                if metadata.present == 0:
                    present |= flag
                if name == "process_path":
                    assert isinstance(item, (bytes, bytearray))
                    buffer = ctypes.create_string_buffer(bytes(item), len(item))
                    self.keep.append(buffer)
                    meta.process_path = ctypes.cast(buffer, ctypes.c_void_p)
                    meta.process_path_size = len(item)
                else:
                    setattr(meta, name, item)
            if metadata.net_buffers:
                lengths = tuple(metadata.net_buffers)
                if any(not 0 <= length <= 0xFFFFFFFF for length in lengths):
                    raise ValueError(f"net_buffers: a NET_BUFFER's DataLength is a ULONG, not {lengths}")
                array = (ctypes.c_uint32 * len(lengths))(*lengths)
                self.keep.append(array)  # alive until the classify returns (self outlives the call)
                meta.net_buffer_lengths = array
                meta.net_buffer_count = len(lengths)
            meta.present = present
            self.metadata = meta

    def metadata_pointer(self) -> object:
        return ctypes.byref(self.metadata) if self.metadata is not None else None


@dataclass
class _Pending:
    buffer: ctypes.Array[ctypes.c_char]
    length: int


class HostDriver:
    """One generated driver running on the host runtime."""

    def __init__(self, library_path: str | Path) -> None:
        self.path = Path(library_path)
        self.lib = ctypes.CDLL(str(self.path))
        self._declare()
        self._pending: dict[int, _Pending] = {}

    def _declare(self) -> None:
        lib = self.lib
        signatures: dict[str, tuple[object, list[object]]] = {
            "HostWdk_Reset": (None, []),
            "HostWdk_LoadDriver": (ctypes.c_int32, []),
            "HostWdk_UnloadDriver": (ctypes.c_uint32, []),
            "HostWdk_Classify": (
                ctypes.c_int32,
                [
                    ctypes.c_uint16,
                    ctypes.POINTER(_Value),
                    ctypes.c_uint32,
                    ctypes.POINTER(_Metadata),
                    ctypes.POINTER(_Verdict),
                ],
            ),
            "HostWdk_ClassifyRepeat": (
                ctypes.c_int32,
                [
                    ctypes.c_uint16,
                    ctypes.POINTER(_Value),
                    ctypes.c_uint32,
                    ctypes.POINTER(_Metadata),
                    ctypes.c_uint32,
                    ctypes.POINTER(_Verdict),
                ],
            ),
            "HostWdk_LayerId": (ctypes.c_int32, [ctypes.c_char_p]),
            "HostWdk_Open": (ctypes.c_int64, [ctypes.c_char_p]),
            "HostWdk_Close": (ctypes.c_int32, [ctypes.c_int64]),
            "HostWdk_DeviceIoControl": (
                ctypes.c_int32,
                [
                    ctypes.c_int64,
                    ctypes.c_uint32,
                    ctypes.c_void_p,
                    ctypes.c_uint32,
                    ctypes.c_void_p,
                    ctypes.c_uint32,
                    ctypes.POINTER(ctypes.c_uint64),
                    ctypes.POINTER(ctypes.c_int64),
                ],
            ),
            "HostWdk_Wait": (
                ctypes.c_int32,
                [ctypes.c_int64, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint64)],
            ),
            "HostWdk_Cancel": (ctypes.c_int32, [ctypes.c_int64]),
            "HostWdk_FailCall": (None, [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_int32]),
            "HostWdk_CanFail": (ctypes.c_int32, [ctypes.c_char_p]),
            "HostWdk_LimitValueCount": (None, [ctypes.c_uint32]),
            "HostWdk_CallCounts": (ctypes.c_char_p, []),
            "HostWdk_CallLog": (ctypes.c_char_p, []),
            "HostWdk_Violations": (ctypes.c_char_p, []),
            "HostWdk_ViolationCount": (ctypes.c_uint32, []),
            "HostWdk_GetCounters": (None, [ctypes.POINTER(_Counters)]),
            "HostWdk_Filters": (ctypes.c_char_p, []),
            "HostWdk_EtwEvents": (ctypes.c_char_p, []),
            "HostWdk_EtwClear": (None, []),
            "HostWdk_EtwEnable": (None, [ctypes.c_uint64]),
            "HostWdk_SetProcessorCount": (None, [ctypes.c_uint32]),
            "HostWdk_SetCurrentProcessor": (None, [ctypes.c_uint32]),
            "HostWdk_GetLockHolds": (None, [ctypes.POINTER(_LockHolds)]),
            "HostWdk_ResetLockHolds": (None, []),
            "HostWdk_FlowEnd": (ctypes.c_uint32, [ctypes.c_uint64]),
            "HostWdk_SystemTime": (ctypes.c_int64, []),
            "HostWdk_AdvanceClock": (None, [ctypes.c_int64]),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, counter, violation, fault and log line."""
        self.lib.HostWdk_Reset()
        self._pending.clear()

    def load(self) -> int:
        """Run DriverEntry; its NTSTATUS."""
        return ntstatus(self.lib.HostWdk_LoadDriver())

    def unload(self) -> int:
        """Run DriverUnload and audit what is left; the number of violations so far."""
        return int(self.lib.HostWdk_UnloadDriver())

    def set_processor_count(self, count: int) -> None:
        """What KeQueryActiveProcessorCountEx reports from now on (set it before ``load``)."""
        self.lib.HostWdk_SetProcessorCount(count)

    def set_current_processor(self, index: int) -> None:
        """The calling thread's KeGetCurrentProcessorNumberEx (an OS thread keeps it)."""
        self.lib.HostWdk_SetCurrentProcessor(index)

    def lock_holds(self) -> LockHolds:
        """The longest spin-lock hold since the last reset, in the holder's CPU time, and the most
        bytes copied in one hold."""
        raw = _LockHolds()
        self.lib.HostWdk_GetLockHolds(ctypes.byref(raw))
        return LockHolds(int(raw.longest_ns), int(raw.holds), raw.context.decode(errors="replace"),
                         int(raw.most_bytes))

    def reset_lock_holds(self) -> None:
        """Start measuring lock holds afresh."""
        self.lib.HostWdk_ResetLockHolds()

    # -- traffic --------------------------------------------------------------------------------

    def flow_end(self, flow: int) -> int:
        """End the flow whose classifies carried ``flow_handle=flow``: each context associated with it
        goes to its callout's flowDeleteFn. The number of contexts it had."""
        return int(self.lib.HostWdk_FlowEnd(flow))

    def system_time(self) -> int:
        """The simulated system time: what KeQuerySystemTime(Precise) returns now (a FILETIME)."""
        return int(self.lib.HostWdk_SystemTime())

    def advance_clock(self, units: int) -> None:
        """Move the simulated system time ``units`` (100 ns each) forward, for good (until a reset)."""
        self.lib.HostWdk_AdvanceClock(units)

    def layer_id(self, name: str) -> int:
        """FWPS layer id of ``FWPS_LAYER_X`` or the catalog name ``x``; -1 if unknown."""
        return int(self.lib.HostWdk_LayerId(name.encode()))

    def classify(
        self, layer_id: int, values: Sequence[Value | None], metadata: Metadata | None = None
    ) -> Verdict:
        """Classify at ``layer_id`` with ``values`` indexed by field index (None: FWP_EMPTY)."""
        return self.classify_repeat(layer_id, values, metadata, 1)

    def classify_repeat(
        self, layer_id: int, values: Sequence[Value | None], metadata: Metadata | None, repeat: int
    ) -> Verdict:
        """Classify ``repeat`` times inside one C call (the GIL stays released)."""
        encoded = _Encoded(values, metadata)
        verdict = _Verdict()
        status = ntstatus(
            self.lib.HostWdk_ClassifyRepeat(
                layer_id,
                encoded.values,
                encoded.count,
                encoded.metadata_pointer(),
                repeat,
                ctypes.byref(verdict),
            )
        )
        if not nt_success(status):
            raise RuntimeError(f"HostWdk_Classify(layer {layer_id}) failed: {status_text(status)}")
        return Verdict(verdict.callouts_invoked, verdict.filters_matched, verdict.action_type, verdict.rights)

    # -- devices and I/O ------------------------------------------------------------------------

    def open(self, path: str) -> int:
        """Open ``\\\\.\\Name``; the handle (> 0). Raises OSError with the NTSTATUS on failure."""
        handle = int(self.lib.HostWdk_Open(path.encode()))
        if handle <= 0:
            raise OSError(f"HostWdk_Open({path!r}) failed: {status_text(handle)}")
        return handle

    def close(self, handle: int) -> int:
        """IRP_MJ_CLEANUP and IRP_MJ_CLOSE; the close status."""
        return ntstatus(self.lib.HostWdk_Close(handle))

    def ioctl(
        self, handle: int, code: int, input: bytes = b"", output_length: int = 0
    ) -> tuple[int, bytes | int]:
        """Send a METHOD_BUFFERED IOCTL.

        Returns ``(status, output bytes)`` when the request completed, or
        ``(STATUS_PENDING, request id)`` when the driver pended it (see :meth:`wait`)."""
        output = ctypes.create_string_buffer(max(1, output_length))
        source = ctypes.create_string_buffer(bytes(input), max(1, len(input)))
        information = ctypes.c_uint64()
        request = ctypes.c_int64()
        status = ntstatus(
            self.lib.HostWdk_DeviceIoControl(
                handle,
                code,
                source if input else None,
                len(input),
                output if output_length else None,
                output_length,
                ctypes.byref(information),
                ctypes.byref(request),
            )
        )
        if status == STATUS_PENDING:
            self._pending[request.value] = _Pending(output, output_length)
            return status, int(request.value)
        return status, output.raw[: min(information.value, output_length)]

    def wait(self, request: int, timeout_ms: int = 5000) -> tuple[int, bytes]:
        """Wait for a pended request: ``(status, output bytes)``; ``(STATUS_PENDING, b"")`` on timeout."""
        pending = self._pending.get(request)
        information = ctypes.c_uint64()
        status = ntstatus(self.lib.HostWdk_Wait(request, timeout_ms, ctypes.byref(information)))
        if status == STATUS_PENDING:
            return status, b""
        self._pending.pop(request, None)
        if pending is None:
            return status, b""
        return status, pending.buffer.raw[: min(information.value, pending.length)]

    def cancel(self, request: int) -> int:
        """IoCancelIrp: STATUS_SUCCESS when the cancel routine ran."""
        return ntstatus(self.lib.HostWdk_Cancel(request))

    # -- fault injection and audit --------------------------------------------------------------

    def fail_call(self, api: str, nth: int = 1, status: int = STATUS_INSUFFICIENT_RESOURCES) -> None:
        """Make the ``nth`` next call of ``api`` fail with ``status`` (allocators return NULL)."""
        if self.can_fail(api) != 1:
            raise ValueError(f"{api} cannot be made to fail")
        self.lib.HostWdk_FailCall(api.encode(), nth, ntstatus(status))

    def limit_value_count(self, limit: int) -> None:
        """Classify reports at most ``limit`` values until the next reset (0: the layer's count)."""
        self.lib.HostWdk_LimitValueCount(limit)

    def can_fail(self, api: str) -> int:
        """1 if ``api`` can be made to fail, 0 if not, -1 if the runtime does not know it."""
        return int(self.lib.HostWdk_CanFail(api.encode()))

    def call_counts(self) -> dict[str, int]:
        """Calls per API since the last reset."""
        text = (self.lib.HostWdk_CallCounts() or b"").decode()
        counts: dict[str, int] = {}
        for line in text.splitlines():
            name, _, count = line.rpartition(" ")
            counts[name] = int(count)
        return counts

    def call_log(self) -> list[str]:
        """The call log, one line per logged call."""
        return (self.lib.HostWdk_CallLog() or b"").decode(errors="replace").splitlines()

    def violations(self) -> list[str]:
        """Rule violations so far."""
        return (self.lib.HostWdk_Violations() or b"").decode(errors="replace").splitlines()

    def counters(self) -> Counters:
        """The live-object counters."""
        raw = _Counters()
        self.lib.HostWdk_GetCounters(ctypes.byref(raw))
        return Counters(**{item.name: int(getattr(raw, item.name)) for item in fields(Counters)})

    def etw_events(self) -> list[EtwEvent]:
        """Every TraceLogging event written since the last reset or ``etw_clear``, in write order."""
        text = (self.lib.HostWdk_EtwEvents() or b"").decode()
        return [EtwEvent.parse(line) for line in text.splitlines()]

    def etw_clear(self) -> None:
        """Forget the events written so far."""
        self.lib.HostWdk_EtwClear()

    def etw_enable(self, keywords: int) -> None:
        """The keywords the simulated ETW session enables (0: none, so no session listens)."""
        self.lib.HostWdk_EtwEnable(keywords)

    def filters(self) -> list[str]:
        """The filters in the engine, one line each."""
        return (self.lib.HostWdk_Filters() or b"").decode().splitlines()


__all__ = [
    "DATA_TYPES",
    "FWPS_RIGHT_ACTION_WRITE",
    "FWP_ACTION_BLOCK",
    "FWP_ACTION_CALLOUT_INSPECTION",
    "FWP_ACTION_CALLOUT_TERMINATING",
    "FWP_ACTION_CALLOUT_UNKNOWN",
    "FWP_ACTION_CONTINUE",
    "FWP_ACTION_PERMIT",
    "FWP_BYTE_ARRAY6_TYPE",
    "FWP_BYTE_ARRAY16_TYPE",
    "FWP_BYTE_BLOB_TYPE",
    "FWP_EMPTY",
    "FWP_INT8",
    "FWP_INT16",
    "FWP_INT32",
    "FWP_INT64",
    "FWP_SECURITY_DESCRIPTOR_TYPE",
    "FWP_SID",
    "FWP_TOKEN_ACCESS_INFORMATION_TYPE",
    "FWP_UINT8",
    "FWP_UINT16",
    "FWP_UINT32",
    "FWP_UINT64",
    "FWP_UNICODE_STRING_TYPE",
    "MAX_NET_BUFFERS",
    "STATUS_BUFFER_TOO_SMALL",
    "STATUS_CANCELLED",
    "STATUS_INSUFFICIENT_RESOURCES",
    "STATUS_INVALID_DEVICE_REQUEST",
    "STATUS_INVALID_PARAMETER",
    "STATUS_NOT_IMPLEMENTED",
    "STATUS_OBJECT_NAME_NOT_FOUND",
    "STATUS_PENDING",
    "STATUS_SUCCESS",
    "STATUS_UNSUCCESSFUL",
    "Counters",
    "HostDriver",
    "LockHolds",
    "Metadata",
    "Value",
    "Verdict",
    "nt_success",
    "ntstatus",
    "status_text",
]
