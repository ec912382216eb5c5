"""Load a whole run directory at once (for `evotui report`, `evotui export` and notebooks).

The live app tails a directory instead; this is the one-shot read, on the same ``tracker.store``
functions, with the same rule: a file that cannot be read is skipped and reported, never fatal.
"""

from __future__ import annotations

import os
from pathlib import Path

from evotui.analysis.history import RunHistory
from tracker.schema import RunManifest
from tracker.store import ReadError, list_snapshot_files, read_manifest, read_snapshot


class RunDirectoryError(Exception):
    """The directory itself cannot be used (missing, not a directory, unreadable). The message says why."""


def load_run(directory: str | os.PathLike[str]) -> tuple[RunHistory, RunManifest | None, list[ReadError]]:
    """Every readable snapshot of ``directory`` in a ``RunHistory``, its run.json (None when absent),
    and the files that could not be read (a bad run.json among them).

    Files are read in step order; when one step has both a .json and a .msgpack file, the one read
    last (.msgpack) wins, as in the live app. Raises ``RunDirectoryError`` when the directory cannot
    be listed.
    """
    path = Path(directory)
    if not path.exists():
        raise RunDirectoryError(f"{path}: no such directory")
    if not path.is_dir():
        raise RunDirectoryError(f"{path}: not a directory")
    try:
        files = list_snapshot_files(path)
    except OSError as exc:
        raise RunDirectoryError(f"{path}: cannot list: {exc.strerror or exc}") from exc
    history = RunHistory()
    errors: list[ReadError] = []
    for file in files:
        result = read_snapshot(file.path)
        if isinstance(result, ReadError):
            errors.append(result)
        else:
            history.add(result, source=str(file.path))
    manifest = read_manifest(path)
    if isinstance(manifest, ReadError):
        errors.append(manifest)
        manifest = None
    return history, manifest, errors
