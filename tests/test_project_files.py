"""Tests for the generated project's non-C files: solution, project, NuGet, INF, scripts, CI, README."""

from __future__ import annotations

import fnmatch
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import jinja2
import pytest
import yaml

from wfpgen.errors import WfpgenError
from wfpgen.model import (
    CONFIGURATIONS,
    PLATFORMS,
    WDK_NUGET_VERSION,
    WFPCALLOUTS_CLASS_GUID,
    ProjectModel,
    xml_comment,
)
from wfpgen.pipeline import generate, model_for
from wfpgen.render import OutputFile, driver_sources, project_files, render_file

REPO = Path(__file__).resolve().parents[1]
MONITOR = REPO / "specs" / "monitor.yaml"
BOM = b"\xef\xbb\xbf"
MSBUILD = "{http://schemas.microsoft.com/developer/msbuild/2003}"
CPP_PROJECT_TYPE = "{8BC9CEB8-8B4A-11D0-8D11-00A0C91BC942}"
NUGET_IDS = {
    "Microsoft.Windows.SDK.CPP",
    "Microsoft.Windows.SDK.CPP.x64",
    "Microsoft.Windows.SDK.CPP.arm64",
    "Microsoft.Windows.WDK.x64",
    "Microsoft.Windows.WDK.ARM64",
}
# A second spec that exercises what the tutorial spec does not: a blocking layer with conditions,
# metadata with a variable-length value, the ring sink, a newer target, a description full of
# characters that mean something to XML, INF, Markdown and PowerShell, and a file name with "--".
ODD_SPEC = """\
version: 1
driver:
  name: Guard_7
  description: 'Blocks <evil> & "odd" 100% traffic | *really* -- [x](y) $(calc) ''q'' ; x'
  version: 2.3.4.5
  target: win11
layers:
  - layer: ale_auth_connect_v4
    action: block
    metadata: [process_id, process_path]
    conditions:
      - {field: ip_remote_port, value: 443}
      - {field: ip_remote_address, value: 10.0.0.0/8}
  - layer: outbound_transport_v4
sink: {kind: ring}
"""


class Project:
    """One rendered project: the model, every output file's conventions, and the bytes."""

    def __init__(self, model: ProjectModel, files: dict[str, bytes]) -> None:
        self.model = model
        self.files = files
        self.outputs = project_files(model)
        self.by_template = {f.template: f for f in self.outputs}

    def data(self, template: str) -> bytes:
        return self.files[self.by_template[f"driver/{template}"].path]

    def text(self, template: str) -> str:
        data = self.data(template)
        return data.removeprefix(BOM).decode("utf-8").replace("\r\n", "\n")

    def xml(self, template: str) -> ET.Element:
        return ET.fromstring(self.data(template).removeprefix(BOM))


def render(spec: Path) -> Project:
    """The project through the public pipeline; the non-C files alone if the C templates fail.

    The C templates are another part of the generator; none of the files tested here depends on
    them, so a missing or broken C template must not hide what these tests check.
    """
    try:
        model, files = generate(spec)
    except (jinja2.TemplateError, WfpgenError):
        model = model_for(spec)
        outputs = project_files(model)
        files = {f.path: render_file(model, f, outputs) for f in outputs if not f.c_source}
    return Project(model, files)


@pytest.fixture(scope="module")
def odd_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("specs") / "odd--name-.yaml"
    path.write_text(ODD_SPEC, encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["monitor", "odd"])
def project(request: pytest.FixtureRequest, odd_spec: Path) -> Project:
    return render(MONITOR if request.param == "monitor" else odd_spec)


@pytest.fixture(scope="module")
def monitor() -> Project:
    return render(MONITOR)


def project_outputs(p: Project) -> list[OutputFile]:
    """The files these tests cover: everything but the C sources and the Python reader (test_reader.py)."""
    return [f for f in p.outputs if not f.c_source and not f.template.startswith("reader/")]


