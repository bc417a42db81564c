"""The real-header tier: compile generated C with clang in MSVC mode against Microsoft's headers.

Every other tier compiles against headers written in this repository, which share the
generator's beliefs about the WDK. This one uses a WDK include root that nobody here wrote:
a directory holding ``km/`` (with ``km/crt/``) and ``shared/``, as an installed WDK has under
``Windows Kits/10/Include/<version>/`` or as the WDK and SDK NuGet packages unpack. Nothing
from that root is copied or committed; the compiler reads it in place.

* :func:`find_wdk_root` takes ``--wdk``, else ``WFPGEN_WDK``, else (on Windows) the newest
  installed kit.
* Windows headers name each other in any letter case (``<DriverSpecs.h>`` for
  ``driverspecs.h``); :class:`WdkRoot` writes a case-insensitive clang VFS overlay of the
  root (``-ivfsoverlay``) into a cache directory instead of copying headers.
* :func:`compile_project` compiles every ``driver/*.c`` of a project the way the generated
  ``.vcxproj`` does: the WDK's kernel-mode defines, the project's own defines,
  ``NTDDI_VERSION`` from the spec's ``target``, warnings at /W4 (clang: ``-Wall -Wextra``)
  as errors, for each platform and configuration.
* Some WDK headers do not compile cleanly under clang at all (``ndis.h`` pastes ``0x ##``
  onto a macro that MSVC's preprocessor expands and clang's does not). Those diagnostics are
  the headers', not the driver's: an empty translation unit that includes the same headers,
  compiled with the same flags, shows them, and they are reported apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from wfpgen.errors import FWPM_REINCLUDED

__all__ = [
    "CLANG_CANDIDATES",
    "CONFIGURATIONS",
    "PLATFORMS",
    "ClangDiagnostic",
    "CompileResult",
    "RealHeaderError",
    "TierResult",
    "WdkRoot",
    "compile_project",
    "find_clang",
    "find_wdk_root",
    "hints",
    "ntddi_defines",
    "parse_diagnostics",
]

ENV_ROOT = "WFPGEN_WDK"
ENV_CLANG = "WFPGEN_CLANG"
#: Tried in order when ``WFPGEN_CLANG`` is unset: Debian 12 ships clang-19 as a package.
CLANG_CANDIDATES: tuple[str, ...] = ("clang-19", "clang-20", "clang-21", "clang-22", "clang-18", "clang")
APT_HINT = "apt-get install clang-19"

#: The include directories of a kernel-mode driver, in MSBuild's order ($(KM_IncludePath)).
INCLUDE_SUBDIRS: tuple[str, ...] = ("km/crt", "km", "shared")


@dataclass(frozen=True)
class Platform:
    """A Visual Studio platform as clang and the WDK's defines see it."""

    name: str
    triple: str
    defines: tuple[str, ...]


PLATFORMS: tuple[Platform, ...] = (
    Platform("x64", "x86_64-pc-windows-msvc", ("_WIN64", "_AMD64_", "AMD64")),
    Platform("ARM64", "aarch64-pc-windows-msvc", ("_WIN64", "_ARM64_", "ARM64")),
)

#: What the WDK's kernel-mode build adds per configuration (UseDebugLibraries adds DBG=1).
CONFIGURATIONS: dict[str, tuple[str, ...]] = {"Debug": ("DBG=1",), "Release": ()}

#: clang's spelling of MSVC /kernel /W4 /WX for C: MSVC mode, the kernel define, every
#: diagnostic with its flag, no caret lines (one line per diagnostic), no error limit.
BASE_FLAGS: tuple[str, ...] = (
    "-fms-extensions",
    "-fms-compatibility",
    "-fms-compatibility-version=19.40",
    "-fsyntax-only",
    "-nostdinc",
    "-std=c17",
    "-Wall",
    "-Wextra",
    "-fno-caret-diagnostics",
    "-fdiagnostics-show-option",
    "-ferror-limit=0",
    "-fmacro-backtrace-limit=1",
)
KERNEL_DEFINES: tuple[str, ...] = ("_KERNEL_MODE", "WINNT=1")


