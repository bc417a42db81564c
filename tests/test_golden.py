"""Every spec in specs/ regenerates its committed project in generated/ byte for byte.

Refresh after an intended change with:  python -m wfpgen.goldens   (rewrites generated/)
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

from wfpgen.pipeline import generate


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_golden(spec: Path) -> None:
    model, files = generate(spec)
    golden_dir = ROOT / "generated" / model.name
    assert golden_dir.is_dir(), f"no golden for {spec.name}: run python -m wfpgen.goldens"
    golden = _tree(golden_dir)
    problems: list[str] = []
    for path in sorted(set(files) | set(golden)):
        if path not in golden:
            problems.append(f"missing from generated/{model.name}: {path}")
        elif path not in files:
            problems.append(f"stale in generated/{model.name}: {path}")
        elif files[path] != golden[path]:
            diff = difflib.unified_diff(
                golden[path].decode("utf-8", "replace").splitlines(),
                files[path].decode("utf-8", "replace").splitlines(),
                f"generated/{model.name}/{path}", "fresh output", lineterm="", n=2,
            )
            problems.append("\n".join(list(diff)[:60]) or f"{path}: bytes differ (line endings or BOM)")
    assert not problems, "\n".join(problems) + "\n\nrefresh with: python -m wfpgen.goldens"


def test_every_golden_has_a_spec() -> None:
    names = {generate(spec)[0].name for spec in SPECS}
    on_disk = {p.name for p in (ROOT / "generated").iterdir() if p.is_dir()}
    assert on_disk == names, "generated/ must hold exactly one project per spec in specs/"
