"""Import hygiene: the format side must load on a machine without torch (and without the TUI stack)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "accelerate", "textual", "rich")


@pytest.mark.parametrize(
    "module",
    [
        "tracker",
        "tracker.schema",
        "tracker.store",
        "tracker.scoring",
        "tracker.schedule",
        "tracker.toy",
        # The tracker's parts that need no model: a record()-only writer runs without torch.
        "tracker.tracker",
        "tracker.writer",
        "tracker.run_directory",
        "tracker.distributed",
        "tracker.run_end",
        "tracker.example_set",
    ],
)
def test_format_modules_import_nothing_heavy(module: str) -> None:
    code = f"import sys, json, {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [], f"importing {module} loaded {out.stdout}"


def test_viewer_never_imports_torch() -> None:
    code = (
        "import sys, json, evotui, evotui.cli, evotui.analysis.history;"
        "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_bulk_read_worker_imports_no_numpy_and_no_textual() -> None:
    """The cold start waits for the worker's first replies: its start is kept to an interpreter and msgspec."""
    code = (
        "import sys, json, evotui.watch.bulk_read;"
        "print(json.dumps([m for m in ('numpy', 'textual', 'rich') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
