"""Cross-build a generated driver into a real x64 ``.sys`` with MinGW-w64, as a check.

:func:`cross_build` compiles every ``driver/*.c`` of a generated project with
``x86_64-w64-mingw32-gcc`` against MinGW-w64's ``ddk`` headers plus the shims in
``include/`` (``ntddk.h``, ``ndis.h``, ``fwpsk.h``, ``fwpmk.h``: what MinGW lacks or gets in
the way of), and links a native-subsystem PE whose entry point is ``DriverEntry``.
:func:`check_pe` then inspects the image (see :mod:`wfpgen.crossbuild.pe`).

This catches what a host build cannot: Windows type sizes (``long`` is 32 bits, so a wrong
``DbgPrintEx`` format is an error), a driver key left undefined (keys.h not included after
``<initguid.h>``: the link fails), and imports from anything but kernel modules. Like the
host build, it fails on a second inclusion of fwpmk.h after ``<initguid.h>``, because the
shim's GUID block stands outside its guard as in the WDK. What the shims get wrong about the
WDK, only the real-header tier (:mod:`wfpgen.realheaders`) can show.

The result is a CHECK ARTEFACT and never a shippable driver: ``link/wdmsec_stub.c`` stands in
for the WDK's static ``wdmsec.lib`` and ignores the device's SDDL, ``link/fwpm_guids.c`` for
fwpkclnt.lib/uuid.lib, and nothing is signed.  A ``NOTICE.txt`` saying so is written next to
every output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wfpgen.crossbuild.pe import ALLOWED_IMPORTS, PeError, check_pe, pe_checksum, read_pe
from wfpgen.errors import fwpm_redefinition_hint

__all__ = [
    "ALLOWED_IMPORTS",
    "CC",
    "COMPILE_FLAGS",
    "DDK_INCLUDE_DIR",
    "INCLUDE_DIR",
    "LINK_DIR",
    "LINK_FLAGS",
    "LINK_LIBRARIES",
    "NOTICE",
    "CrossBuildError",
    "PeError",
    "ToolMissing",
    "check_pe",
    "compile_command",
    "cross_build",
    "link_command",
    "pe_checksum",
    "read_pe",
    "require_tool",
]

HERE = Path(__file__).resolve().parent
INCLUDE_DIR = HERE / "include"
"""The shims; put before :data:`DDK_INCLUDE_DIR` on the include path."""
LINK_DIR = HERE / "link"
"""``fwpkclnt.def``, ``ntoskrnl_extra.def`` and ``wdmsec_stub.c``."""
DDK_INCLUDE_DIR = Path("/usr/share/mingw-w64/include/ddk")
"""MinGW-w64's kernel headers, as Debian's mingw-w64-x86-64-dev installs them."""

TRIPLET = "x86_64-w64-mingw32"
CC = f"{TRIPLET}-gcc"
DLLTOOL = f"{TRIPLET}-dlltool"
APT_PACKAGE = "gcc-mingw-w64-x86-64"

COMPILE_FLAGS: tuple[str, ...] = ("-std=c11", "-Wall", "-Wextra", "-Werror", "-O2")

#: Linker flags: a native (kernel) image entered at DriverEntry, not a DLL, exporting
#: nothing, NX/ASLR compatible, without any C runtime; every ld warning is an error (a
#: missing entry symbol is only a warning otherwise, and leaves AddressOfEntryPoint 0).
LINK_FLAGS: tuple[str, ...] = (
    "-nostdlib",
    "-nostartfiles",
    "-Wl,--subsystem,native:10.0",
    "-Wl,--entry,DriverEntry",
    "-Wl,--image-base,0x140000000",
    "-Wl,--dynamicbase",
    "-Wl,--nxcompat",
    "-Wl,--high-entropy-va",
    "-Wl,--gc-sections",
    "-Wl,--exclude-all-symbols",
    "-Wl,--disable-auto-import",
    "-Wl,--disable-runtime-pseudo-reloc",
    "-Wl,--no-insert-timestamp",
    "-Wl,--major-os-version,10",
    "-Wl,--minor-os-version,0",
    "-Wl,--fatal-warnings",
)

#: Import libraries, in link order: the two made from ``link/*.def``, then MinGW's.
LINK_LIBRARIES: tuple[str, ...] = ("-lfwpkclnt", "-lntoskrnl_extra", "-lntoskrnl", "-lhal")

IMPORT_DEFS: tuple[str, ...] = ("fwpkclnt.def", "ntoskrnl_extra.def")
WDMSEC_STUB = "wdmsec_stub.c"
#: The FWPM GUIDs fwpkclnt.lib and uuid.lib define in a WDK build (MinGW-w64 has none of them).
GUID_STUB = "fwpm_guids.c"

NOTICE = """\
CHECK ARTEFACT - NOT A SHIPPABLE DRIVER

