"""EvolutionTracker: evaluate a model on fixed examples at scheduled steps and write one snapshot per step.

The seed's calls work as written::

    tracker = EvolutionTracker(base_dir=Path(__file__).parent, dataset_name="mydata")
    tracker.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=step,
                             model_version="training", max_examples=100)   # a no-op off-schedule

What runs where: the training thread does only the model compute (``tracker.evaluate``); scoring,
summarising, encoding, writing and run.json heartbeats happen on one background writer thread, fed by
a queue. ``close()`` drains the queue and writes the final status. An error inside a capture is logged on
the ``tracker`` logger, counted in run.json (``errors``, ``last_error``) and never reaches the training loop.

Distributed (torch.distributed initialised, e.g. by Trainer/Accelerate): every rank must call
``capture_snapshot`` at the same steps; each evaluates ``examples[rank::world]``, the results are gathered
to rank 0, and only rank 0 writes.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import queue
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.examples import Example, ExampleError, ExampleSource, load_examples, select_examples
from tracker.schedule import Schedule, ScheduleSpec, make_schedule
from tracker.schema import ExampleResult, RunManifest, RunStatus, Snapshot
from tracker.scoring import Normalizer, get_normalizer, score, summarize
from tracker.store import ARCHIVE_DIR, Format, SnapshotStore, list_snapshot_files, utc_now_iso

logger = logging.getLogger("tracker")

DEFAULT_HEARTBEAT_SECONDS = 5.0
SNAPSHOTS_SUBDIR = Path("data") / "evolution_snapshots"


def _tracker_version() -> str:
    from tracker import __version__

    return __version__


@dataclass
class _SnapshotJob:
    """Everything the writer thread needs to build and write one snapshot (no tensors)."""

    step: int
    examples: list[Example]
    outputs: list[str]
    losses: list[float | None]
    metadata: list[dict[str, Any]]
    timestamp: str
    model_version: str
    epoch: float | None
    train_loss: float | None
    learning_rate: float | None
    eval_seconds: float | None


@dataclass
class _ManifestJob:
    force: bool = False


_STOP = object()


def _finite_or_none(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) when torch.distributed is not in use (or torch is not even loaded)."""
    dist_mod = sys.modules.get("torch.distributed")
    if dist_mod is None:
        return 0, 1
    if dist_mod.is_available() and dist_mod.is_initialized():
        return dist_mod.get_rank(), dist_mod.get_world_size()
    return 0, 1