class RealHeaderError(RuntimeError):
    """The tier cannot run: no clang, or not a WDK include root."""


def find_clang() -> str:
    """The clang to use: ``$WFPGEN_CLANG``, else the first of :data:`CLANG_CANDIDATES` on PATH."""
    given = os.environ.get(ENV_CLANG)
    if given:
        found = shutil.which(given)
        if found is None:
            raise RealHeaderError(f"{ENV_CLANG}={given}: no such program")
        return found
    for name in CLANG_CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise RealHeaderError(f"no clang found (tried {', '.join(CLANG_CANDIDATES)}): "
                          f"the real-header tier needs it (Debian/Ubuntu: {APT_HINT}; or set {ENV_CLANG})")


def _lookup(directory: Path, name: str) -> Path | None:
    """``directory/name`` matched without regard to letter case."""
    exact = directory / name
    if exact.exists():
        return exact
    if not directory.is_dir():
        return None
    lowered = name.lower()
    return next((child for child in directory.iterdir() if child.name.lower() == lowered), None)


def _is_root(path: Path) -> bool:
    km, shared = _lookup(path, "km"), _lookup(path, "shared")
    return bool(km and shared and _lookup(km, "ntddk.h") and _lookup(shared, "ntdef.h"))


def _windows_kits() -> Path | None:
    base = Path(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)")) / "Windows Kits" / "10" / "Include"
    roots = sorted((p for p in base.glob("10.*") if _is_root(p)),
                   key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.name)))
    return roots[-1] if roots else None


def find_wdk_root(given: Path | None = None) -> Path | None:
    """The WDK include root: ``given``, else ``$WFPGEN_WDK``, else (on Windows) the newest installed kit.

    A root holds ``km/`` and ``shared/``; a directory whose only such child is one
    ``10.0.*`` version directory (``Windows Kits/10/Include``) is accepted too. Returns None
    when nothing was given and nothing is installed; raises :class:`RealHeaderError` when a
    given directory is not a root.
    """
    source = "--wdk"
    if given is None and os.environ.get(ENV_ROOT):
        given, source = Path(os.environ[ENV_ROOT]), ENV_ROOT
    if given is None:
        return _windows_kits() if sys.platform == "win32" else None
    if _is_root(given):
        return given.resolve()
    versions = sorted(p for p in given.glob("10.*") if _is_root(p)) if given.is_dir() else []
    if versions:
        return versions[-1].resolve()
    raise RealHeaderError(f"{source} {given}: not a WDK include root (it needs km/ntddk.h and shared/ntdef.h; "
                          "an installed WDK has one under Windows Kits/10/Include/<version>)")


