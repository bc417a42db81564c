#!/usr/bin/env python3
"""Extract WFP facts from Microsoft's WDK headers into ``wfpgen/catalog/data/wdk_facts.json``.

Usage::

    python scripts/extract_wdk_facts.py [--wdk DIR] [--out FILE]
    python scripts/extract_wdk_facts.py --compare [--facts FILE] [--catalog DIR]

``--wdk`` is a WDK include root (``km/``, ``km/crt/``, ``shared/``; default ``$WFPGEN_WDK``).
Nothing of the headers' text is copied: clang (in MSVC mode, driven the way
:mod:`wfpgen.realheaders` compiles a generated driver) compiles small probe translation
units that include ``ntddk.h``, ``ndis.h``, ``fwpsk.h`` and ``fwpmk.h`` and the script keeps
only names, numbers, GUID values and the oldest ``NTDDI_VERSION`` at which each name exists:

* declarations and enum member order come from clang's JSON AST (``-ast-dump-filter``);
* every number (enumerator, macro, ``offsetof``, ``sizeof``) is evaluated by the compiler:
  the probe declares ``extern char wfpgen_probe_N[(unsigned long long)(X) + 1];`` and the
  value is read back from the array type clang reports;
* GUIDs are read from the initialisers ``DEFINE_GUID`` expands to under ``INITGUID``;
* macros come from ``-E -dM``.

Every translation unit is compiled at each ``NTDDI_*`` value ``sdkddkver.h`` defines from
Windows Vista on, and at each version of ``wfpgen/catalog/data/versions.json``. A name's
``gate`` is the oldest catalog version whose ``NTDDI_VERSION`` has it, ``gate_ntddi`` the
oldest sampled ``NTDDI_*`` (finer: the catalog does not list every release). A value that
differs between NTDDIs is listed under ``value_changes``; a name that disappears again has
``present`` (the runs of sampled NTDDIs that have it).

A root assembled from different kits can lack an ``NTDDI_*`` macro its newer headers test
(``#if NTDDI_VERSION >= NTDDI_WIN10_NI`` with an older ``sdkddkver.h`` is always true, the
undefined macro counting as 0). Such macros are defined before any header from the catalog's
``versions.json`` and listed under ``source.ntddi_supplied``; an ``NTDDI_*`` macro still
undefined in a WFP header stops the script. ``--compare`` reports every difference between
the catalog (``wfpgen/catalog/data`` or ``--catalog``) and the facts; it needs no WDK.

Output is deterministic: ``json.dumps(obj, indent=1, sort_keys=True) + "\\n"``. Anything
unexpected (a clang error outside the two known ``ndis.h`` lines, a probe clang cannot
evaluate, an enum without members) stops the script with ``SystemExit``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from wfpgen.realheaders import (
    PLATFORMS,
    RealHeaderError,
    WdkRoot,
    clang_command,
    find_clang,
    find_wdk_root,
    ntddi_defines,
    parse_diagnostics,
)

JsonObj = dict[str, Any]

DEFAULT_OUT = REPO_ROOT / "wfpgen" / "catalog" / "data" / "wdk_facts.json"
VERSIONS_JSON = REPO_ROOT / "wfpgen" / "catalog" / "data" / "versions.json"
FORMAT = 1

#: What a generated project's sources are compiled with (wfpgen.model's preprocessor_defines).
PROJECT_DEFINES: tuple[str, ...] = ("NDIS630", "NDIS_SUPPORT_NDIS6", "POOL_NX_OPTIN=1")
HEADERS: tuple[str, ...] = ("ntddk.h", "ndis.h", "fwpsk.h", "fwpmk.h")
PLATFORM = next(p for p in PLATFORMS if p.name == "x64")
CONFIGURATION = "Release"
OLDEST_NTDDI = 0x06000000  # NTDDI_WIN6 (Windows Vista): WFP's first release

#: The header files whose identity (SHA-256) the facts record.
IDENTITY_FILES = re.compile(r"^(fwp[a-z]*\.h|sdkddkver\.h|ntverp\.h|ntddk\.h|wdm\.h|ndis\.h)$", re.IGNORECASE)
#: clang errors the headers raise that are clang's, not the headers': ndis.h pastes ``0x ##``
#: onto a macro that MSVC's preprocessor expands and clang's does not.
KNOWN_ERRORS = re.compile(r"ndis\.h:\d+:\d+: error: invalid suffix 'x\w+' on integer constant")

ENUM_TAGS_EXACT: tuple[str, ...] = ("FWPS_BUILTIN_LAYERS_", "FWP_DATA_TYPE_", "FWP_MATCH_TYPE_")
FIELDS_TAG_PREFIX = "FWPS_FIELDS_"
METADATA_RECORD = "FWPS_INCOMING_METADATA_VALUES0_"
METADATA_TYPEDEF = "FWPS_INCOMING_METADATA_VALUES0"
MACRO_FAMILIES: Mapping[str, str] = {
    "metadata_fields": "FWPS_METADATA_FIELD_",
    "condition_flags": "FWP_CONDITION_FLAG_",
    "callout_flags": "FWP_CALLOUT_FLAG_",
}
GUID_FAMILIES: Mapping[str, str] = {"layer_guids": "FWPM_LAYER_", "condition_guids": "FWPM_CONDITION_"}
#: API names whose gates generated code depends on (declarations or macros).
API_NAMES: tuple[str, ...] = (
    *(f"FWPS_CALLOUT{n}" for n in range(4)),
    *(f"FWPS_CALLOUT_CLASSIFY_FN{n}" for n in range(4)),
    *(f"FWPS_CALLOUT_NOTIFY_FN{n}" for n in range(4)),
    *(f"FWPS_FILTER{n}" for n in range(4)),
    *(f"FwpsCalloutRegister{n}" for n in range(4)),
    "FwpsCalloutUnregisterById0",
    "FwpsFlowAssociateContext0",
    "FwpsFlowRemoveContext0",
    "KeQuerySystemTimePrecise",
    "ExAllocatePool2",
    "ExAllocatePoolZero",
    "POOL_FLAG_NON_PAGED",
)
VALUED_API_MACROS: frozenset[str] = frozenset({"POOL_FLAG_NON_PAGED"})

_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_DEFINE = re.compile(r"^#define (\w+)(\([^)]*\))?(?: (.*))?$")
_ARRAY = re.compile(r"^char\[(\d+)\]$")
_UNDEF_WARNING = re.compile(r"^(?P<file>.+?):\d+:\d+: warning: '(?P<name>\w+)' is not defined, evaluates to 0")


def fail(message: str) -> SystemExit:
    """The error to raise when the headers or clang do something unexpected."""
    return SystemExit(f"extract_wdk_facts: {message}")


def dump(obj: object) -> str:
    """The canonical text of the facts file."""
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


# --------------------------------------------------------------------------- clang


@dataclass(frozen=True)
class Clang:
    """clang and the WDK root it compiles against."""

    exe: str
    root: WdkRoot
    scratch: Path

    def command(self, source: Path, ntddi: int, extra: Sequence[str], defines: Sequence[str] = ()) -> list[str]:
        """clang_command for ``source`` at ``ntddi`` with ``extra`` flags before the source."""
        base = clang_command(self.exe, self.root, source, PLATFORM, CONFIGURATION,
                             [*ntddi_defines(ntddi), *PROJECT_DEFINES, *defines])
        return [*base[:-1], *extra, base[-1]]

    def run(self, source: Path, ntddi: int, extra: Sequence[str], defines: Sequence[str] = ()) -> tuple[str, str]:
        """stdout and stderr of one compile; an error in the probe itself stops the script."""
        command = self.command(source, ntddi, extra, defines)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        own = [line for line in result.stderr.splitlines()
               if line.startswith(str(source)) and (": error: " in line or ": fatal error: " in line)]
        if own or (result.returncode != 0 and not result.stderr.strip()):
            raise fail(f"clang failed at NTDDI 0x{ntddi:08X} on {source.name}:\n  " + "\n  ".join(own[:20]))
        return result.stdout, result.stderr

    def header_errors(self, stderr: str) -> list[str]:
        """The errors clang raised inside the WDK root, but for the two known clang-only ones."""
        found: dict[str, None] = {}
        for diagnostic in parse_diagnostics(stderr):
            if diagnostic.severity not in ("error", "fatal error") or not self.root.owns(diagnostic.file):
                continue
            relative = Path(diagnostic.file).resolve().relative_to(self.root.path).as_posix()
            text = f"{relative}:{diagnostic.line}: {diagnostic.message}"
            if not KNOWN_ERRORS.search(f"{relative}:{diagnostic.line}:{diagnostic.column}: error: "
                                       f"{diagnostic.message}"):
                found[text] = None
        return list(found)


def json_objects(text: str) -> Iterator[JsonObj]:
    """The JSON objects clang's ``-ast-dump=json -ast-dump-filter`` prints one after another."""
    decoder = json.JSONDecoder()
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return
        obj, index = decoder.raw_decode(text, index)
        yield obj


