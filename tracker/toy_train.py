"""Train the toy addition model with the real Trainer and EvolutionCallback: a real run to watch.

    python -m tracker.toy_train --output-dir runs/toy --steps 800 --examples 100 [--hidden 64] [--seed 0]
                                [--schedule "every 25"] [--threads 1] [--task mixed] [--lr-schedule cosine]

Snapshots go straight into ``--output-dir`` (``evotui watch runs/toy``). On 2 CPU cores the model goes
from 0% to most answers right in well under a minute at the defaults. ``evotui demo`` runs this in a
background process; the screenshot script uses it to make a real run.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_STEPS = 800
DEFAULT_EXAMPLES = 100
DEFAULT_SCHEDULE = "every 25"


def train_toy(
    output_dir: str | os.PathLike[str],
    steps: int = DEFAULT_STEPS,
    n_examples: int = DEFAULT_EXAMPLES,
    hidden: int = 64,
    seed: int = 0,
    schedule: Any = DEFAULT_SCHEDULE,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    snapshot_format: str = "json",
    callbacks: list[Any] | None = None,
    trainer_dir: str | os.PathLike[str] | None = None,
    resume_from_checkpoint: str | bool | None = None,
    save_steps: int | None = None,
    with_tracker: bool = True,
    threads: int | None = None,
    task: str = "sums",
    lr_scheduler: str = "constant_with_warmup",
    **trainer_kwargs: Any,
) -> dict[str, Any]:
    """Train the toy model for ``steps`` steps, capturing ``n_examples`` examples into ``output_dir``.

    ``trainer_dir`` holds the Trainer's own files (checkpoints when ``save_steps`` is set); a temporary
    directory by default. ``threads`` sets torch's thread count (1 is faster for this model on a busy
    machine, e.g. next to the viewer). ``task``: "sums" (A, B in 0..20) or "mixed" (those and harder
    two-digit sums, the demo's: see ``tracker.toy.mixed_examples``). ``lr_scheduler``: a Trainer
    ``lr_scheduler_type``; the demo decays it ("cosine") so that what was learned settles.
    Returns ``{"global_step", "train_loss", "seconds", "trainer", "callback"}``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import time

    from transformers import Trainer, TrainingArguments, set_seed

    from tracker.callback import EvolutionCallback
    from tracker.toy import TASKS, PadCollator, ToyTrainDataset, build_char_tokenizer, build_tiny_llama

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
        logging.getLogger(__name__).info("torch threads: %d", torch.get_num_threads())
    set_seed(seed)
    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, hidden_size=hidden, seed=seed)
    if task not in TASKS:
        raise ValueError(f"unknown toy task {task!r}: one of {', '.join(TASKS)}")
    rows = TASKS[task](seed=seed)
    callback = None
    all_callbacks = list(callbacks or [])
    if with_tracker:
        callback = EvolutionCallback(
            examples=rows[:n_examples],
            output_dir=output_dir,
            schedule=schedule,
            max_examples=n_examples,
            snapshot_format=snapshot_format,  # type: ignore[arg-type]
            dataset_name="toy_addition",
            model_name=f"tiny-llama-h{hidden}",
        )
        all_callbacks.append(callback)

    tmp = None
    if trainer_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="evotui-toy-")
        trainer_dir = tmp.name
    args = TrainingArguments(
        output_dir=str(trainer_dir),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type=lr_scheduler,
        warmup_steps=min(50, max(1, steps // 10)),
        logging_steps=10,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        seed=seed,
        dataloader_num_workers=0,
        **trainer_kwargs,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=ToyTrainDataset(rows, tokenizer),
        data_collator=PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=all_callbacks,
    )
    t0 = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    except BaseException as exc:
        # on_train_end never comes: say in run.json that this run was stopped (Ctrl-C, SIGTERM) or failed.
        if callback is not None and callback.tracker is not None:
            callback.tracker.close("stopped" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {
        "global_step": output.global_step,
        "train_loss": output.training_loss,
        "seconds": time.perf_counter() - t0,
        "trainer": trainer,
        "callback": callback,
    }


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracker.toy_train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, type=Path, help="where the snapshots go")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="examples tracked (max 441)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", default=DEFAULT_SCHEDULE, help='"default", "every N" or "0,10,50,..."')
    parser.add_argument("--format", default="json", choices=["json", "msgpack"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--task", default="sums", choices=["sums", "mixed"], help="mixed: with harder sums")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--lr-schedule", default="constant_with_warmup", help='e.g. "cosine", "linear"')
    args = parser.parse_args(argv)
    schedule: Any = args.schedule
    if "," in schedule:
        schedule = [int(s) for s in schedule.split(",") if s.strip()]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # `evotui demo` stops this process with SIGTERM: end like Ctrl-C, so run.json says "stopped", not "running".
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = train_toy(
            args.output_dir,
            steps=args.steps,
            n_examples=args.examples,
            hidden=args.hidden,
            seed=args.seed,
            schedule=schedule,
            snapshot_format=args.format,
            threads=args.threads,
            task=args.task,
            lr_scheduler=args.lr_schedule,
            learning_rate=args.lr,
        )
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 130
    print(f"trained {result['global_step']} steps in {result['seconds']:.1f} s; snapshots in {args.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
