"""The background writer: scores, summarises, encodes and writes snapshots, and keeps run.json current.

The training thread only queues work (``SnapshotJob``: plain Python data, no tensors) and notes progress in the
``LiveManifest``; one daemon thread does the rest, in order. ``close()`` drains the queue, then writes the final
run.json. A failed write is logged, counted in run.json and never raised: the next capture tries again.

No torch here: this module runs in any process that writes the format (the ``record()`` path needs no model).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.examples import Example
from tracker.schema import ExampleResult, RunManifest, Snapshot
from tracker.scoring import Normalizer, score, summarize
from tracker.store import SnapshotStore, utc_now_iso

logger = logging.getLogger("tracker")

MAX_ERROR_CHARS = 2000


def finite_or_none(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class SnapshotJob:
    """Everything the writer thread needs to build and write one snapshot (no tensors)."""

    step: int
    examples: Sequence[Example]
    outputs: list[str]
    losses: list[float | None]
    metadata: list[dict[str, Any]]
    timestamp: str
    model_version: str
    epoch: float | None = None
    train_loss: float | None = None
    learning_rate: float | None = None
    eval_seconds: float | None = None

    @classmethod
    def make(
        cls,
        step: int,
        examples: Sequence[Example],
        outputs: list[str],
        losses: list[float | None],
        metadata: list[dict[str, Any]],
        *,
        model_version: str,
        epoch: Any = None,
        train_loss: Any = None,
        learning_rate: Any = None,
        eval_seconds: float | None = None,
        timestamp: str | None = None,
    ) -> SnapshotJob:
        """The one place a job is built: training metadata made finite-or-None, the time taken now if not given."""
        return cls(
            step=step,
            examples=examples,
            outputs=outputs,
            losses=losses,
            metadata=metadata,
            timestamp=timestamp or utc_now_iso(),
            model_version=model_version,
            epoch=finite_or_none(epoch),
            train_loss=finite_or_none(train_loss),
            learning_rate=finite_or_none(learning_rate),
            eval_seconds=eval_seconds,
        )


def job_from_results(
    step: int,
    results: Iterable[Mapping[str, Any] | ExampleResult],
    known: Sequence[Example],
    *,
    model_version: str,
    epoch: Any = None,
    train_loss: Any = None,
    learning_rate: Any = None,
) -> SnapshotJob:
    """A job from predictions the caller made (``EvolutionTracker.record``).

    Each result is an ``ExampleResult`` or a dict with ``example_id`` (or ``id``), ``model_output`` (or
    ``prediction``), and optionally ``expected_output``, ``input``, ``loss``, ``metadata``; input and expected
    output default to those of the ``known`` example of the same id.
    """
    by_id = {e.example_id: e for e in known}
    examples: list[Example] = []
    outputs: list[str] = []
    losses: list[float | None] = []
    metadata: list[dict[str, Any]] = []
    for k, r in enumerate(results):
        row: Mapping[str, Any] = r if isinstance(r, Mapping) else {f: getattr(r, f) for f in r.__struct_fields__}
        eid = str(row.get("example_id", row.get("id", f"ex_{k:03d}")))
        base = by_id.get(eid)
        examples.append(
            Example(
                example_id=eid,
                input=str(row.get("input", base.input if base else "")),
                expected_output=str(row.get("expected_output", base.expected_output if base else "")),
            )
        )
        outputs.append(str(row.get("model_output", row.get("prediction", ""))))
        losses.append(finite_or_none(row.get("loss")))
        metadata.append(dict(row.get("metadata") or {}))
    return SnapshotJob.make(
        step,
        examples,
        outputs,
        losses,
        metadata,
        model_version=model_version,
        epoch=epoch,
        train_loss=train_loss,
        learning_rate=learning_rate,
    )


def build_snapshot(job: SnapshotJob, dataset_name: str, normalizer: Normalizer) -> Snapshot:
    """Score each row against its expected output and summarise: the snapshot a job stands for."""
    rows: list[ExampleResult] = []
    for example, output, loss, meta in zip(job.examples, job.outputs, job.losses, job.metadata, strict=True):
        exact, sim = score(output, example.expected_output, normalizer)
        rows.append(
            ExampleResult(
                example_id=example.example_id,
                input=example.input,
                expected_output=example.expected_output,
                model_output=output,
                loss=loss,
                similarity=sim,
                exact_match=exact,
                metadata=meta,
            )
        )
    return Snapshot(
        snapshot_id=f"{dataset_name}_step_{job.step:06d}",
        training_step=job.step,
        timestamp=job.timestamp,
        model_version=job.model_version,
        examples=rows,
        summary=summarize(rows),
        epoch=job.epoch,
        train_loss=job.train_loss,
        learning_rate=job.learning_rate,
        eval_seconds=job.eval_seconds,
    )


class LiveManifest:
    """run.json's content while the run lives, shared by the training thread and the writer thread.

    Every read and write goes through one lock, the heartbeat's throttle included: both threads decide
    whether a heartbeat is due.
    """

    def __init__(self, manifest: RunManifest, heartbeat_seconds: float) -> None:
        self._manifest = manifest
        self._lock = threading.Lock()
        self.heartbeat_seconds = heartbeat_seconds
        self._last_heartbeat = -math.inf

    def update(self, **fields: Any) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(self._manifest, name, value)

    def get(self, name: str) -> Any:
        with self._lock:
            return getattr(self._manifest, name)

    def advance(self, step: int, max_steps: int | None = None) -> None:
        """Note progress: ``current_step`` only moves forward."""
        with self._lock:
            if step > self._manifest.current_step:
                self._manifest.current_step = step
            if max_steps is not None:
                self._manifest.max_steps = max_steps

    def note_error(self, step: int, message: str) -> None:
        with self._lock:
            self._manifest.errors += 1
            self._manifest.last_error = f"step {step}: {message}"[:MAX_ERROR_CHARS]

    def heartbeat_due(self) -> bool:
        """True at most once every ``heartbeat_seconds`` (and the caller then writes run.json)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_heartbeat < self.heartbeat_seconds:
                return False
            self._last_heartbeat = now
            return True

    def copy(self, touch: bool = False) -> RunManifest:
        """A consistent copy to encode outside the lock; ``touch`` stamps ``updated_at`` first."""
        with self._lock:
            if touch:
                self._manifest.updated_at = utc_now_iso()
            manifest = RunManifest(**{f: getattr(self._manifest, f) for f in RunManifest.__struct_fields__})
            manifest.example_ids = list(manifest.example_ids)
        return manifest


