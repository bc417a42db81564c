"""Writing a project is safe: all or nothing, never through a symbolic link, never outside the root.

A new project is built in a temporary directory and renamed into place; an update stages every
new or changed file beside its target and renames them in only when all are written. Whatever
goes wrong (a read-only directory, a full disk, Ctrl-C, a rename failing halfway) ends with a
short ``error:`` from the CLI and either the old project exactly as it was or the new one whole.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from wfpgen import output
from wfpgen.cli import app
from wfpgen.errors import OutputError, SpecError
from wfpgen.model import ProjectModel
from wfpgen.output import MANIFEST, write
from wfpgen.pipeline import generate, resolve_spec

runner = CliRunner()
MONITOR = ROOT / "specs" / "monitor.yaml"
STAGING_MARKERS = (".wfpgen-new-", ".wfpgen-old-")


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, or 'dir', or 'link -> target'."""
    result: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            result[key] = f"link -> {os.readlink(path)}"
        elif path.is_dir():
            result[key] = "dir"
        else:
            result[key] = path.read_bytes()
    return result


def _spec(directory: Path, description: str = "Monitors IPv4 transport traffic") -> Path:
    """monitor.yaml with another description, as ``directory/monitor.yaml`` (same file name, same headers)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(MONITOR.read_text(encoding="utf-8"))
    data["driver"]["description"] = description
    path = directory / "monitor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _new(spec: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["new", str(spec), "-o", str(out), *extra])


def _assert_clean_error(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr, result.stderr


def _no_leftovers(directory: Path) -> None:
    names = [p.name for p in directory.rglob("*")]
    assert not [n for n in names if any(m in n for m in STAGING_MARKERS)], names


@pytest.fixture
def old_project(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes | str]]:
    """(project root, spec of a changed version, snapshot of the old project)."""
    root = tmp_path / "out"
    result = _new(_spec(tmp_path / "v1"), root)
    assert result.exit_code == 0, result.stderr
    return root, _spec(tmp_path / "v2", "A changed description"), _snapshot(root)


def _fail_after(count: int, exc: BaseException) -> Callable[[Path, bytes], None]:
    real = output._write_file
    calls = {"n": 0}

    def fake(target: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > count:
            raise exc
        real(target, data)

    return fake


# -- reserved device names ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["CON", "prn", "Aux", "nul", "COM1", "com9", "Lpt1", "LPT9"])
def test_reserved_device_names_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(f"version: 1\ndriver:\n  name: {name}\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        resolve_spec(path, "spec.yaml")
    [message] = [d.format() for d in caught.value.diagnostics]
    assert message.startswith(f"spec.yaml:3:9: error: '{name}' is a reserved Windows device name"), message


@pytest.mark.parametrize("name", ["Console", "COM10", "LPT", "Nul1x", "AuxMonitor"])
def test_names_that_only_look_reserved_are_fine(tmp_path: Path, name: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(f"version: 1\ndriver:\n  name: {name}\n", encoding="utf-8")
    resolve_spec(path, "spec.yaml")


# -- where -o points ----------------------------------------------------------------------------

def test_output_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    result = _new(MONITOR, tmp_path / "link")
    _assert_clean_error(result, "symbolic link")
    assert list(real.iterdir()) == []


def test_output_that_is_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    result = _new(MONITOR, tmp_path / "link")
    _assert_clean_error(result, "symbolic link")
    assert not (tmp_path / "nowhere").exists()


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("mine")
    _assert_clean_error(_new(MONITOR, target), "not a directory")
    assert target.read_text() == "mine"


def _read_only(directory: Path) -> None:
    directory.chmod(0o555)
    if os.access(directory, os.W_OK):
        directory.chmod(0o755)
        pytest.skip("running as root: a read-only directory is still writable")


def test_new_project_in_a_read_only_directory(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    _read_only(parent)
    try:
        _assert_clean_error(_new(MONITOR, parent / "out"), "cannot write the project")
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


def test_update_of_a_read_only_project(old_project: tuple[Path, Path, dict[str, bytes | str]]) -> None:
    root, changed, before = old_project
    directories = [root, *(p for p in root.rglob("*") if p.is_dir())]
    for directory in directories:
        _read_only(directory)
    try:
        _assert_clean_error(_new(changed, root), "cannot write the project", "old project is intact")
    finally:
        for directory in directories:
            directory.chmod(0o755)
    assert _snapshot(root) == before


# -- failures mid-write -------------------------------------------------------------------------

DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("after", [0, 5, 20])
def test_full_disk_leaves_no_new_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    monkeypatch.setattr(output, "_write_file", _fail_after(after, DISK_FULL))
    _assert_clean_error(_new(MONITOR, tmp_path / "deep" / "out"), "No space left on device", "nothing was written")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("after", [0, 2, 5])
def test_full_disk_leaves_the_old_project(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                         monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    root, changed, before = old_project
    monkeypatch.setattr(output, "_write_file", _fail_after(after, DISK_FULL))
    _assert_clean_error(_new(changed, root), "No space left on device", "old project is intact")
    assert _snapshot(root) == before


@pytest.mark.parametrize("after", [0, 5, 20])
def test_interrupt_leaves_no_new_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    monkeypatch.setattr(output, "_write_file", _fail_after(after, KeyboardInterrupt()))
    _assert_clean_error(_new(MONITOR, tmp_path / "out"), "interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("after", [0, 2, 5])
def test_interrupt_leaves_the_old_project(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                          monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    root, changed, before = old_project
    monkeypatch.setattr(output, "_write_file", _fail_after(after, KeyboardInterrupt()))
    _assert_clean_error(_new(changed, root), "interrupted")
    assert _snapshot(root) == before


@pytest.mark.parametrize("failure", [DISK_FULL, KeyboardInterrupt()], ids=["oserror", "interrupt"])
@pytest.mark.parametrize("after", [0, 2, 5])
def test_rename_failing_midway_restores_the_old_files(
        old_project: tuple[Path, Path, dict[str, bytes | str]], monkeypatch: pytest.MonkeyPatch,
        after: int, failure: BaseException) -> None:
    root, changed, before = old_project
    real = os.replace
    calls = {"n": 0}

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == after + 1:
            raise failure
        real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    result = _new(changed, root)
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert _snapshot(root) == before


def test_update_with_a_new_file_and_a_deleted_one_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ring-sink project becoming dbgprint deletes the reader; a failure keeps all of it."""
    root = tmp_path / "out"
    ring = _spec(tmp_path / "v1")
    assert _new(ring, root).exit_code == 0
    before = _snapshot(root)
    data = yaml.safe_load(ring.read_text())
    data["sink"] = {"kind": "dbgprint"}
    (tmp_path / "v2").mkdir()
    other = tmp_path / "v2" / "monitor.yaml"
    other.write_text(yaml.safe_dump(data, sort_keys=False))
    real = os.replace
    calls = {"n": 0}

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    _assert_clean_error(_new(other, root), "Input/output error")
    assert _snapshot(root) == before
    monkeypatch.undo()
    result = _new(other, root)
    assert result.exit_code == 0, result.stderr
    assert "    delete  reader/pyproject.toml" in result.output
    assert not (root / "reader" / "pyproject.toml").exists()
    _no_leftovers(root)


