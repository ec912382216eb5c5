"""Run by torchrun from tests/test_capture_distributed.py: capture from an FSDP2-sharded model (gloo, CPU).

Each rank trains the same seeded toy model for a few steps (so answers stop at different lengths), then
keeps an unsharded copy as the reference, shards the model with ``fully_shard`` and captures one snapshot.
Rank 0 checks the snapshot against the reference and prints one line per check.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/_capture_fsdp_eval.py OUT
"""

from __future__ import annotations

import copy
import os
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main() -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from tracker import EvolutionTracker
    from tracker.evaluate import evaluate
    from tracker.examples import load_examples
    from tracker.store import read_snapshot
    from tracker.toy import PadCollator, ToyTrainDataset, addition_examples, build_char_tokenizer, build_tiny_llama

    dist.init_process_group("gloo", timeout=timedelta(seconds=60))
    rank = dist.get_rank()
    out = Path(sys.argv[1])
    tok = build_char_tokenizer()
    model = build_tiny_llama(tok, seed=0)
    rows = addition_examples(seed=0)
    data = ToyTrainDataset(rows, tok)
    collate = PadCollator(tok.pad_token_id)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for step in range(250):  # identical on both ranks: same seed, same batches
        batch = collate([data[(step * 32 + k) % len(data)] for k in range(32)])
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()

    # Rank 0 gets small sums (one-digit answers), rank 1 large ones: their generations stop at different lengths,
    # which without synced generation leaves the ranks in mismatched collectives.
    small = [r for r in rows if int(r["completion"]) < 10][:7]
    large = [r for r in rows if int(r["completion"]) >= 20][:6]
    examples = [r for pair in zip(small, [*large, None], strict=True) for r in pair if r is not None]
    reference = evaluate(copy.deepcopy(model), tok, load_examples(examples), batch_size=4)
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)

    # Shards of 7 and 6 at batch size 3: 3 batches and 2, so rank 1 must run a filler batch to keep in step.
    tracker = EvolutionTracker(output_dir=out, batch_size=3)
    tracker.capture_snapshot(model=model, tokenizer=tok, examples=examples, current_step=0)
    tracker.close()
    dist.barrier()
    if rank == 0:
        snap = read_snapshot(out / "step_000000.json")
        outputs = [e.model_output for e in snap.examples]
        print("ids-match", [e.example_id for e in snap.examples] == [r["id"] for r in examples], flush=True)
        print("outputs-match", outputs == [p.model_output for p in reference], flush=True)
        close = all(abs(e.loss - p.loss) < 1e-4 for e, p in zip(snap.examples, reference, strict=True))
        print("losses-match", close, flush=True)
        lengths = sorted({len(o) for o in outputs})
        print("answer-lengths", lengths, flush=True)
    # Both ranks leave together: a rank tearing gloo down while the other still reads its results aborted in
    # gloo's threads ("terminate called without an active exception", SIGABRT) on a loaded machine.
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
