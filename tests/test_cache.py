"""The build cache (``wfpgen.cachedir``): where it is, the host runtime archive, analysis results.

* the directory: ``$WFPGEN_CACHE``, else ``$XDG_CACHE_HOME/wfpgen``, else ``~/.cache/wfpgen``;
* the runtime archive of a variant is compiled on a miss and reused on a hit; a changed runtime
  source, a changed flag or define, or another variant is a miss; an unwritable cache still builds;
* entries are replaced whole: concurrent writers leave one complete entry and no temporary file;
* a clean analysis is remembered, and a changed driver source is analysed again.

Skipped without gcc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from wfpgen import cachedir
from wfpgen.crossbuild import analyze
from wfpgen.hostsim import build
from wfpgen.output import write
from wfpgen.pipeline import generate

ROOT = Path(__file__).resolve().parent.parent

needs_gcc = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="gcc is not installed")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of this test's own."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(cachedir.ENV, str(directory))
    return directory


def test_the_cache_directory_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(cachedir.ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cachedir.root() == tmp_path / "home" / ".cache" / "wfpgen"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    assert cachedir.root() == tmp_path / "home" / ".cache" / "wfpgen"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cachedir.root() == tmp_path / "xdg" / "wfpgen"
    monkeypatch.setenv(cachedir.ENV, str(tmp_path / "own"))
    assert cachedir.root() == tmp_path / "own"


def test_digest_parts_cannot_run_into_each_other() -> None:
    assert cachedir.digest(["ab", "c"]) != cachedir.digest(["a", "bc"])
    assert cachedir.digest([b"x"]) == cachedir.digest(["x"])


def test_concurrent_stores_leave_one_whole_entry(cache: Path, tmp_path: Path) -> None:
    sources = []
    for i in range(8):
        source = tmp_path / f"source{i}"
        source.write_bytes(bytes([i]) * (1 << 20))
        sources.append(source)
    threads = [threading.Thread(target=cachedir.store, args=("kind", "entry", s)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entry = cache / "kind" / "entry"
    data = entry.read_bytes()
    assert len(data) == 1 << 20 and data == bytes([data[0]]) * (1 << 20)
    assert sorted(p.name for p in (cache / "kind").iterdir()) == ["entry"], "a temporary file was left"


def test_an_unwritable_cache_is_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cachedir.ENV, str(blocker))
    source = tmp_path / "source"
    source.write_text("data")
    assert cachedir.store("kind", "entry", source) is None
    assert cachedir.lookup("kind", "entry") is None


@pytest.fixture
def runtime_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The runtime's sources copied, and the build pointed at the copy (so a test may edit it)."""
    copy = tmp_path / "runtime"
    shutil.copytree(build.RUNTIME_DIR, copy)
    monkeypatch.setattr(build, "RUNTIME_DIR", copy)
    return copy


@needs_gcc
def test_runtime_archive_miss_hit_and_invalidation(cache: Path, runtime_copy: Path, tmp_path: Path) -> None:
    first, cached = build.runtime_archive("plain", ("NDEBUG",), scratch=tmp_path / "scratch")
    assert not cached and first.parent == cache / build.CACHE_KIND
    second, cached = build.runtime_archive("plain", ("NDEBUG",))
    assert cached and second == first
    assert build.runtime_archive("plain", ())[0] != first, "another define must be another archive"

    key = build.runtime_key("plain", ("NDEBUG",))
    core = runtime_copy / "core.c"
    core.write_text(core.read_text() + "\n/* a change */\n")
    assert build.runtime_key("plain", ("NDEBUG",)) != key
    changed, cached = build.runtime_archive("plain", ("NDEBUG",))
    assert not cached and changed != first
    assert build.runtime_key("asan", ("NDEBUG",)) != build.runtime_key("plain", ("NDEBUG",))
    assert not list((tmp_path / "scratch").glob("*/*.a")), "a stored archive is not left in the scratch"


@needs_gcc
def test_a_runtime_that_does_not_compile_is_reported_and_not_cached(cache: Path, runtime_copy: Path) -> None:
    (runtime_copy / "core.c").write_text("this is not C\n")
    with pytest.raises(build.BuildError, match="building the host runtime \\(plain\\) failed"):
        build.runtime_archive("plain")
    assert not (cache / build.CACHE_KIND).exists() or not list((cache / build.CACHE_KIND).iterdir())


@needs_gcc
def test_libraries_built_from_a_cached_runtime_work(cache: Path, tmp_path: Path) -> None:
    """The second library links the cached archive, and the runtime's own exports are all there."""
    model, files = generate(ROOT / "specs" / "monitor.yaml")
    write(tmp_path / "project", files, force=True)
    for name in ("one", "two"):
        library = build.build_shared(tmp_path / "project", tmp_path / f"{name}.so", "plain", model.build_defines)
        symbols = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
                                 check=True).stdout
        assert " HostWdk_Reset" in symbols and " KeAcquireInStackQueuedSpinLock" in symbols
    assert len(list((cache / build.CACHE_KIND).iterdir())) == 1


@needs_gcc
def test_a_clean_analysis_is_remembered_until_the_driver_changes(cache: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    model, files = generate(ROOT / "specs" / "monitor.yaml")
    project = tmp_path / "project"
    write(project, files, force=True)
    assert analyze.run_fanalyzer(project, model.build_defines) == ""
    sources = len(list((project / "driver").glob("*.c")))
    assert len(list((cache / analyze.CACHE_KIND).iterdir())) == sources

    real_run = subprocess.run
    ran: list[Any] = []

    def counting_run(command: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(analyze.subprocess, "run", counting_run)
    assert analyze.run_fanalyzer(project, model.build_defines) == ""
    assert ran == [], "an unchanged driver was analysed again"

    # A problem planted in one source is found, whatever was remembered, and is not remembered;
    # the other sources stay remembered.
    driver_c = project / "driver" / "driver.c"
    driver_c.write_text(driver_c.read_text() + "\nstatic int Planted(void) { int unused; return 0; }\n")
    problems = analyze.run_fanalyzer(project, model.build_defines)
    assert problems.startswith("== driver.c") and len(ran) == 1, problems
    assert analyze.run_fanalyzer(project, model.build_defines) == problems and len(ran) == 2
