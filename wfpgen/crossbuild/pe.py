"""A small PE32+ reader for checking cross-built kernel drivers: :func:`check_pe`.

Reads only what the checks need (COFF header, optional header, data directories, section
table, import descriptors) with :mod:`struct`.  Layouts and constants are those of the
Microsoft PE/COFF specification.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ALLOWED_IMPORTS", "PeError", "PeImage", "check_pe", "pe_checksum", "read_pe"]

#: Modules a WFP callout driver may import from.
ALLOWED_IMPORTS = frozenset({"ntoskrnl.exe", "hal.dll", "fwpkclnt.sys", "ndis.sys", "netio.sys"})

IMAGE_FILE_MACHINE_AMD64 = 0x8664
IMAGE_FILE_EXECUTABLE_IMAGE = 0x0002
IMAGE_FILE_DLL = 0x2000
PE32_PLUS_MAGIC = 0x20B
IMAGE_SUBSYSTEM_NATIVE = 1
IMAGE_DLLCHARACTERISTICS_NX_COMPAT = 0x0100

DIRECTORY_EXPORT = 0
DIRECTORY_IMPORT = 1
DIRECTORY_TLS = 9

_COFF = struct.Struct("<HHIIIHH")  # Machine .. Characteristics (20 bytes)
_SECTION_NAME_SIZE = 8
_SECTION = struct.Struct("<IIIIIIHHI")  # the 40-byte section header after its 8-byte name
_IMPORT = struct.Struct("<IIIII")  # 20 bytes
_CHECKSUM_IN_OPTIONAL = 64  # CheckSum's offset in the optional header (PE32 and PE32+)


class PeError(ValueError):
    """The file is not a well-formed PE image."""


@dataclass(frozen=True)
class Section:
    name: str
    virtual_address: int
    virtual_size: int
    raw_offset: int
    raw_size: int


@dataclass(frozen=True)
class PeImage:
    """The parts of a PE image :func:`check_pe` looks at."""

    machine: int
    characteristics: int
    magic: int
    entry_point: int
    image_base: int
    checksum: int
    checksum_offset: int  # file offset of the CheckSum field
    subsystem: int
    dll_characteristics: int
    directories: tuple[tuple[int, int], ...]  # (rva, size) per data directory
    sections: tuple[Section, ...]
    imports: tuple[str, ...]  # imported module names, in descriptor order (repeats kept)


def _unpack(layout: struct.Struct, data: bytes, offset: int, what: str) -> tuple[int, ...]:
    """Integer fields of ``layout`` at ``offset`` (every layout here but the section name)."""
    if offset < 0 or offset + layout.size > len(data):
        raise PeError(f"truncated file: {what} at offset {offset:#x} runs past the end")
    return tuple(int(value) for value in layout.unpack_from(data, offset))


def _rva_to_offset(sections: tuple[Section, ...], rva: int) -> int:
    for section in sections:
        size = max(section.virtual_size, section.raw_size)
        if section.virtual_address <= rva < section.virtual_address + size:
            delta = rva - section.virtual_address
            if delta >= section.raw_size:
                raise PeError(f"RVA {rva:#x} lies in the uninitialised part of {section.name}")
            return section.raw_offset + delta
    raise PeError(f"RVA {rva:#x} is in no section")


def _c_string(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if end < 0:
        raise PeError(f"unterminated string at offset {offset:#x}")
    return data[offset:end].decode("ascii", errors="replace")


def read_pe(data: bytes) -> PeImage:
    """Parse ``data``; raises :class:`PeError` if it is not a PE image this module can read."""
    if data[:2] != b"MZ":
        raise PeError("no MZ signature")
    (pe_offset,) = _unpack(struct.Struct("<I"), data, 0x3C, "e_lfanew")
    if data[pe_offset : pe_offset + 4] != b"PE\0\0":
        raise PeError("no PE signature")
    coff = pe_offset + 4
    machine, section_count, _, _, _, optional_size, characteristics = _unpack(
        _COFF, data, coff, "COFF header"
    )
    optional = coff + _COFF.size
    (magic,) = _unpack(struct.Struct("<H"), data, optional, "optional header magic")
    if magic != PE32_PLUS_MAGIC:
        # Everything below assumes the PE32+ layout; report the magic and stop.
        return PeImage(machine, characteristics, magic, 0, 0, 0, 0, 0, 0, (), (), ())
    if optional_size < 112:
        raise PeError(f"optional header too small for PE32+: {optional_size} bytes")
    (entry_point,) = _unpack(struct.Struct("<I"), data, optional + 16, "AddressOfEntryPoint")
    (image_base,) = _unpack(struct.Struct("<Q"), data, optional + 24, "ImageBase")
    checksum, subsystem, dll_characteristics = _unpack(
        struct.Struct("<IHH"), data, optional + _CHECKSUM_IN_OPTIONAL, "CheckSum"
    )
    (directory_count,) = _unpack(struct.Struct("<I"), data, optional + 108, "NumberOfRvaAndSizes")
    directory_count = min(directory_count, (optional_size - 112) // 8)
    directories: list[tuple[int, int]] = []
    for i in range(directory_count):
        rva, size = _unpack(struct.Struct("<II"), data, optional + 112 + 8 * i, f"data directory {i}")
        directories.append((rva, size))
    sections = []
    entry_size = _SECTION_NAME_SIZE + _SECTION.size
    for i in range(section_count):
        header = optional + optional_size + i * entry_size
        vsize, vaddr, raw_size, raw_offset, *_ = _unpack(
            _SECTION, data, header + _SECTION_NAME_SIZE, "section"
        )
        name = data[header : header + _SECTION_NAME_SIZE].rstrip(b"\0").decode("ascii", errors="replace")
        sections.append(Section(name, vaddr, vsize, raw_offset, raw_size))
    section_tuple = tuple(sections)

    imports: list[str] = []
    if len(directories) > DIRECTORY_IMPORT and directories[DIRECTORY_IMPORT][0]:
        offset = _rva_to_offset(section_tuple, directories[DIRECTORY_IMPORT][0])
        while True:
            original_first_thunk, _, _, name_rva, first_thunk = _unpack(
                _IMPORT, data, offset, "import descriptor"
            )
            if not (original_first_thunk or name_rva or first_thunk):
                break
            imports.append(_c_string(data, _rva_to_offset(section_tuple, name_rva)))
            offset += _IMPORT.size

    return PeImage(
        machine=machine,
        characteristics=characteristics,
        magic=magic,
        entry_point=entry_point,
        image_base=image_base,
        checksum=checksum,
        checksum_offset=optional + _CHECKSUM_IN_OPTIONAL,
        subsystem=subsystem,
        dll_characteristics=dll_characteristics,
        directories=tuple(directories),
        sections=section_tuple,
        imports=tuple(imports),
    )


def pe_checksum(data: bytes, checksum_offset: int) -> int:
    """The PE image checksum (as ``CheckSumMappedFile`` computes it) of ``data``.

    The file is summed as little-endian 16-bit words with end-around carry, the CheckSum
    field itself counting as zero and an odd last byte as a word of its own; the file
    length is then added.
    """
    blob = bytearray(data)
    blob[checksum_offset : checksum_offset + 4] = b"\0\0\0\0"
    if len(blob) % 2:
        blob.append(0)
    total = sum(int(word) for word in struct.unpack(f"<{len(blob) // 2}H", blob))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF


def check_pe(path: str | Path) -> list[str]:
    """Problems that keep the image at ``path`` from being a plausible x64 kernel driver.

    Checked: PE32+ for AMD64; native subsystem; an entry point; not a DLL; a checksum equal
    to the one computed over the file; NX compatible; imports only from
    :data:`ALLOWED_IMPORTS`; no TLS directory or ``.tls`` section.  An empty list means
    none was found.
    """
    data = Path(path).read_bytes()
    try:
        image = read_pe(data)
    except PeError as exc:
        return [f"not a readable PE image: {exc}"]
    problems: list[str] = []
    if image.machine != IMAGE_FILE_MACHINE_AMD64:
        problems.append(f"machine is {image.machine:#06x}, not AMD64 (0x8664)")
    if image.magic != PE32_PLUS_MAGIC:
        problems.append(f"optional header magic is {image.magic:#05x}, not PE32+ (0x20b)")
        return problems
    if not image.characteristics & IMAGE_FILE_EXECUTABLE_IMAGE:
        problems.append("IMAGE_FILE_EXECUTABLE_IMAGE is not set")
    if image.characteristics & IMAGE_FILE_DLL:
        problems.append(
            f"IMAGE_FILE_DLL is set (characteristics {image.characteristics:#06x}): linked as a DLL"
        )
    if image.subsystem != IMAGE_SUBSYSTEM_NATIVE:
        problems.append(f"subsystem is {image.subsystem}, not native (1)")
    if image.entry_point == 0:
        problems.append("entry point is 0 (the linker did not find DriverEntry)")
    expected = pe_checksum(data, image.checksum_offset)
    if image.checksum != expected:
        problems.append(f"checksum is {image.checksum:#010x}, the file's is {expected:#010x}")
    if not image.dll_characteristics & IMAGE_DLLCHARACTERISTICS_NX_COMPAT:
        problems.append(f"not NX compatible (DllCharacteristics {image.dll_characteristics:#06x})")
    foreign = sorted({name for name in image.imports if name.lower() not in ALLOWED_IMPORTS})
    if foreign:
        problems.append(f"imports from modules a kernel driver cannot use: {', '.join(foreign)}")
    if len(image.directories) > DIRECTORY_TLS and image.directories[DIRECTORY_TLS] != (0, 0):
        problems.append("has a TLS directory")
    if any(section.name.lower() == ".tls" for section in image.sections):
        problems.append("has a .tls section")
    return problems
