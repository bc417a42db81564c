"""Generated drivers cross-build into x64 kernel images, and the static analysers pass them.

For every spec in ``specs/``, as written and as a ring-sink variant:

* ``wfpgen.crossbuild.cross_build`` compiles ``driver/*.c`` with MinGW-w64 (``-Werror``)
  against the shims and links a native PE that ``check_pe`` finds nothing wrong with;
* ``ci/wdk_assumptions.c`` (which the project's Windows CI compiles against the WDK) holds
  for the shims, so shims and assertions come from the same numbers;
* gcc ``-fanalyzer`` and clang-tidy (the curated checks) report nothing;
* a driver with the etw sink imports ``EtwRegister``, ``EtwWriteTransfer`` and ``EtwUnregister``
  from ntoskrnl.exe (the TraceLoggingProvider.h shim), and its ring-sink variant none of them.

Planted bugs show that the checks bite: an LLP64 format error fails the cross build,
``<initguid.h>`` after ``<fwpmk.h>`` fails the link, ``-shared`` is flagged by ``check_pe``,
a wrong number or GUID fails ``wdk_assumptions.c``, and a use after free of pool memory
is reported by both analysers.

Skipped, with the reason, when MinGW-w64, gcc or clang-tidy is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import GATED_FIELD, WIN10_SPEC, load_script

from wfpgen import crossbuild, wdkfacts
from wfpgen.catalog import load_catalog
from wfpgen.crossbuild import (
    CC,
    DDK_INCLUDE_DIR,
    INCLUDE_DIR,
    CrossBuildError,
    ToolMissing,
    check_pe,
    compile_command,
    cross_build,
    link_command,
    read_pe,
)
from wfpgen.crossbuild.analyze import clang_tidy_binary, run_clang_tidy, run_fanalyzer
from wfpgen.errors import FWPM_REINCLUDED
from wfpgen.hostsim import INCLUDE_DIR as HOST_INCLUDE_DIR
from wfpgen.model import ProjectModel
from wfpgen.pipeline import model_for
from wfpgen.render import environment, project_files, render_file

REPO = Path(__file__).resolve().parents[1]
SPECS = sorted((REPO / "specs").glob("*.yaml"))

MINGW = shutil.which(CC)
HOST_GCC = shutil.which("gcc")
CLANG_TIDY = clang_tidy_binary()

needs_mingw = pytest.mark.skipif(
    MINGW is None or not (DDK_INCLUDE_DIR / "ntddk.h").is_file(),
    reason=f"{CC} or the MinGW-w64 ddk headers are not installed (apt-get install gcc-mingw-w64-x86-64)",
)
needs_gcc = pytest.mark.skipif(HOST_GCC is None, reason="gcc is not installed: no -fanalyzer run")
needs_clang_tidy = pytest.mark.skipif(
    CLANG_TIDY is None, reason="clang-tidy is not installed (pip install clang-tidy==23.1.4, a dependency of wfpgen)"
)

#: The ring sink as the variants ask for it (64 KiB).
RING_SINK = {"kind": "ring", "capacity": 65536}

MONITOR = REPO / "specs" / "monitor.yaml"

#: name -> (spec, ring sink?, target): every spec as written and as a ring-sink variant, then
#: monitor.yaml for Windows 10 1607 (FwpsCalloutRegister2, ExAllocatePoolZero)
#: and Windows 11 (ExAllocatePool2, imported through ntoskrnl_extra.def).
VARIANTS: dict[str, tuple[Path, bool, str | None]] = {
    **{spec.stem: (spec, False, None) for spec in SPECS},
    **{f"{spec.stem}-ring": (spec, True, None) for spec in SPECS},
    **(
        {"monitor-win10_1607": (MONITOR, False, "win10_1607"), "monitor-win11": (MONITOR, False, "win11")}
        if MONITOR.is_file()
        else {}
    ),
}
NAMES = list(VARIANTS)
RING_NAMES = [name for name in NAMES if name.endswith("-ring")]


def _has_etw(spec: Path) -> bool:
    kind = (yaml.safe_load(spec.read_text(encoding="utf-8")).get("sink") or {}).get("kind", "ring")
    return "etw" in ([kind] if isinstance(kind, str) else kind)


#: The specs with the etw sink, as written (their -ring variants have the ring sink only).
ETW_NAMES = [name for name in NAMES if not VARIANTS[name][1] and _has_etw(VARIANTS[name][0])]

@dataclass(frozen=True)
class Project:
    """The C sources of one generated project, written to disk."""

    name: str
    root: Path
    model: ProjectModel

    @property
    def defines(self) -> tuple[str, ...]:
        return self.model.build_defines

    @property
    def assumptions(self) -> Path:
        return self.root / "ci" / "wdk_assumptions.c"


def _spec_for(name: str, directory: Path) -> Path:
    spec, ring, target = VARIANTS[name]
    if not ring and target is None:
        return spec
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    if ring:
        data["sink"] = dict(RING_SINK)
    if target is not None:
        data["driver"]["target"] = target
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_project(spec: Path, root: Path, name: str) -> Project:
    """Render the C sources and headers (driver/ and ci/) of ``spec`` under ``root``."""
    model = model_for(spec)
    files = project_files(model)
    for output in files:
        if output.c_source:
            target = root / output.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(render_file(model, output, files))
    return Project(name, root, model)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    base = tmp_path_factory.mktemp("crossbuild")
    (base / "specs").mkdir()
    return {name: write_project(_spec_for(name, base / "specs"), base / name, name) for name in NAMES}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, projects: dict[str, Project]) -> Callable[[str], Path]:
    """``built(name)``: the cross-built image of a variant, built once per module."""
    base = tmp_path_factory.mktemp("images")
    cache: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in cache:
            project = projects[name]
            cache[name] = cross_build(project.root, base / name, project.defines, name=name)
        return cache[name]

    return build


def planted_copy(project: Project, destination: Path, file: str, edit: Callable[[str], str]) -> Project:
    """A copy of ``project`` with ``edit`` applied to ``driver/<file>`` (which must change)."""
    shutil.copytree(project.root, destination)
    path = destination / "driver" / file
    before = path.read_text(encoding="utf-8")
    after = edit(before)
    assert after != before, f"the plant did not change {file}"
    path.write_text(after, encoding="utf-8")
    return Project(project.name, destination, project.model)


def test_specs_exist() -> None:
    assert SPECS, "no specs/*.yaml to build"
    assert RING_NAMES


# -- the shims ------------------------------------------------------------------------------




def test_generated_shim_headers_match_a_fresh_run() -> None:
    script = load_script("build_mingw_shims")
    fresh = script.render_all()
    assert set(fresh) == {"wfpgen_fwps_tables.h", "wfpgen_fwpm_guids.h"}
    for name, text in fresh.items():
        committed = (INCLUDE_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run python scripts/build_mingw_shims.py"
    assert script.main(["--check"]) == 0


def test_shim_tables_hold_the_catalog_numbers() -> None:
    """Spot checks through wfpgen.wdkfacts, the functions the model and script share."""
    tables = (INCLUDE_DIR / "wfpgen_fwps_tables.h").read_text(encoding="utf-8")
    layer = wdkfacts.fwps_layer_index("inbound_transport_v4")
    assert re.search(rf"^\s+FWPS_LAYER_INBOUND_TRANSPORT_V4\s+= {layer},$", tables, re.MULTILINE)
    index = wdkfacts.fwps_field_index("inbound_transport_v4", "ip_remote_port")
    assert re.search(rf"FWPS_FIELD_INBOUND_TRANSPORT_V4_IP_REMOTE_PORT\s+= {index},", tables)
    flag = wdkfacts.metadata_flag_value("process_id")
    assert re.search(rf"#define FWPS_METADATA_FIELD_PROCESS_ID\s+0x{flag:08x}u", tables)
    with pytest.raises(wdkfacts.WdkFactError):
        wdkfacts.fwps_layer_index("no_such_layer")


def test_no_shim_reads_the_shared_notes() -> None:
    """The shims and the cross build use only the project's own files."""
    for path in [*INCLUDE_DIR.iterdir(), *(crossbuild.LINK_DIR.iterdir()), Path(crossbuild.__file__)]:
        assert "/work/shared" not in path.read_text(encoding="utf-8"), path


