"""What the app knows about a watched run, and what it derives from it (status, progress, ETA).

``RunFacts`` holds the derivations; ``RunView`` (``evotui.watch.service``, frozen, one per change) and
``RunState`` (mutable, for building by hand) carry the fields they read. No textual here. "Now" is
always passed in (the app's injected clock), so the header's "last 12 s ago", the ETA and stale/live
are the same in every test run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evotui.analysis.history import RunHistory
from evotui.analysis.runs import parse_time
from evotui.watch.tail import DIR_OK, LoadProgress
from tracker.schema import TERMINAL_STATUSES, RunManifest
from tracker.store import ReadError

# Like W&B's terminal viewer: a run silent for 10 minutes is stale, and revived when it writes again.
STALE_AFTER_SECONDS = 600.0


def written_time(timestamp: str, mtime_ns: int | None) -> float | None:
    """When a snapshot was written: its timestamp field, else its file's mtime (None: neither)."""
    moment = parse_time(timestamp)
    if moment is not None:
        return moment.timestamp()
    return mtime_ns / 1e9 if mtime_ns is not None else None


class RunFacts:
    """Status, progress and ETA of a run, derived from the fields below (declared by the subclasses)."""

    path: Path
    history: RunHistory
    manifest: RunManifest | None
    errors: Mapping[Path, ReadError]
    manifest_error: ReadError | None
    warnings: Mapping[Path, str]
    dir_state: str
    written_at: Mapping[int, float]
    load: LoadProgress
    failure: ServiceFailure | None

    @property
    def name(self) -> str:
        if self.manifest is not None and self.manifest.run_name:
            return self.manifest.run_name
        return self.path.name or str(self.path)

    def last_snapshot_time(self) -> float | None:
        return max(self.written_at.values(), default=None)

    def heartbeat(self) -> float | None:
        if self.manifest is None:
            return None
        moment = parse_time(self.manifest.updated_at)
        return moment.timestamp() if moment else None

    def last_activity(self) -> float | None:
        times = [t for t in (self.heartbeat(), self.last_snapshot_time()) if t is not None]
        return max(times) if times else None

    def status(self, now: float) -> str:
        """waiting | loading | live | stale | finished | failed | stopped | gone (the directory disappeared)."""
        if self.dir_state and self.dir_state != DIR_OK and self.history.n_steps:
            return "gone"
        if self.history.n_steps == 0:
            return "loading" if self.load.active else "waiting"
        if self.manifest is not None and self.manifest.status in TERMINAL_STATUSES:
            return self.manifest.status
        activity = self.last_activity()
        if activity is not None and now - activity > STALE_AFTER_SECONDS:
            return "stale"
        return "live"

    def current_step(self) -> int | None:
        latest = self.history.latest_step
        if self.manifest is not None and (latest is None or self.manifest.current_step > latest):
            return self.manifest.current_step
        return latest

    def max_steps(self) -> int | None:
        return self.manifest.max_steps if self.manifest is not None else None

    def steps_per_second(self) -> float | None:
        """Training speed from the snapshots' write times (the last dozen, to follow changes)."""
        points = sorted((s, t) for s, t in self.written_at.items() if s in self.history.columns)[-12:]
        if len(points) < 2:
            return None
        (s0, t0), (s1, t1) = points[0], points[-1]
        if t1 <= t0 or s1 <= s0:
            return None
        return (s1 - s0) / (t1 - t0)

    def eta_seconds(self, now: float) -> float | None:
        current, total = self.current_step(), self.max_steps()
        rate = self.steps_per_second()
        if current is None or not total or rate is None or current >= total:
            return None
        remaining = (total - current) / rate
        last = self.last_activity()
        if last is not None:
            remaining -= max(now - last, 0.0)
        return max(remaining, 0.0)

    def summary_change(self) -> tuple[float, float] | None:
        """(accuracy now, change since the previous snapshot), from the stored summaries."""
        steps = self.history.steps
        if not steps:
            return None
        acc = self.history.columns[steps[-1]].summary.accuracy
        prev = self.history.columns[steps[-2]].summary.accuracy if len(steps) > 1 else acc
        return acc, acc - prev

    def newly_forgotten(self, step: int) -> int:
        """Examples right at the snapshot before ``step`` and wrong at ``step``."""
        steps = self.history.steps
        k = steps.index(step) if step in self.history.columns else -1
        if k <= 0:
            return 0
        now_exact = self.history.columns[step].exact
        before = self.history.columns[steps[k - 1]].exact
        n = min(now_exact.shape[0], before.shape[0])
        return int(np.count_nonzero((before[:n] == 1.0) & (now_exact[:n] == 0.0)))


@dataclass(frozen=True)
class ServiceFailure:
    """An exception in a run's service: shown in the header until a poll succeeds again."""

    reason: str  # "ExceptionType: message", from our own code or a library's (shown inertly)
    at: float  # wall time (time.time())
    count: int  # failures in a row
    log_path: Path | None  # where the traceback went (None: the log file could not be written)


@dataclass
class RunState(RunFacts):
    """A run's facts, built by hand (tests, tools); the app draws frozen ``RunView``s instead."""

    path: Path
    history: RunHistory = field(default_factory=RunHistory)
    dynamics: Any | None = None
    manifest: RunManifest | None = None
    manifest_error: ReadError | None = None
    errors: dict[Path, ReadError] = field(default_factory=dict)
    warnings: dict[Path, str] = field(default_factory=dict)  # read, but the summary disagrees with the rows
    dir_state: str = ""
    dir_message: str = ""
    # Wall time a step's snapshot was written: its timestamp field, else its file's mtime.
    written_at: dict[int, float] = field(default_factory=dict)
    load: LoadProgress = field(default_factory=LoadProgress)  # the first bulk read, for the header
    failure: ServiceFailure | None = None

    def note_written(self, step: int, timestamp: str, mtime_ns: int | None) -> None:
        moment = written_time(timestamp, mtime_ns)
        if moment is not None:
            self.written_at[step] = moment
