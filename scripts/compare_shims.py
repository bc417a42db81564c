#!/usr/bin/env python3
"""Compare every declaration of the shim headers with Microsoft's real headers.

Usage::

    python scripts/compare_shims.py [--wdk DIR] [--ntddi 0x0A000000 ...]

``DIR`` is a WDK include root (``km/``, ``shared/``; default ``$WFPGEN_WDK``). Two tiers of
this repository compile generated drivers against headers written here: the host
simulation (``wfpgen/hostsim/include``, gcc on Linux, LP64 with ``-fshort-wchar``) and the
MinGW-w64 cross build (``wfpgen/crossbuild/include`` over MinGW's ``ddk`` headers, LLP64).
This script asks clang what each of them declares and what the WDK declares, and prints
every difference.

How it works, per tier and per ``NTDDI_VERSION`` of :data:`NTDDI_VALUES`:

1. The probe translation unit includes what a generated ``driver.h`` includes, in its order
   (``ntifs.h``, ``ntddk.h``, ``wdmsec.h``, ``ndis.h``, ``fwpsk.h``, ``fwpmk.h``) with the
   generated project's defines. The WDK is compiled as :mod:`wfpgen.realheaders` does (clang
   in MSVC mode, x64); the host shims with clang for x86-64 Linux (``-fshort-wchar``); the
   cross-build shims with clang for ``x86_64-w64-mingw32``.
2. ``-ast-dump=json`` lists the declarations: functions, variables, typedefs, structures
   and unions (members in order, nested anonymous members included), enumerations; ``-E
   -dD`` lists the macros and which file defines each.
3. A second translation unit asks the compiler for what the first pass cannot show:
   ``typedef __typeof__(x)`` for the type of every function, variable and member (its type
   tree, typedefs resolved, comes back in the JSON), enumerators holding every enum
   constant's value, every numeric macro's value (as the compiler evaluates it, casts
   included), ``offsetof`` and ``sizeof`` (cross build only: the only tier whose layout
   is the one a driver hands to the system); the preprocessor gives the full expansion of
   every macro that is not a number.

What a shim tier declares (in a file of its own include directory) is compared with the
WDK; the cross build is also compared for every name the host shims declare, where MinGW's
headers answer (the surface generated drivers use). A declaration the shim offers at an
``NTDDI_VERSION`` where the WDK does not is a difference; one the WDK has and the shim does
not is not (the shims are subsets), except for members of a structure and constants of an
enumeration.

Types are compared as canonical types: typedefs resolved, calling conventions dropped (x64
has one), and every builtin integer type written as its size and signedness under its own
target (:data:`DATA_MODELS`): ``ULONG`` is ``unsigned long`` for MSVC and MinGW (LLP64) and
``unsigned int`` in the host shims (``uint32_t`` on LP64), both ``u32``; ``wchar_t`` is
``u16`` everywhere (the host build uses ``-fshort-wchar``). Structures, unions and enums
are named by their tag (anonymous ones by position); members are compared one by one.

Differences go to two groups: *deliberate* (listed with the reason in
``scripts/shim_simplifications.json``) and *unexplained* (exit status 1). The generated
tables (``wfp_layers.h``, ``wfpgen_fwps_tables.h``, ``wfpgen_fwpm_guids.h``, written from the
catalog and ``wdk_facts.json``) are compared like the hand-written headers.

Nothing from the WDK is written anywhere but a scratch directory (``--work``, else a
temporary one).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from wfpgen.realheaders import (
    BASE_FLAGS,
    KERNEL_DEFINES,
    PLATFORMS,
    RealHeaderError,
    WdkRoot,
    find_clang,
    find_wdk_root,
)

HOSTSIM_INCLUDE = REPO_ROOT / "wfpgen" / "hostsim" / "include"
CROSS_INCLUDE = REPO_ROOT / "wfpgen" / "crossbuild" / "include"
MINGW_DDK = Path("/usr/share/mingw-w64/include/ddk")
SIMPLIFICATIONS = REPO_ROOT / "scripts" / "shim_simplifications.json"

#: What a generated driver.h includes, in its order.
PROBE_HEADERS: tuple[str, ...] = ("ntifs.h", "ntddk.h", "wdmsec.h", "ndis.h", "fwpsk.h", "fwpmk.h")
#: The defines every generated project compiles with (ProjectModel.preprocessor_defines).
PROJECT_DEFINES: tuple[str, ...] = ("NDIS630", "NDIS_SUPPORT_NDIS6", "POOL_NX_OPTIN=1")
#: The targets a spec can name, from Windows 7 on, and the newest this comparison knows.
NTDDI_VALUES: tuple[str, ...] = (
    "0x06010000",  # Windows 7
    "0x06020000",  # Windows 8
    "0x0A000000",  # Windows 10
    "0x0A000003",  # 1703
    "0x0A000004",  # 1709
    "0x0A000008",  # 2004
    "0x0A00000C",  # Windows 11 22H2
    "0x0A000010",
)

_COMMON_BUILTINS = {
    "void": "void",
    "_Bool": "bool",
    "float": "f32",
    "double": "f64",
    "long double": "f80",
    "char": "char",
    "signed char": "i8",
    "unsigned char": "u8",
    "short": "i16",
    "unsigned short": "u16",
    "wchar_t": "u16",
    "int": "i32",
    "unsigned int": "u32",
    "long long": "i64",
    "unsigned long long": "u64",
    "__int128": "i128",
    "unsigned __int128": "u128",
}
#: Builtin type -> size and signedness, per data model (LLP64: Windows, MSVC and MinGW;
#: LP64: the host build). ``char`` stays ``char``: signed on every x86-64 ABI involved.
DATA_MODELS: dict[str, dict[str, str]] = {
    "LLP64": {**_COMMON_BUILTINS, "long": "i32", "unsigned long": "u32"},
    "LP64": {**_COMMON_BUILTINS, "long": "i64", "unsigned long": "u64"},
}


# -- tiers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """One way of compiling the probe: the WDK, the host shims or the cross-build shims."""

    name: str
    model: str
    own: tuple[Path, ...]  # directories whose declarations are the tier's own
    layout: bool  # compare offsets and sizes
    clang: str
    root: WdkRoot | None = None

    def command(self, source: Path, ntddi: str, *extra: str) -> list[str]:
        winnt = f"0x{int(ntddi, 16) >> 16:04X}"
        defines = [*PROJECT_DEFINES, f"NTDDI_VERSION={ntddi}", f"_WIN32_WINNT={winnt}", f"WINVER={winnt}"]
        if self.name == "wdk":
            assert self.root is not None
            platform = PLATFORMS[0]
            flags = [f"--target={platform.triple}", *BASE_FLAGS, *self.root.flags(),
                     *(f"-D{d}" for d in (*platform.defines, *KERNEL_DEFINES))]
        elif self.name == "hostsim":
            flags = ["--target=x86_64-linux-gnu", "-std=c11", "-fshort-wchar", "-fsyntax-only", "-ferror-limit=0",
                     f"-I{HOSTSIM_INCLUDE}"]
        else:
            flags = ["--target=x86_64-w64-mingw32", "-std=c11", "-fsyntax-only", "-ferror-limit=0",
                     "-Wno-#warnings", f"-I{CROSS_INCLUDE}", f"-I{MINGW_DDK}"]
        flags = [f for f in flags if f not in ("-Wall", "-Wextra")]
        return [self.clang, *flags, *(f"-D{d}" for d in defines), *extra, str(source)]

    def preprocess(self, source: Path, ntddi: str, *extra: str) -> list[str]:
        return [f for f in self.command(source, ntddi, "-E", *extra) if f != "-fsyntax-only"]

    def owns(self, path: str) -> bool:
        try:
            resolved = Path(path).resolve()
        except OSError:
            return False
        return any(resolved.is_relative_to(d) for d in self.own)


def run(command: Sequence[str]) -> tuple[str, str]:
    result = subprocess.run(list(command), capture_output=True, text=True, check=False)
    return result.stdout, result.stderr


# -- canonical types ---------------------------------------------------------------------------

_SUGAR = {"TypedefType", "ElaboratedType", "ParenType", "MacroQualifiedType", "AttributedType", "TypeOfExprType",
          "TypeOfType", "DecayedType", "AdjustedType", "BTFTagAttributedType", "CountAttributedType",
          "UsingType", "AtomicType"}


def _type_children(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in node.get("inner", []) if c.get("kind", "").endswith("Type")]


def canon(node: dict[str, Any], model: dict[str, str], alias: str = "") -> str:
    """The canonical spelling of a clang JSON type tree (see the module docstring).

    A structure, union or enum without a tag goes by the typedef that names it (``alias``).
    """
    kind = node.get("kind", "")
    children = _type_children(node)
    if kind == "TypedefType":
        alias = node.get("decl", {}).get("name", alias)
    if kind == "BuiltinType":
        spelled = node["type"]["qualType"]
        return model.get(spelled, spelled)
    if kind in _SUGAR:
        return canon(children[0], model, alias) if children else node["type"].get("desugaredQualType",
                                                                            node["type"]["qualType"])
    if kind == "QualType":
        return f"{node.get('qualifiers', '')} {canon(children[0], model, alias)}".strip()
    if kind == "PointerType":
        return f"ptr({canon(children[0], model)})"
    if kind == "ConstantArrayType":
        return f"{canon(children[0], model)}[{node.get('size')}]"
    if kind in ("IncompleteArrayType", "VariableArrayType"):
        return f"{canon(children[0], model)}[]"
    if kind in ("RecordType", "EnumType"):
        decl = node.get("decl", {})
        name = decl.get("name") or alias or "<anonymous>"
        return f"{'enum' if kind == 'EnumType' else 'record'} {name}"
    if kind == "FunctionProtoType":
        params = [canon(c, model) for c in children[1:]]
        if node.get("variadic"):
            params.append("...")
        return f"fn({', '.join(params)}) -> {canon(children[0], model)}"
    if kind == "FunctionNoProtoType":
        return f"fn(?) -> {canon(children[0], model)}"
    return node.get("type", {}).get("qualType", kind)


# -- facts -------------------------------------------------------------------------------------


@dataclass
class Decl:
    """One declaration as a tier sees it."""

    kind: str  # function, variable, typedef, record, enum, constant, macro
    name: str
    file: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Facts:
    """What one tier declares at one NTDDI_VERSION."""

    decls: dict[tuple[str, str], Decl] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def get(self, kind: str, name: str) -> Decl | None:
        return self.decls.get((kind, name))

    def named(self, name: str) -> list[Decl]:
        return [d for (k, n), d in self.decls.items() if n == name]


class _FileTracker:
    """clang's JSON names a file only when it changes: follow it through the dump in order."""

    def __init__(self) -> None:
        self.current = ""

    def see(self, node: Any) -> None:
        if isinstance(node, dict):
            for key in ("loc", "range"):
                value = node.get(key)
                if isinstance(value, dict):
                    self._loc(value)
            for child in node.get("inner", []):
                self.see(child)

    def _loc(self, loc: dict[str, Any]) -> None:
        for key in ("spellingLoc", "expansionLoc", "begin", "end"):
            if isinstance(loc.get(key), dict):
                self._loc(loc[key])
        if "file" in loc:
            self.current = loc["file"]

    def file_of(self, node: dict[str, Any]) -> str:
        """The file of ``node``'s own location (read before the rest of the node)."""
        loc = node.get("loc", {})
        for key in ("expansionLoc", "spellingLoc"):
            if isinstance(loc.get(key), dict) and "file" in loc[key]:
                return str(loc[key]["file"])
        if "file" in loc:
            return str(loc["file"])
        begin = node.get("range", {}).get("begin", {})
        for key in ("expansionLoc", "spellingLoc"):
            if isinstance(begin.get(key), dict) and "file" in begin[key]:
                return str(begin[key]["file"])
        return str(begin.get("file", self.current))


