"""EvolutionCallback: the tracker as a ``transformers.Trainer`` callback.

    trainer = Trainer(..., callbacks=[EvolutionCallback(examples="train.jsonl", output_dir="runs/evo")])

A step-0 baseline in ``on_train_begin`` (unless resuming from a checkpoint), the schedule in
``on_step_end``, the last step in ``on_train_end`` (unless already captured). Every snapshot carries
the epoch, the learning rate and the last logged training loss; run.json carries max_steps. The
callback lives on every rank (the capture is collective); only the main process writes, as the Trainer says
(``args.process_index``, ``args.world_size``).

Each ``train()`` is a run, as with transformers' own reporting callbacks: a second ``train()`` with the same
callback (a second phase, a hyper-parameter search trial) starts a new run in the same directory, and the
finished one moves to ``archive/<run_id>/``; ``train(resume_from_checkpoint=...)`` continues the run instead.

No tokenizer (neither ``tokenizer=`` nor the Trainer's ``processing_class``): said once at the start, with the
fix; the tracker disables itself, training goes on and run.json's ``disabled`` says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tracker.example_set import NO_TOKENIZER
from tracker.examples import ExampleSource
from tracker.schedule import ScheduleSpec
from tracker.scoring import Normalizer
from tracker.store import Format
from tracker.tracker import EvolutionTracker

logger = logging.getLogger("tracker")


class EvolutionCallback(TrainerCallback):
    """Captures the model's predictions on fixed examples during ``Trainer.train()``.

    Args:
        examples (`str | Path | list[dict]`):
            A JSONL file or a list of rows (chat ``messages``, ``prompt``/``completion`` or ``input``/``output``).
        output_dir (`str | Path`, *optional*):
            Where snapshots go. Defaults to ``<TrainingArguments.output_dir>/evolution_snapshots``.
        schedule (*optional*, defaults to the seed's schedule): ``"every N"``, an int, a list or a callable.
        tokenizer (*optional*): defaults to the Trainer's ``processing_class``.
        tracker (`EvolutionTracker`, *optional*): use this tracker instead of building one.
        **tracker_kwargs: passed to ``EvolutionTracker`` (``max_examples``, ``batch_size``, ``max_new_tokens``,
            ``normalizer``, ``snapshot_format``, ``dataset_name``, ``model_name``...).
    """

    def __init__(
        self,
        examples: ExampleSource,
        output_dir: str | os.PathLike[str] | None = None,
        *,
        schedule: ScheduleSpec = None,
        tokenizer: Any = None,
        tracker: EvolutionTracker | None = None,
        max_examples: int = 100,
        batch_size: int = 32,
        max_new_tokens: int | None = None,
        normalizer: Normalizer = "strip",
        snapshot_format: Format = "json",
        **tracker_kwargs: Any,
    ) -> None:
        self.examples = examples
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.tokenizer = tokenizer
        self.tracker = tracker
        self._tracker_kwargs = dict(
            schedule=schedule,
            max_examples=max_examples,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            normalizer=normalizer,
            snapshot_format=snapshot_format,
            **tracker_kwargs,
        )
        self.last_train_loss: float | None = None

    def _tokenizer(self, kwargs: dict[str, Any]) -> Any:
        tok = self.tokenizer or kwargs.get("processing_class")
        # A multimodal processor carries its tokenizer.
        return getattr(tok, "tokenizer", tok)

    @staticmethod
    def _learning_rate(kwargs: dict[str, Any]) -> float | None:
        scheduler = kwargs.get("lr_scheduler")
        try:
            return float(scheduler.get_last_lr()[0]) if scheduler is not None else None
        except Exception:
            return None

    def _capture(self, state: TrainerState, kwargs: dict[str, Any], step: int, force: bool = False) -> None:
        assert self.tracker is not None
        self.tracker.capture_snapshot(
            model=kwargs.get("model"),
            tokenizer=self._tokenizer(kwargs),
            current_step=step,
            force=force,
            epoch=state.epoch,
            train_loss=self.last_train_loss,
            learning_rate=self._learning_rate(kwargs),
        )

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.tracker is not None and self.tracker.closed:
            # A second train(): a new run (the earlier one is archived when the new one claims the directory).
            self.tracker.new_run()
        if self.tracker is None:
            output_dir = self.output_dir or Path(args.output_dir) / "evolution_snapshots"
            self._tracker_kwargs.setdefault("dataset_name", output_dir.name)
            model = kwargs.get("model")
            name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
            self._tracker_kwargs.setdefault("model_name", name)
            self.tracker = EvolutionTracker(output_dir=output_dir, **self._tracker_kwargs)
        self.last_train_loss = None
        resuming = state.global_step > 0
        # Bad examples raise here, before any training: a configuration error the user must see.
        self.tracker.start(
            state.global_step,
            resume=resuming,
            max_steps=state.max_steps,
            examples=self.examples,
            rank=args.process_index,
            world_size=args.world_size,
        )
        if self._tokenizer(kwargs) is None:
            # Every capture would fail the same way: say it now, once, with the fix; training goes on.
            self.tracker.disable(NO_TOKENIZER)
            return
        if resuming:
            logger.info("resuming at step %d: no new baseline", state.global_step)
            # The checkpoint's own snapshot may be missing: the crash came between the checkpoint and the
            # writer thread's write. The model now holds the checkpoint's weights: capture it again (a no-op
            # when the step is off-schedule or its snapshot is on disk).
            self._capture(state, kwargs, state.global_step)
            return
        self._capture(state, kwargs, 0, force=True)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if logs and "loss" in logs:
            with contextlib.suppress(TypeError, ValueError):
                self.last_train_loss = float(logs["loss"])

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.tracker is None or self.tracker.closed:
            return
        if self.tracker.should_capture(state.global_step):
            self._capture(state, kwargs, state.global_step)
        else:
            self.tracker.heartbeat(state.global_step, state.max_steps)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.tracker is None or self.tracker.closed:
            return
        if state.global_step not in self.tracker.captured_steps:
            self._capture(state, kwargs, state.global_step, force=True)
        self.tracker.close("finished")
