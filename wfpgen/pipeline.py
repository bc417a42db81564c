"""The pipeline as pure stages: spec file -> resolved spec -> model -> files in memory."""

from __future__ import annotations

from pathlib import Path

from wfpgen.catalog import load_catalog
from wfpgen.model import ProjectModel, build_model
from wfpgen.output import MANIFEST, SPEC_COPY, manifest_bytes
from wfpgen.render import render_project
from wfpgen.spec import load_spec
from wfpgen.validate import Resolved, resolve


def resolve_spec(path: Path, display: str | None = None) -> tuple[Resolved, bytes]:
    """Load, shape-check and resolve the spec at ``path`` (raises SpecError); with the bytes it was
    read from, read once."""
    spec, source = load_spec(path, display)
    return resolve(spec, source, load_catalog()), source.raw


def model_for(path: Path, display: str | None = None) -> ProjectModel:
    """The project model for the spec at ``path``."""
    resolved, data = resolve_spec(path, display)
    return build_model(resolved, load_catalog(), path.name, data)


def generate(path: Path, display: str | None = None) -> tuple[ProjectModel, dict[str, bytes]]:
    """The model and every output file, manifest included, for the spec at ``path``."""
    resolved, data = resolve_spec(path, display)
    model = build_model(resolved, load_catalog(), path.name, data)
    files = render_project(model)
    files[SPEC_COPY] = data  # the project records what it was generated from: the bytes checked
    files[MANIFEST] = manifest_bytes(files, model.generator_version, model.spec_name, model.spec_sha256)
    return model, files