def _members(record: dict[str, Any], prefix: str, depth: int) -> list[dict[str, Any]]:
    """A record's members in order: named ones with their access path, anonymous ones too."""
    out: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    anonymous = 0
    for child in record.get("inner", []):
        kind = child.get("kind")
        if kind == "RecordDecl" and child.get("completeDefinition"):
            pending = child
            continue
        if kind != "FieldDecl":
            continue
        name = child.get("name", "")
        spelled = child.get("type", {}).get("qualType", "")
        nested = pending if pending is not None and ("unnamed" in spelled or "anonymous" in spelled) else None
        pending = None
        if name:
            path = prefix + name
            out.append({"path": path, "label": path, "bits": child.get("isBitfield", False)})
            if nested is not None:
                out += _members(nested, path + ".", depth + 1)
        elif nested is not None:
            anonymous += 1
            tag = nested.get("tagUsed", "struct")
            out.append({"path": None, "label": f"{prefix}<anonymous {tag} {anonymous}>", "bits": False})
            out += _members(nested, prefix, depth + 1)
    return out


def _top_level(ast: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    tracker = _FileTracker()
    for node in ast.get("inner", []):
        file = tracker.file_of(node)
        tracker.see(node)
        if not file:
            file = tracker.current
        yield node, file


_DEFINE = re.compile(r"^#define (\w+)(\([^)]*\))?\s?(.*)$")
_UNDEF = re.compile(r"^#undef (\w+)")
_LINEMARK = re.compile(r'^# \d+ "(.*)"')


def parse_macros(text: str) -> dict[str, tuple[str, str | None, str]]:
    """``name -> (file, parameters or None, body)`` from ``-E -dD`` output (last definition wins)."""
    macros: dict[str, tuple[str, str | None, str]] = {}
    current = ""
    for line in text.splitlines():
        mark = _LINEMARK.match(line)
        if mark:
            current = mark[1]
            continue
        if not line.startswith("#"):
            continue
        define = _DEFINE.match(line)
        if define:
            if current in ("<built-in>", "<command line>"):
                continue
            macros[define[1]] = (current, define[2], define[3].strip())
            continue
        undef = _UNDEF.match(line)
        if undef:
            macros.pop(undef[1], None)
    return macros


def first_pass(tier: Tier, ntddi: str, work: Path) -> Facts:
    """Declarations and macros of the probe TU (step 2 of the module docstring)."""
    source = work / "probe.c"
    source.write_text("".join(f"#include <{h}>\n" for h in PROBE_HEADERS), encoding="utf-8")
    with ThreadPoolExecutor(2) as pool:
        ast_job = pool.submit(run, tier.command(source, ntddi, "-Xclang", "-ast-dump=json"))
        pp_job = pool.submit(run, tier.preprocess(source, ntddi, "-dD"))
        ast_text, ast_err = ast_job.result()
        pp_text, _ = pp_job.result()
    facts = Facts()
    facts.errors = [line for line in ast_err.splitlines() if ": error:" in line]
    ast = json.loads(ast_text)
    model = DATA_MODELS[tier.model]
    tagless: dict[str, str] = {}  # id of a tagless record or enum -> its typedef name
    for node, file in _top_level(ast):
        kind = node.get("kind")
        name = node.get("name", "")
        if node.get("isImplicit"):
            continue
        if kind == "FunctionDecl":
            body = any(c.get("kind") == "CompoundStmt" for c in node.get("inner", []))
            earlier = facts.get("function", name)
            facts.decls[("function", name)] = Decl("function", name, earlier.file if earlier else file, {
                "body": body or bool(earlier and earlier.detail["body"])})
        elif kind == "VarDecl":
            facts.decls[("variable", name)] = Decl("variable", name, file, {})
        elif kind == "TypedefDecl":
            inner = _type_children(node)
            text = canon(inner[0], model) if inner else node["type"]["qualType"]
            owned = _owned_tag(inner[0]) if inner else None
            if owned is not None and owned[1] in tagless:
                tagless[owned[1]] = name
            facts.decls[("typedef", name)] = Decl("typedef", name, file, {"type": text})
        elif kind == "RecordDecl":
            if not node.get("completeDefinition"):
                continue
            key = name or node["id"]
            if not name:
                tagless[node["id"]] = ""
            facts.decls[("record", key)] = Decl("record", key, file, {
                "tag": node.get("tagUsed", "struct"), "members": _members(node, "", 0)})
        elif kind == "EnumDecl":
            constants = [c["name"] for c in node.get("inner", []) if c.get("kind") == "EnumConstantDecl"]
            key = name or node["id"]
            if not name:
                tagless[node["id"]] = ""
            facts.decls[("enum", key)] = Decl("enum", key, file, {"constants": constants})
            for constant in constants:
                facts.decls[("constant", constant)] = Decl("constant", constant, file, {"enum": name})
    # Tagless records and enums go by their typedef name.
    for (kind, key), decl in list(facts.decls.items()):
        if kind in ("record", "enum") and key in tagless:
            del facts.decls[(kind, key)]
            if tagless[key]:
                decl.name = tagless[key]
                decl.detail["tagless"] = True
                facts.decls[(kind, decl.name)] = decl
    for name, (file, params, body) in parse_macros(pp_text).items():
        facts.decls[("macro", name)] = Decl("macro", name, file, {"params": params, "body": body})
    return facts


def _owned_tag(node: dict[str, Any]) -> tuple[str, str] | None:
    owned = node.get("ownedTagDecl")
    if isinstance(owned, dict) and not owned.get("name"):
        return owned.get("kind", ""), owned.get("id", "")
    for child in _type_children(node):
        found = _owned_tag(child)
        if found is not None:
            return found
    return None


# -- the second pass ---------------------------------------------------------------------------


@dataclass
class Probe:
    """Probe lines for one translation unit; each line's answer is read back by its id."""

    lines: list[str] = field(default_factory=list)
    owners: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (kind, name, what)

    def add(self, line: str, ident: str, owner: tuple[str, str, str]) -> None:
        self.lines.append(line)
        self.owners[ident] = owner

    def numeric(self, expression: str, owner: tuple[str, str, str]) -> None:
        ident = f"wfpgen_probe_{len(self.owners)}"
        value = f"((unsigned long long)({expression}))"
        self.add(f"enum {{ {ident}_hi = (int)({value} >> 32), {ident}_lo = (int)({value} & 0xffffffffULL), "
                 f"{ident}_neg = (({expression}) < 0) }};", ident, owner)

    def type_of(self, expression: str, owner: tuple[str, str, str]) -> None:
        ident = f"wfpgen_probe_{len(self.owners)}"
        self.add(f"typedef __typeof__({expression}) {ident};", ident, owner)


_PROBE_DIAGNOSTIC = re.compile(r"probe2\.c:(\d+):\d+: error:")
_NUMERIC_MACRO_BODY = re.compile(r"^[\w\s()|&^~+\-*/<>%!?:,.]*$")


def arity(params: str | None) -> int | None:
    """How many arguments a macro takes (None: object-like)."""
    if params is None:
        return None
    return len([p for p in params.strip("()").split(",") if p.strip()])


def second_pass(tier: Tier, ntddi: str, facts: Facts, names: set[tuple[str, str]], work: Path,
                arities: dict[str, set[int | None]]) -> None:
    """Types, values, offsets and expansions for the declarations in ``names`` (step 3).

    A macro is expanded as the shims use it: with as many arguments as each shim's
    definition takes (``arities``), so an object-like alias of a function-like macro
    compares by what a use expands to.
    """
    probe = Probe()
    macros: list[Decl] = []
    for kind, name in sorted(names):
        decl = facts.get(kind, name)
        if decl is None:
            continue
        if kind in ("function", "variable"):
            probe.type_of(name, (kind, name, "type"))
        elif kind == "record":
            spelled = name if decl.detail.get("tagless") else f"{decl.detail['tag']} {name}"
            for member in decl.detail["members"]:
                if member["path"] is None:
                    continue
                probe.type_of(f"(({spelled} *)0)->{member['path']}", (kind, name, "type:" + member["path"]))
                if tier.layout and not member["bits"]:
                    probe.numeric(f"__builtin_offsetof({spelled}, {member['path']})",
                                  (kind, name, "offset:" + member["path"]))
            if tier.layout:
                probe.numeric(f"sizeof({spelled})", (kind, name, "size"))
        elif kind == "constant":
            probe.numeric(name, (kind, name, "value"))
        elif kind == "macro":
            macros.append(decl)
            if decl.detail["params"] is None and decl.detail["body"] and _NUMERIC_MACRO_BODY.match(
                    decl.detail["body"]):
                probe.numeric(name, (kind, name, "value"))
    header = "".join(f"#include <{h}>\n" for h in PROBE_HEADERS)
    source = work / "probe2.c"
    source.write_text(header + "\n".join(probe.lines) + "\n", encoding="utf-8")
    expand = work / "expand.c"
    expansion_lines = []
    uses: list[tuple[Decl, int | None]] = []
    for decl in macros:
        for count in sorted(arities.get(decl.name, set()) | {arity(decl.detail["params"])}, key=lambda a: -1 if a is None else a):
            use = decl.name if count is None else decl.name + "(" + ", ".join(f"wfpgen_arg{i}" for i in range(count)) + ")"
            expansion_lines.append(f"wfpgen_expand_{len(uses)} {use} wfpgen_end_{len(uses)}")
            uses.append((decl, count))
    expand.write_text(header + "\n".join(expansion_lines) + "\n", encoding="utf-8")
    with ThreadPoolExecutor(2) as pool:
        ast_job = pool.submit(run, tier.command(source, ntddi, "-Xclang", "-ast-dump=json",
                                                "-Xclang", "-ast-dump-filter=wfpgen_probe_"))
        pp_job = pool.submit(run, tier.preprocess(expand, ntddi, "-P"))
        ast_text, ast_err = ast_job.result()
        pp_text, _ = pp_job.result()
    offset = header.count("\n") + 1
    bad = {f"wfpgen_probe_{n}" for n in
           (int(m[1]) - offset for m in _PROBE_DIAGNOSTIC.finditer(ast_err))}
    model = DATA_MODELS[tier.model]
    values: dict[str, dict[str, int]] = defaultdict(dict)
    for node in _json_objects(ast_text):
        for ident, answer in _answers(node, model):
            base, _, part = ident.rpartition("_") if ident.count("_") > 2 else (ident, "", "")
            if base.startswith("wfpgen_probe_") and part in ("hi", "lo", "neg"):
                if base not in bad and isinstance(answer, int):
                    values[base][part] = answer
                continue
            if ident in probe.owners and ident not in bad:
                kind, name, what = probe.owners[ident]
                decl = facts.get(kind, name)
                if decl is not None:
                    decl.detail[what] = answer
    for base, parts in values.items():
        if len(parts) != 3 or base not in probe.owners:
            continue
        number = ((parts["hi"] & 0xFFFFFFFF) << 32) | (parts["lo"] & 0xFFFFFFFF)
        if parts["neg"]:
            number -= 1 << 64
        kind, name, what = probe.owners[base]
        decl = facts.get(kind, name)
        if decl is not None:
            decl.detail[what] = number
    found = {}
    for line in pp_text.splitlines():
        match = re.match(r"\s*wfpgen_expand_(\d+)\b(.*)\bwfpgen_end_\1\s*$", line)
        if match:
            found[int(match[1])] = "".join(match[2].split())
    for index, (decl, count) in enumerate(uses):
        if index in found:
            decl.detail[f"expansion/{count}"] = found[index]


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """The top-level JSON objects clang prints one after another under -ast-dump-filter."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position] in " \r\n\t":
            position += 1
        if position >= len(text):
            return
        obj, position = decoder.raw_decode(text, position)
        yield obj


def _answers(node: dict[str, Any], model: dict[str, str]) -> Iterator[tuple[str, Any]]:
    kind = node.get("kind")
    if kind == "TypedefDecl":
        children = _type_children(node)
        if children:
            yield node.get("name", ""), canon(children[0], model)
    elif kind == "EnumConstantDecl":
        for init in node.get("inner", []):
            if init.get("kind") == "ConstantExpr" and "value" in init:
                yield node.get("name", ""), int(init["value"])
    for child in node.get("inner", []) if kind not in ("TypedefDecl", "EnumConstantDecl") else []:
        yield from _answers(child, model)


# -- comparing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way a shim declaration differs from the WDK's."""

    tier: str
    header: str
    name: str
    text: str


def _display_header(tier: Tier, file: str) -> str:
    path = Path(file)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        pass
    try:
        return f"MinGW-w64 ddk/{path.resolve().relative_to(MINGW_DDK)} (reached through the cross-build shims)"
    except ValueError:
        return f"MinGW-w64 {path.name} (reached through the cross-build shims)"


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare_decl(shim: Decl, real_facts: Facts) -> list[str]:
    """How ``shim`` differs from the WDK's declaration of the same name (texts of differences)."""
    real = real_facts.get(shim.kind, shim.name)
    kind, name = shim.kind, shim.name
    if real is None:
        others = [d.kind for d in real_facts.named(name)]
        if kind == "constant" and (real_macro := real_facts.get("macro", name)) is not None:
            if "value" in real_macro.detail and real_macro.detail["value"] == shim.detail.get("value"):
                return []
            return [(f"enum constant here, macro in the WDK ({real_macro.detail.get('value')!r} there, "
                     f"{shim.detail.get('value')!r} here)")]
        if kind == "macro" and (real_constant := real_facts.get("constant", name)) is not None:
            if real_constant.detail.get("value") == shim.detail.get("value"):
                return []
            return [(f"macro here, enum constant in the WDK ({real_constant.detail.get('value')!r} there, "
                     f"{shim.detail.get('value')!r} here)")]
        if others:
            return [f"a {kind} here, a {'/'.join(sorted(others))} in the WDK"]
        return [f"{kind} not declared by the WDK at this NTDDI_VERSION"]
    out: list[str] = []
    if kind in ("function", "variable"):
        mine, theirs = shim.detail.get("type"), real.detail.get("type")
        if mine != theirs:
            out.append(f"type {mine} here, {theirs} in the WDK")
        if kind == "function" and shim.detail["body"] != real.detail["body"]:
            where = "an inline definition" if shim.detail["body"] else "an external routine"
            there = "an inline definition" if real.detail["body"] else "an external routine"
            out.append(f"{where} here, {there} in the WDK")
    elif kind == "typedef":
        if shim.detail["type"] != real.detail["type"]:
            out.append(f"typedef of {shim.detail['type']} here, {real.detail['type']} in the WDK")
    elif kind == "record":
        if shim.detail["tag"] != real.detail["tag"]:
            out.append(f"a {shim.detail['tag']} here, a {real.detail['tag']} in the WDK")
        # Named members by access path; anonymous ones are seen through the members they hold.
        mine = [m["label"] for m in shim.detail["members"] if m["path"] is not None]
        theirs = [m["label"] for m in real.detail["members"] if m["path"] is not None]
        missing = [m for m in theirs if m not in mine]
        extra = [m for m in mine if m not in theirs]
        for member in extra:
            out.append(f"member {member} is not in the WDK's declaration")
        for member in missing:
            out.append(f"member {member} missing")
        common = [m for m in mine if m in theirs]
        if common != [m for m in theirs if m in mine]:
            out.append("members in another order than the WDK's")
        for member in common:
            key = "type:" + member
            if key in shim.detail and shim.detail.get(key) != real.detail.get(key):
                out.append(f"member {member}: {shim.detail.get(key)} here, {real.detail.get(key)} in the WDK")
            key = "offset:" + member
            if key in shim.detail and shim.detail.get(key) != real.detail.get(key):
                out.append(f"member {member}: x64 offset {shim.detail.get(key)} here, "
                           f"{real.detail.get(key)} in the WDK")
        if "size" in shim.detail and shim.detail["size"] != real.detail.get("size"):
            out.append(f"x64 size {shim.detail['size']} here, {real.detail.get('size')} in the WDK")
    elif kind == "enum":
        mine, theirs = shim.detail["constants"], real.detail["constants"]
        missing = [c for c in theirs if c not in mine]
        if missing:
            out.append(f"constants missing: {', '.join(missing)}")
    elif kind == "constant":
        if shim.detail.get("value") != real.detail.get("value"):
            out.append(f"value {shim.detail.get('value')} here, {real.detail.get('value')} in the WDK")
    elif kind == "macro":
        # Used as the WDK's macro is used when that one takes arguments (an object-like
        # alias of a function-like macro expands alike when called), else as the shim's.
        count = arity(real.detail["params"])
        if count is None:
            count = arity(shim.detail["params"])
        mine, theirs = shim.detail.get(f"expansion/{count}"), real.detail.get(f"expansion/{count}")
        if "value" in shim.detail or "value" in real.detail:
            if shim.detail.get("value") != real.detail.get("value"):
                out.append(f"value {_value(shim.detail.get('value'))} here, "
                           f"{_value(real.detail.get('value'))} in the WDK")
        elif mine != theirs:
            use = "" if count is None else f" with {count} argument(s)"
            out.append(f"expands{use} to `{_short(mine or '')}` here, `{_short(theirs or '')}` in the WDK")
    return out


def _value(value: object) -> str:
    if isinstance(value, int):
        return f"{value:#x}" if value >= 0 else f"-{-value:#x}"
    return "no number"


# -- simplifications ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Simplification:
    """A difference kept on purpose, and why."""

    tier: str  # hostsim, cross or both
    name: str  # fnmatch pattern of the declaration
    match: str  # fnmatch pattern of the difference's text
    reason: str

    def covers(self, difference: Difference) -> bool:
        return (self.tier in ("both", difference.tier) and fnmatch.fnmatchcase(difference.name, self.name)
                and fnmatch.fnmatchcase(difference.text, self.match))


def load_simplifications(path: Path = SIMPLIFICATIONS) -> list[Simplification]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Simplification(e["tier"], e["name"], e.get("match", "*"), e["reason"]) for e in data["simplifications"]]