def parse_macros(text: str) -> dict[str, str | None]:
    """``-E -dM`` output: object-like macro name -> body (function-like macros map to None)."""
    macros: dict[str, str | None] = {}
    for line in text.splitlines():
        match = _DEFINE.match(line)
        if match:
            macros[match[1]] = None if match[2] else (match[3] or "").strip()
    return macros


# --------------------------------------------------------------------------- NTDDI values


@dataclass(frozen=True)
class Sample:
    """One NTDDI_VERSION the headers are compiled at."""

    value: int
    name: str
    version: str | None  # the catalog version id with exactly this NTDDI, if any

    @property
    def hex(self) -> str:
        return f"0x{self.value:08X}"


def read_versions(path: Path) -> list[JsonObj]:
    """The catalog's versions (id, ntddi, hex), oldest first."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise fail(f"{path}: expected a non-empty list of versions")
    return [{"id": v["id"], "ntddi": v["ntddi"], "hex": int(v["hex"], 16)} for v in data]


def resolve_ntddi(macros: Mapping[str, str | None]) -> dict[str, tuple[int, bool]]:
    """NTDDI_* name -> (value, defined by a literal) for every object-like NTDDI_* constant."""
    resolved: dict[str, tuple[int, bool]] = {}
    for name, body in macros.items():
        if not name.startswith("NTDDI_") or name == "NTDDI_VERSION" or body is None:
            continue
        literal, seen = True, {name}
        while body is not None and _IDENT.match(body) and body not in seen:
            literal = False
            seen.add(body)
            body = macros.get(body)
        if body is not None and re.fullmatch(r"0x[0-9A-Fa-f]{8}", body):
            resolved[name] = (int(body, 16), literal)
    return resolved


def samples(defined: Mapping[str, tuple[int, bool]], supplied: Mapping[str, int],
            versions: Sequence[JsonObj]) -> list[Sample]:
    """Every NTDDI value to compile at, oldest first, each with its preferred name."""
    names: dict[int, list[tuple[int, str]]] = {}
    for name, (value, literal) in defined.items():
        names.setdefault(value, []).append((0 if literal else 1, name))
    for name, value in supplied.items():
        names.setdefault(value, []).append((0, name))
    by_value = {v["hex"]: v for v in versions}
    newest = max(by_value)
    out = []
    for value in sorted(set(names) | set(by_value)):
        if value < OLDEST_NTDDI or value > newest:
            continue
        version = by_value.get(value)
        name = version["ntddi"] if version else min(names[value])[1]
        out.append(Sample(value, name, version["id"] if version else None))
    return out


# --------------------------------------------------------------------------- one NTDDI


@dataclass
class Snapshot:
    """What the headers declare at one NTDDI_VERSION."""

    sample: Sample
    enums: dict[str, list[str]] = field(default_factory=dict)  # tag -> members in order
    enum_typedefs: dict[str, list[str]] = field(default_factory=dict)  # tag -> typedef names
    guids: dict[str, str] = field(default_factory=dict)
    metadata_members: list[str] = field(default_factory=list)
    macros: dict[str, str | None] = field(default_factory=dict)
    declarations: set[str] = field(default_factory=set)
    values: dict[str, int] = field(default_factory=dict)  # enumerators and macros
    aliases: dict[str, str | None] = field(default_factory=dict)  # FWPS_FIELD_/FWPM_ alias macro -> target
    layout: list[tuple[str, int, int]] = field(default_factory=list)  # (member, offset, size)
    layout_size: int = 0
    undefined: dict[str, set[str]] = field(default_factory=dict)  # undefined macro -> files testing it
    errors: list[str] = field(default_factory=list)  # clang errors inside the headers


def _literal(node: JsonObj, where: str) -> int:
    """The integer an initialiser expression of a GUID holds (through casts and parentheses)."""
    while node.get("kind") in ("ImplicitCastExpr", "CStyleCastExpr", "ParenExpr", "ConstantExpr"):
        inner = node.get("inner") or []
        if len(inner) != 1:
            raise fail(f"{where}: unexpected initialiser shape")
        node = inner[0]
    if node.get("kind") != "IntegerLiteral":
        raise fail(f"{where}: initialiser is a {node.get('kind')}, not an integer literal")
    return int(node["value"])


def guid_of(decl: JsonObj) -> str:
    """The GUID a ``DEFINE_GUID`` variable is initialised with, as lower-case text."""
    name = decl["name"]
    inits = [n for n in decl.get("inner", []) if n.get("kind") == "InitListExpr"]
    if len(inits) != 1 or len(inits[0].get("inner", [])) != 4:
        raise fail(f"{name}: not a GUID initialiser (was INITGUID honoured?)")
    d1, d2, d3, d4 = inits[0]["inner"]
    if d4.get("kind") != "InitListExpr" or len(d4.get("inner", [])) != 8:
        raise fail(f"{name}: Data4 is not eight bytes")
    parts = [_literal(d1, name), _literal(d2, name), _literal(d3, name)]
    data4 = [_literal(b, name) for b in d4["inner"]]
    text = f"{parts[0]:08x}-{parts[1]:04x}-{parts[2]:04x}-{data4[0]:02x}{data4[1]:02x}-" + "".join(
        f"{b:02x}" for b in data4[2:])
    return text


class Extractor:
    """Compiles the probes at every sampled NTDDI and assembles the facts."""

    def __init__(self, clang: Clang, versions: Sequence[JsonObj]) -> None:
        self.clang = clang
        self.versions = versions
        self.scratch = clang.scratch
        self.prelude = ""
        self.supplied: dict[str, int] = {}

    # -- sources -----------------------------------------------------------------------------

    def write(self, name: str, body: str) -> Path:
        path = self.scratch / name
        path.write_text(body, encoding="utf-8")
        return path

    def base_source(self) -> str:
        includes = "".join(f"#include <{h}>\n" for h in HEADERS)
        return "/* wfpgen WDK facts probe */\n" + self.prelude + includes

    # -- NTDDI discovery -----------------------------------------------------------------------

    def discover(self) -> tuple[list[Sample], JsonObj]:
        """The sampled NTDDIs and what identifies the headers."""
        newest = max(v["hex"] for v in self.versions)
        ver = self.write("wfpgen_sdkddkver.c", "#include <sdkddkver.h>\n#include <ntverp.h>\n")
        out, _ = self.clang.run(ver, newest, ["-E", "-dM"])
        macros = parse_macros(out)
        defined = resolve_ntddi(macros)
        self.supplied = {v["ntddi"]: v["hex"] for v in self.versions if v["ntddi"] not in defined}
        for name, value in sorted(self.supplied.items()):
            self.prelude += f"#ifndef {name}\n#define {name} 0x{value:08X}\n#endif\n"
        found = samples(defined, self.supplied, self.versions)
        identity: JsonObj = {
            "clang_target": PLATFORM.triple,
            "defines": sorted([*PROJECT_DEFINES, "_KERNEL_MODE", "WINNT=1", *PLATFORM.defines]),
            "headers_included": list(HEADERS),
            "ntddi_supplied": {k: f"0x{v:08X}" for k, v in sorted(self.supplied.items())},
            "sdkddkver": {
                "WDK_NTDDI_VERSION": self._macro_text(macros, "WDK_NTDDI_VERSION"),
                "WDK_NTDDI_VERSION_value": self._ntddi_value(defined, macros.get("WDK_NTDDI_VERSION")),
            },
            "ntverp": {name: self._macro_text(macros, name) for name in (
                "VER_PRODUCTMAJORVERSION", "VER_PRODUCTMINORVERSION", "VER_PRODUCTBUILD", "VER_PRODUCTBUILD_QFE")},
            "files": self.file_hashes(newest),
        }
        ntddi_names = {name: f"0x{value:08X}" for name, (value, _) in sorted(defined.items())}
        ntddi_names.update({k: f"0x{v:08X}" for k, v in self.supplied.items()})
        identity["ntddi_names"] = dict(sorted(ntddi_names.items()))
        return found, identity

    @staticmethod
    def _macro_text(macros: Mapping[str, str | None], name: str) -> str | None:
        body = macros.get(name)
        return None if body is None else re.sub(r"/\*.*?\*/", "", body).strip()

    @staticmethod
    def _ntddi_value(defined: Mapping[str, tuple[int, bool]], body: str | None) -> str | None:
        if body is None:
            return None
        if body in defined:
            return f"0x{defined[body][0]:08X}"
        return body

    def file_hashes(self, ntddi: int) -> dict[str, str]:
        """SHA-256 of the WFP headers and the version headers the probes read, by path in the root."""
        source = self.write("wfpgen_deps.c", self.base_source() + "#include <ntverp.h>\n")
        out, _ = self.clang.run(source, ntddi, ["-M", "-MT", "probe"])
        hashes: dict[str, str] = {}
        for token in out.replace("\\\n", " ").split():
            path = Path(token)
            if not IDENTITY_FILES.match(path.name) or not path.is_file():
                continue
            try:
                relative = path.resolve().relative_to(self.clang.root.path).as_posix()
            except ValueError:
                continue
            hashes[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        return dict(sorted(hashes.items()))

    # -- one NTDDI -----------------------------------------------------------------------------

    def snapshot(self, sample: Sample) -> Snapshot:
        snap = Snapshot(sample)
        tag = f"{sample.value:08x}"
        base = self.write(f"wfpgen_base_{tag}.c", self.base_source())
        self.read_ast(snap, base)
        out, _ = self.clang.run(base, sample.value, ["-E", "-dM"])
        snap.macros = parse_macros(out)
        out, _ = self.clang.run(base, sample.value, ["-Xclang", "-ast-list"])
        snap.declarations = {line.strip() for line in out.splitlines() if line.strip()}
        self.evaluate(snap)
        return snap

    def read_ast(self, snap: Snapshot, base: Path) -> None:
        out, err = self.clang.run(base, snap.sample.value,
                                  ["-Xclang", "-ast-dump=json", "-Xclang", "-ast-dump-filter=FWP",
                                   "-Wsystem-headers", "-Wno-everything", "-Wundef"], ["INITGUID"])
        snap.errors = self.clang.header_errors(err)
        for line in err.splitlines():
            match = _UNDEF_WARNING.match(line.strip())
            if match and match["name"].startswith("NTDDI_"):
                snap.undefined.setdefault(match["name"], set()).add(Path(match["file"]).name.lower())
        for obj in json_objects(out):
            kind, name = obj.get("kind"), obj.get("name", "")
            if kind == "EnumDecl" and obj.get("inner") and (
                    name in ENUM_TAGS_EXACT or name.startswith(FIELDS_TAG_PREFIX)):
                members = [c["name"] for c in obj["inner"] if c.get("kind") == "EnumConstantDecl"]
                if name in snap.enums and snap.enums[name] != members:
                    raise fail(f"enum {name} printed twice with different members")
                snap.enums[name] = members
            elif kind == "TypedefDecl":
                owned = (obj.get("inner") or [{}])[0].get("ownedTagDecl") or {}
                if owned.get("kind") == "EnumDecl":
                    snap.enum_typedefs.setdefault(owned["name"], []).append(name)
            elif kind == "VarDecl" and any(name.startswith(p) for p in GUID_FAMILIES.values()):
                guid = guid_of(obj)
                if snap.guids.setdefault(name, guid) != guid:
                    raise fail(f"{name} defined twice with different GUIDs")
            elif kind == "RecordDecl" and name == METADATA_RECORD and obj.get("completeDefinition"):
                members = [c.get("name") for c in obj.get("inner", []) if c.get("kind") == "FieldDecl"]
                if not all(members):
                    raise fail(f"{METADATA_RECORD} has an unnamed member")
                snap.metadata_members = [str(m) for m in members]
        if not snap.enums.get("FWPS_BUILTIN_LAYERS_"):
            raise fail(f"no FWPS_BUILTIN_LAYERS at {snap.sample.name}: is this a WDK root with fwpsk.h?")
        if not snap.metadata_members:
            raise fail(f"no {METADATA_RECORD} at {snap.sample.name}")

    def evaluate(self, snap: Snapshot) -> None:
        """Evaluate every enumerator, macro, offset and size of interest in one probe compile."""
        enumerators = {m for members in snap.enums.values() for m in members}
        probes: dict[str, str] = {name: name for name in sorted(enumerators)}
        for name, body in sorted(snap.macros.items()):
            if body is None:
                continue
            wanted = (name in VALUED_API_MACROS or any(name.startswith(p) for p in MACRO_FAMILIES.values()))
            if name.startswith("FWPS_FIELD_") and name not in enumerators:
                target = body if _IDENT.match(body) else None
                snap.aliases[name] = target
                wanted = target in enumerators
            elif any(name.startswith(p) for p in GUID_FAMILIES.values()) and name not in snap.guids:
                if body in snap.guids:
                    snap.aliases[name] = body
                continue
            if wanted:
                probes[name] = name
        for member in snap.metadata_members:
            probes[f"offsetof:{member}"] = f"__builtin_offsetof({METADATA_TYPEDEF}, {member})"
            probes[f"sizeof:{member}"] = f"sizeof((({METADATA_TYPEDEF} *)0)->{member})"
        probes["sizeof:"] = f"sizeof({METADATA_TYPEDEF})"
        keys = list(probes)
        lines = [f"extern char wfpgen_probe_{i}[(unsigned long long)({probes[k]}) + 1];" for i, k in enumerate(keys)]
        source = self.write(f"wfpgen_values_{snap.sample.value:08x}.c", self.base_source() + "\n".join(lines) + "\n")
        out, _ = self.clang.run(source, snap.sample.value,
                                ["-Xclang", "-ast-dump=json", "-Xclang", "-ast-dump-filter=wfpgen_probe_"])
        found: dict[int, int] = {}
        for obj in json_objects(out):
            if obj.get("kind") != "VarDecl" or not obj.get("name", "").startswith("wfpgen_probe_"):
                continue
            match = _ARRAY.match(obj["type"]["qualType"])
            if match is None:
                raise fail(f"probe {obj['name']}: unexpected type {obj['type']['qualType']!r}")
            found[int(obj["name"].removeprefix("wfpgen_probe_"))] = int(match[1]) - 1
        if sorted(found) != list(range(len(keys))):
            raise fail(f"clang evaluated {len(found)} of {len(keys)} probes at {snap.sample.name}")
        for index, key in enumerate(keys):
            if not key.startswith(("offsetof:", "sizeof:")):
                snap.values[key] = found[index]
        snap.layout = [(m, found[keys.index(f"offsetof:{m}")], found[keys.index(f"sizeof:{m}")])
                       for m in snap.metadata_members]
        snap.layout_size = found[keys.index("sizeof:")]


# --------------------------------------------------------------------------- assembling


class Assembler:
    """Turns per-NTDDI snapshots (oldest first) into the facts' gates and values."""

    def __init__(self, snaps: Sequence[Snapshot]) -> None:
        self.snaps = snaps
        self.newest = snaps[-1]

    def history(self, present: Mapping[int, object]) -> JsonObj:
        """gate, gate_ntddi, value (at the newest NTDDI having it) and, when it varies, the changes.

        ``present`` maps the index of each snapshot having the name to its value (None: no value).
        """
        if not present:
            raise fail("history of a name no NTDDI has")
        indices = sorted(present)
        gate = next((self.snaps[i].sample.version for i in indices if self.snaps[i].sample.version), None)
        entry: JsonObj = {"gate": gate, "gate_ntddi": self.snaps[indices[0]].sample.name}
        runs: list[list[int]] = []
        for i in indices:
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        if len(runs) > 1 or runs[-1][1] != len(self.snaps) - 1:
            entry["present"] = [[self.snaps[a].sample.name, self.snaps[b].sample.name] for a, b in runs]
        value = present[indices[-1]]
        if value is not None:
            entry["value"] = value
            changes: list[JsonObj] = []
            for i in indices:
                if not changes or changes[-1]["value"] != present[i]:
                    changes.append({"from": self.snaps[i].sample.name, "value": present[i]})
            if len(changes) > 1:
                entry["value_changes"] = changes
        return entry

    def valued(self, names: Iterable[str], values: str = "values") -> JsonObj:
        """history() of each name, its value taken from each snapshot's ``values``."""
        out: JsonObj = {}
        for name in sorted(set(names)):
            present = {i: getattr(s, values)[name] for i, s in enumerate(self.snaps) if name in getattr(s, values)}
            out[name] = self.history(present)
        return out

    def enum(self, tag: str) -> JsonObj:
        """One enum: its gate, typedef names and members in header order with their histories."""
        order: list[str] = []
        for snap in self.snaps:
            previous: str | None = None
            for member in snap.enums.get(tag, []):
                if member not in order:
                    order.insert(order.index(previous) + 1 if previous else 0, member)
                previous = member
        typedefs = sorted({t for s in self.snaps for t in s.enum_typedefs.get(tag, [])})
        having = {i: None for i, s in enumerate(self.snaps) if tag in s.enums}
        members = []
        for name in order:
            entry = self.history({i: s.values[name] for i, s in enumerate(self.snaps)
                                  if name in s.enums.get(tag, [])})
            members.append({"name": name, **entry})
        return {**self.history(having), "typedefs": typedefs, "members": members}

    def fields_enums(self) -> JsonObj:
        tags = sorted({t for s in self.snaps for t in s.enums if t.startswith(FIELDS_TAG_PREFIX)})
        enums = {tag: self.enum(tag) for tag in tags}
        owner = {m["name"]: tag for tag, e in enums.items() for m in e["members"]}
        aliases = sorted({a for s in self.snaps for a in s.aliases if a.startswith("FWPS_FIELD_")})
        for alias in aliases:
            targets = {s.aliases[alias] for s in self.snaps if alias in s.aliases}
            if len(targets) != 1:
                raise fail(f"alias {alias} has different targets across NTDDIs: {sorted(map(str, targets))}")
            target = targets.pop()
            if target is None or target not in owner:
                raise fail(f"{alias} is not an alias of an FWPS_FIELD_* member")
            entry = self.history({i: s.values.get(alias) for i, s in enumerate(self.snaps) if alias in s.aliases})
            enums[owner[target]].setdefault("aliases", {})[alias] = {"target": target, **entry}
        return enums

    def guids(self, prefix: str) -> JsonObj:
        out: JsonObj = {}
        names = sorted({n for s in self.snaps for n in s.guids if n.startswith(prefix)})
        for name in names:
            values = {s.guids[name] for s in self.snaps if name in s.guids}
            if len(values) != 1:
                raise fail(f"{name} has different GUIDs across NTDDIs")
            out[name] = {"guid": values.pop(),
                         **self.history({i: None for i, s in enumerate(self.snaps) if name in s.guids})}
        return out

    def guid_aliases(self) -> JsonObj:
        out: JsonObj = {}
        names = sorted({a for s in self.snaps for a in s.aliases if a.startswith(tuple(GUID_FAMILIES.values()))})
        for name in names:
            targets = {s.aliases[name] for s in self.snaps if name in s.aliases}
            if len(targets) != 1:
                raise fail(f"{name} stands for different GUID names across NTDDIs")
            out[name] = {"target": targets.pop(),
                         **self.history({i: None for i, s in enumerate(self.snaps) if name in s.aliases})}
        return out

    def macro_family(self, prefix: str) -> JsonObj:
        names = [n for s in self.snaps for n in s.values if n.startswith(prefix)]
        return self.valued(names)

    def apis(self) -> JsonObj:
        out: JsonObj = {}
        for name in API_NAMES:
            present: dict[int, object] = {}
            kinds = set()
            for i, s in enumerate(self.snaps):
                if name in s.macros:
                    kinds.add("macro")
                    present[i] = s.values.get(name) if name in VALUED_API_MACROS else None
                elif name in s.declarations:
                    kinds.add("declaration")
                    present[i] = None
            if not present:
                out[name] = {"gate": None, "gate_ntddi": None, "kind": None}
                continue
            out[name] = {"kind": "/".join(sorted(kinds)), **self.history(present)}
        return out

    def metadata_layout(self) -> JsonObj:
        layouts: list[JsonObj] = []
        for snap in self.snaps:
            members = [{"name": m, "offset": o, "size": z} for m, o, z in snap.layout]
            if layouts and layouts[-1]["members"] == members and layouts[-1]["size"] == snap.layout_size:
                continue
            layouts.append({"from": snap.sample.name, "gate": snap.sample.version, "size": snap.layout_size,
                            "members": members})
        # A layout first seen at an NTDDI the catalog does not list takes effect at the next listed one.
        for layout in layouts:
            if layout["gate"] is None:
                start = next(i for i, s in enumerate(self.snaps) if s.sample.name == layout["from"])
                layout["gate"] = next((s.sample.version for s in self.snaps[start:] if s.sample.version), None)
        return {"platform": PLATFORM.name, "record": METADATA_TYPEDEF, "layouts": layouts}


