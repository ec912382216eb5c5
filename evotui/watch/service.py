"""One ``RunService`` per open run: the read side's engine, and its threading model.

Threading model (the one rule of the app; see DESIGN.md "Round 2")::

    files --(service thread: poll, read, decode, per-step columns, dynamics)--> RunView (frozen)
          --(RunUpdated message, replaceable)--> UI thread: swap the reference, repaint

* The App owns the services (``EvotuiApp.open_run``): one per open run directory, whatever number of
  screens show it (the main screen, a comparison of two runs...). A screen subscribes for the views
  of its run and unsubscribes when it goes away; it never starts, stops or waits for a service.
* Each service has one thread (a plain daemon ``threading.Thread``, started by ``start()``, stopped
  by ``close()``). It alone touches its ``DirectoryTailer`` and its working ``RunHistory``. After
  every change it derives a new ``RunView``: a ``frozen_copy()`` of the history (lists copied, step
  columns shared: a column is never changed once added), the training dynamics over the whole run,
  the manifest, errors and warnings. Nothing in a view is mutated after it is posted, so the UI
  thread reads it with no lock while the thread goes on.
* A big first read (tens of MB) is shared with one worker process (``evotui.watch.bulk_read``): it
  reads and decodes the oldest files into columns while the thread reads the newest; the thread alone
  builds the history, in file order. The worker lives only for that read. From 100,000 cells
  (examples x snapshots), the first read is posted before its dynamics: a second view brings them,
  computed once a screen has drawn the data (``first_data_drawn``; ``FIRST_DATA_WAIT`` at most).
* The view reaches the UI as ``RunUpdated``; a burst of them collapses into the newest one
  (``Message.can_replace``), so a slow screen is never handed a queue of stale work. The UI thread
  only swaps references and redraws what is on screen (rows, never all of the history); it never
  decodes, never recomputes over the whole history, and never waits on a thread. ``service.view``
  is the latest view for whoever needs it outside the message flow.
* Failures are never silent: an exception in the thread is written with its traceback to the log
  file (``evotui.watch.failure_log``), and the next view carries a ``ServiceFailure`` that the
  header shows with its reason; the thread goes on at the next poll (after a failed poll it reads
  the directory again from scratch, since a poll cut short leaves the tailer's memory behind the
  history). The failure clears when a poll succeeds.
* Garbage collection is left on. The snapshot Structs are declared ``gc=False`` (tracker/schema.py:
  they hold no reference cycles), so decoding thousands of rows no longer feeds the cyclic collector,
  and a step's outputs are a tuple (untracked once seen to hold only strings); no thread switches the
  collector off for the whole process. The App raises the collector's young-generation threshold once,
  on the UI thread, while it runs (``evotui.watch.app.GC_THRESHOLDS``: full collections stop every
  thread), and restores it when it ends; once the first run is on screen it freezes the objects alive
  then (Textual's widgets and styles, the modules: ``gc.freeze``, once, on the UI thread, undone when it
  ends), so full collections no longer walk them. Before all this, `evotui watch`'s entry point pauses
  the collector while the app is imported, on the main thread before any thread exists, and freezes
  what the imports made (``evotui.cli.entry``).

``tailer_factory`` is the documented injection point for the tailing itself (tests pass a tailer whose
``poll`` fails for real to check the failure path).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from textual.message import Message

from evotui.analysis.history import RunHistory, SnapshotColumns
from evotui.watch.failure_log import record_failure
from evotui.watch.run_state import RunFacts, ServiceFailure, written_time
from evotui.watch.tail import DIR_OK, DirectoryTailer, LoadProgress, PollResult, summary_problem
from tracker.schema import RunManifest, Snapshot
from tracker.store import ReadError, SnapshotFile, read_snapshot

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from evotui.analysis.dynamics import Checkpoint, DynamicsBuilder, RunDynamics
    from evotui.analysis.history import StepColumn

TailerFactory = Callable[[Path], DirectoryTailer]
PROGRESS_EVERY = 0.25  # seconds between "loading n/m files" views during a bulk load
PROGRESS_AFTER = 0.5  # none before: a short load goes straight to the data (no repaint in between)
RUNS_CHECK_EVERY = 4  # polls between looks for runs in subdirectories while DIR holds no snapshot
# A copy of the dynamics state every this many snapshots (~1 MB per 10,000 examples each): step travel
# replays at most this many snapshots from the nearest one.
CHECKPOINT_EVERY = 16
# A first read of at least this many cells (examples x snapshots) is shown before its dynamics are computed.
DYNAMICS_LATER_CELLS = 100_000
# ...and the dynamics wait until a screen that shows the run has drawn those data, at most this long: computed
# meanwhile, they took the interpreter from the UI thread's drawing (the first data on screen came ~40 ms
# later on 200 x 1,000, a 0.45 s cold start; bench/coldstart.py).
FIRST_DATA_WAIT = 0.5


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, eq=False)
class RunView(RunFacts):
    """One run as of one moment, ready to draw. Never mutated after it is posted.

    The header's derivations (status, progress, ETA) come from ``RunFacts``. Views compare by identity
    (``version`` orders the views of one run).
    """

    path: Path
    version: int  # grows with every change (history, manifest, errors, directory state, failure)
    history: RunHistory  # a frozen copy: safe to read on the UI thread while the service works
    dynamics: RunDynamics | None
    manifest: RunManifest | None
    manifest_error: ReadError | None = None  # run.json unreadable (the last good manifest stays)
    errors: Mapping[Path, ReadError] = field(default_factory=_empty)  # every file failing right now
    warnings: Mapping[Path, str] = field(default_factory=_empty)  # read, but the stored summary disagrees with the rows
    dir_state: str = ""  # DIR_OK, DIR_MISSING, ... (evotui.watch.tail)
    dir_message: str = ""
    written_at: Mapping[int, float] = field(default_factory=_empty)  # step -> wall time it was written
    load: LoadProgress = field(default_factory=LoadProgress)  # the bulk first read (a copy, never updated)
    failure: ServiceFailure | None = None  # the last exception of the service, until a poll succeeds
    holds_runs: bool = False  # no snapshot here, but runs in subdirectories: a directory of runs
    polled: bool = False  # the directory was looked at once at least (False: a progress view of the first read)
    # Dynamics checkpoints for ``history`` (``compute_dynamics(history, step, checkpoints)``: step travel).
    checkpoints: tuple[Checkpoint, ...] = ()
    # For the benches: files read for this view, their read+decode seconds, the thread's seconds from
    # the end of the poll to the view (copy, dynamics, insights, search text: wall time, so waits for
    # the interpreter lock held by the UI thread count), and the thread's CPU seconds for the whole poll.
    files_read: int = 0
    read_seconds: float = 0.0
    derive_seconds: float = 0.0
    thread_seconds: float = 0.0
    insights: tuple[Any, ...] = ()  # filled by evotui.analysis.insights (issue 14), computed in the thread

    @classmethod
    def empty(cls, path: Path) -> RunView:
        return cls(path=path, version=0, history=RunHistory(), dynamics=None, manifest=None)

    @property
    def loaded(self) -> bool:
        """At least one snapshot is held."""
        return self.history.n_steps > 0


class RunUpdated(Message):
    """A new view of one run, posted by its service to each subscriber.

    A newer view of the same run replaces one still waiting in the queue: only the newest is drawn.
    """

    def __init__(self, view: RunView) -> None:
        super().__init__()
        self.view = view

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated) and message.view.path == self.view.path


class _Closed(Exception):
    """Raised inside the first read when the service was closed meanwhile."""


class RunService:
    """Tails one run directory in a thread and posts ready ``RunView``s (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        interval: float = 0.5,
        tailer_factory: TailerFactory = DirectoryTailer,
    ) -> None:
        self.path = Path(path)
        self.interval = interval
        self.view: RunView | None = None
        self._tailer_factory = tailer_factory
        self._subscribers: list[MessagePump] = []
        self._drawers: set[int] = set()  # id() of the subscribers that say when they have drawn the first data
        self._first_data_drawn = threading.Event()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # -- owned by the thread -----------------------------------------------------------------------
        self._tailer: DirectoryTailer | None = None
        self._history = RunHistory()
        self._manifest: RunManifest | None = None
        self._manifest_error: ReadError | None = None
        self._errors: dict[Path, ReadError] = {}
        self._warnings: dict[Path, str] = {}
        self._dir_state = ""
        self._dir_message = ""
        self._written_at: dict[int, float] = {}
        self._progress = LoadProgress()
        self._failure: ServiceFailure | None = None
        self._holds_runs = False
        self._polls = 0
        self._version = 0
        self._dynamics: RunDynamics | None = None
        self._derived_version = -1  # history version the dynamics were computed for
        self._builder: DynamicsBuilder | None = None  # the dynamics, kept up to date snapshot by snapshot
        self._built_columns: list[StepColumn] = []  # the columns fed to it, in order
        self._checkpoints: list[Checkpoint] = []  # copies of it every CHECKPOINT_EVERY snapshots
        self._insight_engine: Any = None  # evotui.analysis.insights.InsightEngine, made in the thread
        self._insights: tuple[Any, ...] = ()
        self._cpu_at_poll = 0.0  # the thread's CPU time when the current poll began

    # -- lifecycle (UI thread) ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"evotui-run {self.path.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread at its next check; does not wait for it (it may be decoding a big file)."""
        self._stop.set()
        self._first_data_drawn.set()
        with self._lock:
            self._subscribers.clear()
            self._drawers.clear()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (tests and tools; the UI never calls this)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def subscribe(self, target: MessagePump, tells_when_drawn: bool = False) -> None:
        """``target`` receives ``RunUpdated`` for every new view, starting with the current one. With
        ``tells_when_drawn``, it calls ``first_data_drawn`` once the run's first data are on screen, and a
        big first read's dynamics wait for that (``FIRST_DATA_WAIT`` at most)."""
        with self._lock:
            if target not in self._subscribers:
                self._subscribers.append(target)
            if tells_when_drawn:
                self._drawers.add(id(target))
            view = self.view
        if view is not None:
            target.post_message(RunUpdated(view))

    def unsubscribe(self, target: MessagePump) -> None:
        with self._lock:
            if target in self._subscribers:
                self._subscribers.remove(target)
            self._drawers.discard(id(target))
            if not self._drawers:
                self._first_data_drawn.set()  # nobody left to say it: never wait for it

    def first_data_drawn(self) -> None:
        """A screen (UI thread) has the run's first data on screen: the thread may go on with the dynamics."""
        self._first_data_drawn.set()

    # -- the thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._cycle()
            except _Closed:
                return
            except Exception as exc:  # never silent: logged, shown, and the next poll tries again
                self._fail(exc)
            self._stop.wait(self.interval)

    def _cycle(self) -> None:
        started = time.perf_counter()
        self._cpu_at_poll = time.thread_time()
        if self._tailer is None:
            self._tailer = self._tailer_factory(self.path)
            result = self._first_poll(self._tailer)
        else:
            result = self._tailer.poll()
            self._take(result)
        self._polls += 1
        changed = result.changed or self._failure is not None
        self._failure = None
        if self._check_for_runs(result):
            changed = True
        if changed or self.view is None or not self.view.polled:
            self._publish(result.read_seconds, len(result.loaded) + len(result.consumed), started)

    def _first_poll(self, tailer: DirectoryTailer) -> PollResult:
        """The first look: every file, added to the history as soon as it is decoded (never all held)."""
        newest: list[tuple[SnapshotFile, Snapshot | SnapshotColumns]] = []
        last_progress = time.perf_counter() + PROGRESS_AFTER - PROGRESS_EVERY

        def add(f: SnapshotFile, snapshot: Snapshot | SnapshotColumns) -> None:
            nonlocal last_progress
            if self._stop.is_set():
                raise _Closed  # closed during a long first read: stop reading now, not after every file
            # Texts once, from the newest snapshot, rather than rewritten for every file.
            self._history.add(snapshot, source=str(f.path), texts=False)
            if self._history.n_steps == 1:
                from evotui.analysis.table import id_ranks

                # The table's id order, ranked here while the files are read (a worker shares the reading):
                # on the UI thread it held up the first view's table (0.1-0.2 s at 10,000 ids).
                id_ranks(self._history)
            if not newest or snapshot.training_step >= newest[0][1].training_step:
                newest[:] = [(f, snapshot)]
            now = time.perf_counter()
            if now - last_progress >= PROGRESS_EVERY and not self._stop.is_set():
                last_progress = now
                self._publish_progress()

        # From scratch (also after a failed poll): nothing of an earlier read is kept.
        self._history = RunHistory()
        self._progress = LoadProgress()
        self._warnings.clear()
        self._written_at.clear()
        result = tailer.poll(consume=add, progress=self._progress, stopped=self._stop.is_set)
        if self._stop.is_set():
            raise _Closed
        if newest:
            f, newest_read = newest[0]
            # A big read hands over columns without texts (evotui.watch.bulk_read): the newest file again, whole.
            snapshot = newest_read if isinstance(newest_read, Snapshot) else read_snapshot(f.path)
            if isinstance(snapshot, Snapshot) and snapshot.training_step == newest_read.training_step:
                self._history.set_texts(snapshot)
                problem = summary_problem(snapshot)  # the newest file only: the check is O(rows)
                if problem:
                    result.warnings[f.path] = problem
        self._take(result)
        return result

    def _take(self, result: PollResult) -> None:
        """Fold one poll into the thread's state."""
        self._dir_state, self._dir_message = result.state, result.message
        if result.manifest_changed:
            manifest = result.manifest
            # A bad run.json loses nothing: the last good manifest stays, and the error is shown.
            if isinstance(manifest, ReadError):
                self._manifest_error = manifest
            else:
                self._manifest, self._manifest_error = manifest, None
        self._errors = dict(result.errors)
        history = self._history
        for f, snapshot in sorted(result.loaded, key=lambda item: item[0].step):
            self._warnings.pop(f.path, None)  # a rewritten file is judged again
            history.add(snapshot, source=str(f.path))
            moment = written_time(snapshot.timestamp, f.mtime_ns)
            if moment is not None:
                self._written_at[snapshot.training_step] = moment
        self._warnings.update(result.warnings)
        for step, mtime_ns in result.consumed:
            if step in history.columns:
                moment = written_time(history.columns[step].timestamp, mtime_ns)
                if moment is not None:
                    self._written_at[step] = moment
        for step in result.removed_steps:
            history.remove_step(step)
            self._written_at.pop(step, None)

    def _check_for_runs(self, result: PollResult) -> bool:
        """An empty DIR whose subdirectories hold runs is a directory of runs (the app shows the picker)."""
        if self._history.n_steps or result.state != DIR_OK or result.files_seen:
            return False
        if self._polls % RUNS_CHECK_EVERY != 1:
            return False
        from evotui.analysis.runs import find_runs

        holds = bool(find_runs(self.path))
        changed = holds != self._holds_runs
        self._holds_runs = holds
        return changed

    def _derive(self) -> RunHistory:
        """A frozen copy of the history, and the dynamics brought up to date with it.

        The common live case, snapshots appended after the latest one, costs O(examples) per new
        snapshot (``DynamicsBuilder.append``); anything else (a file rewritten or removed, a step
        arriving out of order) rebuilds the dynamics from the first snapshot, in this thread.
        """
        history = self._history.frozen_copy()
        if history.version == self._derived_version:
            return history
        from evotui.analysis.dynamics import DynamicsBuilder  # numpy work: in this thread only

        columns = [history.columns[step] for step in history.steps]
        built = self._built_columns
        appended_only = len(built) <= len(columns) and all(a is b for a, b in zip(built, columns, strict=False))
        if self._builder is None or not appended_only:
            self._builder, built, self._checkpoints = DynamicsBuilder(), [], []
        builder = self._builder
        for step, column in zip(history.steps[len(built) :], columns[len(built) :], strict=True):
            builder.append(step, column.exact, column.loss, history.example_ids)
            built.append(column)
            if len(built) % CHECKPOINT_EVERY == 0:
                self._checkpoints.append((len(built), builder.copy()))
        self._built_columns = built
        self._dynamics = builder.result(history.example_ids) if columns else None
        self._insights = self._compute_insights(history, self._dynamics)
        self._derived_version = history.version
        return history

    def _compute_insights(self, history: RunHistory, dynamics: RunDynamics | None) -> tuple[Any, ...]:
        """Insights of the run as of ``history`` (issue 14: ``evotui.analysis.insights``), in this thread,
        once per change of the data, incrementally: the engine keeps its per-snapshot work. A failure here
        is logged and leaves the view without insights; it never stops the run's updates."""
        if dynamics is None:
            return ()
        try:
            from evotui.analysis.insights import InsightEngine

            if self._insight_engine is None:
                self._insight_engine = InsightEngine()
            return self._insight_engine.update(history, dynamics, self._manifest)
        except Exception as exc:
            record_failure(f"insights for {self.path}", exc)
            self._insight_engine = None
            return ()

    def _make_view(self, history: RunHistory, **extra: Any) -> RunView:
        self._version += 1
        return RunView(
            path=self.path,
            version=self._version,
            history=history,
            dynamics=self._dynamics,
            manifest=self._manifest,
            manifest_error=self._manifest_error,
            errors=MappingProxyType(dict(self._errors)),
            warnings=MappingProxyType(dict(self._warnings)),
            dir_state=self._dir_state,
            dir_message=self._dir_message,
            written_at=MappingProxyType(dict(self._written_at)),
            load=LoadProgress(self._progress.done, self._progress.total, self._progress.by_worker),
            failure=self._failure,
            holds_runs=self._holds_runs,
            checkpoints=tuple(self._checkpoints),
            insights=self._insights,
            **extra,
        )

    def _publish(self, read_seconds: float, files_read: int, started: float) -> None:
        history = self._history
        if (
            self._dynamics is None
            and history.version != self._derived_version
            and history.n_examples * history.n_steps >= DYNAMICS_LATER_CELLS
        ):
            # A big first read: its data go on screen now, and the dynamics (and the table's status
            # column) a moment later in a second view, not after them (10,000 x 500: 0.5 s; 1,000 x 200: 0.1 s).
            self._post(
                self._make_view(history.frozen_copy(), polled=True, files_read=files_read, read_seconds=read_seconds)
            )
            files_read, read_seconds = 0, 0.0
            with self._lock:
                waits = bool(self._drawers)
            if waits:
                self._first_data_drawn.wait(FIRST_DATA_WAIT)
        derive_started = time.perf_counter()
        history = self._derive()
        if history.n_steps:
            from evotui.analysis.table import warm_search

            # A filter set while snapshots arrive then costs the UI thread a scan, not lower-casing every
            # example's texts. Before posting: the thread's work is done when the UI takes the view in,
            # instead of contending with it for the interpreter (~5 ms of Python at 10,000 examples).
            warm_search(history)
        thread_cpu = time.thread_time() - self._cpu_at_poll
        view = self._make_view(
            history,
            polled=True,
            files_read=files_read,
            read_seconds=read_seconds,
            derive_seconds=time.perf_counter() - derive_started,
            thread_seconds=thread_cpu,
        )
        self._post(view)

    def _publish_progress(self) -> None:
        """A view of the first read under way: the previous data (none yet) and the file count."""
        previous = self.view.history if self.view is not None else RunHistory()
        self._post(self._make_view(previous, polled=False))

    def _fail(self, exc: Exception) -> None:
        count = self._failure.count + 1 if self._failure is not None else 1
        path = record_failure(f"run service for {self.path}", exc)
        self._failure = ServiceFailure(f"{type(exc).__name__}: {exc}", time.time(), count, path)
        # A poll cut short leaves the tailer's memory ahead of the history: read again from scratch.
        self._tailer = None
        self._derived_version = -1
        self._builder = None
        try:
            previous = self.view
            history = previous.history if previous is not None else RunHistory()
            self._post(self._make_view(history, polled=previous.polled if previous is not None else False))
        except Exception as again:  # the failure view itself failed: the log has both
            record_failure(f"run service for {self.path} (showing a failure)", again)

    def _post(self, view: RunView) -> None:
        with self._lock:
            self.view = view
            targets = list(self._subscribers)
        for target in targets:
            target.post_message(RunUpdated(view))