# -- cross build -------------------------------------------------------------------------------


@needs_mingw
@pytest.mark.parametrize("name", NAMES)
def test_cross_build_links_a_clean_kernel_image(built: Callable[[str], Path], name: str) -> None:
    image = built(name)
    assert image.is_file() and image.suffix == ".sys"
    assert check_pe(image) == []
    imports = {module.lower() for module in read_pe(image.read_bytes()).imports}
    assert imports == {"ntoskrnl.exe", "fwpkclnt.sys"}
    notice = (image.parent / "NOTICE.txt").read_text(encoding="utf-8")
    assert "CHECK ARTEFACT" in notice and "NOT A SHIPPABLE DRIVER" in notice


@needs_mingw
@pytest.mark.parametrize("name", ETW_NAMES)
def test_etw_sink_imports_etw_from_the_kernel(built: Callable[[str], Path], name: str) -> None:
    """The TraceLoggingProvider.h shim lowers to the kernel's ETW routines, as the WDK's does; a driver
    without the etw sink imports none of them."""
    for variant, wanted in ((name, True), (f"{name}-ring", False)):
        data = built(variant).read_bytes()
        found = {api for api in ("EtwRegister", "EtwWriteTransfer", "EtwUnregister") if f"{api}\0".encode() in data}
        assert found == ({"EtwRegister", "EtwWriteTransfer", "EtwUnregister"} if wanted else set()), (variant, found)


