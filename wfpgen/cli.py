"""The ``wfpgen`` command line. Errors become short messages and exit codes here, nowhere else."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from wfpgen import __version__
from wfpgen.catalog import Catalog, Layer, load_catalog
from wfpgen.errors import SpecError, WfpgenError, closest
from wfpgen.output import write

app = typer.Typer(
    name="wfpgen",
    help="Generate Windows Filtering Platform callout-driver projects from a YAML spec.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# The loader, not click, checks what SPEC is: its errors are located one-line diagnostics, exit code 2.
SpecArg = Annotated[Path, typer.Argument(help="The YAML spec.", show_default=False)]
WdkOption = Annotated[
    Path | None,
    typer.Option("--wdk", help="A WDK include root (km/ and shared/) for the real-header tier "
                 "[default: $WFPGEN_WDK; on Windows the installed kit]"),
]


def _fail(error: WfpgenError) -> typer.Exit:
    if isinstance(error, SpecError):
        for diagnostic in error.diagnostics:
            typer.echo(diagnostic.format(), err=True)
        count = len(error.diagnostics)
        typer.echo(f"{count} error{'s' if count != 1 else ''}; nothing was written", err=True)
    else:
        typer.echo(f"error: {error}", err=True)
    return typer.Exit(error.exit_code)


@app.command()
def new(
    spec: SpecArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Project directory [default: generated/<DriverName>]")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite generated files edited since.")] = False,
) -> None:
    """Generate the driver project described by SPEC."""
    from wfpgen.pipeline import generate

    try:
        model, files = generate(spec, str(spec))
        root = output if output is not None else Path("generated") / model.name
        planned = write(root, files, force=force, on_wait=lambda message: typer.echo(message, err=True))
    except WfpgenError as error:
        raise _fail(error) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted; nothing was written (an existing project is left as it was)", err=True)
        raise typer.Exit(1) from None
    for item in planned:
        typer.echo(f"{item.action:>10}  {item.path}" + (f"  ({item.reason})" if item.reason else ""))
    changed = sum(1 for p in planned if p.action not in ("identical", "keep"))
    kept = sum(1 for p in planned if p.action == "keep")
    typer.echo(f"{model.name}: {len(files)} files in {root} ({changed} changed)")
    if kept:
        typer.echo(f"kept {kept} file(s) the previous manifest lists but this generation does not: wfpgen deletes "
                   "only its own unedited output; delete them yourself if they are stale")


@app.command()
def validate(spec: SpecArg) -> None:
    """Check SPEC against the schema and the catalog; print nothing else on success."""
    from wfpgen.pipeline import resolve_spec

    try:
        resolved, _ = resolve_spec(spec, str(spec))
    except WfpgenError as error:
        raise _fail(error) from None
    layers = ", ".join(layer.layer.name for layer in resolved.layers)
    typer.echo(f"{spec}: ok ({resolved.spec.driver.name}: {layers})")


@app.command()
def layers() -> None:
    """List every kernel run-time layer wfpgen can hook, one line each."""
    catalog = load_catalog()
    width = max(len(name) for name in catalog.layers)
    for layer in catalog.layers.values():
        usable = sum(1 for f in layer.fields if f.extractable)
        flags = ", ".join(part for part in (
            f"v{layer.ip_version}",
            layer.direction or "",
            "discard" if layer.discard else "",
            "can block" if layer.can_block else "monitor only",
            f"since {_label(catalog, layer.min_windows)}",
        ) if part)
        typer.echo(f"{layer.name:<{width}}  {layer.fwps_layer:<48}  {usable:>2} fields  ({flags})")


def _label(catalog: Catalog, version_id: str) -> str:
    version = catalog.version(version_id)
    return version.label if version else version_id


def _layer_or_exit(catalog: Catalog, name: str) -> Layer:
    layer = catalog.layer(name)
    if layer is None:
        hint = closest(name, catalog.layers)
        typer.echo(f"error: unknown layer '{name}'" + (f"; did you mean '{hint}'?" if hint else "")
                   + "; allowed: a name listed by 'wfpgen layers'", err=True)
        raise typer.Exit(2)
    return layer


@app.command()
def fields(layer: Annotated[str, typer.Argument(help="A layer name from 'wfpgen layers'.")]) -> None:
    """Show LAYER's fields (enum member, value type, condition) and its metadata."""
    catalog = load_catalog()
    entry = _layer_or_exit(catalog, layer)
    typer.echo(f"{entry.name}: {entry.fwps_layer} / {entry.fwpm_layer}")
    typer.echo(f"  enum {entry.fields_enum}, since {_label(catalog, entry.min_windows)}")
    typer.echo("fields:")
    width = max(len(n) for n in [f.name for f in entry.fields] + list(entry.metadata) + ["current_process_id"])
    for f in entry.fields:
        note = "" if f.extractable else "  (not recordable)"
        typer.echo(f"  {f.index:>2} {f.name:<{width}}  {f.type:<22} {f.member}{note}")
    for alias, target in sorted(entry.aliases.items()):
        typer.echo(f"     {alias:<{width}}  alias of {target}")
    typer.echo("metadata:")
    for name in entry.metadata:
        item = catalog.metadata[name]
        typer.echo(f"  {name:<{width}}  {item.c_type or '-':<22} {item.flag}")
    typer.echo(f"  {'current_process_id':<{width}}  {'UINT64':<22} PsGetCurrentProcessId() (unreliable)")


