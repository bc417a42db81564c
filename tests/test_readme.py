"""The README's set-up is two commands, and CI runs the second one as written."""

from __future__ import annotations

import re

from conftest import ROOT


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up and use", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_the_readme_gives_two_set_up_commands() -> None:
    commands = setup_commands()
    assert len(commands) == 2, commands
    install, tests = commands
    assert "\n" not in install and "\n" not in tests
    assert " install . " in install and install.endswith("wfpgen new specs/monitor.yaml")
    assert "'.[test]'" in tests and tests.endswith("-m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[-1] == setup_commands()[1]
