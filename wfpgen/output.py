"""Write rendered files to disk: plan against a manifest, refuse to clobber edits, write atomically.

The manifest (``wfpgen-manifest.json``) records the generator version, the spec's hash and
the hash of every file as generated. On a re-run each file is ``create`` (new),
``identical`` (same bytes), ``update`` (changed by the generator, untouched by the user),
``conflict`` (the user edited it since: refused unless forced), ``delete`` (no longer
generated, and proven to be generator output) or ``keep`` (listed by the manifest, no longer
generated, but not proven to be generator output: left alone, with the reason).

The manifest is project data like any other file, so it is read with the same suspicion: never
through a symbolic link, only if it is a regular file of bounded size, and only if it has the
exact shape the generator writes. It never decides a deletion on its own word: a file leaves
the project only if it is byte for byte what this generator makes from the project's recorded
spec copy (``wfpgen.yaml``), the previous generation.

Every update of one project happens under an advisory lock (a ``.<project>.wfpgen-lock`` file
beside it), so two runs never interleave their writes; the second waits for the first.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wfpgen import __version__
from wfpgen.errors import OutputError, WfpgenError

MANIFEST = "wfpgen-manifest.json"
SPEC_COPY = "wfpgen.yaml"  # the spec the project was generated from, byte for byte
Action = Literal["create", "identical", "update", "conflict", "delete", "overwrite", "keep"]

#: The largest manifest read, in bytes (a real one lists a few dozen files in a few KiB).
MANIFEST_LIMIT = 1 << 20
#: The largest spec copy read to reproduce the previous generation (the spec loader's own limit is lower).
SPEC_COPY_LIMIT = 1 << 20
#: How long a run waits for another run writing the same project, in seconds.
LOCK_TIMEOUT = 60.0
_LOCK_POLL = 0.05

_HEX64 = re.compile(r"[0-9a-f]{64}")
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0))
_LOCK_FLAGS = (os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0))
_MANIFEST_ADVICE = ("restore it, or delete it and run again (without a manifest every file that differs "
                    "from the new output is a conflict until --force)")


@dataclass(frozen=True)
class PlannedFile:
    """What writing one path will do (``reason``: why a file is kept)."""

    path: str
    action: Action
    reason: str = ""


@dataclass(frozen=True)
class Manifest:
    """A previous generation as its manifest records it."""

    generator_version: str
    spec: str
    spec_sha256: str
    files: dict[str, str]


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


# -- reading project files without trusting them ------------------------------------------------

class _Unusable(Exception):
    """A project file (or the manifest's content) that cannot be used; the message says why."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _open_regular(path: Path) -> tuple[int, os.stat_result] | None:
    """An open descriptor of the regular file ``path`` and its status; None if there is nothing there.

    The type is checked before opening (no symbolic link is followed, no FIFO waited on, no
    device read) and again on the descriptor, which must be the file that was checked.
    """
    try:
        before = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _Unusable(f"cannot be examined: {exc.strerror or exc}") from None
    if not stat.S_ISREG(before.st_mode):
        raise _Unusable(f"is {_kind(before.st_mode)}")
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Unusable("is a symbolic link") from None
        raise _Unusable(f"cannot be read: {exc.strerror or exc}") from None
    after = os.fstat(fd)
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise _Unusable("changed while it was being read")
    return fd, after


def _read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file ``path`` (at most ``limit``); None if absent."""
    opened = _open_regular(path)
    if opened is None:
        return None
    fd, status = opened
    try:
        if status.st_size > limit:
            raise _Unusable(f"is {status.st_size} bytes, more than the {limit} a real one can be")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _Unusable(f"grew past {limit} bytes while it was being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _hash_regular(path: Path) -> str | None:
    """The SHA-256 of the regular file ``path``, read in chunks; None if absent."""
    opened = _open_regular(path)
    if opened is None:
        return None
    fd, _ = opened
    digest = hashlib.sha256()
    try:
        while chunk := os.read(fd, 1 << 16):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


# -- the manifest -------------------------------------------------------------------------------

def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _Unusable(f"names {key!r} twice")
        result[key] = value
    return result


def _string(document: dict[str, object], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str):
        raise _Unusable(f"has no string {key!r}")
    return value


def parse_manifest(data: bytes) -> Manifest:
    """The manifest in ``data``, if it has exactly the shape :func:`manifest_bytes` writes."""
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise _Unusable("is not UTF-8 text") from None
    except RecursionError:
        raise _Unusable("nests too deeply to be one") from None
    except json.JSONDecodeError as exc:
        raise _Unusable(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(document, dict):
        raise _Unusable("is not a JSON object")
    if document.get("generator") != "wfpgen":
        raise _Unusable('does not say "generator": "wfpgen"')
    version, spec, spec_hash = (_string(document, key) for key in ("generator_version", "spec", "spec_sha256"))
    if not _HEX64.fullmatch(spec_hash):
        raise _Unusable(f"has a spec_sha256 that is not a SHA-256: {spec_hash!r}")
    listed = document.get("files")
    if not isinstance(listed, dict):
        raise _Unusable('has no "files" object')
    files: dict[str, str] = {}
    folded: dict[str, str] = {}
    for path, digest in listed.items():
        try:
            _check_relative(path)
        except OutputError:
            raise _Unusable(f"lists {path!r}, a path outside the project") from None
        if not path.isprintable():
            raise _Unusable(f"lists {path!r}, a name with control characters")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise _Unusable(f"gives {path!r} a hash that is not a SHA-256: {digest!r}")
        twin = folded.setdefault(path.casefold(), path)
        if twin != path:
            raise _Unusable(f"lists {twin!r} and {path!r}, one file where names ignore case")
        files[path] = digest
    return Manifest(version, spec, spec_hash, files)


def read_manifest(root: Path) -> Manifest | None:
    """The project's manifest; None if it has none. Anything else than a real one is an error."""
    path = root / MANIFEST
    try:
        data = _read_regular(path, MANIFEST_LIMIT)
        return None if data is None else parse_manifest(data)
    except _Unusable as exc:
        raise OutputError(f"{path}: not a usable manifest: it {exc}; nothing was written ({_MANIFEST_ADVICE})") from None


# -- what the previous generation was -----------------------------------------------------------

def _previous_output(root: Path, manifest: Manifest) -> tuple[dict[str, bytes] | None, str]:
    """What this generator makes from the project's spec copy: the previous generation, or why unknown."""
    recorded = manifest.files.get(SPEC_COPY)
    try:
        spec = _read_regular(root / SPEC_COPY, SPEC_COPY_LIMIT)
    except _Unusable as exc:
        return None, f"the project's spec copy ({SPEC_COPY}) {exc}"
    if spec is None or recorded is None:
        return None, f"the project has no recorded spec copy ({SPEC_COPY})"
    if sha256(spec) != recorded or recorded != manifest.spec_sha256:
        return None, f"the project's spec copy ({SPEC_COPY}) was changed since it was generated"
    name = manifest.spec
    if not name or name in (".", "..") or any(ch in name for ch in "/\\:\0") or not name.isprintable():
        return None, f"the manifest's spec name {name!r} is not a file name"
    from wfpgen.pipeline import generate  # the pipeline imports this module

    try:
        with tempfile.TemporaryDirectory(prefix="wfpgen-previous-") as scratch:
            copy = Path(scratch) / name
            copy.write_bytes(spec)
            _, files = generate(copy, SPEC_COPY)
    except Exception as exc:  # noqa: BLE001 - whatever stops it, the previous generation is unknown: nothing is deleted
        why = str(exc).splitlines()[0] if isinstance(exc, WfpgenError) and str(exc) else type(exc).__name__
        return None, f"the project's spec copy ({SPEC_COPY}) does not generate with this wfpgen ({why})"
    return files, ""


def _check_relative(path: str) -> None:
    """Refuse a project path that could leave the project: absolute, with ``..``, a drive or a backslash."""
    parts = path.split("/")
    if (not path or path.startswith("/") or "\\" in path or ":" in path or "\0" in path
            or any(part in ("", ".", "..") for part in parts)):
        raise OutputError(f"{path!r}: not a relative path inside the project; refusing to write it")


def _symlink_on_path(root: Path, path: str) -> Path | None:
    """The first symbolic link between ``root`` and ``path`` (``path`` included), if any."""
    current = root
    for part in path.split("/"):
        current = current / part
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return current
        except OSError:  # nothing there (or not a directory on the way): nothing to follow
            return None
    return None


def _refuse_symlinks(root: Path, paths: list[str]) -> None:
    """Refuse to follow a symbolic link anywhere between ``root`` and each of ``paths``."""
    for path in paths:
        link = _symlink_on_path(root, path)
        if link is not None:
            raise OutputError(f"{link}: is a symbolic link; refusing to follow it out of the project")


def plan(root: Path, files: dict[str, bytes], force: bool) -> list[PlannedFile]:
    """Compare ``files`` with what is on disk under ``root`` and the previous manifest."""
    previous = read_manifest(root)
    recorded = previous.files if previous is not None else {}
    result: list[PlannedFile] = []
    for path in sorted(files):
        target = root / path
        try:
            current = _hash_regular(target)
        except _Unusable as exc:
            raise OutputError(f"{target}: {exc}; refusing to replace it with a generated file") from None
        if current is None:
            result.append(PlannedFile(path, "create"))
        elif current == sha256(files[path]):
            result.append(PlannedFile(path, "identical"))
        elif path == MANIFEST or recorded.get(path) == current:
            result.append(PlannedFile(path, "update"))
        else:
            result.append(PlannedFile(path, "overwrite" if force else "conflict"))
    if previous is not None:
        result += _plan_stale(root, previous, sorted(set(recorded) - set(files)))
    return result


def _plan_stale(root: Path, previous: Manifest, stale: list[str]) -> list[PlannedFile]:
    """``delete`` or ``keep`` each file the previous manifest lists and this generation does not.

    The manifest's word is not enough (a doctored or copied manifest could name any file of the
    user's with its real hash): a file is deleted only if it is byte for byte what this generator
    makes from the project's unedited spec copy. ``--force`` does not change that.
    """
    result: list[PlannedFile] = []
    generated: dict[str, bytes] | None = None
    unknown = ""
    for path in stale:
        link = _symlink_on_path(root, path)
        if link is not None:
            result.append(PlannedFile(path, "keep", f"{link.relative_to(root).as_posix()} is a symbolic link, "
                                                    "never followed"))
            continue
        try:
            current = _hash_regular(root / path)
        except _Unusable as exc:
            result.append(PlannedFile(path, "keep", f"it {exc}"))
            continue
        if current is None:
            continue  # already gone
        if current != previous.files[path]:
            result.append(PlannedFile(path, "keep", "edited since it was generated"))
            continue
        if generated is None and not unknown:
            generated, unknown = _previous_output(root, previous)
        if generated is None:
            result.append(PlannedFile(path, "keep", f"not proven to be generated output: {unknown}"))
        elif path not in generated or sha256(generated[path]) != current:
            other = (f"; the project was generated by wfpgen {previous.generator_version}, this is {__version__}"
                     if previous.generator_version != __version__ else "")
            result.append(PlannedFile(path, "keep", f"listed by the manifest, but not what this wfpgen generates "
                                                    f"from {SPEC_COPY}, the project's spec{other}"))
        else:
            result.append(PlannedFile(path, "delete"))
    return result


# -- writing ------------------------------------------------------------------------------------

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
    """Build the whole project beside ``root`` (whose parent exists) and rename it into place: all or nothing."""
    staging: Path | None = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        for path in sorted(files):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_file(target, files[path])
        os.rename(staging, root)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
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
    for item in planned:
        if item.action == "delete":  # a directory only generated files were in goes with them
            directory = (root / item.path).parent
            while directory != root:
                try:
                    directory.rmdir()
                except OSError:
                    break
                directory = directory.parent


# -- one run at a time per project ---------------------------------------------------------------

def lock_path(root: Path) -> Path:
    """The lock file of the project ``root``: ``.<name>.wfpgen-lock`` beside it."""
    absolute = Path(os.path.abspath(root))
    if absolute.parent == absolute:  # a file system root has nothing beside it
        return absolute / ".wfpgen-lock"
    return absolute.parent / f".{absolute.name}.wfpgen-lock"


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _open_lock(lock: Path, root: Path) -> int:
    """Open (creating it if need be) the lock file: a regular file, never through a symbolic link."""
    try:
        mode = os.lstat(lock).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    except OSError as exc:
        raise OutputError(f"{root}: cannot write the project: cannot examine its lock file {lock}: "
                          f"{exc.strerror or exc}; nothing was written") from None
    if stat.S_ISREG(mode):
        try:
            fd = os.open(lock, _LOCK_FLAGS, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise OutputError(f"{root}: cannot write the project: cannot create its lock file {lock}: "
                                  f"{exc.strerror or exc}; nothing was written") from None
            mode = stat.S_IFLNK
        else:
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode):
                return fd
            os.close(fd)
    raise OutputError(f"{lock}: the lock file of {root} is {_kind(mode)}; refusing to use it "
                      "(remove it); nothing was written")


def _same_file(fd: int, lock: Path) -> bool:
    """Whether ``lock`` still names the file open as ``fd`` (a finishing run removes its lock file)."""
    try:
        named = os.lstat(lock)
    except OSError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _release(fd: int, lock: Path) -> None:
    """Remove the lock file and unlock it; a run waiting on the removed file sees it and opens the new one."""
    if sys.platform == "win32":  # an open file cannot be removed: unlock first, remove if no run has it open
        try:
            _unlock(fd)
        finally:
            os.close(fd)
        try:
            os.unlink(lock)
        except OSError:
            pass
        return
    try:
        if _same_file(fd, lock):
            os.unlink(lock)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _locked(root: Path, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    """Hold the project's lock: wait for another run for up to LOCK_TIMEOUT seconds, then give up."""
    lock = lock_path(root)
    deadline = time.monotonic() + LOCK_TIMEOUT
    told = False
    while True:
        fd = _open_lock(lock, root)
        try:
            while not _try_lock(fd):
                if not told and on_wait is not None:
                    on_wait(f"waiting for another wfpgen run writing {root} (it holds {lock})")
                    told = True
                if time.monotonic() >= deadline:
                    raise OutputError(f"{root}: another wfpgen run is still writing this project after "
                                      f"{LOCK_TIMEOUT:g} s (it holds {lock}); nothing was written")
                time.sleep(_LOCK_POLL)
        except OSError as exc:
            os.close(fd)
            raise OutputError(f"{root}: cannot lock {lock}: {exc.strerror or exc}; nothing was written") from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, lock):
            break
        _unlock(fd)
        os.close(fd)
        if time.monotonic() >= deadline:
            raise OutputError(f"{root}: cannot keep hold of the lock {lock} (it is replaced as it is taken); "
                              "nothing was written")
    try:
        yield
    finally:
        _release(fd, lock)


def _check_root(root: Path) -> bool:
    """Whether the project ``root`` exists; refuse a symbolic link or a non-directory."""
    try:
        mode = os.lstat(root).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise OutputError(f"{root}: cannot examine it: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise OutputError(f"{root}: is a symbolic link; refusing to follow it (give the real directory)")
    if not stat.S_ISDIR(mode):
        raise OutputError(f"{root}: exists and is not a directory")
    return True


def write(root: Path, files: dict[str, bytes], force: bool = False,
          on_wait: Callable[[str], None] | None = None) -> list[PlannedFile]:
    """Write ``files`` under ``root`` as planned: all of them or, on any failure, none.

    Nothing is written if any file conflicts, if ``root`` or any path inside it is a symbolic
    link, if a path would leave ``root``, or if the manifest is not one the generator wrote.
    The whole run holds the project's lock; ``on_wait`` hears once if it has to wait for it.
    """
    for path in files:
        _check_relative(path)
    _check_root(root)
    parent = lock_path(root).parent
    created = _missing_parents(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with _locked(root, on_wait):
            if not _check_root(root):  # checked again: another run may have made it meanwhile
                try:
                    _write_new_tree(root, files)
                except OSError as exc:
                    raise OutputError(f"{root}: cannot write the project: {exc.strerror or exc}; "
                                      "nothing was written") from None
                return [PlannedFile(path, "create") for path in sorted(files)]
            return _update(root, files, force)
    except OSError as exc:
        _remove_empty(created)
        raise OutputError(f"{root}: cannot write the project: {exc.strerror or exc}; nothing was written") from None
    except BaseException:
        _remove_empty(created)
        raise


def _update(root: Path, files: dict[str, bytes], force: bool) -> list[PlannedFile]:
    """Update the existing project ``root`` to ``files`` (under its lock)."""
    _refuse_symlinks(root, sorted(files))
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
