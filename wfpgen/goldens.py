"""Regenerate the committed goldens: ``python -m wfpgen.goldens`` rewrites generated/ from specs/."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from wfpgen.errors import WfpgenError
from wfpgen.output import write
from wfpgen.pipeline import generate


def refresh(repo: Path) -> list[str]:
    """Rewrite ``repo/generated`` from ``repo/specs``; return the project names written."""
    target = repo / "generated"
    if target.exists():
        shutil.rmtree(target)
    names = []
    for spec in sorted((repo / "specs").glob("*.yaml")):
        model, files = generate(spec)
        write(target / model.name, files)
        names.append(model.name)
    return names


def main() -> int:
    """Entry point: run from the repository root."""
    repo = Path.cwd()
    if not (repo / "specs").is_dir():
        print("run from the repository root (no specs/ here)", file=sys.stderr)
        return 2
    try:
        for name in refresh(repo):
            print(f"generated/{name}")
    except WfpgenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
