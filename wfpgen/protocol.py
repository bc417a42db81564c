"""The contract between the driver's ring sink and user mode: device names, IOCTLs, structures.

Both the C header (records.h) and the generated reader print these numbers; neither side
computes them. Every structure uses fixed-width little-endian fields only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

FILE_DEVICE_NETWORK = 0x12
METHOD_BUFFERED = 0
FILE_READ_DATA = 0x0001  # FILE_READ_ACCESS: opening the device for reading suffices
FIRST_FUNCTION = 0x800  # functions below 0x800 are reserved for Microsoft

BATCH_MAGIC = int.from_bytes(b"WFPB", "little")
INFO_MAGIC = int.from_bytes(b"WFPG", "little")

# struct formats (little-endian, no implicit padding); sizes are asserted in C too.
# Size, LayerIndex, Processor, Present, Truncated, Sequence, Timestamp; Sequence counts per
# Processor (the ring sink keeps one ring per processor). Present and Truncated
# are indexed by the value's presence bit (its position in the layer's value list), not by
# its blob index; an absent blob's reference is ignored by readers.
RECORD_HEADER_FORMAT = "<IHHIIQQ"
BATCH_HEADER_FORMAT = "<IIII"  # Magic, Length (header included), RecordCount, DroppedTotal (low 32 bits)
INFO_FORMAT = "<IIQQIIII"  # Magic, FormatVersion, Fingerprint, Capacity, LayerCount, MaxRecordSize,
#                            RingCount, RingCapacity
STATS_HEADER_FORMAT = "<QQII"  # HighWater, Used, LayerCount, PendingReads
LAYER_STATS_FORMAT = "<QQQ"  # Classified, Emitted, Dropped
# The most record bytes the driver copies out of a ring under one hold of its lock (one record
# more when a record is larger): about 1-2 us of copying, well under the ~10 us a lock that
# classify takes may be held, and large enough that a full 64 MiB drain takes 4096 holds.
SLICE_BYTES = 16 * 1024


def ctl_code(device_type: int, function: int, method: int, access: int) -> int:
    """The ``CTL_CODE`` macro of the WDK."""
    return (device_type << 16) | (access << 14) | (function << 2) | method


@dataclass(frozen=True)
class Ioctl:
    """One device I/O control code."""

    name: str  # GET_INFO, READ, STATS
    macro: str  # <UPPER>_IOCTL_<NAME>
    function: int
    code: int

    @property
    def code_hex(self) -> str:
        """The code as C and Python both write it."""
        return f"0x{self.code:08X}"

    @property
    def function_hex(self) -> str:
        """The function number as ``CTL_CODE`` takes it."""
        return f"0x{self.function:03X}"


@dataclass(frozen=True)
class Channel:
    """Everything the ring sink and the reader agree on, for one driver."""

    device_name: str  # \\Device\\<Name>, as text
    dos_device_name: str  # \\DosDevices\\<Name>
    user_path: str  # \\\\.\\<Name>
    ioctls: tuple[Ioctl, ...]
    batch_magic: int
    info_magic: int
    header_format: str
    batch_format: str
    info_format: str
    stats_header_format: str
    layer_stats_format: str
    capacity: int
    max_blob: int
    slice_bytes: int

    @property
    def batch_magic_hex(self) -> str:
        """``'WFPB'`` as a C and Python constant."""
        return f"0x{self.batch_magic:08X}"

    @property
    def info_magic_hex(self) -> str:
        """``'WFPG'`` as a C and Python constant."""
        return f"0x{self.info_magic:08X}"

    @property
    def batch_header_size(self) -> int:
        """Bytes of the header in front of every READ result."""
        return struct.calcsize(self.batch_format)

    @property
    def info_size(self) -> int:
        """Bytes of the GET_INFO result."""
        return struct.calcsize(self.info_format)

    @property
    def stats_header_size(self) -> int:
        """Bytes of the STATS result before the per-layer counters."""
        return struct.calcsize(self.stats_header_format)

    @property
    def layer_stats_size(self) -> int:
        """Bytes of one layer's counters in the STATS result."""
        return struct.calcsize(self.layer_stats_format)

    def ioctl(self, name: str) -> Ioctl:
        """The IOCTL called ``name``."""
        return next(i for i in self.ioctls if i.name == name)


def channel(name: str, upper: str, capacity: int, max_blob: int) -> Channel:
    """The channel of driver ``name``: names, codes and formats."""
    ioctls = tuple(
        Ioctl(op, f"{upper}_IOCTL_{op}", FIRST_FUNCTION + i,
              ctl_code(FILE_DEVICE_NETWORK, FIRST_FUNCTION + i, METHOD_BUFFERED, FILE_READ_DATA))
        for i, op in enumerate(("GET_INFO", "READ", "STATS"))
    )
    return Channel(
        device_name=f"\\Device\\{name}",
        dos_device_name=f"\\DosDevices\\{name}",
        user_path=f"\\\\.\\{name}",
        ioctls=ioctls,
        batch_magic=BATCH_MAGIC,
        info_magic=INFO_MAGIC,
        header_format=RECORD_HEADER_FORMAT,
        batch_format=BATCH_HEADER_FORMAT,
        info_format=INFO_FORMAT,
        stats_header_format=STATS_HEADER_FORMAT,
        layer_stats_format=LAYER_STATS_FORMAT,
        capacity=capacity,
        max_blob=max_blob,
        slice_bytes=SLICE_BYTES,
    )
