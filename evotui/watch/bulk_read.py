"""A big first read on two cores: a worker process and the run service's thread share the files.

Why: a cold start of 500 files of 10,000 rows is Python work all the way (decoding ~7 ms a file, its
columns ~3 ms more), and one thread holds the GIL for all of it. So when the first read is big
(``WORKER_MIN_BYTES``), one worker process reads chunks of files from the oldest up while the service
thread reads chunks from the newest down, until they meet. The worker sends each file back as
``RawColumns`` (plain arrays, the outputs joined in one string, texts only where the examples changed;
the thread makes the ``SnapshotColumns``) or as the ``ReadError`` that ``read_snapshot`` gives, so errors
are the same as in a read in the thread. Results are handed on in the files' order (the thread's own chunks
last), so the history is built exactly as by a sequential read.

If the worker cannot be started or dies, the thread reads what is left itself: slower, never wrong.
The worker is a fresh interpreter (``worker_main`` run by ``python -c``, never a fork: the app runs
threads) speaking length-prefixed pickles on its stdin/stdout; it ignores SIGINT, writes nothing on the
terminal, and ends when its input closes: as soon as the read ends, the service closes or the app exits.
``evotui watch DIR`` may start it before importing the app (``start_early_read``), when a core looks free.

No textual here: the worker imports this module, ``evotui.analysis.history`` and ``tracker.store``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from tracker.schema import Snapshot, Summary
from tracker.store import ReadError, SnapshotFile, list_snapshot_files, read_snapshot

if TYPE_CHECKING:  # imported where used: ``start_early_read`` runs before numpy is imported
    from evotui.analysis.history import SnapshotColumns

    Outcome = tuple[SnapshotFile, SnapshotColumns | ReadError, float]  # the file, what it holds, read seconds

# Below this many bytes to read, no worker: starting one costs ~0.15 s of a core (an interpreter and
# msgspec), and handing its results over costs the thread too.
WORKER_MIN_BYTES = 48 * 2**20
PIPE_BYTES = 2**20  # the replies' pipe (see ``_widen_pipe``)
CHUNK_FILES = 4  # files per task: small enough to share the work evenly, big enough to pickle few times
# Chunks given to the worker ahead of time. The thread tops it up only between two chunks of its own: with
# fewer, the worker sat idle half the time (measured: 2 ahead, 8 files a chunk: the thread read 4/5 of a run).
WORKER_AHEAD = 3


Built = TypeVar("Built")


def _read_each(
    paths: list[str], build: Callable[[Snapshot, Built | None], Built], previous: Built | None = None
) -> list[tuple[Built | ReadError, float]]:
    """Read and check each file as ``read_snapshot`` does and ``build`` what is sent on from it and the
    file read before it; with the seconds each took (reading, decoding and building)."""
    out: list[tuple[Built | ReadError, float]] = []
    for path in paths:
        started = time.perf_counter()
        snapshot = read_snapshot(path)
        if isinstance(snapshot, ReadError):
            out.append((snapshot, time.perf_counter() - started))
            continue
        built = build(snapshot, previous)
        del snapshot  # freed here, in the timed part: it is part of the cost of reading
        out.append((built, time.perf_counter() - started))
        previous = built
    return out


def read_columns(paths: list[str]) -> list[tuple[SnapshotColumns | ReadError, float]]:
    """The files as columns (in the thread, for its own chunks; the worker sends ``RawColumns``). Texts come
    only when a file's ids differ from the previous file's in ``paths``: a new example always comes with
    its texts; the others are set from the newest file."""
    from evotui.analysis.history import SnapshotColumns

    def build(snapshot: Snapshot, previous: SnapshotColumns | None) -> SnapshotColumns:
        cols = SnapshotColumns.of(snapshot, with_texts=False, previous=previous)
        if previous is None or cols.ids is not previous.ids:
            cols.texts = SnapshotColumns.texts_of(snapshot)
        return cols

    return _read_each(paths, build)


# -- what the worker sends: RawColumns, no numpy -------------------------------------------------------------------
# The worker never imports numpy: its start (an interpreter, msgspec) is on the critical path of a cold start
# (the app waits for its first replies), and numpy was ~40% of it. Its columns are ``array.array``s that the
# thread turns into numpy arrays with one copy each.
# A step's outputs cross the pipe as one string, joined by this character (pickling 10,000 short strings
# one by one took 1.1 ms, and 0.7 ms to unpickle; joined and split again: 0.3 + 0.5 ms). A file whose
# outputs hold the character itself (hostile text) sends its list as it is.
OUTPUTS_SEPARATOR = "\x1f"
NAN = float("nan")


@dataclass
class RawColumns:
    """One snapshot's columns as the worker sends them (``to_columns`` makes the ``SnapshotColumns``)."""

    step: int
    timestamp: str
    summary: Summary
    ids: list[str]
    outputs: list[str] | str  # a str: the outputs joined by OUTPUTS_SEPARATOR
    loss: array  # 'd'; None as NaN (non-finite values are made NaN by ``to_columns``)
    similarity: array  # 'd'
    exact: array  # 'B': 1 right, 0 wrong
    hit_limit: array | None  # 'B'; None when no row has metadata
    texts: tuple[list[str], list[str], list[dict[str, Any]]] | None
    epoch: float | None
    train_loss: float | None
    learning_rate: float | None
    eval_seconds: float | None

    @classmethod
    def of(cls, snapshot: Snapshot, previous: RawColumns | None) -> RawColumns:
        """Like ``SnapshotColumns.of``; texts only when the ids differ from ``previous``'s (the file before)."""
        rows = snapshot.examples
        ids = [r.example_id for r in rows]
        same_ids = previous is not None and ids == previous.ids
        if same_ids and previous is not None:
            ids = previous.ids
        outputs: list[str] | str = [r.model_output for r in rows]
        if outputs:
            joined = OUTPUTS_SEPARATOR.join(outputs)
            if joined.count(OUTPUTS_SEPARATOR) == len(outputs) - 1:
                outputs = joined
        metas = [r.metadata for r in rows]
        hit_limit = array("B", [m.get("finish") == "length" for m in metas]) if any(metas) else None
        return cls(
            step=snapshot.training_step,
            timestamp=snapshot.timestamp,
            summary=snapshot.summary or Summary(),
            ids=ids,
            outputs=outputs,
            loss=array("d", [NAN if r.loss is None else r.loss for r in rows]),
            similarity=array("d", [r.similarity for r in rows]),
            exact=array("B", [r.exact_match for r in rows]),
            hit_limit=hit_limit,
            texts=None if same_ids else _texts_of(snapshot),
            epoch=snapshot.epoch,
            train_loss=snapshot.train_loss,
            learning_rate=snapshot.learning_rate,
            eval_seconds=snapshot.eval_seconds,
        )

    def to_columns(self) -> SnapshotColumns:
        """The ``SnapshotColumns`` that ``SnapshotColumns.of`` makes of the same file (in the thread)."""
        import numpy as np

        from evotui.analysis.history import SnapshotColumns, finite_or_nan

        outputs = self.outputs.split(OUTPUTS_SEPARATOR) if isinstance(self.outputs, str) else self.outputs
        hit_limit = None
        if self.hit_limit is not None:
            hit_limit = np.array(self.hit_limit, dtype=np.uint8).astype(bool)
        return SnapshotColumns(
            step=self.step,
            timestamp=self.timestamp,
            summary=self.summary,
            ids=self.ids,
            outputs=outputs,
            loss=finite_or_nan(np.array(self.loss, dtype=np.float64)),
            similarity=finite_or_nan(np.array(self.similarity, dtype=np.float64)),
            exact=np.array(self.exact, dtype=np.uint8).astype(np.float64),
            hit_limit=hit_limit,
            texts=self.texts,
            epoch=self.epoch,
            train_loss=self.train_loss,
            learning_rate=self.learning_rate,
            eval_seconds=self.eval_seconds,
        )


