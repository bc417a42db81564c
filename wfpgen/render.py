"""Render the model into files in memory: ``{relative path: bytes}``.

Which files exist, their encodings and line endings are decided here; templates only
print. C and header files go through the pinned clang-format before they are returned.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2

from wfpgen.ecs import reader_ecs
from wfpgen.format import format_c
from wfpgen.model import ProjectModel
from wfpgen.readerformat import reader_format

Encoding = Literal["utf-8", "utf-8-bom"]
LineEnd = Literal["lf", "crlf"]


@dataclass(frozen=True)
class OutputFile:
    """One generated file: its template, destination and byte conventions."""

    template: str
    path: str
    encoding: Encoding = "utf-8"
    line_end: LineEnd = "lf"
    c_source: bool = False
    description: str = ""


def templates_dir() -> Path:
    """The template tree: inside the installed package, else the checkout's top-level folder."""
    packaged = Path(__file__).resolve().parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment: strict about undefined names, no autoescape (the model escapes)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def _vs(template: str, path: str, description: str) -> OutputFile:
    """A file Visual Studio writes: UTF-8 with a BOM, CRLF."""
    return OutputFile(template, path, "utf-8-bom", "crlf", description=description)


def _c(name: str, description: str) -> OutputFile:
    """A C source or header under driver/, formatted with clang-format."""
    return OutputFile(f"driver/{name}.j2", f"driver/{name}", c_source=True, description=description)


def project_files(model: ProjectModel) -> tuple[OutputFile, ...]:
    """The files of a generated project, for this model."""
    n = model.name
    files = [
        _vs("driver/solution.sln.j2", f"{n}.sln", "Visual Studio 2022 solution with the driver project"),
        _vs("driver/Directory.Build.props.j2", "Directory.Build.props",
            "Uses the WDK NuGet packages from `packages\\` when they have been restored"),
        OutputFile("driver/README.md.j2", "README.md", description="This file"),
        OutputFile("driver/gitattributes.j2", ".gitattributes",
                   description="Line endings: CRLF for the Visual Studio, INF and PowerShell files"),
        OutputFile("driver/clang-format.j2", ".clang-format",
                   description="The clang-format style the C sources are formatted with"),
        OutputFile("driver/build.yml.j2", ".github/workflows/build.yml",
                   description="GitHub Actions: builds every configuration and platform, uploads the driver packages"),
        OutputFile("driver/wdk_assumptions.c.j2", "ci/wdk_assumptions.c", c_source=True,
                   description="Not built into the driver: CI checks wfpgen's Linux cross-build numbers against the WDK"),
        _vs("driver/driver.vcxproj.j2", f"driver/{n}.vcxproj",
            "The kernel-mode driver project (WDM, `/W4 /WX`, test-signed)"),
        _vs("driver/driver.vcxproj.filters.j2", f"driver/{n}.vcxproj.filters",
            "Solution Explorer folders for the project"),
        _vs("driver/packages.config.j2", "driver/packages.config",
            f"The WDK and SDK NuGet packages, version {model.wdk_nuget_version}"),
        OutputFile("driver/driver.inf.j2", f"driver/{n}.inf", "utf-8", "crlf",
                   description="Installs the driver as a primitive driver package with a demand-start kernel service"),
        _c("driver.h", "Declarations shared by the driver's sources"),
        _c("keys.h", "The GUIDs of the provider, sublayer, callouts, filters and device class"),
        _c("records.h", "The record layouts, shared with user-mode readers"),
        _c("driver.c", "`DriverEntry` and unload"),
        _c("callouts.c", "Registers the callouts and adds the provider, sublayer and filters"),
        _c("values.h", "Reads a classify's incoming values and metadata into a record"),
        _c("classify.c", "The classify functions: one record per classified packet or connection"),
        _vs("driver/install.ps1.j2", "scripts/install.ps1", "Installs the built package and starts the service"),
        _vs("driver/uninstall.ps1.j2", "scripts/uninstall.ps1", "Stops the service and removes the package"),
    ]
    if model.flows is not None:
        files.append(_c("flows.c", "Flow contexts: each flow's process (and counters), from its ALE_FLOW_ESTABLISHED "
                                    "event"))
    if model.has_ring:
        files.append(_c("sink_ring.c", "The ring sink: records in a ring buffer, read through a device"))
        files.append(_c("channel.h", "The device interface (IOCTLs, batches, statistics), shared with readers"))
        files += reader_files(model)
    if model.has_dbgprint:
        files.append(_c("sink_dbgprint.c", "The dbgprint sink: one debugger line per record"))
    if model.has_etw:
        files.append(_c("sink_etw.c", "The etw sink: one TraceLogging event per record"))
        files.append(OutputFile("driver/provider.wprp.j2", f"{n}.wprp",
                                description="Windows Performance Recorder profile that records the driver's ETW "
                                            "provider (`wpr -start " + n + ".wprp -filemode`)"))
    if len(model.sinks) > 1:
        files.append(_c("sinks.c", "Hands each record to every sink, and starts and stops them in turn"))
    return tuple(sorted(files, key=lambda f: f.path))


