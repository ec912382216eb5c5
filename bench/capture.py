"""Capture cost on CPU, with its baselines measured in the same run. Prints a table.

    python bench/capture.py [--repeats 5] [--examples 100] [--steps 800] [--skip-run] [--trl-only]

For the tiny model (hidden 64, 2 layers, trained 300 steps so that answers stop at EOS) and a ~10M
parameter Llama (hidden 384, 7 layers, untrained: every generation runs to max_new_tokens), 100 examples:

1. batched capture vs one example at a time (same examples, same max_new_tokens);
2. capture vs the bare model compute: one batched forward + one batched generate per batch of the same
   pre-built tensors, no tracker (no tokenising, decoding, scoring, writing);
3. training-thread time per snapshot beyond the model compute (capture call minus its eval_seconds), and
   the writer thread's own time per snapshot (scoring + encoding + atomic write), which runs off-thread;
4. whole-run wall time of the toy Trainer run with and without EvolutionCallback (the seed's schedule);
5. our capture vs TRL's completion logging (``trl.trainer.callbacks.LogCompletionsCallback``, which calls
   ``_generate_completions``: left-padded ``generate`` per batch of ``per_device_eval_batch_size`` prompts (8 by
   default), decode; no loss, no scoring, nothing written but a table handed to W&B/Comet), on the same model,
   prompts and generation config, interleaved in one run. TRL's path is timed at its default batch of 8 and at
   our batch of 32. Ours adds per-example loss, similarity and exact match, and writes a snapshot file.

Figures are medians over ``--repeats`` interleaved rounds after a warm-up call (ratios: medians of per-round
ratios; the overhead also best round vs best round, which a busy shared machine disturbs least).
Expectations from issue 3: (1) >= 5x, (2) <= 15% overhead, (3) <= 5 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BATCH_SIZE = 32


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def train_briefly(model: Any, tok: Any, steps: int = 300) -> None:
    import torch

    from tracker.toy import PadCollator, ToyTrainDataset, addition_examples

    data = ToyTrainDataset(addition_examples(), tok)
    collate = PadCollator(tok.pad_token_id)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    model.train()
    for step in range(steps):
        batch = collate([data[(step * 32 + k) % len(data)] for k in range(32)])
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()


def bare_compute(model: Any, tok: Any, examples: list[Any], max_new_tokens: int) -> Any:
    """A closure doing only the model calls a capture needs, on tensors built beforehand."""
    import torch
    from transformers import GenerationConfig

    from tracker.evaluate import _left_pad, encode_examples

    encoded = encode_examples(examples, tok)
    batches = []
    for i in range(0, len(encoded), BATCH_SIZE):
        chunk = encoded[i : i + BATCH_SIZE]
        full = _left_pad([e.prompt_ids + e.answer_ids for e in chunk], tok.pad_token_id, "cpu")
        prompt = _left_pad([e.prompt_ids for e in chunk], tok.pad_token_id, "cpu")
        batches.append((full, prompt))
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )

    def run() -> None:
        model.eval()
        with torch.inference_mode():
            for (ids, mask, pos), (pids, pmask, _) in batches:
                model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
                model.generate(input_ids=pids, attention_mask=pmask, generation_config=config)

    return run


def measure_model(label: str, model: Any, tok: Any, rows: list[dict[str, str]], repeats: int) -> list[tuple[str, str]]:
    from tracker import EvolutionTracker
    from tracker.evaluate import default_max_new_tokens, encode_examples
    from tracker.examples import load_examples

    examples = load_examples(rows)
    max_new = default_max_new_tokens(encode_examples(examples, tok))
    n_params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        batched = EvolutionTracker(
            output_dir=Path(tmp) / "b", schedule="every 1", batch_size=BATCH_SIZE, max_new_tokens=max_new
        )
        single = EvolutionTracker(output_dir=Path(tmp) / "s", schedule="every 1", batch_size=1, max_new_tokens=max_new)
        step = iter(range(10**9))

        blocked: list[float] = []
        writes: list[float] = []

        def capture_batched() -> float:
            """Seconds the training thread spent in the capture call (the write finishes off-thread)."""
            t0 = time.perf_counter()
            batched.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=next(step))
            total = time.perf_counter() - t0
            batched.flush()  # outside the timed call: the next capture starts from an idle writer
            if batched.last_eval_seconds is not None:
                blocked.append(total - batched.last_eval_seconds)
            if batched.last_write_seconds is not None:
                writes.append(batched.last_write_seconds)
            return total

        def capture_single() -> float:
            t0 = time.perf_counter()
            single.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=next(step))
            total = time.perf_counter() - t0
            single.flush()
            return total

        bare = bare_compute(model, tok, examples, max_new)
        # Interleaved, one of each per round: the machine is shared, and a slow moment then hits every
        # variant alike instead of one of them. The ratios are medians of per-round ratios.
        for fn in (capture_batched, capture_single, bare):
            fn()  # warm-up
        blocked.clear()
        writes.clear()
        t_batched_all, t_single_all, t_bare_all = [], [], []
        for round_ in range(repeats):
            t_batched_all.append(capture_batched())
            t_bare_all.append(_timed(bare))
            if round_ < max(2, repeats // 2):  # one at a time is slow: fewer rounds
                t_single_all.append(capture_single())
        t_batched = statistics.median(t_batched_all)
        t_bare = statistics.median(t_bare_all)
        t_single = statistics.median(t_single_all)
        overhead = statistics.median(b / a - 1 for a, b in zip(t_bare_all, t_batched_all, strict=True))
        speedup = statistics.median(s / b for s, b in zip(t_single_all, t_batched_all, strict=False))
        best_overhead = min(t_batched_all) / min(t_bare_all) - 1  # best vs best: the least disturbed rounds
        batched.close()
        single.close()
    return [
        (f"{label}: parameters", f"{n_params / 1e6:.2f} M, {len(rows)} examples, max_new_tokens {max_new}"),
        (f"{label}: capture, batched ({BATCH_SIZE})", f"{1000 * t_batched:8.1f} ms"),
        (f"{label}: capture, one at a time", f"{1000 * t_single:8.1f} ms   -> batched is {speedup:.1f}x faster"),
        (
            f"{label}: bare model compute",
            f"{1000 * t_bare:8.1f} ms   -> capture overhead {100 * overhead:+.1f}%"
            f" (best vs best {100 * best_overhead:+.1f}%)",
        ),
        (
            f"{label}: training thread beyond compute",
            f"{1000 * statistics.median(blocked):8.3f} ms per snapshot (median of {len(blocked)})",
        ),
        (
            f"{label}: writer thread per snapshot",
            f"{1000 * statistics.median(writes):8.2f} ms (score + encode + fsync'd write, off the training thread)",
        ),
    ]


def trl_completions(model: Any, tok: Any, rows: list[dict[str, str]], max_new_tokens: int, batch_size: int) -> Any:
    """A closure running TRL's own completion-logging generation (``_generate_completions``) on the prompts."""
    from accelerate import Accelerator
    from trl.trainer.callbacks import _generate_completions

    from tracker.evaluate import make_generation_config

    accelerator = Accelerator(cpu=True)
    # LogCompletionsCallback sets left padding and applies the chat template to each prompt; these are plain.
    tok.padding_side = "left"
    prompts = [r["prompt"] for r in rows]
    config = make_generation_config(tok.pad_token_id, [tok.eos_token_id], max_new_tokens)

    def run() -> list[str]:
        return _generate_completions(
            prompts,
            model=model,
            tokenizer=tok,
            accelerator=accelerator,
            generation_config=config,
            batch_size=batch_size,
        )

    return run


