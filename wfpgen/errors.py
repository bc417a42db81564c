"""The error hierarchy and the diagnostic shape shared by every stage.

Stages raise; only the CLI maps an error to an exit code and prints it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one input file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    message: str
    suggestion: str | None = None
    allowed: str | None = None

    def format(self) -> str:
        """Render as ``file:line:col: error: what is wrong; did you mean X?; allowed: ...``.

        Always one line: control and other non-printable characters (a spec's ``"\\r"`` or
        U+2028 quoted back in a message) are shown as escapes."""
        text = f"{self.file}:{self.line}:{self.column}: error: {self.message}"
        if self.suggestion:
            text += f"; did you mean '{self.suggestion}'?"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return _printable(text)


def _printable(text: str) -> str:
    """``text`` with every non-printable character but the space as a Python-style escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


class WfpgenError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1


class SpecError(WfpgenError):
    """The spec is malformed or inconsistent with the catalog; carries every problem found."""

    exit_code = 2

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted(set(diagnostics)))
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class OutputError(WfpgenError):
    """Writing the project would lose user edits, or the destination is unusable."""

    exit_code = 1


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name`` if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return matches[0] if matches else None


def join_names(names: Iterable[str], limit: int = 12) -> str:
    """A short, stable, comma-separated list, elided after ``limit`` entries."""
    items = list(names)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"


#: What a build failure means when the compiler reports FWPM GUIDs defined twice.
FWPM_REINCLUDED = (
    "fwpmk.h was included a second time after <initguid.h>: its GUID block is outside its include guard "
    "(as in the WDK), so every FWPM GUID is defined twice; include fwpmk.h once and take the FWPM GUIDs "
    "from fwpkclnt.lib/uuid.lib"
)

_FWPM_REDEFINITION = re.compile(r"redefinition of .FWPM_(?:LAYER|CONDITION)_\w+")


def fwpm_redefinition_hint(output: str) -> str:
    """``FWPM_REINCLUDED`` on a line of its own when ``output`` redefines an FWPM GUID, else ``""``."""
    return f"\n{FWPM_REINCLUDED}" if _FWPM_REDEFINITION.search(output) else ""