{name} was cross-built on Linux with MinGW-w64 by wfpgen.crossbuild only to check the
generated sources: that they compile with Windows type sizes, link, and import nothing but
kernel modules.  Do not install, sign or distribute it:

  * wdmsec_stub.c stands in for the WDK's wdmsec.lib: IoCreateDeviceSecure IGNORES the
    device's SDDL, so the control device gets default security;
  * fwpm_guids.c stands in for fwpkclnt.lib and uuid.lib (the FWPM GUIDs);
  * the WFP numbers, GUIDs and structure layouts come from wfpgen's shims, not from the
    WDK (the project's Windows CI checks them: ci/wdk_assumptions.c);
  * it is not signed and was never loaded by Windows.

Build drivers for use with the WDK (the generated .sln / .vcxproj).
"""


class CrossBuildError(RuntimeError):
    """A step of the cross build failed; the message holds the command and its output."""


class ToolMissing(CrossBuildError):
    """A MinGW-w64 tool is not installed."""


def require_tool(name: str) -> str:
    """The path of ``name``, or :class:`ToolMissing` naming the tool and its Debian package."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(
            f"{name} is not installed: the MinGW-w64 cross build needs it "
            f"(Debian/Ubuntu: apt-get install {APT_PACKAGE})"
        )
    return path


def compile_command(
    source: Path, output: Path, defines: Sequence[str] = (), include_dirs: Sequence[Path] = ()
) -> list[str]:
    """The compiler command for one source file (the compiler is named, not resolved)."""
    return [
        CC,
        *COMPILE_FLAGS,
        *(f"-D{define}" for define in defines),
        *(f"-I{directory}" for directory in include_dirs),
        f"-I{INCLUDE_DIR}",
        f"-I{DDK_INCLUDE_DIR}",
        "-c",
        str(source),
        "-o",
        str(output),
    ]


def link_command(objects: Sequence[Path], output: Path, library_dir: Path) -> list[str]:
    """The link command (through the compiler driver) for ``objects``."""
    return [CC, *LINK_FLAGS, "-o", str(output), *map(str, objects), f"-L{library_dir}", *LINK_LIBRARIES]


def _run(command: Sequence[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(list(command), capture_output=True, text=True, check=False, cwd=cwd)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise CrossBuildError(
            f"{what} failed (exit {result.returncode}):\n  {' '.join(command)}\n{output}{fwpm_redefinition_hint(output)}"
        )


def _driver_name(project_dir: Path) -> str:
    projects = sorted((project_dir / "driver").glob("*.vcxproj"))
    return projects[0].stem if projects else project_dir.name


def cross_build(
    project_dir: str | Path,
    out_dir: str | Path,
    defines: Sequence[str] = (),
    *,
    name: str | None = None,
) -> Path:
    """Compile and link ``project_dir/driver/*.c`` into ``out_dir/<name>.sys``; return its path.

    ``defines`` are the project's preprocessor defines (``ProjectModel.build_defines``),
    without ``-D``.  ``name`` defaults to the project's ``.vcxproj`` name, else the directory
    name.  Objects and import libraries go to ``out_dir/obj``; ``NOTICE.txt`` is written
    beside the image.  Raises :class:`ToolMissing` without MinGW-w64 and
    :class:`CrossBuildError` when a step fails.
    """
    project = Path(project_dir)
    out = Path(out_dir)
    sources = sorted((project / "driver").glob("*.c"))
    if not sources:
        raise CrossBuildError(f"no driver/*.c under {project}")
    require_tool(CC)
    dlltool = require_tool(DLLTOOL)
    if not (DDK_INCLUDE_DIR / "ntddk.h").is_file():
        raise ToolMissing(
            f"{DDK_INCLUDE_DIR}/ntddk.h is missing: the MinGW-w64 headers are not installed "
            "(Debian/Ubuntu: apt-get install mingw-w64-x86-64-dev)"
        )
    name = name or _driver_name(project)
    objects_dir = out / "obj"
    objects_dir.mkdir(parents=True, exist_ok=True)

    compiles = [(source, objects_dir / (source.stem + ".o")) for source in [*sources, LINK_DIR / WDMSEC_STUB, LINK_DIR / GUID_STUB]]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = [
            pool.submit(
                _run, compile_command(src, obj, defines, [project / "driver"]), f"compiling {src.name}"
            )
            for src, obj in compiles
        ]
        for future in done:
            future.result()  # the first failure, in source order
    objects = [obj for _, obj in compiles]

    for definition in IMPORT_DEFS:
        library = objects_dir / f"lib{Path(definition).stem}.a"
        # dlltool writes its temporary files into the working directory: keep them in obj/.
        command = [dlltool, "-k", "-d", str(LINK_DIR / definition), "-l", str(library.resolve())]
        _run(command, f"dlltool {definition}", cwd=objects_dir)

    image = out / f"{name}.sys"
    _run(link_command(objects, image, objects_dir), f"linking {image.name}")
    (out / "NOTICE.txt").write_text(NOTICE.format(name=image.name), encoding="utf-8")
    return image