def test_successful_update_replaces_everything_and_leaves_nothing_behind(
        old_project: tuple[Path, Path, dict[str, bytes | str]]) -> None:
    root, changed, _ = old_project
    result = _new(changed, root)
    assert result.exit_code == 0, result.stderr
    _, files = generate(changed)
    assert {p: root.joinpath(p).read_bytes() for p in files} == files
    _no_leftovers(root)


# -- symbolic links inside the project ----------------------------------------------------------

def test_symlinked_file_in_the_project_is_refused(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                                  tmp_path: Path) -> None:
    root, changed, _ = old_project
    victim = tmp_path / "victim.txt"
    victim.write_text("outside")
    readme = root / "README.md"
    readme.unlink()
    readme.symlink_to(victim)
    before = _snapshot(root)
    _assert_clean_error(_new(changed, root, "--force"), "symbolic link")
    assert victim.read_text() == "outside" and _snapshot(root) == before


def test_symlinked_directory_in_the_project_is_refused(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                                       tmp_path: Path) -> None:
    root, changed, _ = old_project
    outside = tmp_path / "outside"
    shutil.move(root / "driver", outside)
    (root / "driver").symlink_to(outside, target_is_directory=True)
    before_outside = _snapshot(outside)
    _assert_clean_error(_new(changed, root, "--force"), "symbolic link")
    assert _snapshot(outside) == before_outside


