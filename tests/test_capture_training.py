"""A real Trainer training the tiny Llama with EvolutionCallback: schedule, learning, resume, archive, errors."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._capture_helpers import one_torch_thread, snapshots
from tracker.schedule import make_schedule
from tracker.schema import RunManifest
from tracker.store import read_manifest
from tracker.toy import addition_examples

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def test_trainer_run_captures_the_schedule_and_learns(tmp_path: Path) -> None:
    from tracker.toy_train import train_toy

    out = tmp_path / "evo"
    result = train_toy(out, steps=300, n_examples=60, schedule=None)  # None: the seed's default schedule
    assert result["global_step"] == 300
    snaps = snapshots(out)
    expected_steps = make_schedule(None).steps_until(300)
    assert expected_steps == [0, 10, 25, 50, 100, 150, 200, 250]
    assert sorted(snaps) == [*expected_steps, 300]  # plus the last step

    ids = [r["id"] for r in addition_examples()[:60]]
    for step, snap in snaps.items():
        assert [e.example_id for e in snap.examples] == ids, step
        assert all(e.loss is not None and math.isfinite(e.loss) for e in snap.examples), step
        assert snap.summary is not None and snap.summary.total_examples == 60
        assert snap.eval_seconds is not None and snap.eval_seconds > 0
        if step > 0:
            assert snap.epoch is not None and snap.epoch > 0
            assert snap.learning_rate is not None and snap.learning_rate > 0
        if step >= 25:
            assert snap.train_loss is not None and math.isfinite(snap.train_loss)
    first, last = snaps[0].summary, snaps[300].summary
    assert first is not None and last is not None
    # On one torch thread this run is deterministic here: 0% -> 20% right, loss 4.58 -> 1.04 (0.3 was never reached).
    assert last.accuracy > first.accuracy and last.accuracy >= 0.15
    assert last.avg_loss is not None and first.avg_loss is not None and last.avg_loss < first.avg_loss / 3

    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest)
    assert manifest.status == "finished" and manifest.errors == 0
    assert manifest.max_steps == 300 and manifest.current_step == 300
    assert manifest.example_ids == ids and manifest.n_examples == 60


def test_resume_from_checkpoint_then_a_new_run_archives(tmp_path: Path) -> None:
    from tracker.toy_train import train_toy

    out, ckpt = tmp_path / "evo", tmp_path / "trainer"
    train_toy(out, steps=60, n_examples=10, schedule="every 20", trainer_dir=ckpt, save_steps=40)
    first = read_manifest(out)
    assert isinstance(first, RunManifest)
    baseline_bytes = (out / "step_000000.json").read_bytes()
    assert sorted(snapshots(out)) == [0, 20, 40, 60]

    # Resume from checkpoint-40 and train to 80: no new baseline, 0..40 kept, the old 60 moved aside, and
    # the same 10 examples evaluated even though this run is given 12.
    train_toy(
        out,
        steps=80,
        n_examples=12,
        schedule="every 20",
        trainer_dir=ckpt,
        save_steps=40,
        resume_from_checkpoint=str(ckpt / "checkpoint-40"),
    )
    assert (out / "step_000000.json").read_bytes() == baseline_bytes
    resumed_snaps = snapshots(out)
    assert sorted(resumed_snaps) == [0, 20, 40, 60, 80]
    assert [e.example_id for e in resumed_snaps[80].examples] == first.example_ids
    moved = out / "archive" / f"{first.run_id}-after-40"
    assert [p.name for p in moved.iterdir()] == ["step_000060.json"]
    resumed = read_manifest(out)
    assert isinstance(resumed, RunManifest)
    assert resumed.run_id == first.run_id and resumed.example_ids == first.example_ids
    assert resumed.status == "finished" and resumed.max_steps == 80

    # A fresh run into the same directory: the whole first run moves to archive/<run_id>/.
    train_toy(out, steps=20, n_examples=10, schedule="every 20", trainer_dir=tmp_path / "trainer2")
    archived = out / "archive" / first.run_id
    assert sorted(p.name for p in archived.iterdir()) == [
        "run.json",
        "step_000000.json",
        "step_000020.json",
        "step_000040.json",
        "step_000060.json",
        "step_000080.json",
    ]
    assert (archived / "step_000000.json").read_bytes() == baseline_bytes
    assert sorted(snapshots(out)) == [0, 20]
    fresh = read_manifest(out)
    assert isinstance(fresh, RunManifest) and fresh.run_id != first.run_id and fresh.status == "finished"


def test_exception_in_generation_does_not_stop_training(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from transformers import TrainerCallback

    from tracker.toy_train import train_toy

    class BreakGenerateOnce(TrainerCallback):
        """Makes generate raise once, at the capture of step 20 (runs before EvolutionCallback)."""

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step == 20:

                def broken(*a, **k):
                    del model.generate  # once: the next capture works again
                    raise RuntimeError("generation blew up (test)")

                model.generate = broken

    out = tmp_path / "evo"
    with caplog.at_level(logging.ERROR, logger="tracker"):
        result = train_toy(out, steps=50, n_examples=8, schedule="every 20", callbacks=[BreakGenerateOnce()])
    assert result["global_step"] == 50
    assert sorted(snapshots(out)) == [0, 40, 50]
    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest)
    assert manifest.errors == 1 and manifest.status == "finished"
    assert manifest.last_error == "step 20: RuntimeError: generation blew up (test)"
    assert "capture at step 20 failed" in caplog.text


@pytest.mark.timeout(120)
def test_toy_train_cli_writes_a_run_and_sigterm_marks_it_stopped(tmp_path: Path) -> None:
    """What `evotui demo` does: start the CLI in the background, watch files appear, stop it with SIGTERM.

    Stopped on purpose is ``stopped`` (not ``failed``), and the lock file naming the process is gone.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "evo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tracker.toy_train", "--output-dir", str(out), "--steps", "100000", "--examples", "5"]
    cmd += ["--schedule", "every 10", "--threads", "1"]
    proc = subprocess.Popen(
        cmd,
        cwd=Path(__file__).parent.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not (out / "step_000020.json").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "no snapshot at step 20 within 90 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, output[-3000:]
    snaps = snapshots(out)
    assert {0, 10, 20} <= set(snaps) and all(s.summary and s.summary.total_examples == 5 for s in snaps.values())
    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest)
    assert manifest.status == "stopped" and manifest.max_steps == 100000 and manifest.current_step >= 20
    assert not (out / ".evotui.lock").exists()
