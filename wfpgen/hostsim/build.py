"""Build a generated driver and the host runtime into one shared library.

``build_shared(project_dir, out, variant)`` compiles every ``driver/*.c`` of a generated
project together with the runtime (``wfpgen/hostsim/runtime/*.c``) against the host WDK
headers, as a ``.so`` that :class:`wfpgen.hostsim.binding.HostDriver` loads:

* ``plain``: ``-O1 -g``;
* ``asan``: AddressSanitizer + UndefinedBehaviorSanitizer, aborting on the first report;
* ``tsan``: ThreadSanitizer.

A sanitized library loaded into Python needs the sanitizer's runtime loaded first:
:func:`sanitizer_env` gives the environment (``LD_PRELOAD`` of gcc's ``libasan``/``libtsan``)
for a subprocess that runs the scenario.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from wfpgen.errors import fwpm_redefinition_hint
from wfpgen.hostsim import INCLUDE_DIR, RUNTIME_DIR

Variant = Literal["plain", "asan", "tsan", "release"]

BASE_FLAGS: tuple[str, ...] = (
    "-std=c11",
    "-fshort-wchar",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fPIC",
    "-shared",
    "-pthread",
)

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
    "release": ("-O2",),  # for benchmarks: the optimisation a driver is shipped with
}

_SANITIZER_LIBRARY = {"asan": "libasan.so", "tsan": "libtsan.so"}


class BuildError(RuntimeError):
    """The compiler rejected the driver or the runtime; the message carries its output."""


def compiler() -> str:
    """The C compiler: ``$CC`` if set, else ``gcc``."""
    found = shutil.which(os.environ.get("CC", "gcc"))
    if found is None:
        raise BuildError("no C compiler: install gcc (or set CC)")
    return found


def runtime_sources() -> list[Path]:
    """The runtime's C files."""
    return sorted(RUNTIME_DIR.glob("*.c"))


def build_command(
    project_dir: Path, out: Path, variant: Variant = "plain", defines: Sequence[str] = ()
) -> list[str]:
    """The compiler command line :func:`build_shared` runs."""
    if variant not in VARIANT_FLAGS:
        raise ValueError(f"unknown variant {variant!r}: plain, asan or tsan")
    driver = Path(project_dir) / "driver"
    sources = sorted(driver.glob("*.c"))
    if not sources:
        raise BuildError(f"{driver} holds no generated C sources")
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
        *map(str, runtime_sources()),
        "-o",
        str(out),
    ]


def build_shared(
    project_dir: Path, out: Path, variant: Variant = "plain", defines: Sequence[str] = ()
) -> Path:
    """Compile ``project_dir/driver/*.c`` and the runtime into the shared library ``out``.

    ``defines`` are extra ``NAME`` or ``NAME=VALUE`` preprocessor definitions. Raises
    :class:`BuildError` with the compiler's output when the build fails.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = build_command(project_dir, out, variant, defines)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise BuildError(
            f"building {out.name} ({variant}) failed with exit code {result.returncode}:\n"
            f"$ {' '.join(command)}\n{output}{fwpm_redefinition_hint(output)}"
        )
    return out


def sanitizer_runtime(variant: Variant) -> Path | None:
    """gcc's sanitizer runtime library for ``variant`` (None for ``plain``)."""
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
    "RUNTIME_DIR",
    "BuildError",
    "Variant",
    "build_command",
    "build_shared",
    "runtime_sources",
    "sanitizer_env",
    "sanitizer_runtime",
]
