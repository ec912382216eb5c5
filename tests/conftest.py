"""Shared fixtures and the suite's three kinds of tests.

``python3 -m pytest -q`` runs everything. Every test gets one marker from this file (see
``pytest_collection_modifyitems``), so a part can be run on its own::

    python3 -m pytest -q -m unit    # pure functions, files in temp dirs: seconds
    python3 -m pytest -q -m app     # the real Textual app under Pilot, SVG snapshots
    python3 -m pytest -q -m slow    # end to end: real training, child processes, DDP
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Offline and quiet for every test that loads transformers (set before anything imports it).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Test modules that drive the real app under Pilot, besides those found by ``_drives_the_app``.
APP_TEST_FILES = {
    "test_watch_app.py",
    "test_watch_snapshots.py",
    "test_watch_service.py",
    "test_app_dynamics.py",
    "test_reliability_watch.py",
    "test_insights_app.py",
    "test_watch_compare.py",
}


def _drives_the_app(module: object) -> bool:
    """A test module that builds the real app (``make_app``) to drive it under Pilot."""
    return getattr(module, "make_app", None) is not None or getattr(module, "app_for", None) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is not None:
            continue
        module = getattr(item, "module", None)
        app = _drives_the_app(module) or Path(str(item.fspath)).name in APP_TEST_FILES
        item.add_marker(pytest.mark.app if app else pytest.mark.unit)


@pytest.fixture(autouse=True)
def evotui_log(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where failures of background work are logged during a test: a temp file, never the user's."""
    path = tmp_path_factory.mktemp("log") / "evotui.log"
    monkeypatch.setenv("EVOTUI_LOG", str(path))
    return path
