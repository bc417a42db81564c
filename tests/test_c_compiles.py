"""The generated driver C compiles with gcc against the host-side WDK subset (``wfpgen.hostsim``).

A strict static check of the generated sources, not a Windows build:

* every ``driver/*.c`` of every spec in ``specs/`` compiles with ``-Wall -Wextra -Wconversion
  -Wsign-compare -Wshadow -Werror`` (``-Wconversion`` stands in for MSVC /W4's C4244/C4267),
  as written and again as a ring-sink variant (``sink: {kind: ring}``); ``monitor.yaml`` also
  compiles retargeted to Windows 7 (dbgprint and ring: ``ExAllocatePoolZero``) and to Windows 11
  (ring: ``ExAllocatePool2``);
* the objects link into a shared object with ``-Wl,--no-undefined`` against stubs of exactly the
  functions the headers declare, and every GUID is defined once, by ``callouts.c`` (the file that
  includes ``<initguid.h>``); nothing passes ``-DINITGUID``;
* ``wfpgen/hostsim/include/wfp_layers.h`` is what ``scripts/build_hostsim_headers.py`` writes now;
* every (layer, field) and (layer, metadata) pair the catalog lets a spec ask for compiles.

Skipped, with the reason, when gcc is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import load_script

from wfpgen.hostsim import INCLUDE_DIR, RUNTIME_DIR
from wfpgen.pipeline import model_for
from wfpgen.render import project_files, render_file
from wfpgen.validate import BLOB_METADATA_TYPES, MAX_ITEMS_PER_LAYER, SCALAR_METADATA_TYPES

REPO = Path(__file__).resolve().parents[1]
SPECS = sorted((REPO / "specs").glob("*.yaml"))
CATALOG = REPO / "wfpgen" / "catalog" / "data"
GCC = shutil.which("gcc")
NM = shutil.which("nm")

pytestmark = pytest.mark.skipif(
    GCC is None, reason="gcc is not installed: the generated C cannot be compiled here"
)

WARNINGS = ["-Wall", "-Wextra", "-Wconversion", "-Wsign-compare", "-Wshadow", "-Werror"]
BASE_FLAGS = ["-std=c11", "-fshort-wchar", *WARNINGS]
PUBLIC_HEADERS = ["ntifs.h", "ntddk.h", "wdm.h", "wdmsec.h", "ndis.h", "fwpsk.h", "fwpmk.h", "evntrace.h",
                  "TraceLoggingProvider.h"]


@dataclass(frozen=True)
class Project:
    """One generated project written to disk."""

    name: str
    root: Path

    @property
    def driver(self) -> Path:
        return self.root / "driver"

    @property
    def sources(self) -> list[Path]:
        return sorted(self.driver.glob("*.c"))


def gcc(args: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert GCC is not None
    return subprocess.run([GCC, *args], cwd=cwd, capture_output=True, text=True, check=False)


def write_project(spec: Path, root: Path) -> Project:
    """Generate the C sources and headers of ``spec`` (only those) under ``root``.

    Only the files marked ``c_source`` are rendered: the rest of the project (build files, the
    ring sink's Python reader) is not this module's business.
    """
    model = model_for(spec)
    files = project_files(model)
    for output in files:
        if not output.c_source:
            continue
        target = root / output.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(render_file(model, output, files))
    return Project(spec.stem, root)


def compile_flags(project: Project) -> list[str]:
    return [*BASE_FLAGS, "-I", str(project.driver), "-I", str(INCLUDE_DIR)]


def assert_compiles(project: Project) -> None:
    assert project.sources, f"{project.name}: no driver/*.c generated"
    for source in project.sources:
        result = gcc([*compile_flags(project), "-fsyntax-only", str(source)])
        assert result.returncode == 0, f"{project.name}/{source.name} does not compile:\n{result.stderr}"


# -- the specs -------------------------------------------------------------------------------


#: The ring sink as the variants ask for it (64 KiB: small, a multiple of 8).
RING_SINK = {"kind": "ring", "capacity": 65536}


def _variant(spec: Path, directory: Path, name: str, *, ring: bool, target: str | None = None) -> Path:
    """A copy of ``spec`` named ``name``, with the ring sink if ``ring``, retargeted if ``target``."""
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    if ring:
        data["sink"] = dict(RING_SINK)
    if target is not None:
        data["driver"]["target"] = target
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


MONITOR = REPO / "specs" / "monitor.yaml"

#: name -> (spec, ring sink?, target); every spec twice (as written, ring), then the retargets:
#: Windows 10 (1507) is the FWPS_CALLOUT2 / ExAllocatePoolZero generation, 1709 the first with
#: FWPS_CALLOUT3, Windows 11 the ExAllocatePool2 one (Windows 10 2004+).
VARIANTS: dict[str, tuple[Path, bool, str | None]] = {
    **{spec.stem: (spec, False, None) for spec in SPECS},
    **{f"{spec.stem}-ring": (spec, True, None) for spec in SPECS},
    "monitor-win10": (MONITOR, False, "win10"),
    "monitor-win10_1709-ring": (MONITOR, True, "win10_1709"),
    "monitor-win11-ring": (MONITOR, True, "win11"),
}

#: Ring-sink variants whose generated C is known not to compile because of a template bug:
#: name -> reason (reported, not worked around).  Empty: every variant compiles.
KNOWN_TEMPLATE_BUGS: dict[str, str] = {}


def _params(names: Sequence[str]) -> list[object]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_TEMPLATE_BUGS[n], strict=True))
        if n in KNOWN_TEMPLATE_BUGS
        else n
        for n in names
    ]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    base = tmp_path_factory.mktemp("generated")
    specs = base / "specs"
    specs.mkdir()
    out: dict[str, Project] = {}
    for name, (spec, ring, target) in VARIANTS.items():
        path = spec if not ring and target is None else _variant(spec, specs, name, ring=ring, target=target)
        out[name] = write_project(path, base / name)
    return out


PROJECT_NAMES = list(VARIANTS)


def test_specs_exist() -> None:
    assert SPECS, "no specs/*.yaml to compile"


@pytest.mark.parametrize("name", _params(PROJECT_NAMES))
def test_generated_c_compiles(projects: dict[str, Project], name: str) -> None:
    assert_compiles(projects[name])


POOL2_CALL = "ExAllocatePool2(POOL_FLAG_NON_PAGED,"
POOL_ZERO_CALL = "ExAllocatePoolZero(NonPagedPool,"


def _uses_pool2(variant: tuple[Path, bool, str | None]) -> bool:
    """Whether the variant's target is Windows 10 2004 (NTDDI_WIN10_VB, ExAllocatePool2) or later."""
    spec, _, target = variant
    target = target or yaml.safe_load(spec.read_text(encoding="utf-8"))["driver"].get("target") or "win10"
    versions = json.loads((CATALOG / "versions.json").read_text(encoding="utf-8"))
    return int(next(v["hex"] for v in versions if v["id"] == target), 16) >= 0x0A000008


RING_NAMES = [name for name, (_, ring, _) in VARIANTS.items() if ring]


def test_ring_variants_cover_both_pool_routines() -> None:
    assert {_uses_pool2(VARIANTS[name]) for name in RING_NAMES} == {True, False}


@pytest.mark.parametrize("name", RING_NAMES)
def test_ring_variants_use_the_allocator_of_their_target(projects: dict[str, Project], name: str) -> None:
    project = projects[name]
    assert [p.name for p in project.sources].count("sink_ring.c") == 1
    assert (project.driver / "channel.h").is_file()
    sink = (project.driver / "sink_ring.c").read_text(encoding="utf-8")
    assert "AllocateNonPaged(" in sink  # the one allocator, in driver.h (the flow contexts use it too)
    code = re.sub(r"/\*.*?\*/", "", (project.driver / "driver.h").read_text(encoding="utf-8"), flags=re.DOTALL)
    text = re.sub(r"\s+", "", code)
    if _uses_pool2(VARIANTS[name]):
        assert POOL2_CALL in text and "ExAllocatePoolZero" not in text
    else:
        assert POOL_ZERO_CALL in text and "ExAllocatePool2" not in text


# -- linking: every symbol resolved, every GUID defined once ----------------------------------

_AUX = re.compile(
    r"^/\* (?P<file>.+?):\d+:N(?P<kind>[CF]) \*/ extern (?P<ret>.+?) ?\b(?P<name>\w+) \((?P<params>.*)\);"
)
_EXTERN_DATA = re.compile(r"^EXTERN_C const (?P<type>\w+) (?P<name>\w+);$", re.MULTILINE)


def _split_params(params: str) -> list[str]:
    parts = [p.strip() for p in params.split(",")]
    if parts == ["void"]:
        return []
    return parts


def stub_source(workdir: Path) -> str:
    """C source defining every function (and data object) the hostsim headers declare.

    The function list comes from gcc itself (``-aux-info``) so the stubs follow the headers.
    Each returns zero (STATUS_SUCCESS, NULL, FALSE).
    """
    probe = workdir / "headers.c"
    probe.write_text("".join(f"#include <{h}>\n" for h in PUBLIC_HEADERS), encoding="utf-8")
    aux = workdir / "headers.aux"
    result = gcc(
        [
            "-std=c11",
            "-fshort-wchar",
            "-fsyntax-only",
            "-I",
            str(INCLUDE_DIR),
            "-aux-info",
            str(aux),
            str(probe),
        ]
    )
    assert result.returncode == 0, result.stderr
    lines = ["/* Link stubs for the hostsim headers: every declared routine returns zero. */"]
    lines += [f"#include <{h}>" for h in PUBLIC_HEADERS]
    count = 0
    for line in aux.read_text(encoding="utf-8").splitlines():
        match = _AUX.match(line)
        if match is None or Path(match["file"]).resolve().parent != INCLUDE_DIR.resolve():
            continue
        params = _split_params(match["params"])
        assert all("(" not in p for p in params), f"stub generator cannot name the parameters of: {line}"
        named = [p if p == "..." else f"{p} p{i}" for i, p in enumerate(params)]
        ret = match["ret"].strip()
        body = [f"(void)p{i};" for i, p in enumerate(params) if p != "..."]
        body.append("" if ret == "void" else f"return ({ret})0;")
        lines.append(f"{ret} {match['name']}({', '.join(named) or 'void'}) {{ {' '.join(body)} }}")
        count += 1
    assert count > 0, "no declarations found in the aux-info output"
    for match in _EXTERN_DATA.finditer((INCLUDE_DIR / "hostwdk.h").read_text(encoding="utf-8")):
        lines.append(f"const {match['type']} {match['name']} = {{0}};")
    return "\n".join(lines) + "\n"


def _nm(obj: Path) -> list[tuple[str, str]]:
    assert NM is not None
    result = subprocess.run([NM, "-P", str(obj)], capture_output=True, text=True, check=True)
    return [
        (fields[0], fields[1])
        for fields in (line.split() for line in result.stdout.splitlines())
        if len(fields) >= 2
    ]


def _driver_guids(driver_h: Path) -> list[str]:
    text = driver_h.read_text(encoding="utf-8")
    return re.findall(r"DEFINE_GUID\(\s*(\w+)\s*,", text)


@pytest.mark.skipif(NM is None, reason="nm (binutils) is not installed")
@pytest.mark.parametrize("name", _params(PROJECT_NAMES))
def test_generated_c_links_and_defines_each_guid_once(
    projects: dict[str, Project], name: str, tmp_path: Path
) -> None:
    project = projects[name]
    objects: list[Path] = []
    for source in project.sources:
        obj = tmp_path / (source.stem + ".o")
        result = gcc([*compile_flags(project), "-fPIC", "-c", str(source), "-o", str(obj)])
        assert result.returncode == 0, f"{name}/{source.name} does not compile:\n{result.stderr}"
        objects.append(obj)

    stubs = tmp_path / "stubs.c"
    stubs.write_text(stub_source(tmp_path), encoding="utf-8")
    stubs_obj = tmp_path / "stubs.o"
    result = gcc(
        [
            "-std=c11",
            "-fshort-wchar",
            "-w",
            "-fPIC",
            "-I",
            str(INCLUDE_DIR),
            "-c",
            str(stubs),
            "-o",
            str(stubs_obj),
        ]
    )
    assert result.returncode == 0, f"stubs.c does not compile:\n{result.stderr}"

    # The FWPM GUIDs come from fwpkclnt.lib/uuid.lib on Windows; the runtime's stand-in here.
    guids_obj = tmp_path / "fwpm_guids.o"
    result = gcc(["-std=c11", "-fshort-wchar", "-fPIC", "-I", str(INCLUDE_DIR), "-c",
                  str(RUNTIME_DIR / "fwpm_guids.c"), "-o", str(guids_obj)])
    assert result.returncode == 0, f"fwpm_guids.c does not compile:\n{result.stderr}"

    library = tmp_path / "driver.so"
    result = gcc(["-shared", "-Wl,--no-undefined", "-o", str(library), *map(str, objects), str(stubs_obj),
                  str(guids_obj)])
    assert result.returncode == 0, (
        f"{name}: the driver does not link (a GUID or routine is missing):\n{result.stderr}"
    )

    defined_in: dict[str, list[str]] = {}
    for obj in objects:
        for symbol, kind in _nm(obj):
            # Global data only (weak V/v included): file-local statics such as __func__.0 may repeat.
            if kind in "VvDRBGS":
                defined_in.setdefault(symbol, []).append(obj.name)
    duplicates = {s: where for s, where in defined_in.items() if len(where) > 1}
    assert not duplicates, (
        f"{name}: data defined in more than one object (weak symbols hide this): {duplicates}"
    )

    guids = _driver_guids(project.driver / "keys.h")
    assert guids, "keys.h declares no GUID"
    wrong = {g: defined_in.get(g) for g in guids if defined_in.get(g) != ["callouts.o"]}
    assert not wrong, f"{name}: driver GUIDs must be defined by callouts.c (after <initguid.h>) only: {wrong}"
    # The FWPM GUIDs are fwpkclnt.lib's and uuid.lib's: a driver object defining one included
    # <fwpmk.h> under INITGUID, which the real header turns into a redefinition of each.
    fwpm = {s: where for s, where in defined_in.items() if s.startswith(("FWPM_LAYER_", "FWPM_CONDITION_"))}
    assert not fwpm, f"{name}: the driver defines FWPM GUIDs itself: {sorted(fwpm)[:5]}"


# -- the generated table header is current ---------------------------------------------------




def test_wfp_layers_header_matches_a_fresh_run() -> None:
    script = load_script("build_hostsim_headers")
    fresh = script.render(script.load_layers())
    committed = (INCLUDE_DIR / "wfp_layers.h").read_text(encoding="utf-8")
    assert committed == fresh, "wfp_layers.h is stale: run python scripts/build_hostsim_headers.py"


# -- the headers themselves ------------------------------------------------------------------


def test_headers_refuse_a_32_bit_wchar_t(tmp_path: Path) -> None:
    source = tmp_path / "probe.c"
    source.write_text("#include <ntddk.h>\n", encoding="utf-8")
    result = gcc(["-std=c11", "-fsyntax-only", "-I", str(INCLUDE_DIR), str(source)])
    assert result.returncode != 0 and "-fshort-wchar" in result.stderr


def test_fwpsk_needs_ndis_first(tmp_path: Path) -> None:
    source = tmp_path / "probe.c"
    source.write_text("#include <ntddk.h>\n#include <fwpsk.h>\n", encoding="utf-8")
    result = gcc([*BASE_FLAGS, "-fsyntax-only", "-I", str(INCLUDE_DIR), str(source)])
    assert result.returncode != 0 and "ndis.h" in result.stderr


def test_define_guid_switches_on_initguid_at_each_use(tmp_path: Path) -> None:
    """Before <initguid.h> DEFINE_GUID declares; after it, it defines (weak, like selectany)."""
    source = tmp_path / "probe.c"
    source.write_text(
        "#include <ntddk.h>\n"
        "DEFINE_GUID(PROBE_BEFORE, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xa, 0xb);\n"
        "#include <initguid.h>\n"
        "DEFINE_GUID(PROBE_AFTER, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xa, 0xb);\n"
        "const GUID *ProbeUse(int which);\n"
        "const GUID *ProbeUse(int which) { return which ? &PROBE_BEFORE : &PROBE_AFTER; }\n",
        encoding="utf-8",
    )
    obj = tmp_path / "probe.o"
    result = gcc([*BASE_FLAGS, "-c", "-I", str(INCLUDE_DIR), str(source), "-o", str(obj)])
    assert result.returncode == 0, result.stderr
    if NM is None:
        pytest.skip("nm (binutils) is not installed")
    kinds = dict(_nm(obj))
    assert kinds.get("PROBE_BEFORE") == "U"
    assert kinds.get("PROBE_AFTER") == "V"


#: Windows x64 sizes/offsets of the structures hostwdk.h declares completely: derived from the
#: windows-rs (win32metadata) member lists under natural x64 alignment, and matching a MinGW
#: layout probe. A wrong member type in the header shows up here. Enum values: Microsoft's.
X64_LAYOUT_ASSERTS = """
C_ASSERT(sizeof(GUID) == 16);
C_ASSERT(sizeof(WCHAR) == 2);
C_ASSERT(sizeof(FWP_BYTE_BLOB) == 16);
C_ASSERT(sizeof(FWP_VALUE0) == 16);
C_ASSERT(sizeof(FWP_CONDITION_VALUE0) == 16);
C_ASSERT(sizeof(FWP_RANGE0) == 32);
C_ASSERT(sizeof(FWP_V6_ADDR_AND_MASK) == 17);
C_ASSERT(sizeof(FWPM_DISPLAY_DATA0) == 16);
C_ASSERT(sizeof(FWPM_SESSION0) == 72);
C_ASSERT(sizeof(FWPM_PROVIDER0) == 64);
C_ASSERT(sizeof(FWPM_SUBLAYER0) == 72);
C_ASSERT(sizeof(FWPM_ACTION0) == 20);
C_ASSERT(sizeof(FWPM_CALLOUT0) == 88);
C_ASSERT(sizeof(FWPM_FILTER_CONDITION0) == 40);
C_ASSERT(sizeof(FWPM_FILTER0) == 200);
C_ASSERT(FIELD_OFFSET(FWPM_FILTER0, layerKey) == 0x40);
C_ASSERT(FIELD_OFFSET(FWPM_FILTER0, action) == 0x80);
C_ASSERT(sizeof(FWPS_INCOMING_VALUES0) == 16);
C_ASSERT(sizeof(FWPS_CLASSIFY_OUT0) == 40);
C_ASSERT(sizeof(FWPS_CALLOUT3) == 48);
C_ASSERT(FIELD_OFFSET(FWPS_CALLOUT3, classifyFn) == 0x18);
C_ASSERT(FIELD_OFFSET(DRIVER_OBJECT, DriverUnload) == 0x68);
C_ASSERT(FIELD_OFFSET(DRIVER_OBJECT, MajorFunction) == 0x70);
C_ASSERT(FWP_ACTION_BLOCK == 0x1001 && FWP_ACTION_PERMIT == 0x1002);
C_ASSERT(FWP_ACTION_CALLOUT_TERMINATING == 0x5003 && FWP_ACTION_CALLOUT_INSPECTION == 0x6004);
C_ASSERT(FWP_ACTION_CALLOUT_UNKNOWN == 0x4005 && FWP_ACTION_CONTINUE == 0x2006);
C_ASSERT(FWP_ACTION_NONE == 7 && FWP_ACTION_NONE_NO_MATCH == 8);
C_ASSERT(sizeof(KIRQL) == 1 && sizeof(KSPIN_LOCK) == 8);
C_ASSERT(sizeof(LIST_ENTRY) == 16);
C_ASSERT(sizeof(KLOCK_QUEUE_HANDLE) == 24 && FIELD_OFFSET(KLOCK_QUEUE_HANDLE, OldIrql) == 16);
C_ASSERT(sizeof(IO_STATUS_BLOCK) == 16 && FIELD_OFFSET(IO_STATUS_BLOCK, Information) == 8);
C_ASSERT(sizeof(IO_CSQ) == 64 && FIELD_OFFSET(IO_CSQ, ReservePointer) == 56);
C_ASSERT(sizeof(IO_CSQ_IRP_CONTEXT) == 24);
C_ASSERT(IRP_MJ_CREATE == 0x00 && IRP_MJ_CLOSE == 0x02 && IRP_MJ_DEVICE_CONTROL == 0x0e);
C_ASSERT(IRP_MJ_CLEANUP == 0x12 && IRP_MJ_MAXIMUM_FUNCTION == 0x1b);
C_ASSERT(CTL_CODE(FILE_DEVICE_NETWORK, 0x800, METHOD_BUFFERED, FILE_READ_DATA) == 0x00126000);
C_ASSERT(CTL_CODE(0x22, 0x801, METHOD_NEITHER, FILE_WRITE_ACCESS) == 0x0022A007);
C_ASSERT(NonPagedPool == 0 && PagedPool == 1 && NonPagedPoolNx == 512 && NonPagedPoolNxCacheAligned == 516);
C_ASSERT(POOL_FLAG_NON_PAGED == 0x40);
C_ASSERT(STATUS_PENDING == 0x00000103 && STATUS_CANCELLED == (NTSTATUS)0xC0000120);
C_ASSERT(STATUS_INVALID_PARAMETER == (NTSTATUS)0xC000000D && STATUS_BUFFER_TOO_SMALL == (NTSTATUS)0xC0000023);
C_ASSERT(STATUS_INVALID_DEVICE_REQUEST == (NTSTATUS)0xC0000010);
C_ASSERT(STATUS_INSUFFICIENT_RESOURCES == (NTSTATUS)0xC000009A);
"""


def test_header_layouts_match_windows_x64(tmp_path: Path) -> None:
    source = tmp_path / "layouts.c"
    source.write_text(
        "".join(f"#include <{h}>\n" for h in PUBLIC_HEADERS) + X64_LAYOUT_ASSERTS, encoding="utf-8"
    )
    result = gcc([*BASE_FLAGS, "-fsyntax-only", "-I", str(INCLUDE_DIR), str(source)])
    assert result.returncode == 0, result.stderr


def test_role_types_declare_functions_and_reject_wrong_signatures(tmp_path: Path) -> None:
    """``IO_CSQ_RELEASE_LOCK X;`` declares a function; IoCsqInitialize takes only matching ones."""
    body = (
        "#include <ntddk.h>\n"
        "IO_CSQ_INSERT_IRP Ins; IO_CSQ_REMOVE_IRP Rem; IO_CSQ_PEEK_NEXT_IRP Peek;\n"
        "IO_CSQ_ACQUIRE_LOCK Acq; IO_CSQ_COMPLETE_CANCELED_IRP Done; DRIVER_DISPATCH Dispatch;\n"
        "VOID Ins(PIO_CSQ Csq, PIRP Irp) { (void)Csq; (void)Irp; }\n"
        "VOID Rem(PIO_CSQ Csq, PIRP Irp) { (void)Csq; (void)Irp; }\n"
        "PIRP Peek(PIO_CSQ Csq, PIRP Irp, PVOID Context) { (void)Csq; (void)Context; return Irp; }\n"
        "VOID Acq(PIO_CSQ Csq, PKIRQL Irql) { (void)Csq; *Irql = 0; }\n"
        "VOID Done(PIO_CSQ Csq, PIRP Irp) { (void)Csq; IoCompleteRequest(Irp, IO_NO_INCREMENT); }\n"
        "NTSTATUS Dispatch(PDEVICE_OBJECT Device, PIRP Irp) { (void)Device; (void)Irp; return 0; }\n"
        "%s\n"
        "NTSTATUS Probe(PIO_CSQ Csq, PDRIVER_OBJECT Driver);\n"
        "NTSTATUS Probe(PIO_CSQ Csq, PDRIVER_OBJECT Driver)\n"
        "{ Driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = Dispatch;\n"
        "  return IoCsqInitialize(Csq, Ins, Rem, Peek, Acq, Rel, Done); }\n"
    )
    good = "IO_CSQ_RELEASE_LOCK Rel; VOID Rel(PIO_CSQ Csq, KIRQL Irql) { (void)Csq; (void)Irql; }"
    bad = "VOID Rel(PIO_CSQ Csq, PKIRQL Irql); VOID Rel(PIO_CSQ Csq, PKIRQL Irql) { (void)Csq; (void)Irql; }"
    for text, ok in ((good, True), (bad, False)):
        source = tmp_path / "probe.c"
        source.write_text(body % text, encoding="utf-8")
        result = gcc([*BASE_FLAGS, "-fsyntax-only", "-I", str(INCLUDE_DIR), str(source)])
        if ok:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode != 0 and "incompatible pointer type" in result.stderr, result.stderr


# -- every field and metadata item the catalog offers ----------------------------------------


def _sweep_specs(directory: Path, sink: dict[str, object]) -> Iterator[Path]:
    """Specs that together ask for every extractable field and metadata item at every layer."""
    layers = json.loads((CATALOG / "layers.json").read_text(encoding="utf-8"))
    metadata = {m["name"]: m for m in json.loads((CATALOG / "metadata.json").read_text(encoding="utf-8"))}
    copyable = set(SCALAR_METADATA_TYPES) | set(BLOB_METADATA_TYPES)
    rounds: dict[int, list[dict[str, object]]] = {}
    for layer in layers:
        fields = [f["name"] for f in layer["fields"] if f["extractable"]]
        meta = [
            n for n in layer["metadata"] if n not in fields and metadata.get(n, {}).get("c_type") in copyable
        ]
        items = meta + fields
        for start in range(0, len(items), MAX_ITEMS_PER_LAYER):
            chunk = items[start : start + MAX_ITEMS_PER_LAYER]
            rounds.setdefault(start, []).append(
                {
                    "layer": layer["name"],
                    "fields": [i for i in chunk if i in fields],
                    "metadata": [i for i in chunk if i in meta],
                }
            )
    number = 0
    for entries in rounds.values():
        for start in range(0, len(entries), 64):
            spec = {
                "version": 1,
                "driver": {
                    "name": f"CatalogSweep{number}",
                    "description": "every field at every layer",
                    "target": "win11_24h2",
                },
                "layers": entries[start : start + 64],
                "sink": dict(sink),
            }
            path = directory / f"sweep{number}.yaml"
            path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
            number += 1
            yield path


@pytest.mark.parametrize("sink", [{"kind": "dbgprint"}, RING_SINK], ids=["dbgprint", "ring"])
def test_every_catalog_field_and_metadata_item_compiles(tmp_path: Path, sink: dict[str, object]) -> None:
    """With the ring sink this also covers every layer's blob table (offsets, masks) in sink_ring.c."""
    specs = list(_sweep_specs(tmp_path, sink))
    assert specs
    for spec in specs:
        assert_compiles(write_project(spec, tmp_path / spec.stem))