def test_etw_specs_are_cross_built() -> None:
    assert {"monitor-etw", "flows-ring-etw"} <= set(ETW_NAMES), ETW_NAMES


@needs_mingw
def test_planted_llp64_format_bug_fails_the_cross_build(projects: dict[str, Project], tmp_path: Path) -> None:
    project = projects[NAMES[0]]
    body = (
        "\nVOID WfpgenPlantedFormat(UINT64 Value);\n"
        "VOID WfpgenPlantedFormat(UINT64 Value)\n{\n"
        '    DbgPrintEx(DPFLTR_IHVNETWORK_ID, DPFLTR_INFO_LEVEL, "value %lu\\n", (UINT64)Value);\n}\n'
    )
    planted = planted_copy(project, tmp_path / "planted", "driver.c", lambda text: text + body)
    with pytest.raises(CrossBuildError) as failure:
        cross_build(planted.root, tmp_path / "out", planted.defines)
    message = str(failure.value)
    assert re.search(r"format .%lu. expects argument of type .long unsigned int.", message), message
    assert "UINT64" in message and "-Werror=format" in message

    # Control: the Windows-correct conversion compiles (LLP64: long is 32 bits, %llu is 64).
    fixed = planted.root / "driver" / "driver.c"
    fixed.write_text(fixed.read_text(encoding="utf-8").replace('"value %lu', '"value %llu'), encoding="utf-8")
    command = compile_command(fixed, tmp_path / "driver.o", planted.defines, [planted.root / "driver"])
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@needs_mingw
def test_keys_without_initguid_fail_the_link(projects: dict[str, Project], tmp_path: Path) -> None:
    """callouts.c defines the driver's keys by including keys.h after <initguid.h>; without it, nothing does."""
    project = projects[NAMES[0]]

    def drop_initguid(text: str) -> str:
        assert "#include <initguid.h>\n" in text
        return text.replace("#include <initguid.h>\n", "", 1)

    planted = planted_copy(project, tmp_path / "planted", "callouts.c", drop_initguid)
    with pytest.raises(CrossBuildError) as failure:
        cross_build(planted.root, tmp_path / "out", planted.defines)
    message = str(failure.value)
    assert "linking" in message and re.search(r"undefined reference to .\w+_PROVIDER_KEY", message), message


def _gates_project(root: Path, target: str) -> Project:
    data = dict(WIN10_SPEC, driver={**WIN10_SPEC["driver"], "target": target})
    root.mkdir(parents=True)
    spec = root / f"{target}.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return write_project(spec, root / "project", target)


@needs_mingw
def test_cross_build_refuses_a_field_the_target_lacks(tmp_path: Path) -> None:
    """The shim tables gate each FWPS_FIELD_* as the WDK does: classify.c reading a field declared
    after its target fails to compile, naming the field; the same sources build for Windows 10
    1709, where the headers declare it."""
    project = _gates_project(tmp_path / "win10", "win10")
    assert "NTDDI_VERSION=0x0A000000" in project.defines
    cross_build(project.root, tmp_path / "out-clean", project.defines)  # as generated: it builds

    def read_gated_field(text: str) -> str:
        return text.replace("FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_PROTOCOL,", f"{GATED_FIELD},", 1)

    planted = planted_copy(project, tmp_path / "planted", "classify.c", read_gated_field)
    with pytest.raises(CrossBuildError) as failure:
        cross_build(planted.root, tmp_path / "out", planted.defines)
    message = str(failure.value)
    assert "compiling classify.c" in message, message
    assert re.search(rf"error: \W{GATED_FIELD}\W undeclared", message), message

    later = _gates_project(tmp_path / "win10_1709", "win10_1709")
    assert "NTDDI_VERSION=0x0A000004" in later.defines
    image = cross_build(planted.root, tmp_path / "out-1709", later.defines)
    assert check_pe(image) == []