class _WriteManifest:
    """Queue item: rewrite run.json now."""


_STOP = object()


class BackgroundWriter:
    """One daemon thread writing queued snapshots and run.json, in order."""

    def __init__(self, store: SnapshotStore, manifest: LiveManifest, dataset_name: str, normalizer: Normalizer) -> None:
        self.store = store
        self.manifest = manifest
        self.dataset_name = dataset_name
        self.normalizer = normalizer
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        # Seconds the thread spent on the last snapshot (score, summarise, encode, write): for bench/.
        self.last_write_seconds: float | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="evotui-tracker-writer", daemon=True)
        self._thread.start()
        self.write_manifest()

    def submit(self, job: SnapshotJob) -> None:
        self._queue.put(job)

    def write_manifest(self) -> None:
        """Queue a run.json rewrite (after everything queued before it)."""
        self._queue.put(_WriteManifest())

    def heartbeat(self) -> None:
        """Queue a run.json rewrite if one is due (throttled)."""
        if self.manifest.heartbeat_due():
            self._queue.put(_WriteManifest())

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued is written (or ``timeout`` seconds have passed)."""
        if not self.running:
            return
        if timeout is None:
            self._queue.join()
            return
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        """Write everything queued, then run.json, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(_WriteManifest())
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                if isinstance(job, SnapshotJob):
                    self._write_snapshot(job)
                else:
                    self._write_manifest_now()
            except Exception as exc:
                step = job.step if isinstance(job, SnapshotJob) else -1
                logger.exception("writing at step %d failed", step)
                self.manifest.note_error(step, f"{type(exc).__name__}: {exc}")
                try:
                    self._write_manifest_now()
                except Exception:
                    logger.exception("writing run.json failed")
            finally:
                self._queue.task_done()

    def _write_snapshot(self, job: SnapshotJob) -> None:
        t0 = time.perf_counter()
        snapshot = build_snapshot(job, self.dataset_name, self.normalizer)
        path = self.store.write(snapshot)
        self.last_write_seconds = time.perf_counter() - t0
        summary = snapshot.summary
        assert summary is not None
        loss_text = f"{summary.avg_loss:.3f}" if summary.avg_loss is not None else "n/a"
        logger.info(
            "snapshot %s: accuracy %.1f%% (%d/%d), avg loss %s",
            path.name,
            100 * summary.accuracy,
            summary.correct,
            summary.total_examples,
            loss_text,
        )
        self.manifest.advance(job.step)
        if self.manifest.heartbeat_due():
            self._write_manifest_now()

    def _write_manifest_now(self) -> None:
        self.store.write_manifest(self.manifest.copy(touch=True))
