"""How many examples each fuzz test runs: its default, or ``WFPGEN_FUZZ_EXAMPLES``."""

from __future__ import annotations

import os

from hypothesis import settings


def examples(default: int) -> int:
    """``WFPGEN_FUZZ_EXAMPLES`` when set, else the profile's count when it asks for more, else ``default``."""
    value = os.environ.get("WFPGEN_FUZZ_EXAMPLES")
    if value:
        return max(1, int(value))
    profile = settings()  # the loaded profile; 'long' raises the count
    return max(default, profile.max_examples) if profile.max_examples > 100 else default