def _value_at(entry: dict[str, Any], ntddi: int, samples: dict[str, int]) -> int:
    """The value of a facts entry at ``ntddi``: the last of its ``value_changes`` from there on."""
    value = entry["value"]
    for change in entry.get("value_changes", []):
        if samples[change["from"]] <= ntddi:
            value = change["value"]
    return int(value)


def gate_probe(ntddi: int) -> str:
    """C asserting, at ``ntddi``, the value the WDK gives every FWPS_BUILTIN_LAYERS member and
    every member of the catalog's FWPS_FIELDS_* enums declared there (facts: wdk_facts.json)."""
    facts = wdkfacts.load_wdk_facts()
    samples = {s.name: s.value for s in wdkfacts.sampled_ntddis(facts)}
    entries = list(facts["builtin_layers"]["members"])
    for enum in sorted({layer.fields_enum for layer in load_catalog().layers.values()}):
        found = wdkfacts.fields_enum_facts(facts, enum)
        assert found is not None, enum
        entries += found["members"]
    lines = ["#include <ntddk.h>", "#include <ndis.h>", "#include <fwpsk.h>", "#include <fwpmk.h>"]
    for entry in entries:
        if wdkfacts.ntddi_gate(entry, facts).holds(ntddi):
            value = _value_at(entry, ntddi, samples)
            lines.append(f'_Static_assert({entry["name"]} == {value}, "{entry["name"]} is {value}");')
    return "\n".join(lines) + "\n"


#: Every NTDDI_VERSION the facts were sampled at from Windows 7 on (the oldest target a spec names).
GATE_NTDDIS = [s for s in wdkfacts.sampled_ntddis() if s.value >= 0x06010000]


