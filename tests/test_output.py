"""Generated output: deterministic bytes, known WDK names only, provenance headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SPECS

from wfpgen.catalog import load_catalog
from wfpgen.output import SPEC_COPY
from wfpgen.pipeline import generate

WFP_NAME = re.compile(r"\b(?:FWPS|FWPM|FWP)_[A-Z0-9_]+\b|\bFwp[sm][A-Za-z]+[0-9]\b")


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_two_runs_give_identical_bytes(spec: Path) -> None:
    assert generate(spec)[1] == generate(spec)[1]


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_every_wfp_identifier_is_known(spec: Path) -> None:
    known = load_catalog().wdk_names
    unknown: dict[str, set[str]] = {}
    for path, data in generate(spec)[1].items():
        if not path.endswith((".c", ".h")):
            continue
        for name in WFP_NAME.findall(data.decode()):
            if name not in known:
                unknown.setdefault(name, set()).add(path)
    assert not unknown, f"identifiers absent from the WFP reference: {unknown}"


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_every_file_says_where_it_came_from(spec: Path) -> None:
    for path, data in generate(spec)[1].items():
        if path.endswith((".json", "py.typed")) or path == SPEC_COPY:
            continue  # formats without comments, the spec itself, and the empty PEP 561 marker
        head = data[:600].decode("utf-8-sig")
        assert "wfpgen" in head and spec.name in head, f"{path} lacks its provenance header"


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_no_absolute_paths_or_timestamps(spec: Path) -> None:
    for path, data in generate(spec)[1].items():
        text = data.decode("utf-8-sig")
        assert str(spec.parent) not in text, path
        assert not re.search(r"\b20\d\d-\d\d-\d\d[T ]\d\d:\d\d", text), path


def test_visual_studio_files_have_bom_and_crlf() -> None:
    files = generate(SPECS[0])[1]
    for path, data in files.items():
        if path.endswith((".sln", ".vcxproj", ".filters")):
            assert data.startswith(b"\xef\xbb\xbf"), path
            assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), path
        if path.endswith((".c", ".h", ".md")):
            assert b"\r\n" not in data, path