READER_DESCRIPTIONS = {
    "__init__.py": "The reader package",
    "__main__.py": "`python -m` entry point",
    "layout.py": "The record layouts and device constants, generated from the same model as `records.h`",
    "decode.py": "Decodes batches and records (standard library; numpy fast path when available)",
    "device.py": "Opens the device and issues the IOCTLs (Windows, ctypes)",
    "output.py": "Table, JSON lines, CSV, SQLite and ECS (Elastic Common Schema) writers",
    "cli.py": "Command line",
    "top.py": "`--top`: flow records summed per process or remote endpoint, redrawn live",
    "py.typed": "Marks the package as typed",
}
READER_MODULES = tuple(READER_DESCRIPTIONS)


def reader_files(model: ProjectModel) -> list[OutputFile]:
    """The generated Python reader: a standard-library-only package beside the driver."""
    package = f"reader/{model.reader_package}"
    files = [
        OutputFile("reader/pyproject.toml.j2", "reader/pyproject.toml",
                   description="The reader's package metadata (standard library only; numpy optional)"),
        OutputFile("reader/README.md.j2", "reader/README.md", description="How to run the reader"),
    ]
    files += [OutputFile(f"reader/pkg/{module}.j2", f"{package}/{module}",
                         description=READER_DESCRIPTIONS[module]) for module in READER_MODULES]
    return files


def _encode(text: str, spec: OutputFile) -> bytes:
    text = text.replace("\r\n", "\n")
    if spec.line_end == "crlf":
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if spec.encoding == "utf-8-bom" else data


@dataclass(frozen=True)
class DriverSources:
    """The driver project's members, by basename, as the .vcxproj lists them."""

    sources: tuple[str, ...]
    headers: tuple[str, ...]
    inf: str


def driver_sources(files: tuple[OutputFile, ...]) -> DriverSources:
    """Split the files under ``driver/`` into compiled sources, headers and the INF."""
    names = [f.path.removeprefix("driver/") for f in files if f.path.startswith("driver/")]
    return DriverSources(
        sources=tuple(sorted(n for n in names if n.endswith(".c"))),
        headers=tuple(sorted(n for n in names if n.endswith(".h"))),
        inf=next(n for n in names if n.endswith(".inf")),
    )


def render_file(model: ProjectModel, spec: OutputFile, files: tuple[OutputFile, ...]) -> bytes:
    """Render and encode one file."""
    template = environment().get_template(spec.template)
    extra: dict[str, object] = {"rf": reader_format(model)} if spec.template.startswith("reader/pkg/") else {}
    if spec.template.startswith("reader/"):
        extra["ecs"] = reader_ecs()
    text = template.render(m=model, files=files, this=spec, driver=driver_sources(files), **extra)
    if spec.c_source:
        text = format_c(text, spec.path)
    return _encode(text, spec)


def render_project(model: ProjectModel) -> dict[str, bytes]:
    """Every file of the project, rendered and formatted, keyed by POSIX relative path."""
    files = project_files(model)
    return {spec.path: render_file(model, spec, files) for spec in files}
