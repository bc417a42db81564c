"""Build a generated driver and the host runtime into one shared library.

``build_shared(project_dir, out, variant)`` compiles every ``driver/*.c`` of a generated
project and links it with the runtime (``wfpgen/hostsim/runtime/*.c``, compiled against the
host WDK headers) into a ``.so`` that :class:`wfpgen.hostsim.binding.HostDriver` loads:

* ``plain``: ``-O1 -g``;
* ``asan``: AddressSanitizer + UndefinedBehaviorSanitizer, aborting on the first report;
* ``tsan``: ThreadSanitizer;
* ``bench``: ``-O2`` with ``HOSTWDK_BENCH`` defined: the runtime without its checking
  machinery (plain spin locks, no call counters on the classify path; ``runtime/bench.c``),
  for benchmarks only: it proves nothing about a driver.

The runtime is the larger part of every build and the same for every driver with the same
defines, so it is compiled once per variant into a static archive kept in the cache
(:mod:`wfpgen.cachedir`), named by a hash of its sources and headers, the compiler's identity
and every flag: a changed source, header, flag or compiler makes a new entry.

A sanitized library loaded into Python needs the sanitizer's runtime loaded first:
:func:`sanitizer_env` gives the environment (``LD_PRELOAD`` of gcc's ``libasan``/``libtsan``)
for a subprocess that runs the scenario.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from wfpgen import cachedir
from wfpgen.errors import fwpm_redefinition_hint
from wfpgen.hostsim import INCLUDE_DIR, RUNTIME_DIR

Variant = Literal["plain", "asan", "tsan", "bench"]

COMPILE_FLAGS: tuple[str, ...] = (
    "-std=c11",
    "-fshort-wchar",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fPIC",
    "-pthread",
)
BASE_FLAGS: tuple[str, ...] = (*COMPILE_FLAGS, "-shared")

VARIANT_FLAGS: dict[str, tuple[str, ...]] = {
    "plain": ("-O1", "-g"),
    "asan": (
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
    ),
    "tsan": ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=thread"),
    "bench": ("-O2", "-DHOSTWDK_BENCH"),  # the optimisation a driver ships with, no checking
}

_SANITIZER_LIBRARY = {"asan": "libasan.so", "tsan": "libtsan.so"}

CACHE_KIND = "hostsim-runtime"


class BuildError(RuntimeError):
    """The compiler rejected the driver or the runtime; the message carries its output."""


def compiler() -> str:
    """The C compiler: ``$CC`` if set, else ``gcc``."""
    found = shutil.which(os.environ.get("CC", "gcc"))
    if found is None:
        raise BuildError("no C compiler: install gcc (or set CC)")
    return found


@functools.lru_cache(maxsize=8)
def _compiler_identity(path: str, size: int, mtime_ns: int) -> str:
    result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    machine = subprocess.run([path, "-dumpmachine"], capture_output=True, text=True, check=False)
    return f"{path}\n{size} {mtime_ns}\n{result.stdout}{machine.stdout}"


def compiler_identity(path: str | None = None) -> str:
    """What names the compiler for the cache: its resolved path, size, modification time,
    ``--version`` and target (an upgrade in place changes the size or time)."""
    resolved = os.path.realpath(path or compiler())
    stat = os.stat(resolved)
    return _compiler_identity(resolved, stat.st_size, stat.st_mtime_ns)


def runtime_sources() -> list[Path]:
    """The runtime's C files."""
    return sorted(RUNTIME_DIR.glob("*.c"))


def _runtime_inputs() -> list[Path]:
    """Every file the runtime's compilation reads: its sources and headers, the host headers."""
    return sorted(p for d in (RUNTIME_DIR, INCLUDE_DIR) for p in d.iterdir() if p.suffix in (".c", ".h"))


def _check_variant(variant: str) -> None:
    if variant not in VARIANT_FLAGS:
        raise ValueError(f"unknown variant {variant!r}: {', '.join(VARIANT_FLAGS)}")


def runtime_flags(variant: Variant, defines: Sequence[str] = ()) -> list[str]:
    """The flags the runtime's sources are compiled with (``-c`` and the files aside)."""
    _check_variant(variant)
    return [*COMPILE_FLAGS, *VARIANT_FLAGS[variant], *(f"-D{d}" for d in defines),
            "-I", str(RUNTIME_DIR), "-I", str(INCLUDE_DIR)]


def runtime_key(variant: Variant, defines: Sequence[str] = ()) -> str:
    """The cache name of the runtime archive for ``variant`` and ``defines``."""
    parts: list[bytes | str] = [compiler_identity(), *runtime_flags(variant, defines)]
    for path in _runtime_inputs():
        parts += [path.name, path.read_bytes()]
    return f"{variant}-{cachedir.digest(parts)[:40]}.a"


def _compile_runtime(variant: Variant, defines: Sequence[str], archive: Path) -> None:
    ar = shutil.which("ar")
    if ar is None:
        raise BuildError("no archiver: install binutils (ar)")
    with tempfile.TemporaryDirectory(prefix="wfpgen-runtime-") as scratch:
        sources = runtime_sources()
        command = [compiler(), *runtime_flags(variant, defines), "-c", *map(str, sources)]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=scratch)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise BuildError(f"building the host runtime ({variant}) failed with exit code {result.returncode}:\n"
                             f"$ {' '.join(command)}\n{output}{fwpm_redefinition_hint(output)}")
        objects = [str(Path(scratch) / f"{s.stem}.o") for s in sources]
        subprocess.run([ar, "rcs", str(archive), *objects], capture_output=True, text=True, check=True)