def _texts_of(snapshot: Snapshot) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    # ``SnapshotColumns.texts_of``, here because evotui.analysis.history imports numpy.
    rows = snapshot.examples
    return [r.input for r in rows], [r.expected_output for r in rows], [r.metadata for r in rows]


def read_raw(paths: list[str], previous: RawColumns | None = None) -> list[tuple[RawColumns | ReadError, float]]:
    """``read_columns`` for the worker: ``RawColumns``, read on from ``previous`` (the file before ``paths[0]``)."""
    return _read_each(paths, RawColumns.of, previous)


def workers_allowed() -> bool:
    """``EVOTUI_WORKER=0`` reads in the service's thread only (to compare, or on a machine whose cores are busy)."""
    return os.environ.get("EVOTUI_WORKER", "1") != "0" and (os.cpu_count() or 1) > 1


def worth_a_worker(files: list[SnapshotFile]) -> bool:
    return sum(f.size for f in files) >= WORKER_MIN_BYTES and workers_allowed()


# -- the worker process: `worker_main` in a fresh interpreter, frames of pickles on stdin and stdout -------------
# A plain subprocess rather than multiprocessing: multiprocessing's locks need its resource tracker, which
# cannot start under Textual (sys.stderr has no file descriptor there), and spawn re-imports __main__.
def _write_frame(stream: BinaryIO, payload: object) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    while n:
        part = stream.read(n)
        if not part:
            raise EOFError("the worker's pipe closed")
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _read_frame(stream: BinaryIO) -> Any:
    (size,) = struct.unpack("<Q", _read_exactly(stream, 8))
    return pickle.loads(_read_exactly(stream, size))  # our own worker's output (plain lists, arrays, strings)


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """The worker's loop: a request (paths, and whether they follow the previous request's in the run's
    order) in, ``read_columns`` of them out, until its input closes. A request that follows the previous
    one reads on from its last file's columns: a file with the same examples as the one before it then
    sends no texts (the thread would not use them), where each chunk used to send them again.

    Replies are written by a second thread: the worker goes on reading while the app is not taking
    them yet (an early read, started while the app is still importing, see ``start_early_read``)."""
    out: queue.SimpleQueue[object] = queue.SimpleQueue()

    def write() -> None:
        while (payload := out.get()) is not None:
            _write_frame(replies, payload)

    writer = threading.Thread(target=write, name="replies", daemon=True)
    writer.start()
    previous: RawColumns | None = None
    while True:
        try:
            paths, follows = _read_frame(requests)
        except EOFError:
            break
        outcomes = read_raw(paths, previous if follows else None)
        read = [outcome for outcome, _ in outcomes if not isinstance(outcome, ReadError)]
        if read:
            previous = read[-1]
        elif not follows:
            previous = None
        out.put(outcomes)
    out.put(None)
    writer.join()


