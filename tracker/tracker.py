"""EvolutionTracker: evaluate a model on fixed examples at scheduled steps and write one snapshot per step.

The seed's calls work as written::

    tracker = EvolutionTracker(base_dir=Path(__file__).parent, dataset_name="mydata")
    tracker.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=step,
                             model_version="training", max_examples=100)   # a no-op off-schedule

A short facade over the parts that do the work, each readable and testable alone:

* ``tracker.run_directory``: the directory's lock, and resuming or archiving what it holds;
* ``tracker.example_set``: which examples, tokenised once;
* ``tracker.evaluate``: the model compute, on the training thread;
* ``tracker.writer``: scoring, encoding, writing and run.json heartbeats, on one background thread;
* ``tracker.distributed``: which process writes, and the gather / broadcast a sharded capture needs;
* ``tracker.run_end``: the exit hook and SIGTERM handler of a live run (installed at start, removed at close).

Errors: an error inside a capture is logged on the ``tracker`` logger, counted in run.json (``errors``,
``last_error``) and never reaches the training loop; the same error again is one line, not another traceback.
An error that would repeat at every capture (no tokenizer, no model, examples the tokenizer cannot encode) is
reported once with its fix, and the tracker disables itself: training goes on and run.json's ``disabled``
says why.

Distributed: every rank must call ``capture_snapshot`` at the same steps; each evaluates ``examples[rank::world]``,
the results are gathered to rank 0, and only rank 0 writes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tracker.distributed import ProcessRole, broadcast_from_writer, gather_to_writer, process_role
from tracker.example_set import ExampleSet, SetupError, load_first
from tracker.examples import ExampleError, ExampleSource
from tracker.run_directory import RunDirectory
from tracker.run_end import RunEndHooks, status_for_exception
from tracker.schedule import Schedule, ScheduleSpec, make_schedule
from tracker.schema import ExampleResult, RunManifest, RunStatus
from tracker.scoring import Normalizer, get_normalizer
from tracker.store import Format, SnapshotStore, utc_now_iso
from tracker.writer import BackgroundWriter, LiveManifest, SnapshotJob, job_from_results

logger = logging.getLogger("tracker")

DEFAULT_HEARTBEAT_SECONDS = 5.0
SNAPSHOTS_SUBDIR = Path("data") / "evolution_snapshots"


def _tracker_version() -> str:
    from tracker import __version__

    return __version__


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
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.normalizer = normalizer
        self.model_version = model_version
        self.model_name = model_name
        self.store = SnapshotStore(self.directory, fmt=snapshot_format, fsync=fsync)
        self.run_directory = RunDirectory(self.store)
        self._resume = resume
        self._examples_source = examples
        self._max_examples = max_examples
        self._heartbeat_seconds = heartbeat_seconds
        self._begin_run_state()

    def _begin_run_state(self) -> None:
        """Everything that belongs to one run (a new run_id, nothing captured, no thread yet)."""
        self.role: ProcessRole = process_role()  # provisional: start() decides, from what the caller knows
        self.example_set = ExampleSet(self._max_examples)
        self._live = LiveManifest(
            RunManifest(
                run_id=f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}",
                run_name=self.dataset_name,
                model_name=self.model_name,
                schedule=self.schedule.description,
                tracker_version=_tracker_version(),
                pid=os.getpid(),
                hostname=socket.gethostname(),
            ),
            self._heartbeat_seconds,
        )
        self._writer: BackgroundWriter | None = None
        self._hooks = RunEndHooks(self.close)
        self._started = False
        self._closed = False
        self._disabled: str | None = None
        self._last_error: tuple[int, str] | None = None  # (step, message) of the last failed capture
        self.captured_steps: set[int] = set()
        self.last_eval_seconds: float | None = None  # model compute of the last capture, on the training thread

    # ------------------------------------------------------------------ public API

    @property
    def rank(self) -> int:
        return self.role.rank

    @property
    def world_size(self) -> int:
        return self.role.world_size

    @property
    def is_writer(self) -> bool:
        """Only process 0 writes files."""
        return self.role.is_writer

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def disabled(self) -> str | None:
        """Why the tracker stopped capturing (training went on), or None."""
        return self._disabled

    @property
    def manifest(self) -> RunManifest:
        """A copy of run.json's content as it is now."""
        return self._live.copy()

    @property
    def example_ids(self) -> list[str]:
        return self.example_set.ids

    @property
    def max_examples(self) -> int:
        return self._max_examples

    @max_examples.setter
    def max_examples(self, value: int) -> None:
        self._max_examples = value
        self.example_set.max_examples = value

    @property
    def heartbeat_seconds(self) -> float:
        return self._live.heartbeat_seconds

    @heartbeat_seconds.setter
    def heartbeat_seconds(self, value: float) -> None:
        self._heartbeat_seconds = value
        self._live.heartbeat_seconds = value

    @property
    def last_write_seconds(self) -> float | None:
        """Seconds the writer thread spent on the last snapshot (score, summarise, encode, write): for bench/."""
        return self._writer.last_write_seconds if self._writer is not None else None

    def should_capture(self, step: int) -> bool:
        return self.schedule.should_capture(step)

    def start(
        self,
        step: int = 0,
        *,
        resume: bool | None = None,
        max_steps: int | None = None,
        examples: ExampleSource | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        """Claim the directory for this run (archiving another run's files, or resuming), idempotent.

        Called by the first capture; the callback calls it in ``on_train_begin`` with what the Trainer knows
        (``rank=args.process_index``, ``world_size=args.world_size``). Raises on bad examples (a configuration
        error the user must see), never on anything else.
        """
        if self._started:
            if max_steps is not None:
                self._live.update(max_steps=max_steps)
            return
        if examples is not None:
            self._examples_source = examples
        if resume is None:
            resume = self._resume
        # Now, not in __init__: a tracker may be built before the process group is (e.g. before the Trainer).
        self.role = process_role(rank, world_size)
        self._live.update(max_steps=max_steps, current_step=step, created_at=utc_now_iso())
        # Bad examples fail here, before the directory is touched (nothing archived for a run that never starts).
        source = self._examples_source
        first = load_first(source, self._max_examples) if source is not None else None
        in_use: str | None = None
        recorded_ids: list[str] | None = None
        if self.is_writer:
            in_use = self.run_directory.lock(self._lock_holder())
            if not in_use:
                recorded_ids = self._adopt(self.run_directory.claim(step, resume))
        # Every rank must agree on what is already captured: a rank that skips a capture the others make
        # would leave them waiting in a collective.
        in_use, recorded_ids, captured = broadcast_from_writer(
            self.role, (in_use, recorded_ids, sorted(self.captured_steps))
        )
        self.captured_steps.update(captured)
        if in_use:
            # Another live run writes there: archiving its files under it, or writing beside them, would
            # mix two runs. This run trains on untracked; every rank knows (captures are collective).
            self.disable(in_use)
            return
        if source is not None:
            self._choose_examples(source, recorded_ids, first)
        self._started = True
        if self.is_writer:
            self._writer = BackgroundWriter(self.store, self._live, self.dataset_name, self.normalizer)
            self._writer.start()
            self._hooks.install()

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
        if self._closed or self._disabled:
            return False
        if max_examples is not None and not self._started:
            self.max_examples = max_examples
        try:
            if not self._started:
                self.start(current_step, examples=examples)
            elif examples is not None and self.example_set.examples is None:
                self._choose_examples(examples, None)
        except (ExampleError, OSError) as exc:
            # A configuration error: said once, loudly, then the tracker stays out of the way.
            self.disable(str(exc))
            return False
        if self._disabled:
            return False
        if not (force or self.schedule.should_capture(current_step)) or current_step in self.captured_steps:
            self.heartbeat(current_step)
            return False
        if self.example_set.examples is None:
            self.disable("capture_snapshot needs examples: pass examples=... (to it, or to EvolutionTracker)")
            return False
        self.captured_steps.add(current_step)
        timestamp = utc_now_iso()
        t0 = time.perf_counter()
        local: list[Any] | None = None
        error: tuple[str, str] | None = None
        try:
            local = self._evaluate_shard(model, tokenizer)
        except SetupError as exc:
            error = ("setup", str(exc))
        except Exception as exc:  # never into the training loop
            error = ("error", f"{type(exc).__name__}: {exc}")
            self._log_capture_error(current_step, error[1], exc)
        if error is not None and self.role.is_distributed:
            error = (error[0], f"rank {self.rank}: {error[1]}")
        eval_seconds = self.last_eval_seconds = time.perf_counter() - t0
        gathered = gather_to_writer(self.role, (local, error))
        # A setup problem on any rank disables every rank (captures are collective): the writer decides.
        setup = next((e[1] for _, e in gathered if e is not None and e[0] == "setup"), None)
        setup = broadcast_from_writer(self.role, setup)
        if setup is not None:
            self.disable(setup)
            return False
        if not self.is_writer:
            return error is None
        errors = [e[1] for _, e in gathered if e is not None]
        if errors:
            self._record_error(current_step, errors[0], logged=error is not None)
            return False
        by_id = {p.example_id: p for part, _ in gathered for p in part}
        chosen = self.example_set.examples
        preds = [by_id.get(e.example_id) for e in chosen]
        if any(p is None for p in preds):
            self._record_error(current_step, "gathered results are missing examples")
            return False
        self._submit(
            SnapshotJob.make(
                current_step,
                chosen,
                outputs=[p.model_output for p in preds],  # type: ignore[union-attr]
                losses=[p.loss for p in preds],  # type: ignore[union-attr]
                metadata=[{"finish": p.finish} for p in preds],  # type: ignore[union-attr]
                timestamp=timestamp,
                model_version=model_version or self.model_version,
                epoch=epoch,
                train_loss=train_loss,
                learning_rate=learning_rate,
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
            if self._disabled or self._closed:
                return
            if not self._started:
                self.start(step)
                if self._disabled:
                    return
            if not self.is_writer:
                return
            job = job_from_results(
                step,
                results,
                self.example_set.examples or [],
                model_version=model_version or self.model_version,
                epoch=epoch,
                train_loss=train_loss,
                learning_rate=learning_rate,
            )
            self.captured_steps.add(step)
            self._submit(job)
        except Exception as exc:
            logger.exception("record at step %d failed", step)
            self._record_error(step, f"{type(exc).__name__}: {exc}", logged=True)

    def heartbeat(self, step: int, max_steps: int | None = None) -> None:
        """Note progress; run.json is rewritten at most every ``heartbeat_seconds``. Cheap: call every step."""
        if self._writer is None or self._closed:
            return
        self._live.advance(step, max_steps)
        self._writer.heartbeat()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued snapshot is written."""
        if self._writer is not None:
            self._writer.flush(timeout)

    def close(self, status: RunStatus = "finished") -> None:
        """Write everything queued, then the final status; release the directory. Idempotent; any rank.

        A run stopped by SIGTERM is recorded ``stopped`` even when the caller says ``failed``.
        """
        if self._closed:
            return
        self._closed = True
        self._hooks.uninstall()
        if self._writer is None:
            return
        if status == "failed" and self._hooks.stop_requested:
            status = "stopped"
        self._live.update(status=status)
        self._writer.close()
        self.run_directory.unlock()

    def new_run(self) -> None:
        """After ``close()``: make the next ``start()`` begin a new run here (a new run_id, nothing captured).

        The callback calls it when ``train()`` is called again: the new run claims the directory like any
        other, so the finished one moves to ``archive/<run_id>/`` (or is continued, when resuming).
        """
        if not self._closed:
            raise RuntimeError("new_run() is for a closed tracker: close() the current run first")
        self._begin_run_state()

    def __enter__(self) -> EvolutionTracker:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.close(status_for_exception(exc, self._hooks.stop_requested))

    # ------------------------------------------------------------------ internals

    def _lock_holder(self) -> str:
        manifest = self._live.copy()
        return f"run {manifest.run_id} pid {os.getpid()} on {manifest.hostname}"

    def _adopt(self, claim: Any) -> list[str] | None:
        """Take over a resumed run's identity and counts; returns its example ids, if it recorded them."""
        self.captured_steps.update(claim.captured_steps)
        old = claim.previous
        if not claim.resumed or old is None:
            return None
        current = self._live.copy()
        self._live.update(
            run_id=old.run_id or current.run_id,
            created_at=old.created_at or current.created_at,
            errors=old.errors,
            last_error=old.last_error,
        )
        return list(old.example_ids) or None

    def _choose_examples(self, source: ExampleSource, recorded_ids: list[str] | None, first: Any = None) -> None:
        chosen = self.example_set.choose(source, recorded_ids, first)
        self._live.update(example_ids=[e.example_id for e in chosen], n_examples=len(chosen))

    def _evaluate_shard(self, model: Any, tokenizer: Any) -> list[Any]:
        from tracker.evaluate import check_generative, default_max_new_tokens, evaluate_shard

        check_generative(model)
        encoded = self.example_set.encoded(tokenizer)
        if self.max_new_tokens is None:
            self.max_new_tokens = default_max_new_tokens(encoded)
        return evaluate_shard(
            model,
            tokenizer,
            self.example_set.examples or [],
            encoded,
            self.role,
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
        )

    def _submit(self, job: SnapshotJob) -> None:
        if self._writer is not None:
            self._writer.submit(job)

    def disable(self, reason: str) -> None:
        """Stop capturing for the rest of this run, say why once (with the fix) and record it in run.json."""
        if self._disabled:
            return
        self._disabled = reason
        logger.error("evolution tracker disabled (training goes on): %s", reason)
        if self._writer is not None:
            self._live.update(disabled=reason)
            self._writer.write_manifest()

    def _log_capture_error(self, step: int, message: str, exc: BaseException) -> None:
        """The traceback once; the same error again at a later step is one line (it is counted in run.json)."""
        if self._last_error is not None and self._last_error[1] == message:
            logger.error("capture at step %d failed: %s (the same error as at step %d)", step, message,
                         self._last_error[0])
        else:
            logger.error("capture at step %d failed", step, exc_info=exc)
            self._last_error = (step, message)

    def _record_error(self, step: int, message: str, logged: bool = False) -> None:
        if not logged:
            logger.error("capture at step %d failed: %s", step, message)
        self._live.note_error(step, message)
        if self._writer is not None and not self._closed:
            self._writer.write_manifest()
