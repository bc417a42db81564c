"""``wfpgen check`` and the non-Windows half of ``wfpgen build``, as one report of steps."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wfpgen import realheaders
from wfpgen.checks import pcap as pcapfile
from wfpgen.checks.runner import VARIANTS, Report, Step, run_scenario, timed
from wfpgen.errors import WfpgenError
from wfpgen.model import ProjectModel
from wfpgen.output import SPEC_COPY, write
from wfpgen.pipeline import generate, model_for
from wfpgen.tools import pip_install

Echo = Callable[[str], None]


def project_for(target: Path, work: Path) -> tuple[Path, ProjectModel]:
    """The project directory and model for ``target``: a spec (rendered into ``work``) or a project."""
    if target.is_dir():
        spec = target / SPEC_COPY
        if not spec.is_file():
            raise WfpgenError(f"{target}: not a generated project (no {SPEC_COPY}); give the spec instead")
        return target, model_for(spec, str(spec))
    model, files = generate(target, str(target))
    project = work / "project"
    write(project, files, force=True)
    return project, model


def _build_step(project: Path, model: ProjectModel, out: Path, variant: str) -> tuple[Step, Path]:
    from wfpgen.hostsim.build import BuildError, build_shared

    library = out / variant / f"{model.name.lower()}-{variant}.so"
    library.parent.mkdir(parents=True, exist_ok=True)

    def build() -> str:
        try:
            build_shared(project, library, variant, model.build_defines)  # type: ignore[arg-type]
        except BuildError as exc:
            raise WfpgenError(str(exc)) from None
        return f"{library.stat().st_size // 1024} KiB"

    return timed(f"{variant}: build -Wall -Wextra -Werror", build), library


def _analysis_tasks(project: Path, model: ProjectModel) -> list[Callable[[], Step]]:
    """gcc -fanalyzer and clang-tidy, each a step to run."""
    from wfpgen.crossbuild import analyze

    tasks: list[Callable[[], Step]] = []
    for name, run in (("gcc -fanalyzer", analyze.run_fanalyzer), ("clang-tidy", analyze.run_clang_tidy)):
        if name == "clang-tidy" and analyze.clang_tidy_binary() is None:  # optional: say how to get it
            skipped = Step(f"static analysis: {name}", True, "skipped: clang-tidy is not installed; install "
                           f"it with: {analyze.clang_tidy_install()}", skipped=True)
            tasks.append(lambda skipped=skipped: skipped)  # type: ignore[misc]
            continue

        def action(run: Callable[..., str] = run) -> str:
            try:
                problems = run(project, model.build_defines)
            except (RuntimeError, OSError) as exc:
                raise WfpgenError(str(exc)) from None
            if problems.strip():
                raise WfpgenError(problems.strip())
            return "clean"
        tasks.append(lambda name=name, action=action: timed(f"static analysis: {name}", action))  # type: ignore[misc]
    return tasks


def _cross_task(project: Path, model: ProjectModel, out: Path) -> Callable[[], Step]:
    from wfpgen.crossbuild import check_pe, cross_build

    def action() -> str:
        try:
            image = cross_build(project, out / "mingw", model.build_defines)
        except (RuntimeError, OSError) as exc:
            raise WfpgenError(str(exc)) from None
        problems = check_pe(image)
        if problems:
            raise WfpgenError("; ".join(problems))
        return f"{image} (a check artefact, not a shippable driver)"

    return lambda: timed("MinGW-w64 cross build + PE checks", action)


REAL_HEADERS = "real WDK headers: clang, MSVC mode, /W4 /WX"


def _real_header_step(project: Path, model: ProjectModel, out: Path, wdk: Path | None) -> Step:
    """Compile every generated .c against Microsoft's headers, or say why that could not run."""
    try:
        found = realheaders.find_wdk_root(wdk)
    except realheaders.RealHeaderError as exc:
        return Step(REAL_HEADERS, False, str(exc))
    if found is None:
        return Step(REAL_HEADERS, True, f"skipped: no WDK include root (give --wdk DIR or set {realheaders.ENV_ROOT} "
                    "to a directory holding km/ and shared/)", skipped=True)

    def action() -> str:
        try:
            root = realheaders.WdkRoot.prepare(found, out / "wdk")
            result = realheaders.compile_project(project, root, model.build_defines, scratch=out / "wdk")
        except (realheaders.RealHeaderError, OSError) as exc:
            raise WfpgenError(str(exc)) from None
        summary = real_header_summary(result, project, model)
        if root.missing_ntddi:
            names = ", ".join(f"{n}={v}" for n, v in root.missing_ntddi)
            summary += (f"; note: this root's sdkddkver.h lacks {names} (its km/ and shared/ come from different "
                        "kits), defined with their values")
        if not result.ok:
            raise WfpgenError(summary)
        return summary

    return timed(REAL_HEADERS, action)


def real_header_summary(result: realheaders.TierResult, project: Path, model: ProjectModel) -> str:
    """What the tier compiled and found: the driver's diagnostics one per line, with hints."""
    sources = sorted({str(c.source.relative_to(project)) for c in result.compiles})
    builds = sorted({f"{c.platform} {c.configuration}" for c in result.compiles})
    scope = (f"{len(sources)} sources x {len(builds)} builds ({', '.join(builds)}) at NTDDI_VERSION "
             f"{result.ntddi} ({model.target_label}) against {result.root}")
    headers = result.header_summary()
    if result.ok:
        return f"{scope}: no diagnostic of the driver's; the headers' own under clang: {headers}"
    lines = [f"{scope}: {len(result.driver)} diagnostic(s) of the driver's:"]
    every = len(builds)
    for diagnostic in result.driver:
        where = result.where.get(diagnostic, [])
        suffix = "" if len(where) == every else f"  [{', '.join(where)}]"
        lines.append("  " + diagnostic.format(project) + suffix)
    lines += [f"  hint: {hint}" for hint in realheaders.hints(result.driver)]
    return "\n".join(lines)