def extract(root: Path, versions_path: Path, scratch: Path) -> JsonObj:
    """Every fact, as the JSON object written to the facts file."""
    # The release constants a mixed root lacks are supplied here (and recorded), not by WdkRoot.
    prepared = dataclasses.replace(WdkRoot.prepare(root, scratch / "cache"), missing_ntddi=())
    clang = Clang(find_clang(), prepared, scratch)
    versions = read_versions(versions_path)
    extractor = Extractor(clang, versions)
    sampled, identity = extractor.discover()
    with ThreadPoolExecutor(max_workers=2) as pool:
        snaps = list(pool.map(extractor.snapshot, sampled))
    undefined: dict[str, set[str]] = {}
    for snap in snaps:
        for name, files in snap.undefined.items():
            undefined.setdefault(name, set()).update(files)
    wfp_undefined = sorted(n for n, files in undefined.items() if any(f.startswith("fwp") for f in files))
    if wfp_undefined:
        raise fail(f"WFP headers test NTDDI macros nothing defines: {wfp_undefined}")
    identity["ntddi_undefined"] = {name: sorted(files) for name, files in sorted(undefined.items())}
    identity["header_errors"] = {s.sample.name: s.errors for s in snaps if s.errors}
    assembler = Assembler(snaps)
    facts: JsonObj = {
        "format": FORMAT,
        "source": identity,
        "sampled": [{"ntddi": s.name, "value": s.hex, "version": s.version} for s in sampled],
        "versions": {v["id"]: f"0x{v['hex']:08X}" for v in versions},
        "builtin_layers": assembler.enum("FWPS_BUILTIN_LAYERS_"),
        "fields_enums": assembler.fields_enums(),
        "data_types": assembler.enum("FWP_DATA_TYPE_"),
        "match_types": assembler.enum("FWP_MATCH_TYPE_"),
        "incoming_metadata_values0": assembler.metadata_layout(),
        "apis": assembler.apis(),
        "guid_aliases": assembler.guid_aliases(),
    }
    for key, prefix in MACRO_FAMILIES.items():
        facts[key] = assembler.macro_family(prefix)
    for key, prefix in GUID_FAMILIES.items():
        facts[key] = assembler.guids(prefix)
    return facts


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--wdk", type=Path, default=None, help="WDK include root (default: $WFPGEN_WDK)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="facts file to write")
    parser.add_argument("--versions", type=Path, default=VERSIONS_JSON, help="the catalog's versions.json")
    parser.add_argument("--compare", action="store_true",
                        help="compare the catalog with the facts file instead of extracting")
    parser.add_argument("--facts", type=Path, default=DEFAULT_OUT, help="facts file --compare reads")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="catalog data directory --compare reads (default: the packaged catalog)")
    return parser.parse_args(argv)