@pytest.mark.parametrize("tier", ["hostsim", "cross"])
def test_enum_values_follow_ntddi_version_as_in_the_wdk(tier: str, tmp_path: Path) -> None:
    """Without a WDK: at each sampled NTDDI_VERSION, the _MAX sentinels and the FWPS_BUILTIN_LAYERS
    members after a gated one have the WDK's value in both shim tiers (the gates are right)."""
    if tier == "cross" and (MINGW is None or not (DDK_INCLUDE_DIR / "ntddk.h").is_file()):
        pytest.skip(f"{CC} or the MinGW-w64 ddk headers are not installed")
    if tier == "hostsim" and HOST_GCC is None:
        pytest.skip("gcc is not installed")
    defines = ["NDIS630", "NDIS_SUPPORT_NDIS6", "POOL_NX_OPTIN=1"]
    failures = []
    for ntddi in GATE_NTDDIS:
        source = tmp_path / f"probe-{ntddi.hex}.c"
        source.write_text(gate_probe(ntddi.value), encoding="utf-8")
        ntddi_define = f"NTDDI_VERSION={ntddi.hex}"
        if tier == "cross":
            command = compile_command(source, tmp_path / f"{source.stem}.o", [*defines, ntddi_define])
        else:
            command = [str(HOST_GCC), "-std=c11", "-fshort-wchar", "-fsyntax-only", f"-I{HOST_INCLUDE_DIR}",
                       *(f"-D{d}" for d in [*defines, ntddi_define]), str(source)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            failures.append(f"{ntddi.name}: {result.stderr[:2000]}")
    assert not failures, "\n".join(failures)


#: The layout generated drivers used before keys.h: fwpmk.h again, after <initguid.h>.
FWPMK_AGAIN = "#include <initguid.h>\n#include <fwpmk.h>\n"


def include_fwpmk_again(text: str) -> str:
    """``callouts.c`` with fwpmk.h included after <initguid.h>, before driver.h includes it."""
    assert text.count('#include "driver.h"\n') == 1
    return text.replace('#include "driver.h"\n', FWPMK_AGAIN + '#include "driver.h"\n')


@needs_mingw
def test_fwpmk_included_again_after_initguid_is_named(projects: dict[str, Project], tmp_path: Path) -> None:
    """fwpmk.h's GUID block is outside its guard, as in the WDK: a second inclusion redefines every GUID."""
    planted = planted_copy(projects[NAMES[0]], tmp_path / "planted", "callouts.c", include_fwpmk_again)
    with pytest.raises(CrossBuildError) as failure:
        cross_build(planted.root, tmp_path / "out", planted.defines)
    message = str(failure.value)
    assert re.search(r"redefinition of .FWPM_LAYER_\w+", message), message
    assert FWPM_REINCLUDED in message.splitlines(), message


@needs_mingw
def test_check_pe_flags_a_shared_build(built: Callable[[str], Path], tmp_path: Path) -> None:
    image = built(NAMES[0])
    objects = sorted((image.parent / "obj").glob("*.o"))
    shared = tmp_path / "shared.sys"
    command = [*link_command(objects, shared, image.parent / "obj"), "-shared"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    problems = check_pe(shared)
    assert any("IMAGE_FILE_DLL" in p for p in problems), problems


@needs_mingw
def test_check_pe_flags_a_wrong_checksum(built: Callable[[str], Path], tmp_path: Path) -> None:
    data = bytearray(built(NAMES[0]).read_bytes())
    data[0x40] ^= 0xFF  # a byte of the DOS stub: still a valid image, different checksum
    copy = tmp_path / "patched.sys"
    copy.write_bytes(bytes(data))
    problems = check_pe(copy)
    assert len(problems) == 1 and "checksum" in problems[0], problems


def test_check_pe_rejects_what_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "not.sys"
    path.write_bytes(b"MZ" + b"\0" * 62)
    assert check_pe(path) == ["not a readable PE image: no PE signature"]


def test_cross_build_names_the_missing_compiler(
    projects: dict[str, Project], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_which = shutil.which

    def which(name: str, *args: Any, **kwargs: Any) -> str | None:
        return None if name.startswith("x86_64-w64-mingw32-") else real_which(name, *args, **kwargs)

    monkeypatch.setattr(crossbuild.shutil, "which", which)
    project = projects[NAMES[0]]
    with pytest.raises(ToolMissing, match=r"x86_64-w64-mingw32-gcc is not installed.*gcc-mingw-w64-x86-64"):
        cross_build(project.root, tmp_path / "out", project.defines)


# -- ci/wdk_assumptions.c ------------------------------------------------------------------------


class _With:
    """``base`` seen through Jinja with extra attributes (the model fields asked for)."""

    def __init__(self, base: object, **extra: object) -> None:
        self._base = base
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def _with_requested_fields(model: ProjectModel) -> _With:
    """The model plus RecordItem.meta_offset and ConditionModel.field_guid, from wdkfacts."""
    layers = []
    for layer in model.layers:
        items = tuple(
            _With(item, meta_offset=wdkfacts.metadata_offset(item.meta_member) if item.meta_member else None)
            for item in layer.record.items
        )
        conditions = tuple(
            _With(c, field_guid=wdkfacts.condition_guid(layer.name, c.field_name)) for c in layer.conditions
        )
        layers.append(_With(layer, record=_With(layer.record, items=items), conditions=conditions))
    return _With(model, layers=tuple(layers))


def compile_assumptions(source: Path, defines: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    assert MINGW is not None
    command = [
        MINGW,
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsyntax-only",
        *(f"-D{d}" for d in defines),
        f"-I{INCLUDE_DIR}",
        f"-I{DDK_INCLUDE_DIR}",
        str(source),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _render_assumptions_with_requested_fields(project: Project, target: Path) -> str:
    from wfpgen.format import format_c

    template = environment().get_template("driver/wdk_assumptions.c.j2")
    text = format_c(template.render(m=_with_requested_fields(project.model)), "wdk_assumptions.c")
    target.write_text(text, encoding="utf-8")
    return text


@needs_mingw
@pytest.mark.parametrize("name", NAMES)
def test_wdk_assumptions_hold_for_the_shims(projects: dict[str, Project], name: str, tmp_path: Path) -> None:
    """What the Windows CI asserts against the WDK, the shims satisfy (same catalog numbers)."""
    project = projects[name]
    text = project.assumptions.read_text(encoding="utf-8")
    for layer in project.model.layers:
        assert f"C_ASSERT({layer.fwps_layer} == {layer.fwps_layer_index});" in text
        assert f"WFPGEN_CHECK_GUID({layer.fwpm_layer}," in text
    result = compile_assumptions(project.assumptions, project.defines)
    assert result.returncode == 0, result.stderr

    # The same template once the model has the two fields asked for: offsets and condition GUIDs.
    future = tmp_path / "wdk_assumptions.c"
    text = _render_assumptions_with_requested_fields(project, future)
    for layer in project.model.layers:
        for condition in layer.conditions:
            assert f"WFPGEN_CHECK_GUID({condition.field_key}," in text
        for item in layer.record.items:
            if item.meta_member:
                assert f"FIELD_OFFSET(FWPS_INCOMING_METADATA_VALUES0, {item.meta_member}) ==" in text
    result = compile_assumptions(future, project.defines)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def conditions_and_metadata(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """ale-connect.yaml with a filter condition added: layers, fields, metadata and a condition GUID."""
    base = tmp_path_factory.mktemp("assumptions")
    data = yaml.safe_load((REPO / "specs" / "ale-connect.yaml").read_text(encoding="utf-8"))
    first, *rest = data["layers"]
    data["layers"] = [{"layer": first, "conditions": [{"field": "ip_protocol", "value": "tcp"}]}, *rest]
    spec = base / "conditions-and-metadata.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return write_project(spec, base / "project", "conditions-and-metadata")


@needs_mingw
@pytest.mark.parametrize(
    "what",
    ["layer", "field", "metadata flag", "metadata offset", "layer GUID", "condition GUID", "struct size"],
)
def test_wdk_assumptions_catch_a_wrong_value(
    conditions_and_metadata: Project, what: str, tmp_path: Path
) -> None:
    project = conditions_and_metadata
    source = tmp_path / "wdk_assumptions.c"
    text = _render_assumptions_with_requested_fields(project, source)
    layer = project.model.layers[0]
    patterns = {
        "layer": rf"(C_ASSERT\({layer.fwps_layer} == )(\d+)",
        "field": r"(C_ASSERT\(FWPS_FIELD_\w+ == )(\d+)",
        "metadata flag": r"(C_ASSERT\(FWPS_METADATA_FIELD_\w+ == )(0x[0-9a-f]+)",
        "metadata offset": r"(C_ASSERT\(FIELD_OFFSET\(FWPS_INCOMING_METADATA_VALUES0, \w+\) == )(\d+)",
        "layer GUID": rf"(WFPGEN_CHECK_GUID\({layer.fwpm_layer},\s*)(0x[0-9a-f]+)",
        "condition GUID": r"(WFPGEN_CHECK_GUID\(FWPM_CONDITION_\w+,\s*)(0x[0-9a-f]+)",
        "struct size": r"(C_ASSERT\(sizeof\(FWPS_CLASSIFY_OUT0\) == )(\d+)",
    }
    wrong, count = re.subn(patterns[what], lambda m: m.group(1) + str(int(m.group(2), 0) + 1), text, count=1)
    assert count == 1, f"no {what} assertion in the rendered file"
    source.write_text(wrong, encoding="utf-8")
    result = compile_assumptions(source, project.defines)
    assert result.returncode != 0, f"a wrong {what} went unnoticed"
    assert re.search(r"size of array .c_assert. is negative", result.stderr), result.stderr


# -- static analysis ---------------------------------------------------------------------------


def _uaf(text: str) -> str:
    """After the table of rings is freed at shutdown, write to it."""
    return re.sub(
        r"(\n(\s*)ExFreePoolWithTag\(\(PVOID\)rings, \w+\);)",
        r"\1\n\2rings[0] = NULL; /* planted: use after free */",
        text,
        count=1,
    )


@needs_gcc
@pytest.mark.parametrize("name", NAMES)
def test_fanalyzer_is_clean(projects: dict[str, Project], name: str) -> None:
    project = projects[name]
    assert run_fanalyzer(project.root, project.defines) == ""


@needs_clang_tidy
@pytest.mark.parametrize("name", NAMES)
def test_clang_tidy_is_clean(projects: dict[str, Project], name: str) -> None:
    project = projects[name]
    report = run_clang_tidy(project.root, project.defines)
    assert report == ""


@pytest.fixture
def uaf_project(projects: dict[str, Project], tmp_path: Path) -> Iterator[Project]:
    name = "monitor-ring" if "monitor-ring" in projects else RING_NAMES[0]  # the quickest to analyse
    yield planted_copy(projects[name], tmp_path / "uaf", "sink_ring.c", _uaf)


@needs_gcc
def test_fanalyzer_flags_a_planted_use_after_free(uaf_project: Project) -> None:
    report = run_fanalyzer(uaf_project.root, uaf_project.defines)
    assert "sink_ring.c" in report and "-Werror=analyzer-use-after-free" in report, report


@needs_clang_tidy
def test_clang_tidy_flags_a_planted_use_after_free(uaf_project: Project) -> None:
    report = run_clang_tidy(uaf_project.root, uaf_project.defines)
    assert "Use of memory after it is released [clang-analyzer-unix.Malloc" in report, report
