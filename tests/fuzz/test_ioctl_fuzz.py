"""IOCTL fuzzing of the generated control device on the host simulation, plain and under ASan+UBSan.

``kernel_fuzz_runner.py ... ioctl`` sends random IOCTL codes (known, random, one bit off,
other methods), input lengths 0/1/8/4 KiB/1 MiB, output lengths 0, 1, just below/at/above the
minimum of the code and of READ, and 1 MiB; cancels (and cancels twice) pended READs,
completes others with records, and ends with READs pended across close or unload.
Property: every request completes exactly once (a completed id is forgotten and cannot be
cancelled), success only for GET_INFO/READ/STATS with no input and a long enough output,
every failure is INVALID_PARAMETER/BUFFER_TOO_SMALL/INVALID_DEVICE_REQUEST with no bytes,
never more bytes than the output buffer (the runtime also flags Information > OutputBufferLength),
no sanitizer report, no runtime violation, nothing pending or allocated after unload.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzbudget import examples
from test_kernel_fuzz import GCC, build, run

from wfpgen.hostsim.build import Variant

pytestmark = pytest.mark.skipif(GCC is None, reason="gcc is not installed: the host simulation cannot be built")

CASES = [("ale-connect.yaml", "asan"), ("monitor-v6.yaml", "plain")]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("ioctl-fuzz")
    return {(spec, variant): build(spec, base / variant, variant) for spec, variant in CASES}  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "variant"), CASES)
@pytest.mark.parametrize("round_", range(3))
def test_ioctls(builds: dict[tuple[str, str], tuple[Path, Path]], spec: str, variant: Variant, round_: int) -> None:
    project, library = builds[(spec, variant)]
    run(library, project, examples(300), "ioctl", variant)