class EvolutionTracker:
    """Captures a model's predictions on fixed examples at scheduled steps.

    Args:
        base_dir (`str | Path`, *optional*):
            With ``dataset_name``: snapshots go to ``base_dir/data/evolution_snapshots/<dataset_name>/``
            (the seed's layout).
        dataset_name (`str`, *optional*, defaults to ``"run"``):
            Names the run (``snapshot_id`` is ``<dataset_name>_step_000100``).
        output_dir (`str | Path`, *optional*):
            Write snapshots directly here instead (overrides ``base_dir``).
        schedule (*optional*, defaults to the seed's schedule):
            ``"default"``, ``"every N"``, an int, a list of steps or a callable ``step -> bool``.
        max_examples (`int`, *optional*, defaults to 100): the first N examples are evaluated.
        batch_size (`int`, *optional*, defaults to 32): examples per forward pass / generate call.
        max_new_tokens (`int`, *optional*): default: longest expected output in tokens plus a margin.
        normalizer (*optional*, defaults to ``"strip"``): ``"strip"``, ``"squad"``, ``"none"`` or a callable.
        snapshot_format (`"json" | "msgpack"`, *optional*, defaults to ``"json"``).
        resume (`bool`, *optional*): keep the run already in the directory (True) or archive it (False).
            Default: resume when the first step seen is > 1 and the directory has snapshots before it.
        heartbeat_seconds (`float`, *optional*, defaults to 5): run.json is rewritten at most this often.
        examples (*optional*): the examples, if known up front (``capture_snapshot`` may also pass them).
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        dataset_name: str | None = None,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        schedule: ScheduleSpec = None,
        max_examples: int = 100,
        batch_size: int = 32,
        max_new_tokens: int | None = None,
        normalizer: Normalizer = "strip",
        snapshot_format: Format = "json",
        model_version: str = "training",
        model_name: str = "",
        resume: bool | None = None,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        fsync: bool = True,
        examples: ExampleSource | None = None,
    ) -> None:
        if snapshot_format not in ("json", "msgpack"):
            raise ValueError(f"snapshot_format must be 'json' or 'msgpack', got {snapshot_format!r}")
        get_normalizer(normalizer)  # fail now on a bad name, not in the writer thread
        self.dataset_name = dataset_name or (Path(output_dir).name if output_dir is not None else "run")
        if output_dir is not None:
            self.directory = Path(output_dir)
        else:
            self.directory = Path(base_dir if base_dir is not None else ".") / SNAPSHOTS_SUBDIR / self.dataset_name
        self.schedule: Schedule = make_schedule(schedule)
        self.max_examples = max_examples
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.normalizer = normalizer
        self.model_version = model_version
        self.heartbeat_seconds = heartbeat_seconds
        self.store = SnapshotStore(self.directory, fmt=snapshot_format, fsync=fsync)
        self.rank, self.world_size = _dist_info()
        self._resume = resume
        self._examples_source = examples
        self._examples: list[Example] | None = None
        self._encoded: Any = None  # tokenised examples, cached per tokenizer
        self._encoded_for: int | None = None
        self._manifest = RunManifest(
            run_id=f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}",
            run_name=self.dataset_name,
            model_name=model_name,
            schedule=self.schedule.description,
            tracker_version=_tracker_version(),
            pid=os.getpid(),
            hostname=socket.gethostname(),
        )
        self._lock = threading.Lock()  # guards _manifest between the two threads
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self._last_heartbeat = 0.0
        self.captured_steps: set[int] = set()
        self._disabled: str | None = None
        # Seconds the writer thread spent on the last snapshot (score, summarise, encode, write): for bench/.
        self.last_write_seconds: float | None = None
        self.last_eval_seconds: float | None = None  # model compute of the last capture, on the training thread

    # ------------------------------------------------------------------ public API

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes files."""
        return self.rank == 0

    @property
    def manifest(self) -> RunManifest:
        with self._lock:
            return self._manifest

    @property
    def example_ids(self) -> list[str]:
        return [e.example_id for e in self._examples or []]

    def should_capture(self, step: int) -> bool:
        return self.schedule.should_capture(step)

    def start(
        self,
        step: int = 0,
        *,
        resume: bool | None = None,
        max_steps: int | None = None,
        examples: ExampleSource | None = None,
    ) -> None:
        """Claim the directory for this run (archiving another run's files, or resuming), idempotent.

        Called by the first capture; the callback calls it in ``on_train_begin``. Raises on bad examples
        (a configuration error the user must see), never on anything else.
        """
        if self._started:
            if max_steps is not None:
                with self._lock:
                    self._manifest.max_steps = max_steps
            return
        if examples is not None:
            self._examples_source = examples
        if resume is None:
            resume = self._resume
        # Now, not in __init__: a tracker may be built before the process group is (e.g. before the Trainer).
        self.rank, self.world_size = _dist_info()
        with self._lock:
            self._manifest.max_steps = max_steps
            self._manifest.current_step = step
            self._manifest.created_at = utc_now_iso()
        # Bad examples fail here, before the directory is touched (nothing archived for a run that never starts).
        first = self._load_first(self._examples_source) if self._examples_source is not None else None
        recorded_ids: list[str] | None = None
        if self.is_writer:
            recorded_ids = self._claim_directory(step, resume)
        # Every rank must agree on what is already captured: a rank that skips a capture the others make
        # would leave them waiting in a collective.
        recorded_ids, captured = self._broadcast((recorded_ids, sorted(self.captured_steps)))
        self.captured_steps.update(captured)
        if self._examples_source is not None:
            self._set_examples(self._examples_source, recorded_ids, first)
        self._started = True
        if self.is_writer:
            self._thread = threading.Thread(target=self._writer_loop, name="evotui-tracker-writer", daemon=True)
            self._thread.start()
            atexit.register(self._atexit)
            self._queue.put(_ManifestJob(force=True))
            self._last_heartbeat = time.monotonic()

    def capture_snapshot(
        self,
        model: Any,
        tokenizer: Any,
        examples: ExampleSource | None = None,
        current_step: int = 0,
        model_version: str | None = None,
        max_examples: int | None = None,
        *,
        force: bool = False,
        epoch: float | None = None,
        train_loss: float | None = None,
        learning_rate: float | None = None,
    ) -> bool:
        """Evaluate ``model`` on the examples and queue the snapshot, if ``current_step`` is scheduled.

        Off-schedule (and ``force`` False) it only refreshes the heartbeat. Returns True when a capture ran and
        was queued. Never raises (except for bad examples on the very first call, a configuration error).
        """
        if self._closed:
            return False
        if max_examples is not None and not self._started:
            self.max_examples = max_examples
        if self._disabled:
            return False
        try:
            if not self._started:
                self.start(current_step, examples=examples)
            elif examples is not None and self._examples is None:
                self._set_examples(examples, None)
        except (ExampleError, OSError) as exc:
            # A configuration error: said once, loudly, then the tracker stays out of the way.
            logger.error("evolution tracker disabled: %s", exc)
            self._disabled = str(exc)
            return False
        if not (force or self.schedule.should_capture(current_step)) or current_step in self.captured_steps:
            self.heartbeat(current_step)
            return False
        if self._examples is None:
            self._record_error(current_step, "capture_snapshot needs examples (none were given)")
            return False
        self.captured_steps.add(current_step)
        timestamp = utc_now_iso()
        t0 = time.perf_counter()
        try:
            local = self._evaluate_shard(model, tokenizer)
            error = None
        except Exception as exc:  # never into the training loop
            logger.exception("capture at step %d failed", current_step)
            local, error = None, f"{type(exc).__name__}: {exc}"
            if self.world_size > 1:
                error = f"rank {self.rank}: {error}"
        eval_seconds = time.perf_counter() - t0
        self.last_eval_seconds = eval_seconds
        gathered = self._gather((local, error))
        if not self.is_writer:
            return error is None
        errors = [e for _, e in gathered if e is not None]
        if errors:
            self._record_error(current_step, errors[0], logged=error is not None)
            return False
        by_id: dict[str, Any] = {}
        for part, _ in gathered:
            for p in part:
                by_id[p.example_id] = p
        preds = [by_id.get(e.example_id) for e in self._examples]
        if any(p is None for p in preds):
            self._record_error(current_step, "gathered results are missing examples")
            return False
        self._queue.put(
            _SnapshotJob(
                step=current_step,
                examples=self._examples,
                outputs=[p.model_output for p in preds],
                losses=[p.loss for p in preds],
                metadata=[{"finish": p.finish} for p in preds],
                timestamp=timestamp,
                model_version=model_version or self.model_version,
                epoch=_finite_or_none(epoch),
                train_loss=_finite_or_none(train_loss),
                learning_rate=_finite_or_none(learning_rate),
                eval_seconds=eval_seconds,
            )
        )
        return True

    def record(
        self,
        step: int,
        results: Iterable[Mapping[str, Any] | ExampleResult],
        *,
        model_version: str | None = None,
        epoch: float | None = None,
        train_loss: float | None = None,
        learning_rate: float | None = None,
    ) -> None:
        """Write a snapshot from predictions made by the caller's own loop (no schedule check, no model).

        Each result is an ``ExampleResult`` or a dict with ``example_id`` (or ``id``), ``model_output``
        (or ``prediction``), and optionally ``expected_output``, ``input``, ``loss``, ``metadata``; input and
        expected output default to the tracker's examples of the same id. Rows are scored here (on the
        writer thread), with this tracker's normaliser. Never raises.
        """
        try:
            if not self._started:
                self.start(step)
            if not self.is_writer:
                return
            known = {e.example_id: e for e in self._examples or []}
            examples: list[Example] = []
            outputs: list[str] = []
            losses: list[float | None] = []
            metadata: list[dict[str, Any]] = []
            for k, r in enumerate(results):
                row: Mapping[str, Any] = (
                    r if isinstance(r, Mapping) else {f: getattr(r, f) for f in r.__struct_fields__}
                )
                eid = str(row.get("example_id", row.get("id", f"ex_{k:03d}")))
                base = known.get(eid)
                examples.append(
                    Example(
                        example_id=eid,
                        input=str(row.get("input", base.input if base else "")),
                        expected_output=str(row.get("expected_output", base.expected_output if base else "")),
                    )
                )
                outputs.append(str(row.get("model_output", row.get("prediction", ""))))
                losses.append(_finite_or_none(row.get("loss")))
                metadata.append(dict(row.get("metadata") or {}))
            self.captured_steps.add(step)
            self._queue.put(
                _SnapshotJob(
                    step=step,
                    examples=examples,
                    outputs=outputs,
                    losses=losses,
                    metadata=metadata,
                    timestamp=utc_now_iso(),
                    model_version=model_version or self.model_version,
                    epoch=_finite_or_none(epoch),
                    train_loss=_finite_or_none(train_loss),
                    learning_rate=_finite_or_none(learning_rate),
                    eval_seconds=None,
                )
            )
        except Exception as exc:
            logger.exception("record at step %d failed", step)
            self._record_error(step, f"{type(exc).__name__}: {exc}", logged=True)

    def heartbeat(self, step: int, max_steps: int | None = None) -> None:
        """Note progress; run.json is rewritten at most every ``heartbeat_seconds``. Cheap: call every step."""
        if not self._started or not self.is_writer or self._closed:
            return
        with self._lock:
            if step > self._manifest.current_step:
                self._manifest.current_step = step
            if max_steps is not None:
                self._manifest.max_steps = max_steps
        now = time.monotonic()
        if now - self._last_heartbeat >= self.heartbeat_seconds:
            self._last_heartbeat = now
            self._queue.put(_ManifestJob())

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued snapshot is written."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.join() if timeout is None else _join_queue(self._queue, timeout)

    def close(self, status: RunStatus = "finished") -> None:
        """Write everything queued, then the final status. Idempotent; safe to call from any rank."""
        if self._closed:
            return
        self._closed = True
        if not self._started or not self.is_writer:
            return
        with self._lock:
            self._manifest.status = status
        self._queue.put(_ManifestJob(force=True))
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join()
        atexit.unregister(self._atexit)

    def __enter__(self) -> EvolutionTracker:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close("failed" if exc_type is not None else "finished")

    # ------------------------------------------------------------------ examples

    def _load_first(self, source: ExampleSource) -> list[Example]:
        """The first ``max_examples`` examples; raises ExampleError naming the bad row."""
        if _is_examples(source):
            return list(source)[: self.max_examples]  # type: ignore[arg-type]
        return load_examples(source, self.max_examples)

    def _set_examples(
        self, source: ExampleSource, recorded_ids: Sequence[str] | None, first: list[Example] | None = None
    ) -> None:
        chosen = first if first is not None else self._load_first(source)
        if recorded_ids and [e.example_id for e in chosen] != list(recorded_ids):
            # A resumed run evaluates exactly the example set it started with, wherever those rows now are.
            try:
                pool = list(source) if _is_examples(source) else load_examples(source, max_examples=None)  # type: ignore[arg-type]
                chosen = select_examples(pool, recorded_ids)
            except ExampleError as exc:
                logger.warning("resume: %s; evaluating the first %d examples instead", exc, len(chosen))
        self._examples = chosen
        self._encoded = None
        with self._lock:
            self._manifest.example_ids = [e.example_id for e in chosen]
            self._manifest.n_examples = len(chosen)

    def _shard(self) -> list[Example]:
        assert self._examples is not None
        return self._examples[self.rank :: self.world_size]

    def _evaluate_shard(self, model: Any, tokenizer: Any) -> list[Any]:
        from tracker.evaluate import default_max_new_tokens, encode_examples, evaluate

        if self._encoded is None or self._encoded_for != id(tokenizer):
            # Tokenise once: the examples and the tokenizer do not change during a run.
            self._encoded = encode_examples(self._examples or [], tokenizer)
            self._encoded_for = id(tokenizer)
            if self.max_new_tokens is None:
                self.max_new_tokens = default_max_new_tokens(self._encoded)
        shard = self._shard()
        encoded = self._encoded[self.rank :: self.world_size]
        n_batches = None
        if self.world_size > 1:
            # Same number of forward passes on every rank (FSDP needs every rank in every pass).
            largest = math.ceil(len(self._examples or []) / self.world_size)
            n_batches = math.ceil(largest / self.batch_size)
        return evaluate(
            model,
            tokenizer,
            shard,
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
            n_batches=n_batches,
            padding_example=(self._examples or [None])[0],
            encoded=encoded,
        )

    # ------------------------------------------------------------------ distributed

    def _gather(self, item: Any) -> list[Any]:
        if self.world_size == 1:
            return [item]
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world_size if self.is_writer else None
        dist.gather_object(item, out, dst=0)
        return out or []

    def _broadcast(self, value: Any) -> Any:
        if self.world_size == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # ------------------------------------------------------------------ directory

    def _claim_directory(self, step: int, resume: bool | None) -> list[str] | None:
        """Resume the run in the directory or move it to archive/. Returns the example ids to keep, if resuming."""
        self.store.ensure()
        old = self.store.read_manifest()
        old_manifest = old if isinstance(old, RunManifest) else None
        files = list_snapshot_files(self.directory)
        if not files and old_manifest is None:
            return None
        if resume is None:
            resume = step > 1 and any(f.step < step for f in files)
        if resume:
            later = [f for f in files if f.step > step]
            if later:
                # Snapshots written after the checkpoint we resume from belong to a branch of history that
                # no longer exists: moved aside, not deleted, not mixed with the new ones.
                old_id = old_manifest.run_id if old_manifest and old_manifest.run_id else "run"
                target = _new_directory(self.directory / ARCHIVE_DIR, f"{old_id}-after-{step}")
                for f in later:
                    os.replace(f.path, target / f.path.name)
                logger.warning("resuming at step %d: moved %d later snapshot(s) to %s", step, len(later), target)
            if old_manifest is not None:
                with self._lock:
                    self._manifest.run_id = old_manifest.run_id or self._manifest.run_id
                    self._manifest.created_at = old_manifest.created_at or self._manifest.created_at
                    self._manifest.errors = old_manifest.errors
                    self._manifest.last_error = old_manifest.last_error
            self.captured_steps.update(f.step for f in files if f.step <= step)
            logger.info("resuming run in %s at step %d", self.directory, step)
            return list(old_manifest.example_ids) if old_manifest and old_manifest.example_ids else None
        archived = self.store.archive()
        logger.warning("%s held another run's snapshots: moved them to %s", self.directory, archived)
        return None

    # ------------------------------------------------------------------ errors

    def _record_error(self, step: int, message: str, logged: bool = False) -> None:
        if not logged:
            logger.error("capture at step %d failed: %s", step, message)
        with self._lock:
            self._manifest.errors += 1
            self._manifest.last_error = f"step {step}: {message}"[:2000]
        if self.is_writer and self._started and not self._closed:
            self._queue.put(_ManifestJob(force=True))

    # ------------------------------------------------------------------ writer thread

    def _writer_loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                if isinstance(job, _SnapshotJob):
                    self._write_snapshot(job)
                elif isinstance(job, _ManifestJob):
                    self._write_manifest()
            except Exception as exc:
                step = job.step if isinstance(job, _SnapshotJob) else -1
                logger.exception("writing at step %d failed", step)
                with self._lock:
                    self._manifest.errors += 1
                    self._manifest.last_error = f"step {step}: {type(exc).__name__}: {exc}"[:2000]
                try:
                    self._write_manifest()
                except Exception:
                    logger.exception("writing run.json failed")
            finally:
                self._queue.task_done()

    def _write_snapshot(self, job: _SnapshotJob) -> None:
        t0 = time.perf_counter()
        rows: list[ExampleResult] = []
        for example, output, loss, meta in zip(job.examples, job.outputs, job.losses, job.metadata, strict=True):
            exact, sim = score(output, example.expected_output, self.normalizer)
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
        snapshot = Snapshot(
            snapshot_id=f"{self.dataset_name}_step_{job.step:06d}",
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
        with self._lock:
            if job.step > self._manifest.current_step:
                self._manifest.current_step = job.step
        now = time.monotonic()
        if now - self._last_heartbeat >= self.heartbeat_seconds:
            self._last_heartbeat = now
            self._write_manifest()

    def _write_manifest(self) -> None:
        with self._lock:
            self._manifest.updated_at = utc_now_iso()
            manifest = RunManifest(**{f: getattr(self._manifest, f) for f in RunManifest.__struct_fields__})
            manifest.example_ids = list(manifest.example_ids)
        self.store.write_manifest(manifest)

    def _atexit(self) -> None:
        # The seed never calls close(): flush at interpreter exit. An uncaught exception means training failed.
        status: RunStatus = "failed" if _uncaught else "finished"
        try:
            self.close(status)
        except Exception:
            logger.exception("closing the tracker at exit failed")


def _new_directory(parent: Path, name: str) -> Path:
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


def _is_examples(source: Any) -> bool:
    return isinstance(source, list) and bool(source) and all(isinstance(e, Example) for e in source)


def _join_queue(q: queue.Queue[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while q.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)


_uncaught = False


def _note_uncaught(exc_type: Any, exc: Any, tb: Any) -> None:
    global _uncaught
    _uncaught = True
    _previous_excepthook(exc_type, exc, tb)


# Lets the exit hook tell a crashed run (status "failed") from one that ended without calling close().
_previous_excepthook = sys.excepthook
sys.excepthook = _note_uncaught
