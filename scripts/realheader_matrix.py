#!/usr/bin/env python3
"""Compile every example spec at every allowed target against a WDK include root; print a table.

Usage::

    python scripts/realheader_matrix.py --wdk DIR [SPEC ...]

DIR (default: $WFPGEN_WDK) holds km/ and shared/. Each spec (default: specs/*.yaml) is
retargeted to each target wfpgen allows, generated into a temporary directory and compiled by
the real-header tier (wfpgen.realheaders): x64 and ARM64, Debug and Release. One line per
spec and target: the API generation chosen, the compiles, the driver's diagnostics (which fail
it) and the headers' own. Exit code 1 if any driver diagnostic was found.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from wfpgen.output import write
from wfpgen.pipeline import generate
from wfpgen.realheaders import WdkRoot, compile_project, find_wdk_root
from wfpgen.spec import TARGETS

REPO = Path(__file__).resolve().parents[1]


def retarget(text: str, target: str) -> str:
    """The spec text with ``driver.target`` set to ``target``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("target:"):
            lines[i] = line[: line.index("target:")] + f"target: {target}"
            return "\n".join(lines) + "\n"
    lines.insert(lines.index("driver:") + 1, f"  target: {target}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wdk", type=Path, default=None)
    parser.add_argument("specs", nargs="*", type=Path)
    args = parser.parse_args()
    found = find_wdk_root(args.wdk or (Path(os.environ["WFPGEN_WDK"]) if os.environ.get("WFPGEN_WDK") else None))
    if found is None:
        print("no WDK include root: give --wdk DIR or set WFPGEN_WDK", file=sys.stderr)
        return 2
    specs = args.specs or sorted((REPO / "specs").glob("*.yaml"))
    failed = 0
    with tempfile.TemporaryDirectory(prefix="wfpgen-matrix-") as scratch:
        work = Path(scratch)
        root = WdkRoot.prepare(found, work / "overlay")
        print(f"WDK include root: {found}")
        print(f"{'spec':<20} {'target':<12} {'NTDDI':<11} {'API':<4} {'compiles':>8} {'driver':>6} {'headers':>7}  seconds")
        for spec in specs:
            for target in TARGETS:
                copy = work / f"{spec.stem}-{target}.yaml"
                copy.write_text(retarget(spec.read_text(encoding="utf-8"), target), encoding="utf-8")
                model, files = generate(copy)
                project = work / copy.stem
                write(project, files)
                start = time.perf_counter()
                result = compile_project(project, root, model.build_defines, scratch=work / "tu")
                seconds = time.perf_counter() - start
                failed += bool(result.driver)
                print(f"{spec.stem:<20} {target:<12} {model.ntddi_hex:<11} v{model.api.number:<3} "
                      f"{len(result.compiles):>8} {len(result.driver):>6} {len(result.headers):>7}  {seconds:7.1f}")
                for diagnostic in result.driver:
                    print("    " + diagnostic.format(project))
        print(f"headers' own diagnostics (last project): {result.header_summary()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