# -- driving -----------------------------------------------------------------------------------


@dataclass
class Report:
    """Every difference, with the NTDDI_VERSION values it shows at, in two groups."""

    ntddi: tuple[str, ...]
    seen: dict[Difference, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, difference: Difference, ntddi: str) -> None:
        self.seen.setdefault(difference, []).append(ntddi)

    def where(self, difference: Difference) -> str:
        values = self.seen[difference]
        if len(values) == len(self.ntddi):
            return ""
        return " [NTDDI_VERSION " + ", ".join(values) + "]"


def universe(facts: Facts, tier: Tier, also: set[str]) -> set[tuple[str, str]]:
    """The declarations of ``tier`` to compare: its own, plus (cross build) ``also`` by name."""
    out = set()
    for (kind, name), decl in facts.decls.items():
        if tier.owns(decl.file) or (name in also and not decl.file.startswith("<")):
            out.add((kind, name))
    return out


def compare(root: Path, work: Path, ntddi_values: Sequence[str], clang: str) -> Report:
    wdk_root = WdkRoot.prepare(root, work / "cache")
    tiers = {
        "wdk": Tier("wdk", "LLP64", (), True, clang, wdk_root),
        "hostsim": Tier("hostsim", "LP64", (HOSTSIM_INCLUDE.resolve(),), False, clang),
        "cross": Tier("cross", "LLP64", (CROSS_INCLUDE.resolve(),), True, clang),
    }
    report = Report(tuple(ntddi_values))

    def one(ntddi: str) -> list[tuple[Difference, str]]:
        firsts: dict[str, Facts] = {}
        for name, tier in tiers.items():
            scratch = work / f"{name}-{ntddi}"
            scratch.mkdir(parents=True, exist_ok=True)
            firsts[name] = first_pass(tier, ntddi, scratch)
        host_names = {n for (_, n), d in firsts["hostsim"].decls.items() if tiers["hostsim"].owns(d.file)}
        wanted = {name: universe(firsts[name], tiers[name], host_names if name == "cross" else set())
                  for name in ("hostsim", "cross")}
        wanted["wdk"] = wanted["hostsim"] | wanted["cross"]
        for kind, name in list(wanted["wdk"]):  # a constant here may be a macro there, and back
            wanted["wdk"] |= {("macro", name), ("constant", name)}
        arities: dict[str, set[int | None]] = defaultdict(set)
        for name in ("hostsim", "cross"):
            for kind, decl_name in wanted[name]:
                decl = firsts[name].get(kind, decl_name)
                real = firsts["wdk"].get(kind, decl_name)
                if kind == "macro" and decl is not None:
                    arities[decl_name].add(arity(decl.detail["params"]))
                    if real is not None:
                        arities[decl_name].add(arity(real.detail["params"]))
        for name, tier in tiers.items():
            second_pass(tier, ntddi, firsts[name], wanted[name], work / f"{name}-{ntddi}", arities)
        out: list[tuple[Difference, str]] = []
        for name in ("hostsim", "cross"):
            for kind, decl_name in sorted(wanted[name]):
                decl = firsts[name].get(kind, decl_name)
                if decl is None:
                    continue
                header = _display_header(tiers[name], decl.file)
                label = decl_name if kind != "record" else f"{decl.detail['tag']} {decl_name}"
                label = f"{kind} {label}" if kind not in ("record",) else label
                for text in compare_decl(decl, firsts["wdk"]):
                    out.append((Difference(name, header, label, text), ntddi))
        errors = [f"{name} at {ntddi}: {e}" for name, f in firsts.items() if name != "wdk" for e in f.errors]
        out += [(Difference("error", "", "", e), ntddi) for e in errors]
        return out

    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        for results in pool.map(one, ntddi_values):
            for difference, ntddi in results:
                if difference.tier == "error":
                    report.errors.append(difference.text)
                else:
                    report.add(difference, ntddi)
    return report


