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

from wfpgen.catalog import load_catalog
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


#: flow_attribution values the traffic holds, with their weights: mostly packets of flows with a
#: context, some of flows established before the driver (no context), some without a flow handle.
ATTRIBUTION_WEIGHTS = (8, 1, 1)


def random_values(rng: random.Random, layer: LayerModel, max_blob: int, absent_rate: float = 0.1
                  ) -> dict[str, object | None]:
    """One event's values; about ``absent_rate`` of them absent.

    A layer that takes process data from its flow gets a ``flow_attribution`` (always present); the
    flow's process data is absent unless it is 0 (a flow with a context)."""
    values: dict[str, object | None] = {}
    for item in layer.record.items:
        if item.source == "attribution":
            values[item.name] = rng.choices(range(len(ATTRIBUTION_WEIGHTS)), ATTRIBUTION_WEIGHTS)[0]
        elif rng.random() < absent_rate:
            values[item.name] = None
        elif item.is_blob:
            values[item.name] = _blob(rng, item, max_blob)
        else:
            values[item.name] = _scalar(rng, item, layer.ip_version == 6)
    attribution = layer.record.attribution
    if attribution is not None and values[attribution.name] != 0:
        for item in layer.record.items:
            if item.source == "flow":
                values[item.name] = None
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
    for field, conditions in filtered_fields(layer).items():
        value = values.get(field)
        if value is None or not any(_holds(c, value) for c in conditions):
            return False
    return True


#: Widths of the integer field types a condition can test.
_WIDTHS = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}


def _field_type(layer: LayerModel, name: str) -> str:
    """The catalog type of the layer's field ``name`` (``uint16``, ``byteArray16``, ``byteBlob``...)."""
    found = load_catalog().layer(layer.name)
    field = found.field(name) if found is not None else None
    if field is None:
        raise ValueError(f"{layer.name} has no field {name!r}")
    return field.type


def app_id_near_misses(text: str) -> list[bytes]:
    """Application ids that differ from ``text``'s in one way each: the filter must tell them apart.

    WFP compares an ``FWP_BYTE_BLOB_TYPE`` byte for byte, size included: another application,
    the same path in upper case (``FwpmGetAppIdFromFileName`` always gives lower case), one
    character more or less, and the path without its terminating NUL all differ.
    """
    misses = [_utf16(path) for path in APP_PATHS if path != text]
    misses += [_utf16(text.upper()), _utf16(text + "x"), _utf16(text[:-1]), text.encode("utf-16-le")]
    return [miss for miss in misses if miss != _utf16(text)]


def _present(rng: random.Random, layer: LayerModel, name: str, conditions: list[ConditionModel]) -> object:
    """A random value of a filtered field the record does not carry (the filter still reads it)."""
    field_type = _field_type(layer, name)
    if any(c.kind == "app_id" for c in conditions) or field_type == "byteBlob":
        return _utf16(rng.choice(APP_PATHS))
    if field_type == "byteArray16":
        return ipaddress.IPv6Address(rng.getrandbits(128))
    width = _WIDTHS.get(field_type, 32)
    if any(c.kind.startswith("v4") for c in conditions):
        return ipaddress.IPv4Address(rng.getrandbits(32))
    return rng.getrandbits(width)


def _satisfying(rng: random.Random, condition: ConditionModel, current: object, width: int) -> object | None:
    """A value of the condition's field that makes it hold, or None when there is none."""
    kind, low, high, top = condition.kind, condition.low_value, condition.high_value, (1 << width) - 1
    if kind == "app_id":
        if condition.match == "not_equal":
            return rng.choice(app_id_near_misses(condition.text))
        return _utf16(condition.text)
    if kind == "flags":
        other = rng.getrandbits(width)
        if condition.match == "flags_none_set":
            return other & ~low & top
        if condition.match == "flags_any_set":
            bits = [1 << i for i in range(width) if low >> i & 1]
            return (other & ~low) | rng.choice(bits) if bits else None
        return other | low
    if kind in ("v4_range", "v6_range", "range"):
        if kind == "v6_range":
            low, high = int.from_bytes(condition.data, "big"), int.from_bytes(condition.data_high, "big")
        number: int | None = rng.randint(low, high)
    elif kind in ("v4_mask", "v6_mask"):
        width = 32 if kind == "v4_mask" else 128
        target = low if kind == "v4_mask" else int.from_bytes(condition.data, "big")
        host = (1 << (width - condition.prefix)) - 1
        number = (target & ~host) | (rng.getrandbits(width) & host)
    else:
        if kind == "v6":
            low, top = int.from_bytes(condition.data, "big"), (1 << 128) - 1
        choices = {"equal": [low], "not_equal": [n for n in (low - 1, low + 1, rng.randint(0, top)) if n != low],
                   "greater": [low + 1], "greater_or_equal": [low, low + 1], "less": [low - 1],
                   "less_or_equal": [low, low - 1]}[condition.match]
        usable = [n for n in choices if 0 <= n <= top]
        number = rng.choice(usable) if usable else None
    if number is None:
        return None
    return _typed(kind, number, current)


