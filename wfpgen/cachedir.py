"""Where wfpgen keeps what it can rebuild: ``$WFPGEN_CACHE``, else ``$XDG_CACHE_HOME/wfpgen``,
else ``~/.cache/wfpgen``.

Entries are named by a hash of everything that went into them, so an entry is never updated in
place, only created: :func:`store` writes a temporary file beside the entry and renames it over
the name, so concurrent runs that make the same entry each rename a complete file and a reader
sees either no entry or a whole one. Deleting the directory at any time is safe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

ENV = "WFPGEN_CACHE"


def root() -> Path:
    """The cache directory (not created)."""
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is to be ignored
        return Path(xdg) / "wfpgen"
    return Path.home() / ".cache" / "wfpgen"


def digest(parts: Iterable[bytes | str]) -> str:
    """A SHA-256 over ``parts``, each length-prefixed so that no two sequences collide."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


def lookup(kind: str, name: str) -> Path | None:
    """The entry ``kind/name`` if it exists."""
    path = root() / kind / name
    return path if path.is_file() else None


def store(kind: str, name: str, source: Path) -> Path | None:
    """Copy ``source`` into the entry ``kind/name`` atomically; the entry, or None when the cache
    cannot be written (a read-only home, a full disk): the caller then uses ``source``."""
    directory = root() / kind
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as target, source.open("rb") as data:
                while chunk := data.read(1 << 20):
                    target.write(chunk)
            os.replace(temporary, directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        return None
    return directory / name


def store_text(kind: str, name: str, text: str) -> None:
    """Write ``text`` as the entry ``kind/name`` atomically; silently nothing if the cache
    cannot be written."""
    directory = root() / kind
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as target:
                target.write(text)
            os.replace(temporary, directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        return


__all__ = ["ENV", "digest", "lookup", "root", "store", "store_text"]
