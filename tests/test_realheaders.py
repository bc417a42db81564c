"""The real-header tier: clang in MSVC mode against a WDK include root.

Two halves:

* Always (clang needed, which ``.ci/run`` installs): the machinery, on a tiny fake include
  root written here — headers named in another letter case are found through the overlay,
  a header's own error is told apart from the driver's, macro-born warnings are attributed,
  the target's NTDDI_VERSION reaches the compiler.
* With ``WFPGEN_WDK`` pointing at a real WDK include root (km/ and shared/): every spec in
  specs/ at every allowed target compiles with no diagnostic of the driver's, for x64 and
  ARM64, Debug and Release; planted mistakes fail with a message that names them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import SPECS, load_script
from typer.testing import CliRunner

from wfpgen import realheaders
from wfpgen.cli import app
from wfpgen.output import write
from wfpgen.pipeline import generate, model_for
from wfpgen.realheaders import (
    ClangDiagnostic,
    RealHeaderError,
    WdkRoot,
    compile_project,
    find_wdk_root,
    parse_diagnostics,
    system_includes,
)
from wfpgen.spec import TARGETS

try:
    CLANG: str | None = realheaders.find_clang()
except RealHeaderError:
    CLANG = None
needs_clang = pytest.mark.skipif(CLANG is None, reason="no clang (apt-get install clang-19) for the real-header tier")

WDK = os.environ.get("WFPGEN_WDK")
needs_wdk = pytest.mark.skipif(
    not WDK, reason="set WFPGEN_WDK to a WDK include root (km/, shared/) to compile against Microsoft's headers")


# -- the machinery, on a fake root -------------------------------------------------------------


def _fake_root(base: Path) -> Path:
    """A minimal include root: the shape of a WDK, headers that name each other in other cases."""
    root = base / "fakewdk"
    (root / "km" / "crt").mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "km" / "crt" / "stddef.h").write_text("typedef unsigned long long size_t;\n")
    (root / "shared" / "ntdef.h").write_text(
        "#pragma once\n#include <SpecStrings.H>\ntypedef long NTSTATUS;\n"
        "#define WIDEN(s) (sizeof(s) / sizeof(char))\n"
        "#if NTDDI_VERSION >= 0x0A000004\ntypedef int NEWER_TYPE;\n#endif\n")
    (root / "shared" / "specstrings.h").write_text("#pragma once\n#define _In_\n")
    # A header error of the kind ndis.h raises under clang: the headers' own, not the driver's.
    (root / "km" / "NTDDK.h").write_text("#pragma once\n#include <ntdef.h>\n#if 0x ## 1\n#endif\n")
    return root


@pytest.fixture
def fake(tmp_path: Path) -> tuple[WdkRoot, Path]:
    root = _fake_root(tmp_path)
    project = tmp_path / "project"
    (project / "driver").mkdir(parents=True)
    return WdkRoot.prepare(find_wdk_root(root) or root, tmp_path / "cache"), project


def test_find_wdk_root_takes_a_root_or_a_kits_include_directory(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    assert find_wdk_root(root) == root.resolve()
    kits = tmp_path / "Include"
    (kits / "10.0.1.0").mkdir(parents=True)
    shutil.copytree(root / "km", kits / "10.0.1.0" / "km")
    shutil.copytree(root / "shared", kits / "10.0.1.0" / "shared")
    assert find_wdk_root(kits) == (kits / "10.0.1.0").resolve()


def test_find_wdk_root_refuses_what_is_not_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RealHeaderError, match=r"--wdk .*not a WDK include root .*km/ntddk.h and shared/ntdef.h"):
        find_wdk_root(tmp_path)
    monkeypatch.setenv("WFPGEN_WDK", str(tmp_path))
    with pytest.raises(RealHeaderError, match=r"^WFPGEN_WDK "):
        find_wdk_root(None)
    monkeypatch.delenv("WFPGEN_WDK")
    if os.name != "nt":
        assert find_wdk_root(None) is None


def test_parse_diagnostics_keeps_errors_and_warnings_and_the_macro_they_came_from() -> None:
    output = (
        "In file included from a.c:1:\n"
        "/k/ndis.h:738:6: error: invalid suffix 'xN' on integer constant\n"
        "a.c:5:3: warning: unused variable 'x' [-Wunused-variable]\n"
        "a.c:9:33: warning: expression does not compute [-Wsizeof-array-div]\n"
        "/k/ntdef.h:2176:17: note: expanded from macro 'RTL_CONSTANT_STRING'\n"
        "a.c:9:33: note: place parentheses\n"
        "a.c:5:3: warning: unused variable 'x' [-Wunused-variable]\n"
        "2 errors generated.\n"
    )
    found = parse_diagnostics(output)
    assert [(d.file, d.line, d.severity) for d in found] == [
        ("/k/ndis.h", 738, "error"), ("a.c", 5, "warning"), ("a.c", 9, "warning")]
    assert found[2].macro == ("RTL_CONSTANT_STRING", "/k/ntdef.h", 2176)
    assert found[1].macro is None
    assert "in the expansion of RTL_CONSTANT_STRING" in found[2].format()


def test_system_includes_follow_the_project_headers_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.h").write_text('#pragma once\n#include <ntddk.h>\n#include "b.h"\n')
    (tmp_path / "b.h").write_text("#include <fwpsk.h>\n#include <ntddk.h>\n")
    (tmp_path / "x.c").write_text('#include "a.h"\n#include <initguid.h>\n#include "a.h"\n')
    assert system_includes(tmp_path / "x.c", [tmp_path]) == ["ntddk.h", "fwpsk.h", "initguid.h"]


@needs_clang
def test_the_overlay_finds_headers_in_any_letter_case(fake: tuple[WdkRoot, Path], tmp_path: Path) -> None:
    root, project = fake
    (project / "driver" / "ok.c").write_text("#include <NtDdk.h>\nNTSTATUS Ok(void) { return 0; }\n")
    result = compile_project(project, root, ["NTDDI_VERSION=0x0A000000"], scratch=tmp_path / "s")
    assert result.ok, [d.format() for d in result.driver]
    assert len(result.compiles) == 4  # x64 and ARM64, Debug and Release
    # The fake ntddk.h's own error is the headers', seen in the baseline too.
    assert [d.message for d in result.headers] == ["invalid suffix 'x' on integer constant"]


@needs_clang
def test_the_driver_s_own_diagnostics_fail_the_tier(fake: tuple[WdkRoot, Path], tmp_path: Path) -> None:
    root, project = fake
    (project / "driver" / "bad.c").write_text(
        "#include <ntddk.h>\n"
        "NTSTATUS Bad(int unused) { return 0; }\n"             # /W4: unused parameter
        "NEWER_TYPE Newer(void) { return 0; }\n")              # newer than the target's NTDDI
    result = compile_project(project, root, ["NTDDI_VERSION=0x0A000000"], scratch=tmp_path / "s")
    assert not result.ok
    messages = [d.format(project) for d in result.driver]
    assert any(m.startswith("driver/bad.c:2:") and "-Wunused-parameter" in m for m in messages), messages
    assert any(m.startswith("driver/bad.c:3:") and "NEWER_TYPE" in m for m in messages), messages
    assert any("target's NTDDI_VERSION" in hint for hint in realheaders.hints(result.driver))
    # At the NTDDI that declares it, the type is there.
    newer = compile_project(project, root, ["NTDDI_VERSION=0x0A000004"], scratch=tmp_path / "s")
    assert not any("NEWER_TYPE" in d.message for d in newer.driver)


@needs_clang
def test_warnings_inside_the_headers_macros_are_the_headers(fake: tuple[WdkRoot, Path], tmp_path: Path) -> None:
    root, project = fake
    (project / "driver" / "m.c").write_text(
        "#include <ntddk.h>\nunsigned long long Size(void) { return WIDEN(L\"abc\"); }\n")
    result = compile_project(project, root, ["NTDDI_VERSION=0x0A000000"], scratch=tmp_path / "s")
    assert result.ok, [d.format() for d in result.driver]
    assert any(d.macro and d.macro[0] == "WIDEN" for d in result.headers)
    assert "-Wsizeof-array-div inside WIDEN" in result.header_summary()


@needs_clang
def test_release_constants_a_mixed_root_lacks_are_defined(fake: tuple[WdkRoot, Path], tmp_path: Path) -> None:
    """km/ headers newer than shared/sdkddkver.h test NTDDI_* names it does not define (read as 0)."""
    root, project = fake
    (root.path / "shared" / "sdkddkver.h").write_text("#define NTDDI_WIN10 0x0A000000\n")
    (root.path / "km" / "gated.h").write_text("#if NTDDI_VERSION >= NTDDI_WIN10_NI\ntypedef int NI_ONLY;\n#endif\n")
    mixed = WdkRoot.prepare(root.path, tmp_path / "cache2")
    assert ("NTDDI_WIN10_NI", "0x0A00000C") in mixed.missing_ntddi
    assert not any(name == "NTDDI_WIN10" for name, _ in mixed.missing_ntddi)
    (project / "driver" / "g.c").write_text("#include <gated.h>\nNI_ONLY x;\n")
    result = compile_project(project, mixed, ["NTDDI_VERSION=0x0A000000"], scratch=tmp_path / "s")
    assert any("NI_ONLY" in d.message for d in result.driver), "NTDDI_WIN10_NI must not read as 0"


def test_tier_needs_the_target_ntddi(fake: tuple[WdkRoot, Path], tmp_path: Path) -> None:
    root, project = fake
    (project / "driver" / "x.c").write_text("int x;\n")
    with pytest.raises(RealHeaderError, match="NTDDI_VERSION"):
        compile_project(project, root, ["NDIS630"], scratch=tmp_path / "s")


def test_check_reports_the_tier_as_skipped_without_a_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wfpgen.checks.check import REAL_HEADERS, _real_header_step

    monkeypatch.delenv("WFPGEN_WDK", raising=False)
    if os.name == "nt":
        pytest.skip("an installed WDK would be found")
    model, files = generate(SPECS[0])
    write(tmp_path / "p", files)
    step = _real_header_step(tmp_path / "p", model, tmp_path / "w", None)
    assert step.skipped and step.ok and step.name == REAL_HEADERS
    assert "WFPGEN_WDK" in step.detail and step.line().startswith("SKIP")


def test_check_fails_on_a_root_that_is_not_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(SPECS[0]), "--wdk", str(tmp_path), "--variant", "plain",
                                      "--no-analysis", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "FAIL  real WDK headers" in result.output and "not a WDK include root" in result.output


# -- against Microsoft's headers ---------------------------------------------------------------


def _project(spec: Path, target: str | None, tmp_path: Path) -> Path:
    text = spec.read_text(encoding="utf-8")
    if target is not None:
        text = load_script("realheader_matrix").retarget(text, target)
    copy = tmp_path / f"{spec.stem}-{target}.yaml"
    copy.write_text(text, encoding="utf-8")
    _, files = generate(copy)
    out = tmp_path / f"{spec.stem}-{target}"
    write(out, files)
    return out


@pytest.fixture(scope="module")
def wdk_root(tmp_path_factory: pytest.TempPathFactory) -> WdkRoot:
    found = find_wdk_root(Path(WDK)) if WDK else None
    assert found is not None
    return WdkRoot.prepare(found, tmp_path_factory.mktemp("overlay"))


@needs_clang
@needs_wdk
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_every_spec_compiles_against_the_wdk_at_every_target(
        spec: Path, target: str, wdk_root: WdkRoot, tmp_path: Path) -> None:
    project = _project(spec, target, tmp_path)
    model = model_for(project / "wfpgen.yaml", "spec")
    assert model.target == target
    result = compile_project(project, wdk_root, model.build_defines, scratch=tmp_path / "scratch")
    assert result.ok, "\n".join(d.format(project) for d in result.driver)
    assert len(result.compiles) == 4 * len(list(project.glob("driver/*.c")) + list(project.glob("ci/*.c")))


@needs_clang
@needs_wdk
def test_a_second_fwpmk_inclusion_is_named(wdk_root: WdkRoot, tmp_path: Path) -> None:
    project = _project(SPECS[0], None, tmp_path)
    callouts = project / "driver" / "callouts.c"
    text = callouts.read_text(encoding="utf-8")
    callouts.write_text(text.replace('#include "driver.h"\n', '#include <initguid.h>\n#include <fwpmk.h>\n'
                                     '#include "driver.h"\n', 1), encoding="utf-8")
    model = model_for(project / "wfpgen.yaml", "spec")
    result = compile_project(project, wdk_root, model.build_defines, scratch=tmp_path / "scratch")
    assert not result.ok
    assert any("redefinition of 'FWPM_LAYER_" in d.message for d in result.driver)
    assert any("fwpmk.h was included a second time" in hint for hint in realheaders.hints(result.driver))


@needs_clang
@needs_wdk
def test_the_version_3_api_is_refused_below_1709(wdk_root: WdkRoot, tmp_path: Path) -> None:
    """The headers gate FWPS_CALLOUT3 at NTDDI_WIN10_RS3: forcing it on a 1507 target must fail."""
    project = _project(SPECS[0], "win10", tmp_path)
    for path in (project / "driver").glob("*.[ch]"):
        text = path.read_text(encoding="utf-8")
        for old, new in (("FWPS_CALLOUT2", "FWPS_CALLOUT3"), ("FWPS_FILTER2", "FWPS_FILTER3"),
                         ("FN2", "FN3"), ("Register2", "Register3")):
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    model = model_for(project / "wfpgen.yaml", "spec")
    result = compile_project(project, wdk_root, model.build_defines, scratch=tmp_path / "scratch")
    assert not result.ok
    assert any("FWPS_CALLOUT3" in d.message or "FWPS_FILTER3" in d.message for d in result.driver)


def test_clang_diagnostic_key_ignores_the_column() -> None:
    a = ClangDiagnostic("/k/h.h", 3, 1, "error", "m")
    b = ClangDiagnostic("/k/h.h", 3, 9, "error", "m")
    assert a.key == b.key