@dataclass(frozen=True)
class WdkRoot:
    """A WDK include root and the case-insensitive overlay that lets clang read it.

    ``missing_ntddi`` lists the ``NTDDI_*`` release constants wfpgen knows that the root's
    ``sdkddkver.h`` does not define: a root assembled from a newer WDK's km/ and an older SDK's
    shared/ has km headers testing ``NTDDI_VERSION >= NTDDI_WIN10_NI`` while nothing defines
    ``NTDDI_WIN10_NI``, which the preprocessor then reads as 0 (true at every target). They are
    defined with their sdkddkver.h values so the gates mean what they say.
    """

    path: Path
    overlay: Path
    missing_ntddi: tuple[tuple[str, str], ...] = ()

    @classmethod
    def prepare(cls, path: Path, cache: Path) -> WdkRoot:
        """Write (or reuse) the overlay for ``path`` under ``cache``."""
        roots = [_overlay_dir(path / sub) for sub in INCLUDE_SUBDIRS if (path / sub).is_dir()]
        text = json.dumps({"version": 0, "case-sensitive": "false", "roots": roots}, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        overlay = cache / f"wdk-overlay-{digest}.json"
        if not overlay.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            partial = overlay.with_suffix(".tmp")
            partial.write_text(text, encoding="utf-8")
            partial.replace(overlay)
        return cls(path, overlay, _missing_ntddi(path))

    @property
    def include_dirs(self) -> tuple[Path, ...]:
        """``km/crt``, ``km`` and ``shared``, in the order MSBuild searches them."""
        return tuple(self.path / sub for sub in INCLUDE_SUBDIRS if (self.path / sub).is_dir())

    def flags(self) -> list[str]:
        """The include flags (the overlay, every include directory as a system directory) and the
        definitions of the release constants the root lacks."""
        out = ["-ivfsoverlay", str(self.overlay)]
        for directory in self.include_dirs:
            out += ["-isystem", str(directory)]
        return out + [f"-D{name}={value}" for name, value in self.missing_ntddi]

    def owns(self, path: str) -> bool:
        """Whether ``path`` (as clang printed it) is inside the root."""
        try:
            Path(path).resolve().relative_to(self.path)
        except ValueError:
            return False
        return True


def _missing_ntddi(root: Path) -> tuple[tuple[str, str], ...]:
    """The catalog's NTDDI_* constants that ``shared/sdkddkver.h`` does not define."""
    from wfpgen.catalog import load_catalog

    shared = _lookup(root, "shared")
    header = _lookup(shared, "sdkddkver.h") if shared else None
    if header is None:
        return ()
    defined = set(re.findall(r"^\s*#\s*define\s+(NTDDI_\w+)", header.read_text(errors="replace"), re.MULTILINE))
    known = {(v.ntddi, v.hex) for v in load_catalog().versions}
    return tuple(sorted((name, value) for name, value in known if name not in defined))


def _overlay_dir(directory: Path) -> dict[str, object]:
    contents: list[dict[str, object]] = []
    for child in sorted(directory.iterdir()):
        if child.is_dir():
            contents.append({**_overlay_dir(child), "name": child.name})
        elif child.is_file():
            contents.append({"type": "file", "name": child.name, "external-contents": str(child)})
    return {"type": "directory", "name": str(directory), "contents": contents}


# -- diagnostics -------------------------------------------------------------------------------

_DIAGNOSTIC = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<severity>fatal error|error|warning|note): "
                         r"(?P<message>.*)$")
_MACRO_NOTE = re.compile(r"^expanded from macro '(?P<macro>\w+)'$")


@dataclass(frozen=True, order=True)
class ClangDiagnostic:
    """One error or warning clang printed; ``macro`` when it arose inside a macro's expansion."""

    file: str
    line: int
    column: int
    severity: str
    message: str
    macro: tuple[str, str, int] | None = None  # (name, file, line) of the innermost macro it came from

    def format(self, relative_to: Path | None = None) -> str:
        """``file:line:col: severity: message``, the file relative to ``relative_to`` when inside it."""
        text = f"{_relative(self.file, relative_to)}:{self.line}:{self.column}: {self.severity}: {self.message}"
        if self.macro is not None:
            name, where, line = self.macro
            text += f" (in the expansion of {name}, {_relative(where, relative_to)}:{line})"
        return text

    @property
    def key(self) -> tuple[str, int, str]:
        """What identifies a header's own diagnostic across translation units."""
        return (str(Path(self.file).resolve()), self.line, self.message)


def _relative(path: str, base: Path | None) -> str:
    if base is not None:
        try:
            return str(Path(path).resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return path


def parse_diagnostics(output: str) -> list[ClangDiagnostic]:
    """Every error and warning of clang's output, in order, without duplicates.

    A note "expanded from macro 'X'" right after a diagnostic names the macro it arose in.
    """
    seen: dict[ClangDiagnostic, None] = {}
    current: ClangDiagnostic | None = None

    def flush() -> None:
        if current is not None:
            seen.setdefault(current, None)

    for line in output.splitlines():
        match = _DIAGNOSTIC.match(line.strip())
        if not match:
            continue
        if match["severity"] != "note":
            flush()
            current = ClangDiagnostic(match["file"], int(match["line"]), int(match["column"]), match["severity"],
                                      match["message"])
            continue
        macro = _MACRO_NOTE.match(match["message"])
        if current is not None and macro and current.macro is None:
            current = dataclasses.replace(current, macro=(macro["macro"], match["file"], int(match["line"])))
    flush()
    return list(seen)


# -- compiling ---------------------------------------------------------------------------------

_INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)


