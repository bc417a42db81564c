"""Synthetic traffic for a generated driver, and the oracle of which of it its filters pass.

Values are drawn per record item from its display kind (IPv4 and IPv6 addresses, every
protocol, ports, flags, application paths up to and beyond the blob limit, SIDs), with
absent values mixed in. Conditions are evaluated here, independently of the C engine, with
WFP's rule: conditions on different fields are AND-ed, conditions on the same field OR-ed.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass

from wfpgen.model import ConditionModel, LayerModel, ProjectModel, RecordItem

PROTOCOLS = (6, 17, 1, 58, 47)
APP_PATHS = (r"\device\harddiskvolume3\windows\system32\svchost.exe",
             r"\device\harddiskvolume3\program files\mozilla firefox\firefox.exe")


@dataclass(frozen=True)
class Event:
    """One classify call: the values of the layer's recorded items (None = absent)."""

    layer: LayerModel
    values: dict[str, object | None]
    expect_match: bool


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


def _long_path(length: int) -> str:
    stem = "\\device\\harddiskvolume3\\"
    return stem + "d" * max(0, length - len(stem) - 4) + ".exe"


def _scalar(rng: random.Random, item: RecordItem, v6: bool) -> object:
    if item.display == "ipv4":
        return ipaddress.IPv4Address(rng.getrandbits(32))
    if item.display == "ipv6":
        return ipaddress.IPv6Address(rng.getrandbits(128))
    if item.display == "protocol":
        return rng.choice(PROTOCOLS)
    if item.display == "port":
        return rng.choice((0, 53, 80, 443, 1023, 1024, 49152, 65535, rng.randrange(65536)))
    if item.display == "direction":
        return rng.randrange(2)
    if item.struct_format == "16s":
        return rng.randbytes(16)
    return rng.getrandbits(8 * item.size)


def _blob(rng: random.Random, item: RecordItem, max_blob: int) -> object:
    if item.display == "utf16":
        choice = rng.randrange(4)
        if choice == 0:
            return _utf16(_long_path(max_blob))  # longer than the limit: truncated
        if choice == 1:
            return _utf16(_long_path(max_blob // 2 - 1))[:max_blob]  # exactly at the limit
        return _utf16(rng.choice(APP_PATHS))
    if item.display == "sid":
        subs = [rng.getrandbits(32) for _ in range(rng.randrange(1, 6))]
        return bytes([1, len(subs)]) + (5).to_bytes(6, "big") + b"".join(s.to_bytes(4, "little") for s in subs)
    return rng.randbytes(rng.randrange(0, max_blob + 8))


def random_values(rng: random.Random, layer: LayerModel, max_blob: int, absent_rate: float = 0.1
                  ) -> dict[str, object | None]:
    """One event's values; about ``absent_rate`` of them absent."""
    values: dict[str, object | None] = {}
    for item in layer.record.items:
        if rng.random() < absent_rate:
            values[item.name] = None
        elif item.is_blob:
            values[item.name] = _blob(rng, item, max_blob)
        else:
            values[item.name] = _scalar(rng, item, layer.ip_version == 6)
    return values


def _as_int(value: object) -> int:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return int(value)
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    assert isinstance(value, int)
    return value


def _holds(condition: ConditionModel, value: object) -> bool:
    """Whether one condition holds for a present value."""
    kind, low, high = condition.kind, condition.low_value, condition.high_value
    if kind == "app_id":
        held = bytes(value) == _utf16(condition.text) if isinstance(value, (bytes, bytearray)) else False
    elif kind in ("v4_mask", "v6_mask"):
        width = 32 if kind == "v4_mask" else 128
        mask = ((1 << width) - 1) ^ ((1 << (width - condition.prefix)) - 1)
        target = low if kind == "v4_mask" else int.from_bytes(condition.data, "big")
        held = (_as_int(value) & mask) == (target & mask)
    elif kind == "v6":
        held = _as_int(value) == int.from_bytes(condition.data, "big")
    elif kind == "flags":
        bits = _as_int(value) & low
        held = {"flags_all_set": bits == low, "flags_any_set": bits != 0}.get(condition.match, bits == 0)
    elif kind in ("range", "v4_range"):
        held = low <= _as_int(value) <= high
    elif kind == "v6_range":
        held = int.from_bytes(condition.data, "big") <= _as_int(value) <= int.from_bytes(condition.data_high, "big")
    else:
        number = _as_int(value)
        held = {"equal": number == low, "not_equal": number != low, "greater": number > low,
                "greater_or_equal": number >= low, "less": number < low,
                "less_or_equal": number <= low}[condition.match]
    if condition.match == "not_equal" and kind in ("v6", "app_id"):
        return not held
    return held


def matches(layer: LayerModel, values: dict[str, object | None]) -> bool:
    """WFP's verdict on whether the layer's filter matches: AND across fields, OR within one."""
    by_field: dict[str, list[ConditionModel]] = {}
    for condition in layer.conditions:
        by_field.setdefault(condition.field_name, []).append(condition)
    for field, conditions in by_field.items():
        value = values.get(field)
        if value is None or not any(_holds(c, value) for c in conditions):
            return False
    return True


def _satisfying(rng: random.Random, condition: ConditionModel, current: object) -> object:
    """A value for the condition's field that makes it hold (best effort for negated forms)."""
    kind, low = condition.kind, condition.low_value
    if condition.match in ("not_equal", "flags_none_set", "greater", "less"):
        return current
    if kind == "range":
        return rng.randint(low, condition.high_value)
    if kind == "v4_range":
        return ipaddress.IPv4Address(rng.randint(low, condition.high_value))
    if kind == "v6_range":
        bounds = (int.from_bytes(condition.data, "big"), int.from_bytes(condition.data_high, "big"))
        return ipaddress.IPv6Address(rng.randint(*bounds))
    if kind in ("v4", "v4_mask"):
        return ipaddress.IPv4Address(low)
    if kind in ("v6", "v6_mask"):
        return ipaddress.IPv6Address(condition.data)
    if kind == "app_id":
        return _utf16(condition.text)
    if kind == "flags":
        return low | (_as_int(current) if current is not None else 0)
    return low


def events(model: ProjectModel, layer: LayerModel, count: int, seed: int) -> Iterator[Event]:
    """``count`` events for ``layer``; with conditions, about half are steered to match."""
    rng = random.Random(f"{seed}/{layer.name}")
    for index in range(count):
        values = random_values(rng, layer, model.max_blob)
        for condition in layer.conditions:  # a filtered field always carries a value
            if values.get(condition.field_name) is None:
                values[condition.field_name] = condition.low_value + 1 + rng.randrange(7)
        if layer.conditions and index % 2 == 0:
            for condition in layer.conditions:
                values[condition.field_name] = _satisfying(rng, condition, values.get(condition.field_name))
        yield Event(layer, values, matches(layer, values))
