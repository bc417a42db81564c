"""The shim headers against Microsoft's: scripts/compare_shims.py finds no unexplained difference.

Needs a WDK include root (``km/``, ``shared/``) in ``WFPGEN_WDK`` and clang; skipped otherwise.
The generated tables (``wfp_layers.h``, ``wfpgen_fwps_tables.h``, ``wfpgen_fwpm_guids.h``) are
held to the WDK like the hand-written headers: every difference is deliberate or fails.
"""

from __future__ import annotations

import json
import os
import re
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


# -- TraceLoggingProvider.h: the names the etw sink calls, and how many arguments each takes ------
#
# compare_shims.py probes what a generated driver.h includes; sink_etw.c alone includes
# TraceLoggingProvider.h, whose public names are macros over internal ones (_tlgArgScalarVal...)
# that neither shim reproduces, so comparing expansions would flag every one of them. What must
# agree is what the generated code relies on: each name it calls exists in the WDK and in both
# shims, and accepts the number of arguments the generated code passes.

TLG_SHIMS = {"hostsim": REPO / "wfpgen" / "hostsim" / "include" / "TraceLoggingProvider.h",
             "cross": REPO / "wfpgen" / "crossbuild" / "include" / "TraceLoggingProvider.h"}


def _arguments(text: str, start: int) -> int:
    """How many arguments the call whose '(' is at ``start`` passes (commas at depth 1, strings skipped)."""
    depth, count, index, empty = 0, 0, start, True
    while True:
        char = text[index]
        if char == '"':
            index = text.index('"', index + 1)
            empty = False
        elif char in "([{":
            depth += 1
            if depth > 1:
                empty = False
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return 0 if empty else count + 1
        elif char == "," and depth == 1:
            count += 1
        elif not char.isspace():
            empty = False
        index += 1


def tracelogging_calls() -> dict[str, set[int]]:
    """Every TraceLogging name the committed etw goldens call, with each argument count passed."""
    calls: dict[str, set[int]] = {}
    for source in sorted(REPO.glob("generated/*/driver/sink_etw.c")):
        text = source.read_text(encoding="utf-8")
        for match in re.finditer(r"\b(TraceLogging\w+|TRACELOGGING_DEFINE_PROVIDER)\s*\(", text):
            calls.setdefault(match.group(1), set()).add(_arguments(text, match.end() - 1))
    return calls


def accepted(header: str, name: str) -> tuple[int, bool] | None:
    """(named parameters, variadic) of ``name`` in ``header``: a function-like macro, else a function."""
    macro = re.search(rf"^\s*#\s*define\s+{name}\(([^)]*)\)", header, re.MULTILINE)
    if macro is not None:
        params = [p.strip() for p in macro.group(1).split(",") if p.strip()]
        return len([p for p in params if p != "..."]), "..." in params
    function = re.search(rf"(?:_tlg_CALL|__inline\s+\w+|BOOLEAN|NTSTATUS|void)\s+{name}\s*\(([^;{{)]*)\)", header)
    if function is None:
        return None
    params = [p for p in function.group(1).split(",") if p.strip() and p.strip() != "void"]
    return len(params), False


def takes(signature: tuple[int, bool], count: int) -> bool:
    named, variadic = signature
    return count == named or (variadic and count >= named)


@needs_wdk
def test_tracelogging_names_agree_with_the_wdk() -> None:
    wdk = Path(os.environ["WFPGEN_WDK"]) / "shared" / "TraceLoggingProvider.h"
    assert wdk.is_file(), f"no {wdk}"
    real = wdk.read_text(encoding="utf-8", errors="replace")
    shims = {tier: path.read_text(encoding="utf-8") for tier, path in TLG_SHIMS.items()}
    calls = tracelogging_calls()
    assert {"TRACELOGGING_DEFINE_PROVIDER", "TraceLoggingRegister", "TraceLoggingUnregister", "TraceLoggingWrite",
            "TraceLoggingProviderEnabled", "TraceLoggingPort", "TraceLoggingSid"} <= set(calls), calls
    problems = []
    for name, counts in sorted(calls.items()):
        for where, text in (("the WDK", real), *shims.items()):
            signature = accepted(text, name)
            if signature is None:
                problems.append(f"{name}: not defined in {where}")
                continue
            problems += [f"{name}: {where} takes {signature}, the generated code passes {count} argument(s)"
                         for count in sorted(counts) if not takes(signature, count)]
    assert not problems, "\n".join(problems)
