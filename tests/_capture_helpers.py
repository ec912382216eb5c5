"""Shared pieces of the capture tests: offline settings, the toy model, the seed's chat examples."""

from __future__ import annotations

import contextlib
import os

# Before transformers is imported anywhere in the test process: nothing can be downloaded.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker.schema import Snapshot
from tracker.store import list_snapshot_files, read_snapshot

# The seed note's test data, as written there.
SEED_JSONL = (
    '{"messages":[{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4"}]}\n'
    '{"messages":[{"role":"user","content":"What is 3+3?"},{"role":"assistant","content":"6"}]}\n'
)


def toy_model_and_tokenizer(hidden: int = 64, seed: int = 0) -> tuple[Any, Any]:
    from tracker.toy import build_char_tokenizer, build_tiny_llama

    tok = build_char_tokenizer()
    return build_tiny_llama(tok, hidden_size=hidden, seed=seed), tok


def snapshots(directory: str | Path) -> dict[int, Snapshot]:
    """Every snapshot in ``directory`` by step; fails the test on an unreadable file."""
    out: dict[int, Snapshot] = {}
    for f in list_snapshot_files(directory):
        snap = read_snapshot(f.path)
        assert isinstance(snap, Snapshot), snap
        assert f.step not in out, f"two files for step {f.step}"
        out[f.step] = snap
    return out


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread, then restore the count.

    The toy models gain nothing from a second thread, and on a busy 2-core machine OpenMP's spinning
    threads make a run several times slower (measured: 17 s vs 41 s for the resume test under load).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
