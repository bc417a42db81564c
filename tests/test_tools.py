"""Tools are found beside the interpreter before PATH: an unactivated venv or a pipx install works.

``venv/bin/wfpgen`` run without activating the venv has its own bin directory off PATH, and
clang-tidy, installed there as a dependency, must still be found.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from wfpgen import tools
from wfpgen.crossbuild import analyze


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX executables")
def test_a_tool_beside_the_interpreter_is_found_when_path_lacks_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    tool = executable(venv_bin / "wfpgen-test-tool")
    executable(tmp_path / "elsewhere" / "wfpgen-test-tool")
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert tools.find_tool("wfpgen-test-tool") == str(tool)
    # Beside the interpreter wins over PATH, too.
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert tools.find_tool("wfpgen-test-tool") == str(tool)
    # Not beside the interpreter: PATH; nowhere: None.
    tool.unlink()
    assert tools.find_tool("wfpgen-test-tool") == str(tmp_path / "elsewhere" / "wfpgen-test-tool")
    monkeypatch.setenv("PATH", os.devnull)
    assert tools.find_tool("wfpgen-test-tool") is None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX executables")
def test_clang_tidy_is_looked_up_beside_the_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = executable(tmp_path / "bin" / "clang-tidy")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert analyze.clang_tidy_binary() == str(tool)
    command = analyze.clang_tidy_command(tmp_path / "driver" / "a.c", tmp_path)
    assert command[0] == str(tool)


def test_the_install_command_targets_the_running_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/opt/my venv/bin/python")
    assert tools.pip_install("clang-tidy==23.1.4") == "'/opt/my venv/bin/python' -m pip install clang-tidy==23.1.4"
    assert analyze.clang_tidy_install().endswith(" -m pip install clang-tidy==23.1.4")