def inf_sections(text: str) -> dict[str, list[str]]:
    """``{section name (lower case): [lines]}`` with comments and blank lines removed."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line, in_quotes = "", False
        for ch in raw:
            if ch == '"':
                in_quotes = not in_quotes
            if ch == ";" and not in_quotes:
                break
            line += ch
        line = line.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].lower(), [])
        else:
            assert current is not None, f"INF line outside a section: {raw!r}"
            current.append(line)
    return sections


def inf_keys(lines: list[str]) -> dict[str, str]:
    """``key = value`` lines of one section, keys in lower case."""
    pairs = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            pairs[key.strip().lower()] = value.strip()
    return pairs


# -- every file -------------------------------------------------------------------------------


def test_every_project_file_is_rendered(project: Project) -> None:
    for spec in project_outputs(project):
        assert spec.path in project.files, spec.path
        assert project.files[spec.path].strip(), spec.path


def test_encodings_and_line_endings(project: Project) -> None:
    for spec in project_outputs(project):
        data = project.files[spec.path]
        assert data.startswith(BOM) == (spec.encoding == "utf-8-bom"), spec.path
        body = data.removeprefix(BOM)
        body.decode("utf-8")
        if spec.line_end == "crlf":
            assert b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b""), spec.path
            assert b"\r" not in body.replace(b"\r\n", b""), spec.path
        else:
            assert b"\r" not in body, spec.path
        assert body.endswith(b"\n"), spec.path


def test_no_template_syntax_left(project: Project) -> None:
    for path, data in project.files.items():
        text = data.decode("utf-8", errors="replace")
        if path == ".github/workflows/build.yml":
            text = re.sub(r"\$\{\{[^{}]*\}\}", "", text)  # GitHub expressions, kept on purpose
        assert "{{" not in text and "{%" not in text and "{#" not in text, path


def test_header_comment_names_the_spec(project: Project) -> None:
    m = project.model
    for spec in project_outputs(project):
        head = "\n".join(project.text(spec.template.removeprefix("driver/")).splitlines()[:8])
        expected = (
            m.spec_xml_comment
            if spec.path.endswith((".vcxproj", ".filters", ".props", ".config", ".md"))
            else m.spec_comment
        )
        assert f"Generated by wfpgen from {expected}" in head, spec.path


def test_output_is_deterministic_and_has_no_absolute_paths(odd_spec: Path) -> None:
    first, second = render(odd_spec), render(odd_spec)
    assert first.files == second.files
    for path, data in first.files.items():
        text = data.decode("utf-8", errors="replace")
        assert str(odd_spec.parent) not in text, path
        assert str(REPO) not in text, path


# -- Visual Studio -----------------------------------------------------------------------------


def test_solution(project: Project) -> None:
    m = project.model
    data = project.data("solution.sln.j2")
    assert data.startswith(BOM + b"\r\nMicrosoft Visual Studio Solution File, Format Version 12.00\r\n")
    text = project.text("solution.sln.j2")
    assert "\n# Visual Studio Version 17\n" in text
    guid = m.project_guid.braced_upper
    assert f'Project("{CPP_PROJECT_TYPE}") = "{m.name}", "driver\\{m.name}.vcxproj", "{guid}"' in text
    assert f"SolutionGuid = {m.solution_guid.braced_upper}" in text
    for c in m.configurations:
        assert f"\t\t{c.label} = {c.label}\n" in text
        for suffix in ("ActiveCfg", "Build.0"):
            assert f"\t\t{guid}.{c.label}.{suffix} = {c.label}\n" in text
    # No Deploy: building the solution must not try to deploy a kernel driver to a test computer
    # (Microsoft's driver samples build only).
    assert "Deploy" not in text
    assert text.count("Project(") == 1


def test_project(project: Project) -> None:
    m = project.model
    root = project.xml("driver.vcxproj.j2")
    sources = driver_sources(project.outputs)

    labels = [e.get("Include") for e in root.iter(f"{MSBUILD}ProjectConfiguration")]
    assert labels == [c.label for c in m.configurations]
    assert root.findtext(f".//{MSBUILD}ProjectGuid") == m.project_guid.braced_upper
    assert root.findtext(f".//{MSBUILD}RootNamespace") == m.name

    groups = {
        g.get("Condition"): g
        for g in root.iter(f"{MSBUILD}PropertyGroup")
        if g.get("Label") == "Configuration"
    }
    for c in m.configurations:
        group = groups[f"'$(Configuration)|$(Platform)'=='{c.label}'"]
        assert group.findtext(f"{MSBUILD}PlatformToolset") == "WindowsKernelModeDriver10.0"
        assert group.findtext(f"{MSBUILD}ConfigurationType") == "Driver"
        assert group.findtext(f"{MSBUILD}DriverType") == "WDM"
        assert group.findtext(f"{MSBUILD}DriverTargetPlatform") == "Universal"
        assert group.findtext(f"{MSBUILD}TargetVersion") == m.vs_target_version == "Windows10"
        # The target decides NTDDI_VERSION: 0xA000000 for win10 (NTDDI_WIN10), as Microsoft writes it.
        assert group.findtext(f"{MSBUILD}_NT_TARGET_VERSION") == f"0x{int(m.ntddi_hex, 16):X}"
        assert group.findtext(f"{MSBUILD}UseDebugLibraries") == (
            "true" if c.configuration == "Debug" else "false"
        )
    assert len(groups) == len(m.configurations)

    definitions = {g.get("Condition"): g for g in root.iter(f"{MSBUILD}ItemDefinitionGroup")}
    assert len(definitions) == len(m.configurations)
    for c in m.configurations:
        group = definitions[f"'$(Configuration)|$(Platform)'=='{c.label}'"]
        assert group.findtext(f"{MSBUILD}ClCompile/{MSBUILD}WarningLevel") == "Level4"
        assert group.findtext(f"{MSBUILD}ClCompile/{MSBUILD}TreatWarningAsError") == "true"
        defines = (group.findtext(f"{MSBUILD}ClCompile/{MSBUILD}PreprocessorDefinitions") or "").split(";")
        assert defines[-1] == "%(PreprocessorDefinitions)"
        assert {"NDIS630", "NDIS_SUPPORT_NDIS6", "POOL_NX_OPTIN=1"} <= set(defines)
        assert "DBG=1" not in defines  # the WDK adds it for Debug (UseDebugLibraries)
        libraries = (group.findtext(f"{MSBUILD}Link/{MSBUILD}AdditionalDependencies") or "").split(";")
        assert {
            "$(DDK_LIB_PATH)fwpkclnt.lib",
            "$(DDK_LIB_PATH)ndis.lib",
            "$(DDK_LIB_PATH)wdmsec.lib",
            "uuid.lib",
        } <= set(libraries)
        assert libraries[-1] == "%(AdditionalDependencies)"
    signing = [g.findtext(f"{MSBUILD}SignMode") for g in root.iter(f"{MSBUILD}PropertyGroup")]
    assert signing.count("TestSign") == len(m.configurations)

    assert [e.get("Include") for e in root.iter(f"{MSBUILD}ClCompile") if e.get("Include")] == list(
        sources.sources
    )
    assert [e.get("Include") for e in root.iter(f"{MSBUILD}ClInclude")] == list(sources.headers)
    assert set(sources.sources) >= {"driver.c", "callouts.c", "classify.c", *(f"sink_{kind}.c" for kind in m.sinks)}
    assert set(sources.headers) >= {"driver.h", "records.h"}
    infs = list(root.iter(f"{MSBUILD}Inf"))
    assert [e.get("Include") for e in infs] == [f"{m.name}.inf"] == [sources.inf]
    assert infs[0].findtext(f"{MSBUILD}SpecifyDriverVerDirectiveVersion") == "true"
    assert infs[0].findtext(f"{MSBUILD}TimeStamp") == m.version
    assert [e.get("Include") for e in root.iter(f"{MSBUILD}None")] == ["packages.config"]
    imports = [e.get("Project") for e in root.iter(f"{MSBUILD}Import")]
    assert (
        imports.index("$(VCTargetsPath)\\Microsoft.Cpp.Default.props")
        < imports.index("$(VCTargetsPath)\\Microsoft.Cpp.props")
        < imports.index("$(VCTargetsPath)\\Microsoft.Cpp.targets")
    )


def test_project_filters(project: Project) -> None:
    root = project.xml("driver.vcxproj.filters.j2")
    sources = driver_sources(project.outputs)
    filters = {
        e.get("Include"): e.findtext(f"{MSBUILD}UniqueIdentifier")
        for e in root.iter(f"{MSBUILD}Filter")
        if e.get("Include")
    }
    assert set(filters) == {"Source Files", "Header Files", "Driver Files"}
    guids = [uuid.UUID(value or "") for value in filters.values()]
    assert len(set(guids)) == 3

    def members(tag: str) -> dict[str, str | None]:
        return {e.get("Include") or "": e.findtext(f"{MSBUILD}Filter") for e in root.iter(f"{MSBUILD}{tag}")}

    assert members("ClCompile") == dict.fromkeys(sources.sources, "Source Files")
    assert members("ClInclude") == dict.fromkeys(sources.headers, "Header Files")
    assert members("Inf") == {sources.inf: "Driver Files"}


def test_filter_guids_do_not_depend_on_the_spec(monitor: Project, odd_spec: Path) -> None:
    def guids(p: Project) -> list[str | None]:
        found = [
            e.findtext(f"{MSBUILD}UniqueIdentifier")
            for e in p.xml("driver.vcxproj.filters.j2").iter(f"{MSBUILD}Filter")
        ]
        return [g for g in found if g is not None]  # per-file <Filter> elements name a folder only

    assert guids(monitor) == guids(render(odd_spec))


# -- WDK from NuGet ----------------------------------------------------------------------------


def test_packages_config(project: Project) -> None:
    root = project.xml("packages.config.j2")
    assert root.tag == "packages"
    packages = {e.get("id"): e for e in root.iter("package")}
    assert set(packages) == NUGET_IDS
    for package in packages.values():
        assert package.get("version") == WDK_NUGET_VERSION == project.model.wdk_nuget_version
        assert package.get("targetFramework") == "native"


def test_directory_build_props_imports_only_what_exists(project: Project) -> None:
    root = project.xml("Directory.Build.props.j2")
    assert root.findtext("PropertyGroup/WdkNuGetVersion") == WDK_NUGET_VERSION
    assert root.findtext("PropertyGroup/WdkNuGetPackagesDir") == "$(MSBuildThisFileDirectory)packages\\"
    imports = root.findall("Import")
    assert len(imports) == len(NUGET_IDS)
    imported_ids = set()
    for element in imports:
        path, condition = element.get("Project") or "", element.get("Condition") or ""
        exists = f"Exists('{path}')"
        assert condition == exists or condition in {
            f"'$(Platform)' == '{p.name}' and {exists}" for p in PLATFORMS
        }
        assert path.startswith("$(WdkNuGetPackagesDir)") and path.endswith(".props")
        package = path.removeprefix("$(WdkNuGetPackagesDir)").split("\\")[0]
        assert package.endswith(".$(WdkNuGetVersion)")
        imported_ids.add(package.removesuffix(".$(WdkNuGetVersion)").lower())
        for platform in PLATFORMS:
            if package.lower().endswith(f".{platform.name.lower()}.$(wdknugetversion)"):
                assert condition.startswith(f"'$(Platform)' == '{platform.name}' and ")
    assert imported_ids == {i.lower() for i in NUGET_IDS}


# -- INF -----------------------------------------------------------------------------------------


def test_inf(project: Project) -> None:
    m = project.model
    text = project.text("driver.inf.j2")
    assert text.isascii()
    sections = inf_sections(text)
    version = inf_keys(sections["version"])
    assert version["signature"].lower() == '"$windows nt$"'
    assert version["class"] == "WFPCALLOUTS"
    assert version["classguid"] == m.class_guid == "{" + WFPCALLOUTS_CLASS_GUID + "}"
    assert version["provider"] == "%ProviderString%"
    assert version["catalogfile"] == f"{m.name}.cat"
    assert "driverver" in version  # stamped by the build
    assert version["pnplockdown"] == "1"
    assert inf_keys(sections["destinationdirs"]) == {"defaultdestdir": "13"}
    assert sections["sourcedisksfiles"] == [f"{m.name}.sys = 1,,"]

    # A primitive driver: no [Manufacturer], only decorated [DefaultInstall], no [DefaultUninstall].
    assert "manufacturer" not in sections
    assert not [s for s in sections if s.startswith("defaultuninstall")]
    installs = sorted(s for s in sections if s.startswith("defaultinstall"))
    expected = sorted(
        f"defaultinstall.{p.inf_decoration.lower()}{suffix}"
        for p in m.platforms
        for suffix in ("", ".services")
    )
    assert (
        installs
        == expected
        == sorted(
            [
                "defaultinstall.ntamd64",
                "defaultinstall.ntamd64.services",
                "defaultinstall.ntarm64",
                "defaultinstall.ntarm64.services",
            ]
        )
    )
    for p in m.platforms:
        files = inf_keys(sections[f"defaultinstall.{p.inf_decoration.lower()}"])["copyfiles"]
        assert sections[files.lower()] == [f"{m.name}.sys"]
        services = inf_keys(sections[f"defaultinstall.{p.inf_decoration.lower()}.services"])
        assert services["addservice"] == f"{m.service_name},,{m.name}.Service"

    service = inf_keys(sections[f"{m.name.lower()}.service"])
    assert service["servicetype"] == "1"
    assert service["starttype"] == "3"
    assert service["errorcontrol"] == "1"
    assert service["servicebinary"] == f"%13%\\{m.name}.sys"

    strings = inf_keys(sections["strings"])
    assert strings["servicedescription"] == m.description_inf
    used = set(
        re.findall(
            r"%([A-Za-z]\w*)%",
            "\n".join(line for name, lines in sections.items() if name != "strings" for line in lines),
        )
    )
    assert {u.lower() for u in used} <= set(strings)


# -- scripts -------------------------------------------------------------------------------------


def _balanced(text: str) -> bool:
    return all(text.count(a) == text.count(b) for a, b in ("{}", "()", "[]"))


def test_install_script(project: Project) -> None:
    m = project.model
    text = project.text("install.ps1.j2")
    for required in (
        "#Requires -RunAsAdministrator",
        "Set-StrictMode -Version Latest",
        "$ErrorActionPreference = 'Stop'",
        f"$ServiceName = '{m.service_name}'",
        f"$DriverName = '{m.name}'",
        "-Name SystemStartOptions",
        "-notmatch '(^|\\s)TESTSIGNING(\\s|$)'",
        "bcdedit /set testsigning on",
        "'pnputil.exe'",
        "'/add-driver', $InfPath, '/install'",
        "'sc.exe'",
        "@('start', $ServiceName)",
    ):
        assert required in text, required
    # bcdedit's output is translated: a script that parses it refuses to install on a German Windows.
    assert "bcdedit.exe /enum" not in text and "s+Yes" not in text
    assert "[ValidateSet('Debug', 'Release')]" in text
    assert "[ValidateSet('x64', 'ARM64')]" in text
    assert "$Configuration = 'Release'" in text and "$Platform = 'x64'" in text
    for p in m.platforms:
        assert f"'{p.name}' = {p.cpu_architecture}" in text
    assert _balanced(text)


def test_uninstall_script(project: Project) -> None:
    m = project.model
    text = project.text("uninstall.ps1.j2")
    for required in (
        "#Requires -RunAsAdministrator",
        "Set-StrictMode -Version Latest",
        "$ErrorActionPreference = 'Stop'",
        f"$ServiceName = '{m.service_name}'",
        "pnputil.exe /enum-drivers",
        "@('/delete-driver', $inf, '/uninstall', '/force')",
        "@('stop', $ServiceName)",
        '$OriginalInf = "$DriverName.inf"',
    ):
        assert required in text, required
    assert _balanced(text)


# -- CI, repository files, README --------------------------------------------------------------


def test_workflow(project: Project) -> None:
    m = project.model
    workflow = yaml.safe_load(project.text("build.yml.j2"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare 'on' as true
    assert {"push", "pull_request"} <= set(triggers)
    job = workflow["jobs"]["build"]
    assert job["runs-on"] == "windows-2022"
    assert job["strategy"]["matrix"]["include"] == [
        {"configuration": c.configuration, "platform": c.platform} for c in m.configurations
    ]
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert "microsoft/setup-msbuild@v2" in uses
    runs = [s.get("run", "") for s in steps]
    assert f"nuget restore {m.name}.sln" in runs
    assert (
        f"msbuild {m.name}.sln -m -nologo -p:Configuration=${{{{ matrix.configuration }}}} "
        f"-p:Platform=${{{{ matrix.platform }}}}"
    ) in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert (
        upload["with"]["path"]
        == f"driver/${{{{ matrix.platform }}}}/${{{{ matrix.configuration }}}}/{m.name}/"
    )
    assert upload["with"]["if-no-files-found"] == "error"


def test_gitattributes(project: Project) -> None:
    lines = project.text("gitattributes.j2").splitlines()
    assert "* text=auto eol=lf" in lines
    for pattern in ("*.sln", "*.vcxproj", "*.filters", "*.props", "*.config", "*.inf", "*.ps1"):
        assert f"{pattern} text eol=crlf" in lines


def test_gitattributes_agree_with_the_generated_line_endings(project: Project) -> None:
    crlf = [
        line.split()[0] for line in project.text("gitattributes.j2").splitlines() if line.endswith("eol=crlf")
    ]
    for spec in project.outputs:
        expected = "crlf" if any(fnmatch.fnmatch(PurePosixPath(spec.path).name, p) for p in crlf) else "lf"
        assert spec.line_end == expected, spec.path


def test_clang_format_is_the_style_the_sources_use(project: Project) -> None:
    style = (REPO / "wfpgen" / "clang_format_style.yaml").read_text(encoding="utf-8")
    body = "".join(
        line for line in project.text("clang-format.j2").splitlines(keepends=True) if not line.startswith("#")
    )
    assert body == style
    assert isinstance(yaml.safe_load(project.text("clang-format.j2")), dict)


def test_readme(project: Project) -> None:
    m = project.model
    text = project.text("README.md.j2")
    restore = "-restore -p:RestorePackagesConfig=true"
    build = f"msbuild {m.name}.sln {restore} -p:Configuration=Release -p:Platform=x64"
    for required in (
        "scripts\\install.ps1",
        "scripts\\uninstall.ps1",
        "bcdedit /set testsigning on",
        build,
        f"nuget restore {m.name}.sln",
        m.description_md,
        m.wdk_nuget_version,
        f"driver\\<Platform>\\<Configuration>\\{m.name}\\",
    ):
        assert required in text, required
    for layer in m.layers:
        assert f"| `{layer.name}` | `{layer.fwpm_layer}` | {layer.action} |" in text
        assert f"`{layer.record.type_name}`: {layer.record.size} bytes fixed" in text
        for condition in layer.conditions:
            assert condition.summary_md in text
        for item in layer.record.items:
            assert f"| {item.bit} | `{item.name}` | {item.offset} | {item.size} |" in text
    if m.has_dbgprint:
        assert "ed nt!Kd_IHVNETWORK_Mask 0xF" in text
        assert "Debug Print Filter" in text
        assert f"[{m.name}] [pid] local:port -> remote:port" in text
    else:
        assert m.user_device_path in text
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.*) \|$", text[text.index("## Files") :], flags=re.MULTILINE))
    for spec in project.outputs:
        assert rows.get(spec.path, "").strip(), f"README has no description of {spec.path}"


# -- the model fields these templates print --------------------------------------------------------


@pytest.mark.parametrize("text", ["plain.yaml", "a--b.yaml", "a---b-", "x-", "-", "--", "é--\n.yaml"])
def test_xml_comment_is_safe(text: str) -> None:
    safe = xml_comment(text)
    assert "--" not in safe and not safe.endswith("-") and safe.isascii()
    ET.fromstring(f"<x><!-- {safe} --></x>")


def test_platforms_and_configurations_agree(monitor: Project) -> None:
    m = monitor.model
    assert m.configurations == CONFIGURATIONS
    assert [p.name for p in m.platforms] == list(dict.fromkeys(c.platform for c in m.configurations))
    assert list(m.configuration_names) == list(dict.fromkeys(c.configuration for c in m.configurations))
    assert {c.label: c.use_debug_libraries for c in m.configurations} == {
        "Debug|x64": "true",
        "Release|x64": "false",
        "Debug|ARM64": "true",
        "Release|ARM64": "false",
    }
    assert re.fullmatch(r"10\.0\.26100\.\d+", m.wdk_nuget_version)
