"""Shared fixtures and the suite's three kinds of tests.

``python3 -m pytest -q`` runs everything. Every test gets one marker from this file (see
``pytest_collection_modifyitems``), so a part can be run on its own::

    python3 -m pytest -q -m unit    # pure functions, files in temp dirs: seconds
    python3 -m pytest -q -m app     # the real Textual app under Pilot, SVG snapshots
    python3 -m pytest -q -m slow    # end to end: real training, child processes, DDP

The README's command runs the suite on two workers (pytest-xdist, ``-n 2 --dist loadgroup``); each test
module is one group (see ``_worker_group``). ``-n 0`` runs it in one process.
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


# Fixtures shared by several modules and costly to build (a session fixture is built once per xdist worker):
# every test that uses one runs in the same worker group, so it is built once in the whole run.
SHARED_COSTLY_FIXTURES = ("toy_pair",)


def _worker_group(item: pytest.Item) -> str:
    """The xdist group (``-n 2 --dist loadgroup``): a test module stays on one worker (its module
    fixtures, e.g. a trained toy model, are built once), and the users of a shared costly fixture too."""
    for fixture in SHARED_COSTLY_FIXTURES:
        if fixture in getattr(item, "fixturenames", ()):
            return fixture
    return Path(str(item.fspath)).stem


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups from the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_worker_group(item)))
        if item.get_closest_marker("slow") is not None:
            continue
        module = getattr(item, "module", None)
        app = _drives_the_app(module) or Path(str(item.fspath)).name in APP_TEST_FILES
        item.add_marker(pytest.mark.app if app else pytest.mark.unit)
    # Groups holding slow tests first (stable within a group): two workers then finish close together
    # instead of one running a training module alone at the end.
    slow_groups = {_worker_group(item) for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: _worker_group(item) not in slow_groups)


@pytest.fixture(autouse=True)
def evotui_log(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where failures of background work are logged during a test: a temp file, never the user's."""
    path = tmp_path_factory.mktemp("log") / "evotui.log"
    monkeypatch.setenv("EVOTUI_LOG", str(path))
    return path