def measure_trl(label: str, model: Any, tok: Any, rows: list[dict[str, str]], repeats: int) -> list[tuple[str, str]]:
    from tracker import EvolutionTracker
    from tracker.evaluate import default_max_new_tokens, encode_examples
    from tracker.examples import load_examples

    max_new = default_max_new_tokens(encode_examples(load_examples(rows), tok))
    trl_8 = trl_completions(model, tok, rows, max_new, batch_size=8)
    trl_32 = trl_completions(model, tok, rows, max_new, batch_size=BATCH_SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        ours = EvolutionTracker(output_dir=tmp, schedule="every 1", batch_size=BATCH_SIZE, max_new_tokens=max_new)
        steps = iter(range(10**9))

        def capture() -> None:
            ours.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=next(steps))
            ours.flush()  # included: the snapshot is scored and on disk, as TRL's table is in memory

        for fn in (capture, trl_8, trl_32):
            fn()  # warm-up
        t_ours, t_8, t_32 = [], [], []
        for _ in range(repeats):
            t_ours.append(_timed(capture))
            t_8.append(_timed(trl_8))
            t_32.append(_timed(trl_32))
        same = sum(
            a.model_output == b
            for a, b in zip(ours_last_snapshot(Path(tmp)).examples, trl_32(), strict=True)  # type: ignore[union-attr]
        )
        ours.close()
    r8 = statistics.median(o / t for o, t in zip(t_ours, t_8, strict=True))
    r32 = statistics.median(o / t for o, t in zip(t_ours, t_32, strict=True))
    return [
        (f"{label}: ours, capture + write", f"{1000 * statistics.median(t_ours):8.1f} ms (loss, output, similarity, "
         "exact match per example; a snapshot file)"),
        (f"{label}: TRL completions, batch 8", f"{1000 * statistics.median(t_8):8.1f} ms (prompt, completion)"
         f"   -> ours / TRL = {r8:.2f}"),
        (f"{label}: TRL completions, batch {BATCH_SIZE}", f"{1000 * statistics.median(t_32):8.1f} ms"
         f"   -> ours / TRL = {r32:.2f}"),
        (f"{label}: same greedy outputs", f"{same}/{len(rows)}"),
    ]


