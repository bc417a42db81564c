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

from wfpgen.format import format_c
from wfpgen.model import ProjectModel

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


def project_files(model: ProjectModel) -> tuple[OutputFile, ...]:
    """The files of a generated project, for this model."""
    n = model.name
    vs = {"encoding": "utf-8-bom", "line_end": "crlf"}
    files = [
        OutputFile("driver/solution.sln.j2", f"{n}.sln", "utf-8-bom", "crlf"),
        OutputFile("driver/Directory.Build.props.j2", "Directory.Build.props", "utf-8-bom", "crlf"),
        OutputFile("driver/README.md.j2", "README.md"),
        OutputFile("driver/gitattributes.j2", ".gitattributes"),
        OutputFile("driver/clang-format.j2", ".clang-format"),
        OutputFile("driver/build.yml.j2", ".github/workflows/build.yml"),
        OutputFile("driver/driver.vcxproj.j2", f"driver/{n}.vcxproj", **vs),  # type: ignore[arg-type]
        OutputFile("driver/driver.vcxproj.filters.j2", f"driver/{n}.vcxproj.filters", **vs),  # type: ignore[arg-type]
        OutputFile("driver/packages.config.j2", "driver/packages.config", "utf-8-bom", "crlf"),
        OutputFile("driver/driver.inf.j2", f"driver/{n}.inf", "utf-8", "crlf"),
        OutputFile("driver/driver.h.j2", "driver/driver.h", c_source=True),
        OutputFile("driver/records.h.j2", "driver/records.h", c_source=True),
        OutputFile("driver/driver.c.j2", "driver/driver.c", c_source=True),
        OutputFile("driver/callouts.c.j2", "driver/callouts.c", c_source=True),
        OutputFile("driver/classify.c.j2", "driver/classify.c", c_source=True),
        OutputFile(f"driver/sink_{model.sink}.c.j2", f"driver/sink_{model.sink}.c", c_source=True),
        OutputFile("driver/install.ps1.j2", "scripts/install.ps1", "utf-8-bom", "crlf"),
        OutputFile("driver/uninstall.ps1.j2", "scripts/uninstall.ps1", "utf-8-bom", "crlf"),
    ]
    if model.sink == "ring":
        files.append(OutputFile("driver/channel.h.j2", "driver/channel.h", c_source=True))
        files += reader_files(model)
    return tuple(sorted(files, key=lambda f: f.path))


READER_MODULES = ("__init__.py", "__main__.py", "layout.py", "decode.py", "device.py", "output.py", "cli.py",
                  "py.typed")


def reader_files(model: ProjectModel) -> list[OutputFile]:
    """The generated Python reader: a standard-library-only package beside the driver."""
    package = f"reader/{model.reader_package}"
    files = [
        OutputFile("reader/pyproject.toml.j2", "reader/pyproject.toml"),
        OutputFile("reader/README.md.j2", "reader/README.md"),
    ]
    files += [OutputFile(f"reader/pkg/{module}.j2", f"{package}/{module}") for module in READER_MODULES]
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
    text = template.render(m=model, files=files, this=spec, driver=driver_sources(files))
    if spec.c_source:
        text = format_c(text, spec.path)
    return _encode(text, spec)


def render_project(model: ProjectModel) -> dict[str, bytes]:
    """Every file of the project, rendered and formatted, keyed by POSIX relative path."""
    files = project_files(model)
    return {spec.path: render_file(model, spec, files) for spec in files}
