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


def _check_relative(path: str) -> None:
    """Refuse a project path that could leave the project: absolute, with ``..``, a drive or a backslash."""
    parts = path.split("/")
    if (not path or path.startswith("/") or "\\" in path or ":" in path or "\0" in path
            or any(part in ("", ".", "..") for part in parts)):
        raise OutputError(f"{path!r}: not a relative path inside the project; refusing to write it")


def _refuse_symlinks(root: Path, paths: list[str]) -> None:
    """Refuse to follow a symbolic link anywhere between ``root`` and each of ``paths``."""
    for path in paths:
        current = root
        for part in path.split("/"):
            current = current / part
            if current.is_symlink():
                raise OutputError(f"{current}: is a symbolic link; refusing to follow it out of the project")
            if not current.exists():
                break


def _write_file(target: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``target`` (every write of the project goes through here)."""
    with open(target, "xb") as handle:
        handle.write(data)
        handle.flush()


def _missing_parents(directory: Path, stop: Path | None = None) -> list[Path]:
    """``directory`` and its ancestors that do not exist yet, outermost first."""
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != stop and current.parent != current:
        missing.append(current)
        current = current.parent
    return missing[::-1]


def _remove_empty(directories: list[Path]) -> None:
    """Remove the directories this run created, innermost first, if they are still empty."""
    for directory in reversed(directories):
        try:
            directory.rmdir()
        except OSError:
            pass


def _write_new_tree(root: Path, files: dict[str, bytes]) -> None:
    """Build the whole project beside ``root`` and rename it into place: all or nothing."""
    created = _missing_parents(root.parent)
    staging: Path | None = None
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        for path in sorted(files):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_file(target, files[path])
        os.rename(staging, root)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise


@dataclass
class _Change:
    """One file of an update: its staged new bytes (or none, for a delete) and the backup of the old file."""

    target: Path
    staged: Path | None
    backup: Path | None = None
    done: bool = False


def _temp_beside(target: Path, kind: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.wfpgen-{kind}-", dir=target.parent)
    os.close(fd)
    return Path(name)


def _backup(target: Path) -> Path:
    """Keep the current ``target`` under a new name beside it (a hard link when possible, else a copy)."""
    backup = _temp_beside(target, "old")
    backup.unlink()
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
    return backup


def _rollback(changes: list[_Change]) -> None:
    """Put back every file already replaced or deleted; remove every staged file."""
    for change in reversed(changes):
        try:
            if change.done:
                if change.backup is not None:
                    os.replace(change.backup, change.target)
                    change.backup = None
                else:
                    change.target.unlink(missing_ok=True)
        except OSError:
            pass
        for leftover in (change.staged, change.backup):
            if leftover is not None:
                leftover.unlink(missing_ok=True)


def _update_tree(root: Path, files: dict[str, bytes], planned: list[PlannedFile]) -> None:
    """Stage every new or changed file beside its target, then rename them all in: all or nothing."""
    changes: list[_Change] = []
    created: list[Path] = []
    try:
        for item in planned:
            target = root / item.path
            if item.action in ("create", "update", "overwrite"):
                missing = _missing_parents(target.parent, root)
                target.parent.mkdir(parents=True, exist_ok=True)
                created += missing
                change = _Change(target, None)
                changes.append(change)
                change.staged = _temp_beside(target, "new")
                change.staged.unlink()
                _write_file(change.staged, files[item.path])
            elif item.action == "delete":
                changes.append(_Change(target, None))
        for change in changes:
            if change.target.exists():
                change.backup = _backup(change.target)
            if change.staged is not None:
                os.replace(change.staged, change.target)
                change.staged = None
            else:
                change.target.unlink()
            change.done = True
    except BaseException:
        _rollback(changes)
        _remove_empty(created)
        raise
    for change in changes:
        if change.backup is not None:
            change.backup.unlink(missing_ok=True)


def write(root: Path, files: dict[str, bytes], force: bool = False) -> list[PlannedFile]:
    """Write ``files`` under ``root`` as planned: all of them or, on any failure, none.

    Nothing is written if any file conflicts, if ``root`` or any path inside it is a symbolic
    link, or if a path would leave ``root``.
    """
    for path in files:
        _check_relative(path)
    if root.is_symlink():
        raise OutputError(f"{root}: is a symbolic link; refusing to follow it (give the real directory)")
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: exists and is not a directory")
    if not root.exists():
        try:
            _write_new_tree(root, files)
        except OSError as exc:
            raise OutputError(f"{root}: cannot write the project: {exc.strerror or exc}; "
                              "nothing was written") from None
        return [PlannedFile(path, "create") for path in sorted(files)]
    previous = _old_manifest(root)
    for path in previous:
        if path not in files:
            try:
                _check_relative(path)
            except OutputError:
                raise OutputError(f"{root / MANIFEST}: lists {path!r}, a path outside the project; "
                                  "nothing was written") from None
    _refuse_symlinks(root, sorted(set(files) | set(previous)))
    planned = plan(root, files, force)
    conflicts = [p.path for p in planned if p.action == "conflict"]
    if conflicts:
        listing = "\n".join(f"  conflict  {path}" for path in conflicts)
        raise OutputError(f"{root}: {len(conflicts)} generated file(s) were edited since they were generated; "
                          f"nothing was written (use --force to overwrite them):\n{listing}")
    try:
        _update_tree(root, files, planned)
    except OSError as exc:
        raise OutputError(f"{root}: cannot write the project: {exc.strerror or exc}; "
                          "nothing was changed (the old project is intact)") from None
    return planned
