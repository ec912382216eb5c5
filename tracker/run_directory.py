"""The run directory from the writer's side: who holds it (a lock), and what happens to what it already holds.

* The lock (``.evotui.lock``, an ``flock`` held for the run's life) keeps two live runs from writing into one
  directory. The kernel drops it when its process dies, even after SIGKILL, so a crashed run never keeps
  others out (run.json of a crashed run says "running" forever: it cannot be the lock). The file names its
  holder while held and is removed when the run ends.
* The claim: a run that resumes from a checkpoint keeps the snapshots up to its step (those after it belong to
  a history that no longer exists and move to ``archive/``); a new run moves another run's files to
  ``archive/<run_id>/`` whole. Nothing is deleted, nothing is mixed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tracker.schema import RunManifest
from tracker.store import ARCHIVE_DIR, SnapshotStore, list_snapshot_files

try:
    import fcntl
except ImportError:  # not POSIX: runs are not kept apart by a lock
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("tracker")

# A dot-file: readers and archiving ignore it.
LOCK_NAME = ".evotui.lock"
_LOCK_ATTEMPTS = 8


@dataclass
class Claim:
    """What the run found in its directory."""

    resumed: bool = False
    previous: RunManifest | None = None  # the resumed run's run.json, when there is one
    captured_steps: list[int] = field(default_factory=list)  # steps already on disk (resuming)


class RunDirectory:
    """One run's directory: the lock while the run lives, and claiming (resume or archive) at its start."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store
        self.path = store.directory
        self._lock_fd: int | None = None

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def lock(self, holder: str) -> str | None:
        """Take the directory for this run: None, or why another live run holds it (and this one must not write).

        ``holder`` is written into the lock file, for a person who wonders who holds it.
        """
        if fcntl is None or self._lock_fd is not None:
            return None
        self.store.ensure()
        path = self.path / LOCK_NAME
        for _ in range(_LOCK_ATTEMPTS):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                current = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "unknown"
                os.close(fd)
                hint = "call close() on the earlier tracker" if f"pid {os.getpid()} " in current else "stop it"
                return (
                    f"{self.path} is being written by another live run ({current}); this run's snapshots"
                    f" are not written: give it another output_dir, or {hint}"
                )
            except OSError:  # a filesystem without locks: carry on unprotected
                os.close(fd)
                return None
            # The holder before us unlinks the file when it ends: if it did so between our open and our
            # flock, we hold a lock on a file nobody else will open. Take the one at the path instead.
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        else:  # pragma: no cover - another process creating and removing the file in a tight loop
            return None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode() + b"\n", 0)
        self._lock_fd = fd
        self._remove_stale_temp_files()
        return None

    def unlock(self) -> None:
        """Release the lock and remove the lock file, so that it never names a process that has ended."""
        if self._lock_fd is None:
            return
        fd, self._lock_fd = self._lock_fd, None
        # Removed while still held: a process that opened it meanwhile sees a different inode at the path
        # once it gets the lock, and retries (see lock()).
        with contextlib.suppress(OSError):
            (self.path / LOCK_NAME).unlink()
        os.close(fd)  # closing drops the flock

    def _remove_stale_temp_files(self) -> None:
        # With the lock held no other tracker writes here: a temp file is what a killed writer left.
        for path in self.path.glob(".*.tmp-*"):
            try:
                path.unlink()
                logger.info("removed %s, left by a writer that was killed mid-write", path.name)
            except OSError:
                pass

    def claim(self, step: int, resume: bool | None) -> Claim:
        """Resume the run in the directory, or move it to ``archive/``.

        ``resume`` None: resume when ``step > 1`` and the directory has snapshots before ``step``.
        """
        self.store.ensure()
        old = self.store.read_manifest()
        old_manifest = old if isinstance(old, RunManifest) else None
        files = list_snapshot_files(self.path)
        if not files and old_manifest is None:
            return Claim()
        if resume is None:
            resume = step > 1 and any(f.step < step for f in files)
        if not resume:
            archived = self.store.archive()
            logger.warning("%s held another run's snapshots: moved them to %s", self.path, archived)
            return Claim()
        later = [f for f in files if f.step > step]
        if later:
            # Snapshots written after the checkpoint we resume from belong to a branch of history that no
            # longer exists: moved aside, not deleted, not mixed with the new ones.
            old_id = old_manifest.run_id if old_manifest and old_manifest.run_id else "run"
            target = new_directory(self.path / ARCHIVE_DIR, f"{old_id}-after-{step}")
            for f in later:
                os.replace(f.path, target / f.path.name)
            logger.warning("resuming at step %d: moved %d later snapshot(s) to %s", step, len(later), target)
        logger.info("resuming run in %s at step %d", self.path, step)
        return Claim(resumed=True, previous=old_manifest, captured_steps=[f.step for f in files if f.step <= step])


def new_directory(parent: Path, name: str) -> Path:
    """Create ``parent/name`` (made path-safe), or ``name-2``, ``name-3``... when taken; never reuse one."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "run"
    target, n = parent / safe, 1
    while True:
        try:
            target.mkdir(parents=True)
            return target
        except FileExistsError:
            n += 1
            target = parent / f"{safe}-{n}"
