"""A reference encoder of ring-sink records and batches, written from the model alone.

It writes exactly the bytes the driver's ring sink writes: the 32-byte record header, the
layer's fixed part (``RecordLayout.struct_format``), then the blob tail. Tests use it as the
independent oracle of the generated reader, and it writes replay captures: a capture is the
concatenation of batches exactly as READ returns them.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from wfpgen.model import RECORD_ALIGNMENT, FlowRecordKind, LayerModel, ProjectModel, RecordItem
from wfpgen.protocol import BATCH_HEADER_FORMAT, BATCH_MAGIC

_BATCH_HEADER = struct.Struct(BATCH_HEADER_FORMAT)
_U32 = 0xFFFFFFFF


def _pad(size: int) -> int:
    return (-size) % RECORD_ALIGNMENT


def sid_bytes(text: str) -> bytes:
    """``S-1-5-21-1-2-3`` as a binary SID: revision, count, 6-byte big-endian authority, sub-authorities."""
    parts = text.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {text!r}")
    revision = int(parts[1])
    authority = int(parts[2], 0)
    subs = [int(p) for p in parts[3:]]
    head = bytes([revision, len(subs)]) + authority.to_bytes(6, "big")
    return head + struct.pack(f"<{len(subs)}I", *subs)


def _scalar(item: RecordItem, value: object) -> int | bytes:
    if item.struct_format == "16s":
        if isinstance(value, (bytes, bytearray)):
            if len(value) != 16:
                raise ValueError(f"{item.name}: 16 bytes expected, got {len(value)}")
            return bytes(value)
        if isinstance(value, (str, ipaddress.IPv6Address)):
            return ipaddress.IPv6Address(value).packed
        raise TypeError(f"{item.name}: bytes or an IPv6 address expected, got {type(value).__name__}")
    if item.display == "ipv4" and isinstance(value, (str, ipaddress.IPv4Address)):
        return int(ipaddress.IPv4Address(value))  # the driver stores it in host order: a plain number
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{item.name}: an integer expected, got {type(value).__name__}")
    limit = 1 << (8 * item.size)
    if not 0 <= value < limit:
        raise ValueError(f"{item.name}: {value} does not fit in {item.size} bytes")
    return value


def _blob(item: RecordItem, value: object) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and item.display == "sid":
        return sid_bytes(value)
    if isinstance(value, str) and item.display == "utf16":
        return (value + "\0").encode("utf-16-le")  # as Windows hands over paths: NUL included
    raise TypeError(f"{item.name}: bytes or text expected for a {item.display} blob, got {type(value).__name__}")


def _check_names(layer: LayerModel | FlowRecordKind, values: Mapping[str, object | None]) -> None:
    known = {item.name for item in layer.record.items}
    unknown = sorted(set(values) - known)
    if unknown:
        raise KeyError(f"layer {layer.name} records no value named {', '.join(unknown)}")


class _Tail(NamedTuple):
    refs: dict[int, tuple[int, int]]  # by presence bit: (offset from the record start, length)
    data: bytes
    truncated: int  # mask of the blobs cut to max_blob


def _tail(layer: LayerModel | FlowRecordKind, values: Mapping[str, object | None], max_blob: int) -> _Tail:
    """The blob tail: each present blob in blob-index order, right after the fixed part."""
    tail = _Tail({}, b"", 0)
    for item in layer.record.blobs:
        value = values.get(item.name)
        if value is None:
            tail.refs[item.bit] = (0, 0)  # absent: zero bytes, like every absent value
            continue
        data = _blob(item, value)
        cut = 1 << item.bit if len(data) > max_blob else 0
        data = data[:max_blob]
        tail.refs[item.bit] = (layer.record.size + len(tail.data), len(data))
        tail = tail._replace(data=tail.data + data, truncated=tail.truncated | cut)
    return tail


def encode_record(model: ProjectModel, layer_index: int, values: Mapping[str, object | None], sequence: int,
                  timestamp: int, processor: int = 0) -> bytes:
    """One record of record kind ``layer_index`` (a hooked layer, or a flow record) from the ring of ``processor``; a value that is None or
    missing is absent. ``sequence`` is that processor's: each ring numbers its own records.

    An absent value has its presence bit clear and zero bytes (a blob: a zero reference).
    IPv4 addresses may be text or numbers, IPv6 addresses text or 16 bytes, paths (utf16) text,
    SIDs ``S-1-...`` text; any blob may also be given as bytes. Blobs longer than
    ``model.max_blob`` are cut and their Truncated bit set.
    """
    layer = model.record_kinds[layer_index]
    _check_names(layer, values)
    tail = _tail(layer, values, model.max_blob)
    present = 0
    args: list[int | bytes] = []
    for item in layer.record.value_items:
        value = values.get(item.name)
        if value is not None:
            present |= 1 << item.bit
        if item.is_blob:
            args.extend(tail.refs[item.bit])
        elif value is None:
            args.append(bytes(16) if item.struct_format == "16s" else 0)
        else:
            args.append(_scalar(item, value))
    size = layer.record.size + len(tail.data)
    size += _pad(size)
    fixed = struct.pack(layer.record.struct_format, size, layer_index, processor, present, tail.truncated, sequence,
                        timestamp, *args)
    return fixed + tail.data + bytes(size - len(fixed) - len(tail.data))


def encode_batch(records: Sequence[bytes], dropped_total: int = 0) -> bytes:
    """One READ result: the batch header, then ``records`` whole."""
    body = b"".join(records)
    header = _BATCH_HEADER.pack(BATCH_MAGIC, _BATCH_HEADER.size + len(body), len(records), dropped_total & _U32)
    return header + body
