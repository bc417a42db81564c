"""The shim headers against Microsoft's: scripts/compare_shims.py finds no unexplained difference.

Needs a WDK include root (``km/``, ``shared/``) in ``WFPGEN_WDK`` and clang; skipped otherwise.
The generated tables (``wfp_layers.h``, ``wfpgen_fwps_tables.h``, ``wfpgen_fwpm_guids.h``) are
held to the WDK like the hand-written headers: every difference is deliberate or fails.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import load_script

REPO = Path(__file__).resolve().parents[1]

compare_shims = load_script("compare_shims")

needs_wdk = pytest.mark.skipif(
    not os.environ.get("WFPGEN_WDK"),
    reason="set WFPGEN_WDK to a WDK include root (km/, shared/) to compare the shims with Microsoft's headers",
)


def test_every_simplification_has_a_reason() -> None:
    entries = compare_shims.load_simplifications()
    assert entries
    for entry in entries:
        assert entry.tier in ("hostsim", "cross", "both"), entry
        assert entry.reason.strip().endswith((".", ")")), entry
    raw = json.loads((REPO / "scripts" / "shim_simplifications.json").read_text(encoding="utf-8"))
    assert len(raw["simplifications"]) == len(entries)


def test_canonical_types_agree_across_data_models() -> None:
    """ULONG is unsigned long on LLP64 and unsigned int on LP64: both are u32."""
    def builtin(name: str) -> dict[str, object]:
        return {"kind": "BuiltinType", "type": {"qualType": name}}

    llp64, lp64 = compare_shims.DATA_MODELS["LLP64"], compare_shims.DATA_MODELS["LP64"]
    assert compare_shims.canon(builtin("unsigned long"), llp64) == compare_shims.canon(builtin("unsigned int"), lp64)
    assert compare_shims.canon(builtin("unsigned long"), lp64) == "u64"


def test_a_difference_is_grouped() -> None:
    entries = compare_shims.load_simplifications()
    generated = compare_shims.Difference("hostsim", "wfpgen/hostsim/include/wfp_layers.h", "constant X",
                                         "value 1 here")
    assert compare_shims.group_of(generated, entries) == ("unexplained", None)
    guard = compare_shims.Difference("cross", "wfpgen/crossbuild/include/wfpgen_fwps_tables.h",
                                     "macro WFPGEN_CROSSBUILD_FWPS_TABLES_H",
                                     "macro not declared by the WDK at this NTDDI_VERSION")
    assert compare_shims.group_of(guard, entries)[0] == "deliberate"
    deliberate = compare_shims.Difference("hostsim", "wfpgen/hostsim/include/hostwdk.h", "macro NTAPI", "expands")
    assert compare_shims.group_of(deliberate, entries)[0] == "deliberate"
    other = compare_shims.Difference("hostsim", "wfpgen/hostsim/include/hostwdk.h", "function Foo", "type")
    assert compare_shims.group_of(other, entries) == ("unexplained", None)


@needs_wdk
@pytest.mark.skipif(shutil.which("clang-19") is None and not os.environ.get("WFPGEN_CLANG"),
                    reason="clang-19 is not installed (apt-get install clang-19)")
def test_shims_match_the_wdk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = compare_shims.main(["--work", str(tmp_path)])
    output = capsys.readouterr().out
    assert code == 0, output
    summary = output.strip().splitlines()[-1]
    assert summary.startswith("summary:") and " 0 unexplained" in summary, summary
    assert "catalog-derived" not in output, output
    assert "[matched nothing]" not in output, output
