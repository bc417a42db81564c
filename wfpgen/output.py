"""Write rendered files to disk: plan against a manifest, refuse to clobber edits, write atomically.

The manifest (``wfpgen-manifest.json``) records the generator version, the spec's hash and
the hash of every file as generated. On a re-run each file is ``create`` (new),
``identical`` (same bytes), ``update`` (changed by the generator, untouched by the user),
``conflict`` (the user edited it since: refused unless forced) or ``delete`` (no longer
generated and unedited).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wfpgen.errors import OutputError

MANIFEST = "wfpgen-manifest.json"
SPEC_COPY = "wfpgen.yaml"  # the spec the project was generated from, byte for byte
Action = Literal["create", "identical", "update", "conflict", "delete", "overwrite"]


@dataclass(frozen=True)
class PlannedFile:
    """What writing one path will do."""

    path: str
    action: Action


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(files: dict[str, bytes], generator_version: str, spec_name: str, spec_sha256: str) -> bytes:
    """The manifest for ``files``, deterministic (sorted keys, no timestamps)."""
    document = {
        "generator": "wfpgen",
        "generator_version": generator_version,
        "spec": spec_name,
        "spec_sha256": spec_sha256,
        "files": {path: sha256(files[path]) for path in sorted(files)},
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _old_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def plan(root: Path, files: dict[str, bytes], force: bool) -> list[PlannedFile]:
    """Compare ``files`` with what is on disk under ``root`` and the previous manifest."""
    previous = _old_manifest(root)
    result: list[PlannedFile] = []
    for path in sorted(files):
        target = root / path
        if not target.exists():
            result.append(PlannedFile(path, "create"))
            continue
        if not target.is_file():
            raise OutputError(f"{target}: exists and is not a regular file")
        current = sha256(target.read_bytes())
        if current == sha256(files[path]):
            result.append(PlannedFile(path, "identical"))
        elif path == MANIFEST or previous.get(path) == current:
            result.append(PlannedFile(path, "update"))
        else:
            result.append(PlannedFile(path, "overwrite" if force else "conflict"))
    for path in sorted(set(previous) - set(files)):
        target = root / path
        if target.is_file() and (force or sha256(target.read_bytes()) == previous[path]):
            result.append(PlannedFile(path, "delete"))
    return result


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _write_new_tree(root: Path, files: dict[str, bytes]) -> None:
    """Build the whole project beside ``root`` and rename it into place: all or nothing."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for path, data in files.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.rename(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write(root: Path, files: dict[str, bytes], force: bool = False) -> list[PlannedFile]:
    """Write ``files`` under ``root`` as planned; nothing is written if any file conflicts."""
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: exists and is not a directory")
    if not root.exists():
        try:
            _write_new_tree(root, files)
        except OSError as exc:
            raise OutputError(f"{root}: cannot write the project: {exc.strerror or exc}") from None
        return [PlannedFile(path, "create") for path in sorted(files)]
    planned = plan(root, files, force)
    conflicts = [p.path for p in planned if p.action == "conflict"]
    if conflicts:
        listing = "\n".join(f"  conflict  {path}" for path in conflicts)
        raise OutputError(f"{root}: {len(conflicts)} generated file(s) were edited since they were generated; "
                          f"nothing was written (use --force to overwrite them):\n{listing}")
    try:
        for item in planned:
            if item.action in ("create", "update", "overwrite"):
                _write_atomic(root / item.path, files[item.path])
            elif item.action == "delete":
                (root / item.path).unlink()
    except OSError as exc:
        raise OutputError(f"{root}: cannot write the project: {exc.strerror or exc}") from None
    return planned
