"""A plausible synthetic run, written with the tracker's own store: for tests, benches and demos.

The examples are "What is A+B?" questions. Each example gets a kind that decides its story:

* ``known``: right from step 0 (the model already knew it);
* ``learn``: wrong, then right from a learning step on (with the odd lucky guess before it);
* ``unstable``: learned, then forgotten and relearned now and then (Toneva-style forgetting events);
* ``hard``: never learned (near misses at best).

Everything is drawn from one seeded numpy generator, and timestamps come from a fixed base time, so
two calls with the same arguments write byte-identical files. Imports numpy, rapidfuzz and the
tracker's format modules only (no torch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Indel

from tracker.schema import ExampleResult, RunManifest, Snapshot
from tracker.scoring import summarize
from tracker.store import Format, SnapshotStore

BASE_TIME = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
KINDS = np.array(["known", "learn", "unstable", "hard"])
KIND_WEIGHTS = (0.05, 0.6, 0.17, 0.18)
_JUNK = "abcdefgh?!+= WXYZ"


def iso_at(seconds: float) -> str:
    """ISO 8601 UTC time ``seconds`` after BASE_TIME, as the tracker writes it."""
    moment = BASE_TIME + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SyntheticRun:
    """A whole run decided up front: ``snapshot(k)`` builds the k-th snapshot on demand."""

    n_examples: int
    n_steps: int
    seed: int = 0
    step_every: int = 10
    seconds_per_step: float = 0.5
    max_steps: int | None = None
    run_name: str = "synthetic"

    def __post_init__(self) -> None:
        if self.n_examples < 0 or self.n_steps < 1:
            raise ValueError("need n_examples >= 0 and n_steps >= 1")
        rng = np.random.default_rng(self.seed)
        n, k = self.n_examples, self.n_steps
        self.steps = np.arange(k, dtype=np.int64) * self.step_every
        last = max(int(self.steps[-1]), 1)
        width = len(str(max(n - 1, 0)))
        self.example_ids = [f"ex_{i:0{max(width, 3)}d}" for i in range(n)]
        a = rng.integers(0, 100, n)
        b = rng.integers(0, 100, n)
        self.inputs = [f"What is {x}+{y}?" for x, y in zip(a.tolist(), b.tolist(), strict=True)]
        answers = a + b
        self.expected = [str(v) for v in answers.tolist()]
        self.kind = rng.choice(KINDS, size=n, p=KIND_WEIGHTS)
        learn_at = rng.uniform(0.05, 0.85, n) * last
        t = self.steps[None, :].astype(np.float64)
        after = t >= learn_at[:, None]
        noise = rng.random((n, k))
        kind = self.kind[:, None]
        correct = np.zeros((n, k), dtype=bool)
        correct |= kind == "known"
        correct |= (kind == "learn") & (after | (noise < 0.04))
        correct |= (kind == "unstable") & after & (noise >= 0.3)
        correct |= (kind == "hard") & (noise < 0.015) & (t > 0)
        self.correct = correct
        # Probability of the gold answer: a sigmoid around the learning step, pushed to agree with
        # correctness, so loss and exact match tell the same story with some noise.
        spread = 0.08 * last
        p = 0.03 + 0.92 / (1.0 + np.exp(-(t - learn_at[:, None]) / spread))
        p = np.where(kind == "known", 0.9, p)
        p = np.where(kind == "hard", 0.05 + 0.1 * (t / last), p)
        p = p + rng.normal(0.0, 0.05, (n, k))
        p = np.where(correct, np.maximum(p, 0.55), np.minimum(p, 0.45))
        self.loss = -np.log(np.clip(p, 0.01, 0.995))
        # Wrong outputs: junk early in training, near misses later.
        self.offsets = rng.choice(np.array([-10, -2, -1, 1, 2, 10]), size=(n, k))
        self.junk = rng.integers(0, len(_JUNK), (n, k, 3))
        self.early = (t < 0.15 * last)[0]
        self.answers = answers

    def output(self, i: int, k: int) -> str:
        if self.correct[i, k]:
            return self.expected[i]
        if self.early[k] and self.kind[i] != "known":
            return "".join(_JUNK[j] for j in self.junk[i, k]).strip() or "?"
        return str(int(self.answers[i] + self.offsets[i, k]))

    def timestamp(self, k: int) -> str:
        return iso_at(float(self.steps[k]) * self.seconds_per_step)

    def snapshot(self, k: int) -> Snapshot:
        rows = []
        for i in range(self.n_examples):
            out = self.output(i, k)
            rows.append(
                ExampleResult(
                    example_id=self.example_ids[i],
                    input=self.inputs[i],
                    expected_output=self.expected[i],
                    model_output=out,
                    loss=round(float(self.loss[i, k]), 5),
                    similarity=round(float(Indel.normalized_similarity(out, self.expected[i])), 5),
                    exact_match=bool(self.correct[i, k]),
                )
            )
        step = int(self.steps[k])
        return Snapshot(
            training_step=step,
            examples=rows,
            snapshot_id=f"{self.run_name}-{step}",
            timestamp=self.timestamp(k),
            model_version=f"step-{step}",
            summary=summarize(rows),
            epoch=round(step / max(self.n_steps * self.step_every, 1), 4),
            train_loss=round(float(np.nanmean(self.loss[:, k])) if self.n_examples else 0.0, 5),
            learning_rate=3e-3,
            eval_seconds=0.01 * self.n_examples / 100,
        )

    def manifest(self, k: int, status: str | None = None) -> RunManifest:
        """run.json as the tracker would leave it right after writing snapshot ``k``."""
        if status is None:
            status = "finished" if k == self.n_steps - 1 and self.max_steps is None else "running"
        return RunManifest(
            run_id=f"{self.run_name}-seed{self.seed}",
            run_name=self.run_name,
            model_name="synthetic-tiny",
            created_at=iso_at(0.0),
            updated_at=self.timestamp(k),
            current_step=int(self.steps[k]),
            max_steps=self.max_steps if self.max_steps is not None else int(self.steps[-1]),
            status=status,  # type: ignore[arg-type]
            schedule=f"every {self.step_every}",
            n_examples=self.n_examples,
            tracker_version="synthetic",
        )


def write_synthetic_run(
    directory: str | os.PathLike[str],
    n_examples: int,
    n_steps: int,
    fmt: Format = "json",
    seed: int = 0,
    *,
    step_every: int = 10,
    max_steps: int | None = None,
    status: str | None = None,
    run_name: str | None = None,
    manifest: bool = True,
    upto: int | None = None,
) -> SyntheticRun:
    """Write a synthetic run's snapshots (and run.json) into ``directory``; returns the run.

    ``upto`` writes only the first ``upto`` snapshots, so a test can write the rest while an app
    watches (``run.snapshot(k)`` + the store). ``max_steps`` larger than the last step makes a run
    that looks unfinished (progress bar, ETA). fsync is off: these are throwaway files.
    """
    directory = Path(directory)
    run = SyntheticRun(
        n_examples,
        n_steps,
        seed=seed,
        step_every=step_every,
        max_steps=max_steps,
        run_name=run_name or directory.name or "synthetic",
    )
    store = SnapshotStore(directory, fmt=fmt, fsync=False)
    store.ensure()
    count = n_steps if upto is None else min(upto, n_steps)
    for k in range(count):
        store.write(run.snapshot(k))
    if manifest and count:
        store.write_manifest(run.manifest(count - 1, status))
    return run


# The run shown in the SVG snapshot tests and in screenshots/: mid-training, so the header has a
# progress bar and an ETA, with every status present.
DEMO_RUN = {"n_examples": 60, "n_steps": 31, "step_every": 50, "max_steps": 3000, "seed": 7}


def write_demo_runs(parent: str | os.PathLike[str]) -> tuple[Path, float]:
    """Write ``parent/demo-addition`` (live) and two smaller finished runs; returns (live run dir, "now").

    "now" is 12 s after the live run's last snapshot: pass ``lambda: now`` as the app's clock.
    """
    parent = Path(parent)
    run = write_synthetic_run(parent / "demo-addition", fmt="json", run_name="demo-addition", **DEMO_RUN)  # type: ignore[arg-type]
    write_synthetic_run(parent / "baseline-lr1e-3", 40, 12, seed=3, step_every=100, run_name="baseline-lr1e-3")
    write_synthetic_run(parent / "tiny-msgpack", 25, 6, fmt="msgpack", seed=4, step_every=200, run_name="tiny-msgpack")
    last = BASE_TIME + timedelta(seconds=float(run.steps[-1]) * run.seconds_per_step)
    return parent / "demo-addition", last.timestamp() + 12.0