def _violating(rng: random.Random, condition: ConditionModel, current: object, width: int) -> list[object]:
    """Values of the condition's field just outside it (near misses), for the filter to reject."""
    kind, low, high, top = condition.kind, condition.low_value, condition.high_value, (1 << width) - 1
    if kind == "app_id":
        return [_utf16(condition.text)] if condition.match == "not_equal" else list(app_id_near_misses(condition.text))
    numbers: list[int]
    if kind == "flags":
        bits = [1 << i for i in range(width) if low >> i & 1]
        if condition.match == "flags_none_set":
            numbers = [rng.getrandbits(width) | bit for bit in bits]
        elif condition.match == "flags_any_set":
            numbers = [rng.getrandbits(width) & ~low & top]
        else:
            numbers = [(rng.getrandbits(width) | low) & ~bit for bit in bits]
    elif kind in ("range", "v4_range", "v6_range"):
        if kind == "v6_range":
            low, high, top = (int.from_bytes(condition.data, "big"), int.from_bytes(condition.data_high, "big"),
                              (1 << 128) - 1)
        numbers = [low - 1, high + 1, 0, top]
    elif kind in ("v4_mask", "v6_mask"):
        width = 32 if kind == "v4_mask" else 128
        target = low if kind == "v4_mask" else int.from_bytes(condition.data, "big")
        numbers = [target ^ (1 << (width - bit)) for bit in range(1, condition.prefix + 1)]
    else:
        if kind == "v6":
            low, top = int.from_bytes(condition.data, "big"), (1 << 128) - 1
        numbers = {"equal": [low - 1, low + 1], "not_equal": [low], "greater": [low, low - 1],
                   "greater_or_equal": [low - 1], "less": [low, low + 1],
                   "less_or_equal": [low + 1]}[condition.match]
    return [_typed(kind, n, current) for n in numbers if 0 <= n <= top]


def _typed(kind: str, number: int, current: object) -> object:
    """``number`` as a value of the condition's field: an address object where the field holds one."""
    if kind.startswith("v4") or isinstance(current, ipaddress.IPv4Address):
        return ipaddress.IPv4Address(number)
    if kind.startswith("v6") or isinstance(current, (ipaddress.IPv6Address, bytes, bytearray)):
        return ipaddress.IPv6Address(number)
    return number


def _steer(rng: random.Random, layer: LayerModel, name: str, conditions: list[ConditionModel],
           current: object, hold: bool) -> object | None:
    """A value of field ``name`` for which its conditions (OR-ed) hold, or for which none does."""
    width = _WIDTHS.get(_field_type(layer, name), 128)
    if hold:
        candidates = [_satisfying(rng, c, current, width) for c in rng.sample(conditions, len(conditions))]
    else:
        candidates = [v for c in conditions for v in _violating(rng, c, current, width)]
        rng.shuffle(candidates)
    for value in candidates:
        if value is not None and any(_holds(c, value) for c in conditions) == hold:
            return value
    return None


def filtered_fields(layer: LayerModel) -> dict[str, list[ConditionModel]]:
    """The layer's conditions by field, in spec order: AND across the fields, OR within one."""
    by_field: dict[str, list[ConditionModel]] = {}
    for condition in layer.conditions:
        by_field.setdefault(condition.field_name, []).append(condition)
    return by_field


def events(model: ProjectModel, layer: LayerModel, count: int, seed: int) -> Iterator[Event]:
    """``count`` events for ``layer``.

    With conditions, every other event is steered to match them all; every fourth one matches
    all but one field's (each filtered field in turn), with a value just outside them (an
    address one bit outside a prefix, the port past a range, another application's id, the
    filtered one with a character more); the rest are random. So the engine is tested on
    near misses of every condition as well as on hits.
    """
    rng = random.Random(f"{seed}/{layer.name}")
    fields = filtered_fields(layer)
    names = list(fields)
    for index in range(count):
        values = random_values(rng, layer, model.max_blob)
        for name, conditions in fields.items():  # a filtered field always carries a value
            if values.get(name) is None:
                values[name] = _present(rng, layer, name, conditions)
        if fields and index % 4 != 3:
            missed = names[(index // 4) % len(names)] if index % 4 == 1 else None
            for name, conditions in fields.items():
                value = _steer(rng, layer, name, conditions, values[name], hold=name != missed)
                if value is not None:
                    values[name] = value
        yield Event(layer, values, matches(layer, values))