def group_of(difference: Difference, simplifications: Sequence[Simplification]) -> tuple[str, str | None]:
    """``(group, reason)``: deliberate or unexplained."""
    for simplification in simplifications:
        if simplification.covers(difference):
            return "deliberate", simplification.reason
    return "unexplained", None


def render(report: Report, simplifications: Sequence[Simplification]) -> tuple[str, dict[str, int]]:
    """The printed report and the count of each group."""
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, int] = defaultdict(int)
    used: set[Simplification] = set()
    for difference in sorted(report.seen, key=lambda d: (d.tier, d.header, d.name, d.text)):
        group, reason = group_of(difference, simplifications)
        counts[group] += 1
        line = f"  {difference.name}: {difference.text}{report.where(difference)}"
        if reason is not None:
            used.update(s for s in simplifications if s.covers(difference))
        groups[group][f"{difference.tier}: {difference.header}"].append(line)
    lines: list[str] = []
    for group in ("unexplained", "deliberate"):
        if group not in groups:
            continue
        lines.append(f"=== {group}")
        for header in sorted(groups[group]):
            lines.append(f"-- {header}")
            lines.extend(groups[group][header])
        lines.append("")
    if simplifications:
        lines.append("=== deliberate simplifications (scripts/shim_simplifications.json)")
        for simplification in simplifications:
            state = "" if simplification in used else " [matched nothing]"
            lines.append(f"  {simplification.tier}: {simplification.name} / {simplification.match}{state}")
            lines.append(f"      {simplification.reason}")
        lines.append("")
    if report.errors:
        lines.append("=== the shim probe did not compile cleanly")
        lines.extend(f"  {e}" for e in sorted(set(report.errors)))
        counts["unexplained"] += len(set(report.errors))
        lines.append("")
    total = sum(counts.values())
    lines.append(f"summary: {total} difference(s): " + ", ".join(
        f"{counts.get(g, 0)} {g}" for g in ("unexplained", "deliberate")))
    return "\n".join(lines), dict(counts)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--wdk", type=Path, default=None, help="WDK include root (default: $WFPGEN_WDK)")
    parser.add_argument("--ntddi", nargs="+", default=list(NTDDI_VALUES), help="NTDDI_VERSION values to compare at")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--simplifications", type=Path, default=SIMPLIFICATIONS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        root = find_wdk_root(args.wdk)
        if root is None:
            print("compare_shims: no WDK include root: give --wdk DIR or set WFPGEN_WDK", file=sys.stderr)
            return 2
        clang = find_clang()
    except RealHeaderError as exc:
        print(f"compare_shims: {exc}", file=sys.stderr)
        return 2
    simplifications = load_simplifications(args.simplifications)
    with tempfile.TemporaryDirectory(prefix="compare-shims-") as temporary:
        work = args.work or Path(temporary)
        report = compare(root, work, args.ntddi, clang)
    text, counts = render(report, simplifications)
    print(text)
    failing = counts.get("unexplained", 0)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