def system_includes(source: Path, search: Sequence[Path]) -> list[str]:
    """The ``<...>`` headers ``source`` includes, following its ``"..."`` headers, in first-use order."""
    found: dict[str, None] = {}
    visited: set[Path] = set()

    def walk(path: Path) -> None:
        if path in visited:
            return
        visited.add(path)
        for kind, name in _INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace")):
            if kind == "<":
                found.setdefault(name, None)
                continue
            for directory in (path.parent, *search):
                candidate = directory / name
                if candidate.is_file():
                    walk(candidate)
                    break

    walk(source)
    return list(found)


@dataclass(frozen=True)
class CompileResult:
    """One translation unit compiled for one platform and configuration."""

    source: Path
    platform: str
    configuration: str
    command: tuple[str, ...]
    returncode: int
    diagnostics: tuple[ClangDiagnostic, ...]


@dataclass
class TierResult:
    """The real-header tier over one project."""

    root: Path
    ntddi: str
    compiles: list[CompileResult] = field(default_factory=list)
    driver: list[ClangDiagnostic] = field(default_factory=list)
    headers: list[ClangDiagnostic] = field(default_factory=list)
    #: For each diagnostic, the "platform configuration" compiles that printed it.
    where: dict[ClangDiagnostic, list[str]] = field(default_factory=dict)

    def header_summary(self) -> str:
        """The headers' own diagnostics in a line: each header line once, macro warnings counted."""
        parts: dict[str, int] = {}
        for d in self.headers:
            if d.macro is not None:
                name, where, line = d.macro
                flag = re.search(r"\[(-W[\w-]+)\]$", d.message)
                what = flag.group(1) if flag else d.message
                key = f"{what} inside {name} ({_relative(where, self.root)}:{line})"
            else:
                key = f"{_relative(d.file, self.root)}:{d.line}: {d.severity}: {d.message}"
            parts[key] = parts.get(key, 0) + 1
        return "; ".join(f"{n} x {k}" if n > 1 else k for k, n in parts.items()) or "none"

    @property
    def ok(self) -> bool:
        """No diagnostic of the driver's own (a compile that failed silently counts as one)."""
        return not self.driver


def ntddi_defines(ntddi: int) -> tuple[str, ...]:
    """What the WDK's MSBuild derives from ``_NT_TARGET_VERSION``: NTDDI_VERSION, _WIN32_WINNT, WINVER."""
    winnt = f"0x{ntddi >> 16:04X}"
    return (f"NTDDI_VERSION=0x{ntddi:08X}", f"_WIN32_WINNT={winnt}", f"WINVER={winnt}")


def clang_command(clang: str, root: WdkRoot, source: Path, platform: Platform, configuration: str,
                  defines: Iterable[str], include_dirs: Sequence[Path] = ()) -> list[str]:
    """The clang command that compiles ``source`` as the generated .vcxproj would.

    ``defines`` are the project's and its target's (``NTDDI_VERSION`` among them, as the WDK
    derives it from ``_NT_TARGET_VERSION``); the platform's, the kernel's and the
    configuration's are added here.
    """
    all_defines = [*platform.defines, *KERNEL_DEFINES, *CONFIGURATIONS[configuration], *defines]
    return [clang, f"--target={platform.triple}", *BASE_FLAGS, *root.flags(),
            *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in all_defines), str(source)]


def _run(command: Sequence[str]) -> tuple[int, str]:
    result = subprocess.run(list(command), capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


#: Diagnostics whose cause the message alone does not say, and what it is.
HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"redefinition of '(FWPM_LAYER|FWPM_CONDITION)_"), FWPM_REINCLUDED),
    (re.compile(r"(unknown type name|undeclared identifier|undeclared function) '"),
     ("a name the headers do not declare at the target's NTDDI_VERSION: if the WDK declares it only for a "
      "newer Windows (a #if NTDDI_VERSION >= ... gate), raise driver.target or use the older API")),
)