@app.command()
def check(
    target: Annotated[Path, typer.Argument(help="A spec, or a generated project directory.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where builds, decoded records and logs go [default: wfpgen-check/<name>]")
    ] = None,
    variant: Annotated[
        list[str] | None, typer.Option("--variant", help="plain, asan, tsan (repeatable) [default: all three]")
    ] = None,
    pcap: Annotated[Path | None, typer.Option(
        "--pcap", help="Replay this capture (pcap or pcapng) through the transport layers; needs --local.")] = None,
    local: Annotated[str | None, typer.Option(
        "--local", help="With --pcap: the capturing machine's address or network (tells inbound from outbound).")]
    = None,
    no_analysis: Annotated[bool, typer.Option("--no-analysis", help="Skip gcc -fanalyzer and clang-tidy.")] = False,
    wdk: WdkOption = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Build, run and analyse this many at once [default: one per CPU].")] = None,
) -> None:
    """Build the driver against the host simulation and prove it works: load, traffic, reads, faults, unload."""
    from wfpgen.checks.check import run_check
    from wfpgen.checks.runner import VARIANTS

    chosen = tuple(variant) if variant else VARIANTS
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        typer.echo(f"error: unknown variant {unknown[0]!r}; allowed: {', '.join(VARIANTS)}", err=True)
        raise typer.Exit(2)
    try:
        report = run_check(target, out, variants=chosen, analysis=not no_analysis, pcap=pcap, local=local,
                           wdk=wdk, echo=typer.echo, jobs=jobs)
    except WfpgenError as error:
        raise _fail(error) from None
    typer.echo(f"check: {report.tally()}")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def build(
    project: Annotated[
        Path | None, typer.Argument(help="A generated project [default: this directory, or the only one under generated/]")
    ] = None,
    configuration: Annotated[str, typer.Option(help="Debug or Release (Windows).")] = "Release",
    platform: Annotated[str, typer.Option(help="x64 or ARM64 (Windows).")] = "x64",
    wdk: WdkOption = None,
) -> None:
    """Windows: MSBuild the solution. Elsewhere: wfpgen check, the MinGW cross build and the real-header tier."""
    from wfpgen.buildcmd import run_build

    try:
        code = run_build(project, configuration, platform, echo=typer.echo, wdk=wdk)
    except WfpgenError as error:
        raise _fail(error) from None
    raise typer.Exit(code)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editors)."""
    from wfpgen.spec import json_schema

    typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wfpgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Generate Windows Filtering Platform callout-driver projects from a YAML spec."""


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted; nothing half-written remains", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
