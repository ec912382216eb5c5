"""Run by torchrun from tests/test_capture_distributed.py: the toy run under DDP (gloo, CPU).

python -m torch.distributed.run --standalone --nproc_per_node=2 tests/_capture_ddp_train.py OUT STEPS N_EXAMPLES
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the worktree, as pytest's pythonpath does

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main() -> None:
    from tracker.toy_train import train_toy

    out, steps, n_examples = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    result = train_toy(
        out,
        steps=steps,
        n_examples=n_examples,
        schedule="every 20",
        batch_size=16,
        trainer_dir=out.parent / "trainer",
        ddp_timeout=60,
        ddp_find_unused_parameters=False,
    )
    print(f"rank {os.environ.get('RANK')} done at step {result['global_step']}", flush=True)


if __name__ == "__main__":
    main()