# -- paths that would leave the project ---------------------------------------------------------

@pytest.mark.parametrize("path", ["../escape", "a/../../escape", "/abs/path", "a//b", "./a", "a\\..\\b", "C:x", ""])
def test_paths_outside_the_root_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(OutputError, match="not a relative path inside the project"):
        write(tmp_path / "out", {"ok.txt": b"x", path: b"y"})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_manifest_naming_paths_outside_the_project_is_refused(
        old_project: tuple[Path, Path, dict[str, bytes | str]], tmp_path: Path) -> None:
    """A doctored manifest must not make ``--force`` delete a file outside the project."""
    root, changed, _ = old_project
    victim = tmp_path / "victim.txt"
    victim.write_text("outside")
    manifest = root / MANIFEST
    text = manifest.read_text().replace('"files": {', f'"files": {{\n    "../victim.txt": "{output.sha256(b"outside")}",')
    manifest.write_text(text)
    before = _snapshot(root)
    _assert_clean_error(_new(changed, root, "--force"), "outside the project")
    assert victim.read_text() == "outside" and _snapshot(root) == before


# -- the manifest is read before it is trusted --------------------------------------------------

def _document(root: Path) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((root / MANIFEST).read_text(encoding="utf-8")))


def _put_manifest(root: Path, document: dict[str, Any] | bytes) -> None:
    data = document if isinstance(document, bytes) else json.dumps(document, indent=2, sort_keys=True).encode()
    manifest = root / MANIFEST
    manifest.unlink()
    manifest.write_bytes(data)


def _duplicated(document: dict[str, Any]) -> bytes:
    text = json.dumps(document, indent=2, sort_keys=True)
    entry = f'"README.md": "{document["files"]["README.md"]}",'
    return text.replace(entry, entry + "\n    " + entry).encode()