def ours_last_snapshot(directory: Path) -> Any:
    from tracker.store import list_snapshot_files, read_snapshot

    return read_snapshot(list_snapshot_files(directory)[-1].path)


def measure_run(steps: int, n_examples: int, rounds: int = 3) -> list[tuple[str, str]]:
    from tracker.schedule import make_schedule
    from tracker.toy_train import train_toy

    without: list[float] = []
    with_cb: list[float] = []
    # The Trainer prints its logs; they are not part of this table.
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        # Alternating without/with, so a slow moment on the shared machine does not land on one side only.
        for r in range(rounds):
            without.append(
                train_toy(Path(tmp) / f"none{r}", steps=steps, n_examples=n_examples, with_tracker=False)["seconds"]
            )
            with_cb.append(
                train_toy(Path(tmp) / f"evo{r}", steps=steps, n_examples=n_examples, schedule=None)["seconds"]
            )
    schedule = make_schedule(None)
    captures = len(schedule.steps_until(steps)) + (0 if schedule.should_capture(steps) else 1)
    t_without, t_with = min(without), min(with_cb)
    runs = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    return [
        (f"toy run {steps} steps: without callback", f"{t_without:8.2f} s best of {rounds} ({runs(without)})"),
        (f"toy run {steps} steps: with callback", f"{t_with:8.2f} s best of {rounds} ({runs(with_cb)})"),
        (
            f"toy run {steps} steps: callback cost",
            f"{t_with - t_without:+8.2f} s ({100 * (t_with - t_without) / t_without:+.1f}%) for {captures} captures "
            f"of {n_examples} examples (seed schedule + last step)",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--steps", type=int, default=800, help="steps of the whole-run comparison")
    parser.add_argument("--skip-run", action="store_true", help="skip the whole-run comparison")
    parser.add_argument("--trl-only", action="store_true", help="only the comparison with TRL's completion logging")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 is steadier on a busy machine; default: torch's)"
    )
    args = parser.parse_args()

    import logging

    import torch

    logging.getLogger("tracker").setLevel(logging.WARNING)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from tracker.toy import addition_examples, build_char_tokenizer, build_tiny_llama

    rows = addition_examples()[: args.examples]
    tok = build_char_tokenizer()
    table: list[tuple[str, str]] = [("torch threads", str(torch.get_num_threads()))]

    tiny = build_tiny_llama(tok, hidden_size=64, seed=0)
    train_briefly(tiny, tok)
    if not args.trl_only:
        table += measure_model("tiny", tiny, tok, rows, args.repeats)
    table += measure_trl("tiny vs TRL", tiny, tok, rows, args.repeats)
    if args.trl_only:
        args.skip_run = True

    medium = build_tiny_llama(tok, hidden_size=384, num_layers=7, num_heads=6, seed=0)
    if not args.trl_only:
        table += measure_model("10M", medium, tok, rows, max(2, args.repeats // 2))
    table += measure_trl("10M vs TRL", medium, tok, rows, max(2, args.repeats // 2))

    if not args.skip_run:
        table += measure_run(args.steps, args.examples)

    width = max(len(k) for k, _ in table)
    for key, value in table:
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
