"""Tailing a run directory by polling: no inotify, so network filesystems work. No textual here.

``DirectoryTailer.poll()`` lists the directory with ``os.scandir`` (through the store's
``list_snapshot_files``, which skips dot-files and temp files) and reads only files whose
(size, mtime) signature is new. A file that fails to decode is remembered with its reason and read
again only when its signature changes. A run's service (``evotui.watch.service``) calls ``poll`` in
its thread every ``interval`` seconds; this module knows nothing about threads or the UI.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evotui.analysis.history import SnapshotColumns
from tracker.schema import RunManifest, Snapshot
from tracker.store import (
    MANIFEST_NAME,
    ReadError,
    SnapshotFile,
    list_snapshot_files,
    read_manifest,
    read_snapshot,
)

Outcome = tuple[SnapshotFile, Snapshot | SnapshotColumns | ReadError, float]  # file, what it holds, read seconds

# States of the watched directory, shown in the header and the waiting screen.
DIR_OK = "ok"
DIR_MISSING = "missing"  # not there yet: legal, we wait for the tracker to create it
DIR_DISAPPEARED = "disappeared"  # was there, is gone now (moved, deleted, unmounted)
DIR_NOT_A_DIRECTORY = "not a directory"
DIR_UNREADABLE = "unreadable"


@dataclass
class PollResult:
    """What changed since the previous poll."""

    state: str
    message: str = ""
    loaded: list[tuple[SnapshotFile, Snapshot]] = field(default_factory=list)
    # With ``poll(consume=...)``: snapshots handed to the consumer, not kept: (step, file mtime_ns).
    consumed: list[tuple[int, int]] = field(default_factory=list)
    failed: list[ReadError] = field(default_factory=list)  # newly failed (new or changed files)
    removed_steps: list[int] = field(default_factory=list)  # steps whose every file is gone
    manifest: RunManifest | ReadError | None = None
    manifest_changed: bool = False
    state_changed: bool = False
    errors: dict[Path, ReadError] = field(default_factory=dict)  # every file failing right now
    errors_changed: bool = False
    files_seen: int = 0
    read_seconds: float = 0.0  # reading + decoding the files of this poll (for the bench)
    # Files read fine whose stored summary disagrees with their rows: file -> what disagrees.
    warnings: dict[Path, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(
            self.loaded
            or self.consumed
            or self.failed
            or self.removed_steps
            or self.manifest_changed
            or self.state_changed
            or self.errors_changed
        )


@dataclass
class LoadProgress:
    """Files read so far in a bulk load. Written by the loading thread, read by the UI (plain ints)."""

    done: int = 0
    total: int = 0
    by_worker: int = 0  # files of the read done by a worker process (evotui.watch.bulk_read)

    @property
    def active(self) -> bool:
        return self.total > 0 and self.done < self.total


class DirectoryTailer:
    """Remembers what it has read in one run directory; ``poll()`` returns only what is new."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._signatures: dict[Path, tuple[int, int]] = {}
        self._steps: dict[Path, int] = {}
        self._errors: dict[Path, ReadError] = {}
        self._manifest_signature: tuple[int, int] | None = None
        self._manifest: RunManifest | ReadError | None = None
        self._state = ""
        self._ever_seen = False

    @property
    def errors(self) -> dict[Path, ReadError]:
        return dict(self._errors)

    def _set_state(self, result: PollResult, state: str, message: str = "") -> PollResult:
        result.state = state
        result.message = message
        result.state_changed = state != self._state
        self._state = state
        return result

    def poll(
        self,
        consume: Callable[[SnapshotFile, Snapshot | SnapshotColumns], object] | None = None,
        progress: LoadProgress | None = None,
        stopped: Callable[[], bool] = lambda: False,
    ) -> PollResult:
        """What changed since the last poll. ``consume`` takes each new snapshot as soon as it is
        decoded instead of keeping it in ``loaded``: a cold start of 500 big files then never holds
        all the decoded files at once. A big read with ``consume`` is shared with a worker process
        (``evotui.watch.bulk_read``): ``consume`` then gets ``SnapshotColumns``, in the files' order.
        ``stopped()`` true cuts the read short (for a closing service, which then drops this tailer)."""
        result = PollResult(state=DIR_OK)
        try:
            files = list_snapshot_files(self.directory)
        except FileNotFoundError:
            state = DIR_DISAPPEARED if self._ever_seen else DIR_MISSING
            message = f"{self.directory} " + ("has disappeared" if self._ever_seen else "does not exist yet")
            return self._set_state(result, state, message)
        except NotADirectoryError:
            return self._set_state(result, DIR_NOT_A_DIRECTORY, f"{self.directory} is not a directory")
        except OSError as exc:
            return self._set_state(result, DIR_UNREADABLE, f"cannot list {self.directory}: {exc.strerror or exc}")
        self._ever_seen = True
        self._set_state(result, DIR_OK)
        result.files_seen = len(files)
        present = {f.path for f in files}
        todo = [f for f in files if self._signatures.get(f.path) != f.signature]
        if progress is not None:
            progress.done = 0
            progress.total = len(todo)
        for f in todo:
            self._signatures[f.path] = f.signature
            self._steps[f.path] = f.step
        for f, outcome, seconds in self._read(todo, consume is not None, stopped, progress):
            if progress is not None:
                progress.done += 1
            result.read_seconds += seconds
            if isinstance(outcome, ReadError):
                self._errors[f.path] = outcome
                result.failed.append(outcome)
                result.errors_changed = True
            else:
                if self._errors.pop(f.path, None) is not None:
                    result.errors_changed = True
                if consume is None:
                    assert isinstance(outcome, Snapshot)  # columns come only from a bulk read (consume)
                    result.loaded.append((f, outcome))
                    problem = summary_problem(outcome)
                    if problem:
                        result.warnings[f.path] = problem
                else:
                    consume(f, outcome)
                    result.consumed.append((f.step, f.mtime_ns))
        gone = [p for p in self._signatures if p not in present]
        if gone:
            held_steps = {self._steps[p] for p in present if p not in self._errors}
            for path in gone:
                step = self._steps.pop(path)
                self._signatures.pop(path)
                if self._errors.pop(path, None) is not None:
                    result.errors_changed = True
                if step not in held_steps and step not in result.removed_steps:
                    result.removed_steps.append(step)
                elif step in held_steps:
                    # The step's file in the other format holds it still: read that one again on the next
                    # poll, or the step would keep showing what the removed file held.
                    for other, other_step in self._steps.items():
                        if other_step == step:
                            self._signatures.pop(other, None)
        self._poll_manifest(result)
        result.errors = dict(self._errors)
        return result

    def _read(
        self, files: list[SnapshotFile], bulk: bool, stopped: Callable[[], bool], progress: LoadProgress | None
    ) -> Iterator[Outcome]:
        """Each file with what it holds (a Snapshot, columns or a ReadError) and its read seconds, in order.
        Stopped early, the poll is cut short: its caller (a closing service) drops this tailer."""
        if bulk:
            from evotui.watch.bulk_read import Tally, has_early_read, read_in_order, worth_a_worker  # when needed

            if has_early_read(self.directory) or worth_a_worker(files):
                tally = Tally()
                with contextlib.closing(read_in_order(files, stopped, tally)) as outcomes:
                    for outcome in outcomes:
                        if progress is not None:
                            progress.by_worker = tally.worker
                        yield outcome
                if progress is not None:
                    progress.by_worker = tally.worker
                return
        for f in files:
            if stopped():
                return
            started = time.perf_counter()
            outcome = read_snapshot(f.path)
            yield f, outcome, time.perf_counter() - started

    def _poll_manifest(self, result: PollResult) -> None:
        path = self.directory / MANIFEST_NAME
        try:
            st = os.stat(path)
            signature: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
        except OSError:
            signature = None
        if signature == self._manifest_signature:
            result.manifest = self._manifest
            return
        self._manifest_signature = signature
        self._manifest = read_manifest(self.directory) if signature is not None else None
        result.manifest = self._manifest
        result.manifest_changed = True


def summary_problem(snapshot: Snapshot) -> str:
    """What the snapshot's stored summary says that its rows do not ("" when they agree).

    The header's sparklines are drawn from stored summaries: a writer that gets them wrong must be
    visible. O(rows): the tail checks new files as they come, and a bulk load its newest file only.
    """
    if snapshot.summary is None:
        return ""
    from tracker.scoring import summary_disagreements

    return "; ".join(summary_disagreements(snapshot.summary, snapshot.examples))
