"""README.md's test command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_block(heading: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, f"no bash block under '## {heading}'"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_line_for_line() -> None:
    commands = readme_block("Run the tests")
    assert commands[-1].startswith("python3 -m pytest")
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    positions = [ci_lines.index(command) for command in commands]  # ValueError names a missing line
    assert positions == sorted(positions), "CI runs the README's commands out of order"


def test_readme_run_command_uses_the_demo() -> None:
    assert readme_block("Run it")[-1].startswith("evotui demo")
