"""Writing a project is safe: all or nothing, never through a symbolic link, never outside the root.

A new project is built in a temporary directory and renamed into place; an update stages every
new or changed file beside its target and renames them in only when all are written. Whatever
goes wrong (a read-only directory, a full disk, Ctrl-C, a rename failing halfway) ends with a
short ``error:`` from the CLI and either the old project exactly as it was or the new one whole.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from wfpgen import output
from wfpgen.cli import app
from wfpgen.errors import OutputError, SpecError
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