_BUILDING: dict[str, threading.Lock] = {}
_BUILDING_LOCK = threading.Lock()


def runtime_archive(variant: Variant = "plain", defines: Sequence[str] = (),
                    scratch: Path | None = None) -> tuple[Path, bool]:
    """The host runtime compiled for ``variant`` as a static archive, and whether it came from
    the cache. On a miss it is compiled and stored; when the cache cannot be written, the
    archive is left in a new directory under ``scratch`` (the system's temporary directory if
    None). Threads asking for the same archive compile it once; processes may each compile it,
    and each stores a complete file."""
    name = runtime_key(variant, defines)
    with _BUILDING_LOCK:
        lock = _BUILDING.setdefault(name, threading.Lock())
    with lock:
        found = cachedir.lookup(CACHE_KIND, name)
        if found is not None:
            return found, True
        if scratch is not None:
            Path(scratch).mkdir(parents=True, exist_ok=True)
        where = Path(tempfile.mkdtemp(prefix="wfpgen-runtime-", dir=scratch))
        built = where / name
        _compile_runtime(variant, defines, built)
        stored = cachedir.store(CACHE_KIND, name, built)
        if stored is None:
            return built, False
        shutil.rmtree(where, ignore_errors=True)
        return stored, False


def build_command(
    project_dir: Path, out: Path, variant: Variant = "plain", defines: Sequence[str] = (),
    archive: Path | None = None, extra_sources: Sequence[Path] = (),
) -> list[str]:
    """The compiler command line :func:`build_shared` runs: the driver's sources (and
    ``extra_sources``) linked with the whole runtime ``archive`` (its sources when None)."""
    _check_variant(variant)
    driver = Path(project_dir) / "driver"
    sources = sorted(driver.glob("*.c"))
    if not sources:
        raise BuildError(f"{driver} holds no generated C sources")
    runtime = (["-Wl,--whole-archive", str(archive), "-Wl,--no-whole-archive"] if archive is not None
               else list(map(str, runtime_sources())))
    return [
        compiler(),
        *BASE_FLAGS,
        *VARIANT_FLAGS[variant],
        *(f"-D{d}" for d in defines),
        "-I",
        str(RUNTIME_DIR),
        "-I",
        str(INCLUDE_DIR),
        "-I",
        str(driver),
        *map(str, sources),
        *map(str, extra_sources),
        *runtime,
        "-o",
        str(out),
    ]


def build_shared(
    project_dir: Path, out: Path, variant: Variant = "plain", defines: Sequence[str] = (),
    extra_sources: Sequence[Path] = (),
) -> Path:
    """Compile ``project_dir/driver/*.c`` and link it with the runtime into the shared library ``out``.

    ``defines`` are extra ``NAME`` or ``NAME=VALUE`` preprocessor definitions, for the driver
    and the runtime alike; ``extra_sources`` are more C files to compile into the library (a
    benchmark's harness). The runtime comes from the cache when an archive of the same sources,
    flags and compiler is there. Raises :class:`BuildError` with the compiler's output when the
    build fails.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    archive, _ = runtime_archive(variant, defines, scratch=out.parent)
    command = build_command(project_dir, out, variant, defines, archive, extra_sources)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise BuildError(
            f"building {out.name} ({variant}) failed with exit code {result.returncode}:\n"
            f"$ {' '.join(command)}\n{output}{fwpm_redefinition_hint(output)}"
        )
    return out


def sanitizer_runtime(variant: Variant) -> Path | None:
    """gcc's sanitizer runtime library for ``variant`` (None for ``plain`` and ``bench``)."""
    name = _SANITIZER_LIBRARY.get(variant)
    if name is None:
        return None
    result = subprocess.run(
        [compiler(), f"-print-file-name={name}"], capture_output=True, text=True, check=True
    )
    path = Path(result.stdout.strip())
    if not path.is_absolute() or not path.exists():
        raise BuildError(f"gcc does not know where {name} is (got {result.stdout.strip()!r})")
    return path.resolve()


def sanitizer_env(variant: Variant, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess that loads a ``variant`` library into Python.

    The sanitizer runtime must be loaded before anything else, so it goes into
    ``LD_PRELOAD``. LeakSanitizer cannot work inside CPython (it reports the interpreter's
    own allocations), so ``detect_leaks=0``: the runtime's pool audit finds the driver's leaks.
    Every report aborts the process with a non-zero exit code.
    """
    env = dict(os.environ if base is None else base)
    library = sanitizer_runtime(variant)
    if library is None:
        return env
    env["LD_PRELOAD"] = str(library) + (f" {env['LD_PRELOAD']}" if env.get("LD_PRELOAD") else "")
    if variant == "asan":
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    else:
        env["TSAN_OPTIONS"] = "halt_on_error=1:abort_on_error=1:second_deadlock_stack=1"
    return env


__all__ = [
    "CACHE_KIND",
    "RUNTIME_DIR",
    "BuildError",
    "Variant",
    "build_command",
    "build_shared",
    "compiler_identity",
    "runtime_archive",
    "runtime_key",
    "runtime_sources",
    "sanitizer_env",
    "sanitizer_runtime",
]
