"""The read side's analysis layer: run history, training dynamics, table queries, loading, report and export.

numpy and the tracker's format modules only: never textual or rich (tests/test_imports.py checks it), so
notebooks and scripts can use it::

    from evotui.analysis import load_run, compute_dynamics
    history, manifest, unreadable = load_run("data/evolution_snapshots/mydata")
    dyn = compute_dynamics(history)
"""

from __future__ import annotations

from evotui.analysis.dynamics import RunDynamics, compute_dynamics
from evotui.analysis.history import RunHistory
from evotui.analysis.loader import RunDirectoryError, load_run

__all__ = ["RunDirectoryError", "RunDynamics", "RunHistory", "compute_dynamics", "load_run"]
