"""Shared by the compare tests (test_compare.py, test_watch_compare.py): two REAL toy runs, and a plain
per-example computation of what a comparison must say, straight from the snapshot files.

The toy runs train the tiny addition model for real (``tracker.toy_train``) with two learning rates on
the same 24 examples, torch on one thread; the ``toy_pair`` fixture (tests/_compare_fixtures.py, a plugin
the test modules name in ``pytest_plugins``) trains them once per test session, ~30 s on 2 busy cores.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from tracker.schema import Snapshot
from tracker.store import ReadError, SnapshotStore, list_snapshot_files, read_manifest, read_snapshot
from tracker.synthetic import BASE_TIME, SyntheticRun

TOY_STEPS = 400
TOY_EXAMPLES = 24
TOY_SCHEDULE = "every 25"
LEARNING_RATES = (3e-3, 1e-2)


def train_toy_pair(root: Path) -> tuple[Path, Path]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch

    from tracker.toy_train import train_toy

    threads = torch.get_num_threads()
    paths = []
    try:
        for lr in LEARNING_RATES:
            out = root / f"toy-lr{lr:g}"
            train_toy(out, steps=TOY_STEPS, n_examples=TOY_EXAMPLES, schedule=TOY_SCHEDULE, learning_rate=lr, threads=1)
            paths.append(out)
    finally:
        torch.set_num_threads(threads)
    return paths[0], paths[1]


def write_compare_pair(parent: Path) -> tuple[Path, Path, float]:
    """Two seeded synthetic runs of the same 40 questions for the pictures: A finished at step 800, B (other
    dynamics: another seed's) still running at step 600 of 800. Returns (A, B, "now": 12 s after the
    last snapshot, for a frozen clock). Byte-identical on every call."""
    a = SyntheticRun(40, 17, seed=7, step_every=50, max_steps=800, run_name="lr-3e-3")
    b = SyntheticRun(40, 13, seed=7, step_every=50, max_steps=800, run_name="lr-1e-2")
    other = SyntheticRun(40, 13, seed=11, step_every=50)
    # B asks A's questions (seed 7's texts and answers) but learns them as seed 11's run does.
    b.correct, b.loss, b.kind, b.offsets, b.junk = other.correct, other.loss, other.kind, other.offsets, other.junk
    dirs = []
    for run in (a, b):
        store = SnapshotStore(parent / run.run_name, fsync=False)
        store.ensure()
        for k in range(run.n_steps):
            store.write(run.snapshot(k))
        store.write_manifest(run.manifest(run.n_steps - 1, "finished" if run is a else "running"))
        dirs.append(parent / run.run_name)
    last = max(float(run.steps[-1]) * run.seconds_per_step for run in (a, b))
    now = BASE_TIME.timestamp() + last + 12.0
    return dirs[0], dirs[1], now


def snapshots_of(directory: Path) -> list[Snapshot]:
    out: list[Snapshot] = []
    for f in list_snapshot_files(directory):
        snapshot = read_snapshot(f.path)
        assert not isinstance(snapshot, ReadError), snapshot
        out.append(snapshot)
    return sorted(out, key=lambda s: s.training_step)


def max_steps_of(directory: Path) -> int | None:
    manifest = read_manifest(directory)
    return None if manifest is None or isinstance(manifest, ReadError) else manifest.max_steps


@dataclass
class PlainExample:
    status: str
    learned_step: int | None
    output_now: str
    input: str


def plain_examples(directory: Path) -> dict[str, PlainExample]:
    """Each example's status and learned step by the definitions in DESIGN.md, written out plainly."""
    history: dict[str, list[tuple[int, bool, str, str]]] = {}
    for snapshot in snapshots_of(directory):
        for row in snapshot.examples:
            history.setdefault(row.example_id, []).append(
                (snapshot.training_step, row.exact_match, row.model_output, row.input)
            )
    out = {}
    for example_id, points in history.items():
        rights = [right for _, right, _, _ in points]
        forgets = sum(1 for before, now in itertools.pairwise(rights) if before and not now)
        learned = None
        if rights[-1]:
            last_wrong = max((k for k, right in enumerate(rights) if not right), default=-1)
            learned = points[last_wrong + 1][0]
        if not any(rights):
            status = "never"
        elif forgets == 0 and points[0][0] == 0 and rights[0]:
            status = "known"
        elif forgets == 0:
            status = "learned"
        elif rights[-1]:
            status = "unstable"
        else:
            status = "forgotten"
        out[example_id] = PlainExample(status, learned, points[-1][2], points[-1][3])
    return out


def plain_quick_counts(a: dict[str, PlainExample], b: dict[str, PlainExample]) -> dict[str, int]:
    """The quick filters over the examples both runs hold (matched by id), counted one by one."""
    counts = dict.fromkeys(
        ("all", "a_only", "b_only", "both", "neither", "b_faster", "b_slower", "differ", "forgotten_one"), 0
    )
    for example_id, ea in a.items():
        eb = b.get(example_id)
        if eb is None:
            continue
        la, lb = ea.learned_step is not None, eb.learned_step is not None
        counts["all"] += 1
        counts["a_only"] += la and not lb
        counts["b_only"] += lb and not la
        counts["both"] += la and lb
        counts["neither"] += not la and not lb
        if la and lb:
            assert ea.learned_step is not None and eb.learned_step is not None
            counts["b_faster"] += eb.learned_step < ea.learned_step
            counts["b_slower"] += eb.learned_step > ea.learned_step
        counts["differ"] += ea.output_now != eb.output_now
        counts["forgotten_one"] += (ea.status == "forgotten") != (eb.status == "forgotten")
    return counts
