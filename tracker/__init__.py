"""evotui's write side: capture what a model predicts on fixed examples during training.

``import tracker`` is light (no torch, transformers, textual or rich): the format modules
(``tracker.schema``, ``tracker.store``, ``tracker.scoring``, ``tracker.schedule``) are used by the
viewer too. ``EvolutionTracker`` and ``EvolutionCallback`` are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.schedule import Schedule, make_schedule
from tracker.schema import SCHEMA_VERSION, ExampleResult, RunManifest, Snapshot, Summary
from tracker.store import ReadError, SnapshotStore, read_snapshot, write_snapshot

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "EvolutionCallback",
    "EvolutionTracker",
    "ExampleResult",
    "ReadError",
    "RunManifest",
    "Schedule",
    "Snapshot",
    "SnapshotStore",
    "Summary",
    "make_schedule",
    "read_snapshot",
    "write_snapshot",
]

if TYPE_CHECKING:
    from tracker.callback import EvolutionCallback
    from tracker.tracker import EvolutionTracker

_LAZY = {"EvolutionTracker": "tracker.tracker", "EvolutionCallback": "tracker.callback"}


def __getattr__(name: str) -> Any:
    # Lazy: the callback pulls in transformers (~4.5 s); the viewer never needs it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")