def hints(diagnostics: Iterable[ClangDiagnostic]) -> list[str]:
    """One line per known cause among ``diagnostics``."""
    found: dict[str, None] = {}
    for diagnostic in diagnostics:
        for pattern, hint in HINTS:
            if pattern.search(diagnostic.message):
                found.setdefault(hint, None)
    return list(found)


def _headers_own(diagnostic: ClangDiagnostic, root: WdkRoot, baseline_keys: set[tuple[str, int, str]]) -> bool:
    """Whether a diagnostic is the headers' rather than the driver's.

    It is when the headers alone raise it (the baseline shows it at the same header line),
    or when it is a warning clang raises inside the body of a macro that Microsoft's headers
    define (RTL_CONSTANT_STRING's type check trips -Wsizeof-array-div, which MSVC lacks).
    Errors in the driver's own lines are always the driver's.
    """
    if root.owns(diagnostic.file) and diagnostic.key in baseline_keys:
        return True
    return diagnostic.severity == "warning" and diagnostic.macro is not None and root.owns(diagnostic.macro[1])


def compile_project(project: Path, root: WdkRoot, defines: Sequence[str], *, clang: str | None = None,
                    platforms: Sequence[Platform] = PLATFORMS,
                    configurations: Sequence[str] = tuple(CONFIGURATIONS), scratch: Path) -> TierResult:
    """Compile every ``driver/*.c`` and ``ci/*.c`` of ``project`` against ``root``; split the driver's
    diagnostics from the headers'.

    ``scratch`` receives one baseline translation unit per source: the same system headers
    in the same order and nothing else. A diagnostic the baseline shows at the same header
    line with the same message is the headers' own; everything else is the driver's.
    """
    ntddi = next((d.split("=", 1)[1] for d in defines if d.startswith("NTDDI_VERSION=")), None)
    if ntddi is None:
        raise RealHeaderError("no NTDDI_VERSION among the defines: the target decides what the headers offer")
    clang = clang or find_clang()
    driver_dir = project / "driver"
    sources = sorted(driver_dir.glob("*.c")) + sorted((project / "ci").glob("*.c"))
    if not sources:
        raise RealHeaderError(f"no driver/*.c under {project}")
    scratch.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[Path, Platform, str, list[str], list[str]]] = []
    for source in sources:
        baseline = scratch / f"baseline_{source.parent.name}_{source.stem}.c"
        lines = [f"#include <{name}>" for name in system_includes(source, [driver_dir])]
        baseline.write_text("/* The system headers of " + source.name + ", alone. */\n" + "\n".join(lines) + "\n",
                            encoding="utf-8")
        for platform in platforms:
            for configuration in configurations:
                jobs.append((source, platform, configuration,
                             clang_command(clang, root, source, platform, configuration, defines, [driver_dir]),
                             clang_command(clang, root, baseline, platform, configuration, defines)))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        outcomes = list(pool.map(lambda job: (_run(job[3]), _run(job[4])), jobs))
    result = TierResult(root.path, ntddi)
    driver_seen: dict[ClangDiagnostic, None] = {}
    header_seen: dict[ClangDiagnostic, None] = {}
    for (source, platform, configuration, command, _), ((code, output), (_, base_output)) in zip(jobs, outcomes):
        diagnostics = parse_diagnostics(output)
        baseline_keys = {d.key for d in parse_diagnostics(base_output) if root.owns(d.file)}
        result.compiles.append(CompileResult(source, platform.name, configuration, tuple(command), code,
                                             tuple(diagnostics)))
        for diagnostic in diagnostics:
            own = _headers_own(diagnostic, root, baseline_keys)
            (header_seen if own else driver_seen)[diagnostic] = None
            result.where.setdefault(diagnostic, []).append(f"{platform.name} {configuration}")
        if code != 0 and not diagnostics:
            driver_seen[ClangDiagnostic(str(source), 0, 0, "error",
                                        f"clang exited with {code} ({platform.name} {configuration}): "
                                        + output.strip()[-400:])] = None
    result.driver = sorted(driver_seen)
    result.headers = sorted(header_seen)
    return result