def capture_preflight(pcap: Path | None, local: str | None) -> pcapfile.Capture | None:
    """Validate ``--pcap`` and ``--local`` before anything is built; the capture as read.

    Raises :class:`~wfpgen.checks.pcap.CaptureError` (exit code 2) with one line that says
    what is wrong: ``--local`` without ``--pcap`` or the reverse, an address that is not one,
    dpkt missing, or a capture that is missing, unreadable, not pcap/pcapng, truncated, or
    without a frame on a supported link type.
    """
    if pcap is None:
        if local is not None:
            raise pcapfile.CaptureError("--local is the local network of a capture: give --pcap FILE too")
        return None
    if local is None:
        raise pcapfile.CaptureError("--pcap needs --local NET: the capturing machine's address or network, which "
                                    "tells inbound from outbound (e.g. --local 192.168.1.20 or --local 10.0.0.0/8)")
    pcapfile.parse_network(local)
    try:
        import dpkt  # type: ignore[import-untyped]  # noqa: F401  # the scenario compares with it
    except ImportError:
        raise pcapfile.CaptureError("--pcap compares the replay with dpkt, which is not installed: "
                                    f"{pip_install('dpkt')}") from None
    return pcapfile.read_capture(pcap)


def _capture_fits(model: ProjectModel, target: Path) -> None:
    """A replay needs decoded records and a transport layer: refuse before building otherwise."""
    from wfpgen.checks.scenario import TRANSPORT_LAYERS

    if not model.has_ring:
        raise pcapfile.CaptureError(f"--pcap compares decoded records, and {target} uses the dbgprint sink, which "
                                    "has none: use a ring-sink project")
    if not any(layer.name in TRANSPORT_LAYERS for layer in model.layers):
        raise pcapfile.CaptureError(f"--pcap replays packets through the transport layers, and {target} hooks none "
                                    f"of them ({', '.join(TRANSPORT_LAYERS)})")


def default_jobs() -> int:
    """How many check tasks run at once by default: one per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _variant_steps(project: Path, model: ProjectModel, work: Path, variant: str, extra: Sequence[str]) -> list[Step]:
    """Build one variant and run its scenario: its steps, in order."""
    step, library = _build_step(project, model, work, variant)
    if not step.ok:
        return [step]
    from wfpgen.hostsim.build import BuildError, sanitizer_env

    env = dict(os.environ)
    try:
        env.update(sanitizer_env(variant))  # type: ignore[arg-type]
    except (BuildError, subprocess.CalledProcessError) as exc:  # e.g. gcc without libtsan
        return [step, Step(f"{variant}: sanitizer runtime", False, str(exc))]
    return [step, *run_scenario(library, project, work / variant, variant, env, extra)]


def run_tasks(tasks: Sequence[Callable[[], list[Step]]], jobs: int, report: Report, echo: Echo | None) -> None:
    """Run ``tasks`` (each giving its steps in order), ``jobs`` at a time, and add their steps to
    ``report`` in the order of ``tasks``: the report, and the lines echoed as soon as every earlier
    task is done, read as they would from one task after another."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            for step in task():
                report.add(step, echo)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each task waits on compilers and subprocesses
        futures = [pool.submit(task) for task in tasks]
        for future in futures:
            for step in future.result():
                report.add(step, echo)


def run_check(target: Path, out: Path | None, *, variants: Sequence[str] = VARIANTS, analysis: bool = True,
              cross: bool = False, pcap: Path | None = None, local: str | None = None,
              wdk: Path | None = None, echo: Echo | None = None, jobs: int | None = None) -> Report:
    """Render (or take) a project, build it in each variant, run the scenario, analyse it.

    The real-header tier runs when a WDK include root is given (``wdk``), named by
    ``WFPGEN_WDK``, or installed (Windows); otherwise its step reports SKIP. The builds with
    their scenarios, the analyses and the cross build are independent tasks: ``jobs`` of them
    (default: one per CPU) run at once, and the report lists their steps in the same order as
    one after another.
    """
    report = Report()
    capture = capture_preflight(pcap, local)  # before anything is rendered or built
    work = out if out is not None else Path("wfpgen-check") / (target.name if target.is_dir() else target.stem)
    work.mkdir(parents=True, exist_ok=True)
    project, model = project_for(target, work)
    if capture is not None:
        _capture_fits(model, target)
    report.add(Step("render the project", True, str(project)), echo)
    if pcap is not None and capture is not None:
        report.add(Step(f"read capture {pcap.name}", True, capture.summary()), echo)
    extra: list[str] = []
    if pcap is not None:
        extra += ["--pcap", str(pcap.resolve())] + (["--local", local] if local else [])
    tasks: list[Callable[[], list[Step]]] = [lambda: [_real_header_step(project, model, work, wdk)]]
    tasks += [lambda variant=variant: _variant_steps(project, model, work, variant, extra)  # type: ignore[misc]
              for variant in variants]
    if analysis:
        tasks += [lambda task=task: [task()] for task in _analysis_tasks(project, model)]  # type: ignore[misc]
    if cross:
        cross_task = _cross_task(project, model, work)
        tasks.append(lambda: [cross_task()])
    run_tasks(tasks, default_jobs() if jobs is None else jobs, report, echo)
    if echo is not None:
        echo(f"builds, decoded records and logs: {work}")
    return report
