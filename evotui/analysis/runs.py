"""Runs on disk: which subdirectories of a directory hold a run, and a one-line description of each
(for the run picker and the CLI). No textual here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tracker.schema import RunManifest, Snapshot
from tracker.store import ARCHIVE_DIR, ReadError, has_run_files, list_snapshot_files, read_manifest, read_snapshot


@dataclass
class RunInfo:
    """One run found under a parent directory, for the run picker."""

    path: Path
    name: str
    snapshots: int
    latest_step: int | None
    accuracy: float | None
    status: str  # running | finished | failed | stopped | unknown (no run.json) | unreadable
    updated: datetime | None
    problem: str = ""


def find_runs(directory: str | os.PathLike[str]) -> list[Path]:
    """Subdirectories of ``directory`` (one level, no dot-dirs, no archive) that hold a run."""
    directory = Path(directory)
    runs: list[Path] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.name == ARCHIVE_DIR:
                    continue
                try:
                    if not entry.is_dir():
                        continue
                except OSError:
                    continue
                if has_run_files(entry.path):
                    runs.append(Path(entry.path))
    except OSError:
        return []
    return sorted(runs, key=lambda p: p.name)


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as written by the tracker (``...Z``), None when absent or unparseable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def describe_run(path: str | os.PathLike[str]) -> RunInfo:
    """Name, latest step, accuracy and status of a run; reads run.json and only the newest snapshot."""
    path = Path(path)
    manifest = read_manifest(path)
    try:
        files = list_snapshot_files(path)
    except OSError as exc:
        return RunInfo(path, path.name, 0, None, None, "unreadable", None, str(exc))
    status = "unknown"
    updated = None
    name = path.name
    problem = ""
    if isinstance(manifest, RunManifest):
        status = manifest.status
        updated = parse_time(manifest.updated_at)
    elif isinstance(manifest, ReadError):
        problem = str(manifest)
    latest_step = accuracy = None
    steps = sorted({f.step for f in files})
    for f in reversed(files):  # newest first; fall back to an older file if the newest is bad
        snapshot = read_snapshot(f.path)
        if isinstance(snapshot, Snapshot):
            latest_step = snapshot.training_step
            accuracy = snapshot.summary.accuracy if snapshot.summary else None
            updated = updated or parse_time(snapshot.timestamp)
            break
        problem = problem or str(snapshot)
    return RunInfo(path, name, len(steps), latest_step, accuracy, status, updated, problem)