def compare(facts_path: Path, catalog_dir: Path | None) -> int:
    """Print every difference between the catalog and the facts; 1 if there is any."""
    from wfpgen.catalog import load_catalog, load_catalog_from
    from wfpgen.wdkfacts import compare_catalog

    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    catalog = load_catalog_from(catalog_dir) if catalog_dir is not None else load_catalog()
    result = compare_catalog(catalog, facts)
    for line in result.summary():
        print(line)
    for line in result.differences:
        print(f"  differs: {line}")
    return 1 if result.differences else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        return compare(args.facts, args.catalog)
    try:
        root = find_wdk_root(args.wdk)
    except RealHeaderError as exc:
        raise fail(str(exc)) from None
    if root is None:
        raise fail("no WDK include root: pass --wdk DIR or set WFPGEN_WDK")
    with tempfile.TemporaryDirectory(prefix="wfpgen-facts-") as scratch:
        facts = extract(root, args.versions, Path(scratch))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(facts), encoding="utf-8", newline="\n")
    layers = facts["builtin_layers"]["members"]
    fields = sum(len(e["members"]) for e in facts["fields_enums"].values())
    print(f"wrote {args.out}")
    print(f"sampled {len(facts['sampled'])} NTDDI values; {len(layers)} FWPS_BUILTIN_LAYERS members; "
          f"{len(facts['fields_enums'])} FWPS_FIELDS_* enums with {fields} members; "
          f"{len(facts['layer_guids'])} layer GUIDs; {len(facts['condition_guids'])} condition GUIDs")
    for ntddi, errors in facts["source"]["header_errors"].items():
        print(f"the headers do not compile at {ntddi}: " + "; ".join(errors))
    if facts["source"]["ntddi_supplied"]:
        print(f"supplied NTDDI macros the root's sdkddkver.h lacks: {facts['source']['ntddi_supplied']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
