"""Spec fuzzing: ``wfpgen new SPEC -o DIR`` on generated valid specs and near-valid mutations.

Property: the command exits 0 and writes every file its manifest lists (with the listed hash),
or exits 2, writes nothing, and prints only ``file:line:col: error: ...`` lines and the summary
line. Never a traceback, never exit 1 for a spec problem, never a partial directory, and
within a time bound (hypothesis ``deadline``). A few valid specs per run are also compiled
with the host compile of ``tests/test_c_compiles.py``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzbudget import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wfpgen.catalog import Field, Layer, load_catalog
from wfpgen.cli import app
from wfpgen.hostsim import INCLUDE_DIR
from wfpgen.spec import RESERVED_DEVICE_NAMES
from wfpgen.validate import (
    MAX_CONDITIONS_PER_LAYER,
    MAX_ITEMS_PER_LAYER,
    PROTOCOL_NAMES,
    metadata_extractable,
)
from wfpgen.windows_names import INBOX_SERVICE_NAMES

CATALOG = load_catalog()
RANK = {v.id: v.rank for v in CATALOG.versions}
TARGETS = [v.id for v in CATALOG.versions if v.id in {
    "win10", "win10_1607", "win10_1709", "win10_1809", "win10_2004", "win11",
    "win11_22h2", "win11_24h2"}]
GCC = shutil.which("gcc")
runner = CliRunner()
SPEC_NAME = "spec.yaml"
ERROR_LINE = re.compile(rf"^{re.escape(SPEC_NAME)}:\d+:\d+: error: ")
SUMMARY = re.compile(r"^\d+ errors?; nothing was written$")
DEADLINE_MS = 20_000
COMPILED: list[int] = []  # valid specs compiled so far this run
COMPILE_BUDGET = 3

# -- valid specs from the catalog ------------------------------------------------------------


def _ok(version_id: str, target: str) -> bool:
    return RANK[version_id] <= RANK[target]


def _recordable(layer: Layer, target: str) -> list[Field]:
    return [f for f in layer.fields if f.extractable and not f.reserved and _ok(f.min_windows, target)]


def _metadata(layer: Layer, target: str, fields: list[str]) -> list[str]:
    names = []
    for name in layer.metadata:
        item = CATALOG.metadata[name]
        if metadata_extractable(item) and _ok(item.min_windows, target) and name not in fields:
            names.append(name)
    return names + ["current_process_id"]


@st.composite
def condition_for(draw: st.DrawFn, field: Field) -> dict[str, Any] | None:
    if field.name == "flags":
        flags = draw(st.lists(st.sampled_from(sorted(CATALOG.condition_flags)), min_size=1, max_size=3,
                              unique=True))
        match = draw(st.sampled_from(["flags_all_set", "flags_any_set", "flags_none_set"]))
        return {"field": "flags", "match": match, "value": flags}
    bits = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}.get(field.type)
    if bits is not None and "address" in field.name and field.type == "uint32":
        octets = draw(st.lists(st.integers(0, 255), min_size=4, max_size=4))
        if draw(st.booleans()):
            return {"field": field.name, "value": ".".join(map(str, octets))}
        if draw(st.booleans()):
            low = draw(st.integers(0, 0xFFFFFFFF))
            high = draw(st.integers(low, 0xFFFFFFFF))
            return {"field": field.name, "match": "range",
                    "value": [str(ipaddress.IPv4Address(low)), str(ipaddress.IPv4Address(high))]}
        prefix = draw(st.integers(0, 32))
        network = int.from_bytes(bytes(octets), "big") & ~((1 << (32 - prefix)) - 1) & 0xFFFFFFFF
        text = ".".join(str(b) for b in network.to_bytes(4, "big"))
        # A prefix (FWP_V4_ADDR_MASK) is not sortable: 'equal' is its only match.
        return {"field": field.name, "value": f"{text}/{prefix}"}
    if bits is not None:
        if field.name == "ip_protocol" and draw(st.booleans()):
            return {"field": field.name, "value": draw(st.sampled_from(sorted(PROTOCOL_NAMES)))}
        top = (1 << bits) - 1
        if draw(st.booleans()):
            low = draw(st.integers(0, top))
            high = draw(st.integers(low, top))
            return {"field": field.name, "match": "range", "value": [low, high]}
        match = draw(st.sampled_from(["equal", "not_equal", "greater", "greater_or_equal", "less",
                                      "less_or_equal"]))
        return {"field": field.name, "match": match, "value": draw(st.integers(0, top))}
    if field.type == "byteArray16":
        raw = draw(st.binary(min_size=16, max_size=16))
        if draw(st.booleans()):
            low = int.from_bytes(raw, "big")
            high = draw(st.integers(low, (1 << 128) - 1))
            return {"field": field.name, "match": "range",
                    "value": [str(ipaddress.IPv6Address(low)), str(ipaddress.IPv6Address(high))]}
        return {"field": field.name, "match": draw(st.sampled_from(["equal", "not_equal"])),
                "value": str(ipaddress.IPv6Address(raw))}
    if field.name == "ale_app_id":
        tail = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._\\ -", min_size=1, max_size=60))
        return {"field": field.name, "value": "\\device\\" + tail}
    return None


@st.composite
def layer_entry(draw: st.DrawFn, layer: Layer, target: str) -> dict[str, Any] | str:
    if draw(st.integers(0, 4)) == 0 and layer.min_windows and _recordable(layer, target):
        # a bare name takes the top-level defaults, which need the default fields to exist there
        default = {"ip_protocol", "ip_local_address", "ip_local_port", "ip_remote_address", "ip_remote_port"}
        if all(layer.field(n) is not None and layer.field(n).extractable  # type: ignore[union-attr]
               and _ok(layer.field(n).min_windows, target) for n in default):  # type: ignore[union-attr]
            return layer.name
    fields = _recordable(layer, target)
    chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=min(8, len(fields)),
                           unique_by=lambda f: f.name))
    names = [f.name for f in chosen]
    meta = draw(st.lists(st.sampled_from(_metadata(layer, target, names)), max_size=4, unique=True))
    meta = meta[: MAX_ITEMS_PER_LAYER - len(names)]
    entry: dict[str, Any] = {"layer": layer.name, "fields": names, "metadata": meta}
    candidates = [f for f in layer.fields if f.condition and _ok(f.min_windows, target)]
    if candidates and draw(st.booleans()):
        conditions = []
        for field in draw(st.lists(st.sampled_from(candidates), max_size=3, unique_by=lambda f: f.name)):
            condition = draw(condition_for(field))
            if condition is not None:
                conditions.append(condition)
        entry["conditions"] = conditions[:MAX_CONDITIONS_PER_LAYER]
    if layer.can_block and draw(st.booleans()):
        entry["action"] = "block"
    return entry


IDENT = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,31}\Z", fullmatch=True).filter(
    lambda name: name.lower() not in INBOX_SERVICE_NAMES and name.upper() not in RESERVED_DEVICE_NAMES)


@st.composite
def valid_spec(draw: st.DrawFn) -> dict[str, Any]:
    target = draw(st.sampled_from(TARGETS))
    layers = [layer for layer in CATALOG.layers.values()
              if _ok(layer.min_windows, target) and _recordable(layer, target)]
    chosen = draw(st.lists(st.sampled_from(layers), min_size=1, max_size=4, unique_by=lambda x: x.name))
    spec: dict[str, Any] = {
        "version": 1,
        "driver": {"name": draw(IDENT), "description": draw(st.text(
            alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)), "target": target},
        "layers": [draw(layer_entry(layer, target)) for layer in chosen],
    }
    if draw(st.booleans()):
        spec["sink"] = {"kind": draw(st.sampled_from(["ring", "dbgprint"]))}
    if draw(st.booleans()):
        spec["sublayer"] = {"weight": draw(st.integers(0, 0xFFFF))}
    return spec


# -- mutations --------------------------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.just(""), st.just("x" * 5000), st.just("é\u202e\U0001f600\x00"),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.binary(max_size=10),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


def _set(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node[path[0]] = _set(node[path[0]], path[1:], value)
    return node


@st.composite
def structural_mutation(draw: st.DrawFn) -> str:
    spec = draw(valid_spec())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(spec)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["junk", "unknown-name", "huge-list", "dup-layer", "empty", "long",
                                     "unicode", "deep", "extra-key", "drop"]))
        if kind == "junk":
            spec = _set(spec, path, draw(JUNK))
        elif kind == "unknown-name":
            spec = _set(spec, path, draw(st.sampled_from(["ip_remote_prot", "ale_auth_conect_v4", "proces_id",
                                                          "nonsense", "FWPS_LAYER_ALE_AUTH_CONNECT_V4"])))
        elif kind == "huge-list":
            spec = _set(spec, path, ["ip_remote_port"] * draw(st.sampled_from([33, 500, 20000])))
        elif kind == "dup-layer" and isinstance(spec, dict) and isinstance(spec.get("layers"), list) \
                and spec["layers"]:
            spec["layers"].append(spec["layers"][0])
        elif kind == "empty":
            spec = _set(spec, path, draw(st.sampled_from(["", [], {}])))
        elif kind == "long":
            spec = _set(spec, path, "A" * draw(st.sampled_from([33, 300, 100_000])))
        elif kind == "unicode":
            spec = _set(spec, path, draw(st.text(min_size=1, max_size=20)))
        elif kind == "deep":
            value: Any = "x"
            for _ in range(draw(st.sampled_from([10, 33, 150]))):
                value = [value]
            spec = _set(spec, path, value)
        elif kind == "extra-key" and isinstance(spec, dict):
            spec[draw(st.sampled_from(["layer", "field", "Version", "sink_kind", "ü"]))] = 1
        elif kind == "drop" and path and isinstance(spec, dict):
            parent = spec
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and parent:
                parent.pop(path[-1])
    if not isinstance(spec, dict):
        spec = {"spec": spec}
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=draw(st.booleans()), width=10**6)


TEXT_SNIPPETS = [
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"),
    "x: &anchor {version: 1}\ny: *anchor\n",
    "version: !!python/object/apply:os.system ['true']\n",
    "version: !!binary aGVsbG8=\n",
    "version: !custom 1\n",
    "version: 1\nversion: 2\n",
    "driver: {name: A, name: B}\n",
    "? [a, b]\n: 1\n",
    "? {a: 1}\n: 1\n",
    "1: 2\n",
    "null: 3\n",
    "version: 1\n" + "[" * 5000 + "]" * 5000 + "\n",
    "list: " + "[" * 5000 + "\n",
    "%YAML 1.2\n---\nversion: 1\n",
    "---\nversion: 1\n---\nversion: 1\n",
    "version: 1\n...\n",
    "\t version: 1\n",
    "version: 0x1\n",
    "version: 1.0\n",
    "version: '1'\n",
    "version: 1_0\n",
    "version: 01\n",
    "version: 0:1\n",
    "version: 0b1\n",
    "version: !!int '0o1'\n",
    "version: !!timestamp 'x'\n",
    "version: !!bool 'x'\n",
    "version: !!int ''\n",
    "sink: {capacity: !!float '1:30'}\n",
    "action: on\n",
    "driver: {name: |\n    Evil\n}\n",
    "driver: {description: \"\\u202e\\u2066\\u200b\\ufeff\"}\n",
    "version: .inf\n",
    "layers: *undefined\n",
    "merge: {<<: {a: 1}}\n",
    "\ufeffversion: 1\n",
    "version: 1\ndriver: {name: \"\\uD800\"}\n",
]


@st.composite
def text_mutation(draw: st.DrawFn) -> bytes:
    base = yaml.safe_dump(draw(valid_spec()), sort_keys=False).encode()
    kind = draw(st.sampled_from(["snippet", "flip", "truncate", "insert", "garbage", "encoding"]))
    if kind == "snippet":
        return base + b"\n" + draw(st.sampled_from(TEXT_SNIPPETS)).encode()
    if kind == "flip" and base:
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "truncate":
        return base[: draw(st.integers(0, len(base)))]
    if kind == "insert":
        at = draw(st.integers(0, len(base)))
        return base[:at] + draw(st.sampled_from([b":", b"- ", b"&a ", b"*a", b"!!str ", b"{", b"\"", b"\t",
                                                   b"\x00", b"\xff\xfe", b"\n  x: 1\n"])) + base[at:]
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    return base.decode().encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1"])))


# -- the property -----------------------------------------------------------------------------


def _manifest_complete(root: Path) -> None:
    manifest = json.loads((root / "wfpgen-manifest.json").read_text(encoding="utf-8"))
    listed = manifest["files"]
    assert listed, "empty manifest"
    for path, digest in listed.items():
        target = root / path
        assert target.is_file(), f"manifest lists {path}, which was not written"
        assert hashlib.sha256(target.read_bytes()).hexdigest() == digest, f"{path} differs from the manifest"
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk - set(listed) <= {"wfpgen-manifest.json"}, on_disk - set(listed)


def _compile(root: Path) -> None:
    driver = root / "driver"
    for source in sorted(driver.glob("*.c")):
        result = subprocess.run(
            [GCC or "gcc", "-std=c11", "-fshort-wchar", "-Wall", "-Wextra", "-Wconversion", "-Werror",
             "-fsyntax-only", "-I", str(driver), "-I", str(INCLUDE_DIR), str(source)],
            capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{source.name} does not compile:\n{result.stderr[:4000]}"


def run_new(data: bytes, compile_valid: bool = False) -> int:
    """Run ``wfpgen new`` on ``data`` and check the property; the exit code."""
    with tempfile.TemporaryDirectory(prefix="wfpgen-fuzz-") as temp:
        work = Path(temp)
        (work / SPEC_NAME).write_bytes(data)
        out = work / "out"
        cwd = os.getcwd()
        os.chdir(work)  # the diagnostics name the spec as given: spec.yaml
        try:
            result = runner.invoke(app, ["new", SPEC_NAME, "-o", str(out)])
        finally:
            os.chdir(cwd)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
            raise AssertionError(f"traceback from wfpgen new:\n{trace}\nspec:\n{data[:2000]!r}")
        stderr = result.stderr
        assert "Traceback" not in stderr and "Traceback" not in result.stdout
        if result.exit_code == 0:
            _manifest_complete(out)
            if compile_valid and GCC is not None and len(COMPILED) < COMPILE_BUDGET:
                COMPILED.append(1)
                _compile(out)
        else:
            assert result.exit_code == 2, (
                f"exit {result.exit_code} for a spec problem:\nstderr:\n{stderr}\nspec:\n{data[:2000]!r}")
            lines = stderr.splitlines()
            assert lines, "exit 2 without a diagnostic"
            assert SUMMARY.match(lines[-1]), f"last line is not the summary: {lines[-1]!r}"
            bad = [line for line in lines[:-1] if not ERROR_LINE.match(line)]
            assert not bad, f"stderr lines not in file:line:col form: {bad[:5]}\nspec:\n{data[:2000]!r}"
            assert len(lines) - 1 == int(lines[-1].split()[0]), "summary count does not match the lines"
            assert not out.exists(), f"a failed run left {sorted(p.name for p in out.rglob('*'))[:10]}"
        return result.exit_code


SETTINGS = {"deadline": DEADLINE_MS, "suppress_health_check": list(HealthCheck), "derandomize": False}


@settings(max_examples=examples(15), **SETTINGS)  # type: ignore[arg-type]
@given(valid_spec())
def test_valid_specs_generate_complete_projects(spec: dict[str, Any]) -> None:
    data = yaml.safe_dump(spec, sort_keys=False).encode()
    code = run_new(data, compile_valid=True)
    assert code == 0, f"a catalog-valid spec was refused:\n{data.decode()}"


@settings(max_examples=examples(25), **SETTINGS)  # type: ignore[arg-type]
@given(structural_mutation())
def test_structural_mutations_exit_0_or_2(text: str) -> None:
    run_new(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=examples(25), **SETTINGS)  # type: ignore[arg-type]
@given(text_mutation())
def test_text_mutations_exit_0_or_2(data: bytes) -> None:
    run_new(data)


@pytest.mark.parametrize("snippet", TEXT_SNIPPETS, ids=range(len(TEXT_SNIPPETS)))
def test_yaml_edge_cases(snippet: str) -> None:
    base = "version: 1\ndriver: {name: Fuzz}\n"
    run_new((base + snippet).encode("utf-8", "surrogatepass"))
    run_new(snippet.encode("utf-8", "surrogatepass"))