def _widen_pipe(fd: int) -> None:
    """A bigger pipe (Linux): a chunk's reply fits whole, so the worker writes it in one go and the thread
    reads it in one go, instead of ~64 KB at a time, each one a wait for the other side's interpreter lock."""
    import fcntl

    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    for size in (PIPE_BYTES, PIPE_BYTES // 4):
        try:
            fcntl.fcntl(fd, set_size, size)
            return
        except OSError:  # above /proc/sys/fs/pipe-max-size, or the user's pipe memory is used up
            continue


_reapers: list[threading.Thread] = []  # threads ending closed workers (``join_reapers``)


def join_reapers() -> None:
    """Wait until every closed worker has exited and been reaped (tests and tools; the app never waits)."""
    while _reapers:
        _reapers.pop().join()


class _Worker:
    """One worker process, fed chunks of files (``WORKER_AHEAD`` at a time: it never sits idle)."""

    def __init__(self) -> None:
        import evotui

        env = dict(os.environ)
        # The worker runs the same code as this process (a work tree, an editable install...).
        home = str(Path(evotui.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([home, *filter(None, [env.get("PYTHONPATH")])])
        env.setdefault("OMP_NUM_THREADS", "1")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from evotui.watch.bulk_read import worker_main; worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # never on the app's terminal
            bufsize=0,  # unbuffered: select() on the pipe then says truly whether a reply is there
            env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests: BinaryIO = self.process.stdin
        self.replies: BinaryIO = self.process.stdout
        _widen_pipe(self.replies.fileno())
        self._last_sent: SnapshotFile | None = None

    def send(self, chunk: list[SnapshotFile]) -> None:
        """Ask for ``chunk``. Chunks must be sent in the run's order, each right after the one before it
        (``read_in_order`` does): the worker reads on from the previous chunk's last file."""
        follows = self._last_sent is not None and self._last_sent.step < chunk[0].step
        _write_frame(self.requests, ([str(f.path) for f in chunk], follows))
        self._last_sent = chunk[-1]

    def ready(self) -> bool:
        return bool(select.select([self.replies], [], [], 0)[0])

    def receive(self) -> list[tuple[SnapshotColumns | ReadError, float]]:
        reply: list[tuple[RawColumns | ReadError, float]] = _read_frame(self.replies)
        return [(o if isinstance(o, ReadError) else o.to_columns(), seconds) for o, seconds in reply]

    def close(self) -> None:
        """Ends the worker (its input closes: it stops after the chunk in hand; killed if it lingers).

        Returns at once: the caller (the run service's first read) does not wait for the process to exit
        (~50 ms of an interpreter's teardown); a daemon thread reaps it."""
        with contextlib.suppress(OSError):
            self.requests.close()
        with contextlib.suppress(OSError):
            self.replies.close()
        reaper = threading.Thread(target=self._reap, name="evotui-worker-reap", daemon=True)
        _reapers[:] = [t for t in _reapers if t.is_alive()]
        _reapers.append(reaper)
        reaper.start()

    def _reap(self) -> None:
        """Wait for the process to exit (its input closed), killing it if it lingers."""
        try:
            self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Tally:
    """Who read how many files of a bulk read (for the bench's breakdown and the tests)."""

    worker: int = 0
    thread: int = 0
    worker_pid: int | None = None


# -- an early start: `evotui watch DIR` starts the worker before it imports the app -----------------------------
# Importing textual, numpy and the app takes ~0.4 s of one core; the worker, started first, reads the oldest
# files on the other core meanwhile. The run service takes it over at its first poll (``read_in_order``).
EARLY_MIN_BYTES = 2 * 2**20  # a smaller run reads faster than a worker starts
EARLY_BYTES = 64 * 2**20  # given to the worker up front (~0.5 s of reading); the rest is shared as usual
_early: dict[Path, tuple[_Worker, list[list[SnapshotFile]]]] = {}


def start_early_read(directory: str | os.PathLike[str]) -> bool:
    """Start a worker on the oldest files of ``directory`` now, for the run service's first poll to take over.
    False when not worth it (few bytes, one core, no snapshot file, no worker). Once per directory: a
    second call (the entry point guessed early, then the command) keeps the worker already started."""
    if has_early_read(Path(directory)):
        return True
    try:
        files = list_snapshot_files(directory)
    except OSError:
        return False
    if sum(f.size for f in files) < EARLY_MIN_BYTES or not workers_allowed() or not _a_core_is_free():
        return False
    chunks: list[list[SnapshotFile]] = []
    budget = EARLY_BYTES
    for i in range(0, len(files), CHUNK_FILES):
        if budget <= 0:
            break
        chunks.append(files[i : i + CHUNK_FILES])
        budget -= sum(f.size for f in chunks[-1])
    try:
        worker = _Worker()
        for chunk in chunks:
            worker.send(chunk)
    except OSError:
        return False
    _early[Path(directory).resolve()] = (worker, chunks)
    return True


def _a_core_is_free() -> bool:
    """Another core is likely idle now: a worker started now reads beside the app's imports rather than
    slowing them down (measured on a busy 2-core machine: the imports took twice as long).

    Linux says how many threads are runnable at this instant (``/proc/loadavg``'s fourth field, this one
    included); the load average, used elsewhere, lags a minute behind: a build that just ended, or the
    previous start of the app, kept the worker off for a minute (seen in ``bench/coldstart.py``)."""
    cores = os.cpu_count() or 1
    if cores < 2:
        return False
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            others = int(f.read().split()[3].split("/")[0]) - 1  # runnable now, this thread excepted
        return others <= cores - 2
    except (OSError, ValueError, IndexError):
        pass
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # unknown (or no getloadavg on this system): assume a free core
        load = 0.0
    return load <= cores - 1


def has_early_read(directory: Path) -> bool:
    return directory.resolve() in _early


def _take_early(files: list[SnapshotFile]) -> tuple[_Worker | None, list[list[SnapshotFile]]]:
    """The early worker for ``files`` and the chunks it holds, if they are the first of ``files`` as listed
    now (same paths, sizes and times); else it is ended (the files changed meanwhile) and none is used."""
    if not files:
        return None, []
    early = _early.pop(files[0].path.parent.resolve(), None)
    if early is None:
        return None, []
    worker, chunks = early
    held = [f for chunk in chunks for f in chunk]
    if [(f.path, f.signature) for f in held] != [(f.path, f.signature) for f in files[: len(held)]]:
        worker.close()
        return None, []
    return worker, chunks


def read_in_order(
    files: list[SnapshotFile], stopped: Callable[[], bool] = lambda: False, tally: Tally | None = None
) -> Iterator[Outcome]:
    """Every file of ``files`` (in their order) with what it holds, read by a worker process and this
    thread together. Stops early, without reading the rest, when ``stopped()`` becomes true."""
    tally = tally if tally is not None else Tally()
    worker, chunks = _take_early(files)
    sent = len(chunks)  # chunks[front:sent] are with the worker, oldest first
    held = sum(len(chunk) for chunk in chunks)
    chunks += [files[i : i + CHUNK_FILES] for i in range(held, len(files), CHUNK_FILES)]
    if worker is None:
        with contextlib.suppress(OSError):  # no worker on this machine: the thread reads everything
            worker = _Worker()
    if worker is not None:
        tally.worker_pid = worker.process.pid
    front, back = 0, len(chunks)  # chunks[front:back] are not handed on yet
    own: list[list[Outcome]] = []  # the thread's chunks, read from the newest down
    try:
        while front < back:
            if stopped():
                return
            if worker is not None:
                try:
                    while sent < back and sent - front < WORKER_AHEAD:
                        worker.send(chunks[sent])
                        sent += 1
                    if sent > front and (sent == back or worker.ready()):
                        outcomes = worker.receive()
                        tally.worker += len(outcomes)
                        yield from (
                            (f, outcome, seconds) for f, (outcome, seconds) in zip(chunks[front], outcomes, strict=True)
                        )
                        front += 1
                        continue
                except (OSError, EOFError, pickle.UnpicklingError, ValueError):
                    # The worker died (killed, out of memory): the thread reads the rest itself.
                    worker.close()
                    worker, sent = None, front
                    continue
            if sent < back:
                back -= 1  # not given to the worker: the thread reads it
                own.append(_read_here(chunks[back]))
                tally.thread += len(chunks[back])
            else:
                yield from _read_here(chunks[front])
                tally.thread += len(chunks[front])
                front += 1
        for outcomes in reversed(own):
            yield from outcomes
    finally:
        if worker is not None:
            worker.close()


def _read_here(chunk: list[SnapshotFile]) -> list[Outcome]:
    outcomes = read_columns([str(f.path) for f in chunk])
    return [(f, outcome, seconds) for f, (outcome, seconds) in zip(chunk, outcomes, strict=True)]


def worker_main() -> None:
    """The worker process's entry point (``_Worker`` starts ``python -c`` calling this)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the app's Ctrl-C is not the worker's
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    # Run as a module, this file is ``__main__``: its classes would pickle under that name, which the app
    # cannot load. Serve from the module under its own name.
    from evotui.watch.bulk_read import worker_main as _worker_main

    _worker_main()
