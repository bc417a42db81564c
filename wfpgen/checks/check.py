"""``wfpgen check`` and the non-Windows half of ``wfpgen build``, as one report of steps."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from wfpgen.checks.runner import VARIANTS, Report, Step, run_scenario, timed
from wfpgen.errors import WfpgenError
from wfpgen.model import ProjectModel
from wfpgen.output import SPEC_COPY, write
from wfpgen.pipeline import generate, model_for

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
            build_shared(project, library, variant, model.preprocessor_defines)  # type: ignore[arg-type]
        except BuildError as exc:
            raise WfpgenError(str(exc)) from None
        return f"{library.stat().st_size // 1024} KiB"

    return timed(f"{variant}: build -Wall -Wextra -Werror", build), library


def _analysis_steps(project: Path, model: ProjectModel) -> list[Step]:
    from wfpgen.crossbuild import analyze

    steps = []
    for name, run in (("gcc -fanalyzer", analyze.run_fanalyzer), ("clang-tidy", analyze.run_clang_tidy)):
        def action(run: Callable[..., str] = run) -> str:
            try:
                problems = run(project, model.preprocessor_defines)
            except (RuntimeError, OSError) as exc:
                raise WfpgenError(str(exc)) from None
            if problems.strip():
                raise WfpgenError(problems.strip())
            return "clean"
        steps.append(timed(f"static analysis: {name}", action))
    return steps


def _cross_steps(project: Path, model: ProjectModel, out: Path) -> list[Step]:
    from wfpgen.crossbuild import check_pe, cross_build

    def action() -> str:
        try:
            image = cross_build(project, out / "mingw", model.preprocessor_defines)
        except (RuntimeError, OSError) as exc:
            raise WfpgenError(str(exc)) from None
        problems = check_pe(image)
        if problems:
            raise WfpgenError("; ".join(problems))
        return f"{image} (a check artefact, not a shippable driver)"

    return [timed("MinGW-w64 cross build + PE checks", action)]


def run_check(target: Path, out: Path | None, *, variants: Sequence[str] = VARIANTS, analysis: bool = True,
              cross: bool = False, pcap: Path | None = None, local: str | None = None,
              echo: Echo | None = None) -> Report:
    """Render (or take) a project, build it in each variant, run the scenario, analyse it."""
    report = Report()
    work = out if out is not None else Path("wfpgen-check") / (target.name if target.is_dir() else target.stem)
    work.mkdir(parents=True, exist_ok=True)
    project, model = project_for(target, work)
    report.add(Step("render the project", True, str(project)), echo)
    extra: list[str] = []
    if pcap is not None:
        extra += ["--pcap", str(pcap.resolve())] + (["--local", local] if local else [])
    for variant in variants:
        step, library = _build_step(project, model, work, variant)
        report.add(step, echo)
        if not step.ok:
            continue
        from wfpgen.hostsim.build import BuildError, sanitizer_env

        env = dict(os.environ)
        try:
            env.update(sanitizer_env(variant))  # type: ignore[arg-type]
        except (BuildError, subprocess.CalledProcessError) as exc:  # e.g. gcc without libtsan
            report.add(Step(f"{variant}: sanitizer runtime", False, str(exc)), echo)
            continue
        for scenario_step in run_scenario(library, project, work / variant, variant, env, extra):
            report.add(scenario_step, echo)
    if analysis:
        for step in _analysis_steps(project, model):
            report.add(step, echo)
    if cross:
        for step in _cross_steps(project, model, work):
            report.add(step, echo)
    if echo is not None:
        echo(f"builds, decoded records and logs: {work}")
    return report