def _with_files(**listed: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        document["files"].update(listed)
        return document
    return change


def _without(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        del document[key]
        return document
    return change


HASH = "a" * 64
MALFORMED: dict[str, Callable[[dict[str, Any]], dict[str, Any] | bytes]] = {
    "truncated": lambda d: json.dumps(d).encode()[:200],
    "not-utf8": lambda d: b"\xff\xfe" + json.dumps(d).encode(),
    "empty": lambda d: b"",
    "nested-too-deeply": lambda d: b"[" * 200_000 + b"]" * 200_000,
    "a-list": lambda d: b"[]",
    "a-string": lambda d: b'"wfpgen"',
    "no-files": _without("files"),
    "files-a-list": lambda d: {**d, "files": sorted(d["files"])},
    "no-generator": _without("generator"),
    "other-generator": lambda d: {**d, "generator": "other"},
    "version-a-number": lambda d: {**d, "generator_version": 1},
    "spec-hash-not-hex": lambda d: {**d, "spec_sha256": "z" * 64},
    "hash-a-number": _with_files(**{"README.md": 12}),
    "hash-null": _with_files(**{"README.md": None}),
    "hash-a-list": _with_files(**{"README.md": [HASH]}),
    "hash-uppercase": _with_files(**{"README.md": HASH.upper()}),
    "hash-short": _with_files(**{"README.md": HASH[:40]}),
    "hash-nan": lambda d: json.dumps(d).replace(f'"{d["files"]["README.md"]}"', "NaN").encode(),
    "absolute": _with_files(**{"/etc/hostname": HASH}),
    "dotdot": _with_files(**{"../outside": HASH}),
    "dotdot-inside": _with_files(**{"driver/../../outside": HASH}),
    "dot": _with_files(**{"./README.md": HASH}),
    "empty-part": _with_files(**{"driver//driver.c": HASH}),
    "empty-path": _with_files(**{"": HASH}),
    "backslash": _with_files(**{"driver\\..\\..\\outside": HASH}),
    "drive": _with_files(**{"C:/Windows/win.ini": HASH}),
    "control-character": _with_files(**{"a\nb": HASH}),
    "duplicate": _duplicated,
    "case-twins": lambda d: _with_files(**{"readme.md": d["files"]["README.md"]})(d),
}


@pytest.mark.parametrize("make", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_malformed_manifest_is_one_clear_error(
        old_project: tuple[Path, Path, dict[str, bytes | str]], tmp_path: Path,
        make: Callable[[dict[str, Any]], dict[str, Any] | bytes], force: bool) -> None:
    root, changed, _ = old_project
    _put_manifest(root, make(_document(root)))
    before = _snapshot(root)
    _assert_clean_error(_new(changed, root, *(["--force"] if force else [])), "not a usable manifest",
                        str(root / MANIFEST), "nothing was written")
    assert _snapshot(root) == before
    assert list(tmp_path.glob("*.wfpgen-lock")) == []


@pytest.mark.parametrize("where", ["copy", "dev-zero", "dangling"])
def test_a_symlinked_manifest_is_never_read(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    root, changed, _ = old_project
    target = {"copy": tmp_path / "copy.json", "dev-zero": Path(os.devnull).with_name("zero"),
              "dangling": tmp_path / "nowhere.json"}[where]
    if where == "copy":
        shutil.copy(root / MANIFEST, target)
    elif where == "dev-zero" and not target.exists():
        pytest.skip(f"no {target}")
    (root / MANIFEST).unlink()
    (root / MANIFEST).symlink_to(target)
    before = _snapshot(root)
    read = output._read_regular
    opened: list[Path] = []

    def spy(path: Path, limit: int) -> bytes | None:
        opened.append(path)
        return read(path, limit)

    monkeypatch.setattr(output, "_read_regular", spy)
    with pytest.raises(OutputError, match="not a usable manifest: it is a symbolic link"):
        output.read_manifest(root)
    _assert_clean_error(_new(changed, root), "symbolic link")
    _assert_clean_error(_new(changed, root, "--force"), "symbolic link")
    assert _snapshot(root) == before
    assert not (tmp_path / "nowhere.json").exists()


def test_a_manifest_that_is_a_directory(old_project: tuple[Path, Path, dict[str, bytes | str]]) -> None:
    root, changed, _ = old_project
    (root / MANIFEST).unlink()
    (root / MANIFEST).mkdir()
    _assert_clean_error(_new(changed, root), "not a usable manifest: it is a directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_manifest_does_not_hang(old_project: tuple[Path, Path, dict[str, bytes | str]]) -> None:
    """Run in a child process with a deadline: opening a FIFO for reading would wait for a writer forever."""
    root, changed, _ = old_project
    (root / MANIFEST).unlink()
    os.mkfifo(root / MANIFEST)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "wfpgen", "new", str(changed), "-o", str(root)],
                            check=False, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "not a usable manifest: it is a FIFO" in result.stderr


def test_a_huge_manifest_is_refused_unread(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root, changed, _ = old_project
    with open(root / MANIFEST, "r+b") as handle:  # sparse: 8 GiB on the books, nothing on the disk
        handle.truncate(8 << 30)
    inode = (root / MANIFEST).stat().st_ino
    reads: list[int] = []
    real = os.read

    def counting(fd: int, size: int) -> bytes:
        data = real(fd, size)
        if os.fstat(fd).st_ino == inode:
            reads.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting)
    _assert_clean_error(_new(changed, root), "not a usable manifest", f"more than the {output.MANIFEST_LIMIT}")
    assert sum(reads) == 0


def test_a_manifest_one_byte_over_the_limit(old_project: tuple[Path, Path, dict[str, bytes | str]]) -> None:
    """Padded with white space (still valid JSON): accepted at the limit, refused one byte past it."""
    root, changed, _ = old_project
    data = (root / MANIFEST).read_bytes()
    _put_manifest(root, data + b" " * (output.MANIFEST_LIMIT + 1 - len(data)))
    _assert_clean_error(_new(changed, root), "not a usable manifest", "more than")
    _put_manifest(root, data + b" " * (output.MANIFEST_LIMIT - len(data)))
    result = _new(changed, root)
    assert result.exit_code == 0, result.stderr


def test_a_manifest_growing_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The size checked first is not trusted: at most the limit plus one byte is ever read."""
    manifest = tmp_path / MANIFEST
    manifest.write_bytes(b" " * 10)
    real = os.read

    def growing(fd: int, size: int) -> bytes:
        with open(manifest, "ab") as handle:
            handle.write(b" " * (1 << 16))
        return real(fd, size)

    monkeypatch.setattr(os, "read", growing)
    with pytest.raises(OutputError, match="grew past"):
        output.read_manifest(tmp_path)


# -- a manifest never decides a deletion on its own word ----------------------------------------

def _list_in_manifest(root: Path, *paths: str) -> None:
    """Doctor the manifest: list ``paths`` with the real hashes of the files there."""
    document = _document(root)
    for path in paths:
        document["files"][path] = output.sha256((root / path).read_bytes())
    _put_manifest(root, document)


USERS_FILES = {
    "NOTES.md": b"# My notes\n",
    "docs/README.md": b"# How we deploy this driver\n",
    "driver/mine.c": b"/* hand-written */\nint mine(void) { return 1; }\n",
    "driver/sink_dbgprint.c": b"/* mine, at a name wfpgen uses for another sink */\n",
    "tools/check.py": b"print('mine')\n",
}


@pytest.mark.parametrize("path", USERS_FILES)
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_manifest_listing_a_hand_written_file_does_not_delete_it(
        old_project: tuple[Path, Path, dict[str, bytes | str]], path: str, force: bool) -> None:
    root, changed, _ = old_project
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(USERS_FILES[path])
    _list_in_manifest(root, path)
    result = _new(changed, root, *(["--force"] if force else []))
    assert result.exit_code == 0, result.stderr
    assert (root / path).read_bytes() == USERS_FILES[path]
    assert (f"      keep  {path}  (listed by the manifest, but not what this wfpgen generates from "
            f"wfpgen.yaml, the project's spec)") in result.stdout
    assert "kept 1 file(s)" in result.stdout and "delete them yourself" in result.stdout
    again = _new(changed, root)  # the new manifest no longer lists it: nothing more to say
    assert again.exit_code == 0 and path not in again.stdout and (root / path).read_bytes() == USERS_FILES[path]


def test_a_doctored_spec_copy_does_not_delete_a_hand_written_file(
        old_project: tuple[Path, Path, dict[str, bytes | str]], tmp_path: Path) -> None:
    """The spec copy rewritten too (to a dbgprint spec, hashes fixed up): only generated bytes may go."""
    root, changed, _ = old_project
    victim = root / "driver" / "sink_dbgprint.c"
    victim.write_bytes(USERS_FILES["driver/sink_dbgprint.c"])
    data = yaml.safe_load((root / "wfpgen.yaml").read_text())
    data["sink"] = {"kind": "dbgprint"}
    spec = yaml.safe_dump(data, sort_keys=False).encode()
    (root / "wfpgen.yaml").write_bytes(spec)
    document = _document(root)
    document["spec_sha256"] = document["files"]["wfpgen.yaml"] = output.sha256(spec)
    _put_manifest(root, document)
    _list_in_manifest(root, "driver/sink_dbgprint.c")
    result = _new(changed, root, "--force")
    assert result.exit_code == 0, result.stderr
    assert victim.read_bytes() == USERS_FILES["driver/sink_dbgprint.c"]
    assert "keep  driver/sink_dbgprint.c  (listed by the manifest, but not what" in result.stdout


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_manifest_listing_a_file_outside_the_project(
        old_project: tuple[Path, Path, dict[str, bytes | str]], tmp_path: Path, force: bool) -> None:
    root, changed, _ = old_project
    outside = tmp_path / "outside"
    outside.write_bytes(b"not the project's")
    document = _document(root)
    document["files"]["../outside"] = output.sha256(b"not the project's")
    _put_manifest(root, document)
    before = _snapshot(root)
    _assert_clean_error(_new(changed, root, *(["--force"] if force else [])),
                        "lists '../outside', a path outside the project", "nothing was written")
    assert outside.read_bytes() == b"not the project's" and _snapshot(root) == before


def _dbgprint(spec: Path, directory: Path) -> Path:
    """``spec`` with the dbgprint sink (no reader), as ``directory/<same name>``."""
    data = yaml.safe_load(spec.read_text())
    data["sink"] = {"kind": "dbgprint"}
    directory.mkdir()
    other = directory / spec.name
    other.write_text(yaml.safe_dump(data, sort_keys=False))
    return other


def test_stale_generated_files_go_and_edited_ones_stay(
        old_project: tuple[Path, Path, dict[str, bytes | str]], tmp_path: Path) -> None:
    root, changed, before = old_project
    edited = root / "reader" / "README.md"
    edited.write_bytes(edited.read_bytes() + b"\nmy note\n")
    result = _new(_dbgprint(changed, tmp_path / "dbg"), root)
    assert result.exit_code == 0, result.stderr
    assert "      keep  reader/README.md  (edited since it was generated)" in result.stdout
    stale = sorted(p for p in before if p.startswith("reader/") and isinstance(before[p], bytes))
    assert [p for p in stale if (root / p).exists()] == ["reader/README.md"]
    assert all(f"    delete  {p}" in result.stdout for p in stale if p != "reader/README.md")
    assert sorted(p.name for p in (root / "reader").iterdir()) == ["README.md"]  # the emptied package is gone


def test_stale_files_stay_when_the_spec_copy_was_edited(
        old_project: tuple[Path, Path, dict[str, bytes | str]], tmp_path: Path) -> None:
    """Regenerating from an edited wfpgen.yaml in place: the previous generation cannot be reproduced."""
    root, _, before = old_project
    spec_copy = root / "wfpgen.yaml"
    data = yaml.safe_load(spec_copy.read_text())
    data["sink"] = {"kind": "dbgprint"}
    spec_copy.write_text(yaml.safe_dump(data, sort_keys=False))
    result = _new(spec_copy, root, "--force")
    assert result.exit_code == 0, result.stderr
    stale = [p for p in before if p.startswith("reader/") and isinstance(before[p], bytes)]
    assert stale and all((root / p).read_bytes() == before[p] for p in stale)
    assert ("keep  reader/pyproject.toml  (not proven to be generated output: the project's spec copy "
            "(wfpgen.yaml) was changed since it was generated)") in result.stdout


def test_a_stale_path_through_a_symlink_is_kept(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                               tmp_path: Path) -> None:
    root, changed, _ = old_project
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.c").write_bytes(b"outside\n")
    (root / "extra").symlink_to(outside, target_is_directory=True)
    document = _document(root)
    document["files"]["extra/x.c"] = output.sha256(b"outside\n")
    _put_manifest(root, document)
    result = _new(changed, root, "--force")
    assert result.exit_code == 0, result.stderr
    assert "keep  extra/x.c  (extra is a symbolic link, never followed)" in result.stdout
    assert (outside / "x.c").read_bytes() == b"outside\n"


# -- one run at a time per project --------------------------------------------------------------

def _race_worker(specs: tuple[str, str], which: int, root: str, rounds: int, barrier: Any, failures: Any) -> None:
    """Run ``wfpgen new`` of ``specs[which]`` into ``root`` once per round, all rounds in step with the others.

    The spec is rendered once (``new`` gets it from a cache), so that the runs overlap on writing."""
    from typer.testing import CliRunner

    from wfpgen import pipeline
    from wfpgen.cli import app

    real = pipeline.generate
    rendered = real(Path(specs[which]), specs[which])

    def cached(path: Path, display: str | None = None) -> tuple[ProjectModel, dict[str, bytes]]:
        return rendered if str(path) == specs[which] else real(path, display)

    pipeline.generate = cached
    invoke = CliRunner().invoke
    for number in range(rounds):
        barrier.wait(timeout=120)
        result = invoke(app, ["new", specs[which], "-o", root])
        if result.exit_code != 0:
            failures.put((number, which, result.exit_code, result.output))
        barrier.wait(timeout=120)


def _exactly_one_output(root: Path, outputs: dict[bytes, dict[str, bytes]]) -> dict[str, bytes]:
    """The files of the one spec ``root`` holds, checked to be exactly that spec's output."""
    files = outputs[(root / "wfpgen.yaml").read_bytes()]
    on_disk = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert on_disk == files
    assert all(any(d.iterdir()) for d in root.rglob("*") if d.is_dir())  # no directory left empty
    assert [p.name for p in root.parent.iterdir()] == [root.name]  # no lock file, no staging
    return files


def test_concurrent_runs_never_leave_a_torn_tree(tmp_path: Path) -> None:
    """Two processes write two specs (ring and dbgprint: different file sets) into one project, round after
    round, both waiting for the same start. Before each round the project is either removed (both create
    it) or set to a third spec's output (both update it), so that neither run is a no-op."""
    ring = _spec(tmp_path / "a", "First spec")
    dbg = _dbgprint(_spec(tmp_path / "b", "Second spec"), tmp_path / "c")
    third = _spec(tmp_path / "d", "Third spec")
    outputs = {spec.read_bytes(): generate(spec, str(spec))[1] for spec in (ring, dbg)}
    reset = generate(third)[1]
    root = tmp_path / "out" / "project"
    root.parent.mkdir()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    rounds = 40
    barrier = context.Barrier(3)
    failures = context.Queue()
    workers = [context.Process(target=_race_worker, args=((str(ring), str(dbg)), which, str(root), rounds,
                                                          barrier, failures))
               for which in (0, 1)]
    for worker in workers:
        worker.start()
    try:
        for number in range(rounds):
            if number % 2 == 0:
                shutil.rmtree(root, ignore_errors=True)
            else:
                write(root, reset, force=True)
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
            assert failures.empty(), failures.get()
            files = _exactly_one_output(root, outputs)
            assert {p.action for p in write(root, files)} == {"identical"}, number
    except BaseException:
        barrier.abort()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
    assert [worker.exitcode for worker in workers] == [0, 0]


@contextmanager
def _held(root: Path) -> Iterator[Path]:
    """The project's lock, held as another run would hold it."""
    lock = output.lock_path(root)
    fd = output._open_lock(lock, root)
    assert output._try_lock(fd)
    try:
        yield lock
    finally:
        output._release(fd, lock)


def test_a_second_run_waits_then_gives_up_naming_the_lock(
        old_project: tuple[Path, Path, dict[str, bytes | str]], monkeypatch: pytest.MonkeyPatch) -> None:
    root, changed, before = old_project
    monkeypatch.setattr(output, "LOCK_TIMEOUT", 0.5)
    with _held(root) as lock:
        started = time.monotonic()
        result = _new(changed, root)
        waited = time.monotonic() - started
    waiting, error = result.stderr.splitlines()
    assert waiting == f"waiting for another wfpgen run writing {root} (it holds {lock})"
    assert result.exit_code == 1 and error.startswith("error: ") and "Traceback" not in result.output
    assert f"another wfpgen run is still writing this project after 0.5 s (it holds {lock}); nothing was written" in error
    assert 0.5 <= waited < 30 and _snapshot(root) == before
    assert not lock.exists()


def test_a_second_run_proceeds_once_the_first_is_done(
        old_project: tuple[Path, Path, dict[str, bytes | str]]) -> None:
    root, changed, _ = old_project
    _, files = generate(changed)
    heard: list[str] = []
    done: list[list[output.PlannedFile]] = []
    with _held(root):
        thread = threading.Thread(target=lambda: done.append(write(root, files, on_wait=heard.append)))
        thread.start()
        time.sleep(0.5)
        assert not done and len(heard) == 1
    thread.join(timeout=60)
    assert done and {p.path: root.joinpath(p.path).read_bytes() for p in done[0]} == files
    assert len(heard) == 1 and not output.lock_path(root).exists()


@pytest.mark.parametrize("kind", ["link-to-file", "dangling-link", "directory", "fifo"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused(
        old_project: tuple[Path, Path, dict[str, bytes | str]], tmp_path: Path, kind: str) -> None:
    root, changed, before = old_project
    lock = output.lock_path(root)
    victim = tmp_path / "victim"
    if kind == "link-to-file":
        victim.write_bytes(b"mine")
        lock.symlink_to(victim)
    elif kind == "dangling-link":
        lock.symlink_to(victim)
    elif kind == "directory":
        lock.mkdir()
    elif hasattr(os, "mkfifo"):
        os.mkfifo(lock)
    else:
        pytest.skip("no FIFOs here")
    expected = {"link-to-file": "a symbolic link", "dangling-link": "a symbolic link", "directory": "a directory",
                "fifo": "a FIFO"}[kind]
    _assert_clean_error(_new(changed, root), f"the lock file of {root} is {expected}", str(lock))
    assert _snapshot(root) == before
    assert (victim.read_bytes() == b"mine") if kind == "link-to-file" else not victim.exists()


def test_a_stale_lock_file_is_no_obstacle(old_project: tuple[Path, Path, dict[str, bytes | str]]) -> None:
    """A run killed mid-way leaves its lock file, but not its lock: the next run takes it and removes it."""
    root, changed, _ = old_project
    lock = output.lock_path(root)
    lock.write_bytes(b"")
    result = _new(changed, root)
    assert result.exit_code == 0, result.stderr
    assert not lock.exists()


def test_a_lock_removed_while_waited_on_is_taken_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A waiting run whose lock file was removed by the finishing run locks the file that is there now."""
    root = tmp_path / "project"
    _, files = generate(MONITOR)
    real = output._open_lock
    opened: list[int] = []

    def counting(lock: Path, project: Path) -> int:
        fd = real(lock, project)
        if threading.current_thread() is not threading.main_thread():
            opened.append(fd)
        return fd

    monkeypatch.setattr(output, "_open_lock", counting)
    waiting = threading.Event()
    order: list[str] = []
    with _held(root):
        thread = threading.Thread(target=lambda: order.append(str(len(write(root, files, on_wait=lambda _: waiting.set())))))
        thread.start()
        assert waiting.wait(timeout=60)
    with _held(root):  # before or after the waiting run, never with it
        order.append("held")
    thread.join(timeout=60)
    assert sorted(order) == sorted([str(len(files)), "held"]) and len(opened) >= 2
    assert not output.lock_path(root).exists()


@pytest.mark.parametrize("failure", [errno.EACCES, errno.ENOSPC])
def test_a_lock_file_that_cannot_be_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: int) -> None:
    """A new project whose lock cannot be created: a short error, and the directories made for it are gone."""
    real = os.open

    def refusing(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if str(path).endswith(".wfpgen-lock"):
            raise OSError(failure, os.strerror(failure))
        return real(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    _assert_clean_error(_new(MONITOR, tmp_path / "deep" / "out"), "cannot write the project",
                        "cannot create its lock file", os.strerror(failure), "nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_while_waiting_for_the_lock(old_project: tuple[Path, Path, dict[str, bytes | str]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root, changed, before = old_project

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(output.time, "sleep", interrupted)
    with _held(root) as lock:
        result = _new(changed, root)
    assert result.exit_code == 1 and "interrupted; nothing was written" in result.stderr
    assert _snapshot(root) == before and not lock.exists()
