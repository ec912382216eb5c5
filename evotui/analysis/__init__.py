"""The read side's analysis layer: run history, training dynamics, table queries, loading, report and export.

numpy and the tracker's format modules only: never textual or rich (tests/test_imports.py checks it), so
notebooks and scripts can use it::

    from evotui.analysis import load_run, compute_dynamics
    history, manifest, unreadable = load_run("data/evolution_snapshots/mydata")
    dyn = compute_dynamics(history)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evotui.analysis.dynamics import RunDynamics, compute_dynamics
    from evotui.analysis.history import RunHistory
    from evotui.analysis.loader import RunDirectoryError, load_run

__all__ = ["RunDirectoryError", "RunDynamics", "RunHistory", "compute_dynamics", "load_run"]

# Imported on first use (PEP 562): importing one submodule (the app's ``runs``) must not load them all.
_HOME = {
    "RunDynamics": "evotui.analysis.dynamics",
    "compute_dynamics": "evotui.analysis.dynamics",
    "RunHistory": "evotui.analysis.history",
    "RunDirectoryError": "evotui.analysis.loader",
    "load_run": "evotui.analysis.loader",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'evotui.analysis' has no attribute {name!r}")
