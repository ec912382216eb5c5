"""A 2-process DDP run on CPU (gloo) through torchrun: each captured step written once, with every example."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests._capture_helpers import snapshots, toy_model_and_tokenizer
from tracker.schema import RunManifest
from tracker.store import read_manifest
from tracker.toy import addition_examples

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCRIPT = Path(__file__).with_name("_capture_ddp_train.py")


def run_torchrun(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """torchrun in its own session, with no inherited rendezvous settings; SIGTERM first if it hangs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK")
    }
    env.update(
        OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGKILL to torchrun alone would orphan the workers until gloo's timeout: terminate the group.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {timeout} s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def test_ddp_two_ranks_write_each_step_once_with_every_example(tmp_path: Path) -> None:
    out = tmp_path / "evo"
    n_examples = 25  # odd: the two ranks get uneven shards (13 and 12)
    done = run_torchrun([str(SCRIPT), str(out), "40", str(n_examples)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "rank 0 done at step 40" in done.stdout and "rank 1 done at step 40" in done.stdout

    names = sorted(p.name for p in out.iterdir())
    assert names == [  # the lock (held by rank 0 while the run lives) is gone with the run
        "run.json",
        "step_000000.json",
        "step_000020.json",
        "step_000040.json",
    ]  # nothing else, no temp files
    snaps = snapshots(out)
    ids = [r["id"] for r in addition_examples()[:n_examples]]
    for step, snap in snaps.items():
        assert [e.example_id for e in snap.examples] == ids, step
        assert snap.summary is not None and snap.summary.total_examples == n_examples
    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest)
    assert manifest.status == "finished" and manifest.errors == 0 and manifest.example_ids == ids

    # The step-0 baseline, gathered from two shards, equals one process evaluating the same seeded model.
    from tracker.evaluate import evaluate
    from tracker.examples import load_examples

    model, tok = toy_model_and_tokenizer()
    alone = evaluate(model, tok, load_examples(addition_examples()[:n_examples]))
    baseline = snaps[0].examples
    assert [e.model_output for e in baseline] == [p.model_output for p in alone]
    assert [e.loss for e in baseline] == pytest.approx([p.loss for p in alone], abs=1e-4)


def test_fsdp2_sharded_capture_matches_the_unsharded_model(tmp_path: Path) -> None:
    out = tmp_path / "evo"
    done = run_torchrun([str(SCRIPT.with_name("_capture_fsdp_eval.py")), str(out)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]
    lines = set(done.stdout.splitlines())
    assert {"ids-match True", "outputs-match True", "losses-match True"} <= lines, done.stdout[-4000:]
    # The ranks' generations stopped at different lengths: synced generation was needed, not just harmless.
    assert "answer-lengths [1, 2]" in lines, done.stdout[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ["run.json", "step_000000.json"]
