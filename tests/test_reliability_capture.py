"""Reliability of the capture side: write errors, two runs in one directory, a resume after a crash.

Real faults, no mocks: ENOSPC from the kernel (the write's temp file is a link to /dev/full), EFBIG from
a file-size rlimit in a child process, two live processes, a training process killed with SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._capture_helpers import snapshots  # also sets HF_HUB_OFFLINE before transformers loads
from tracker.schema import RunManifest, Snapshot
from tracker.store import list_snapshot_files, read_manifest, read_snapshot

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parent.parent
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
}


def _run_child(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env=CHILD_ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """In-process training with one thread: on 2 busy cores, 2 threads made 50 steps 20x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _dot_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name != ".evotui.lock")


# -- disk full and write errors ---------------------------------------------------------------------


@pytest.mark.slow
def test_disk_full_during_training_is_logged_counted_cleaned_and_recovered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, one_torch_thread: None
) -> None:
    from transformers import TrainerCallback

    from tracker.toy_train import train_toy

    out = tmp_path / "evo"

    class FillTheDisk(TrainerCallback):
        """At step 15 (the tracker has started and cleaned its directory), the disk "fills up".

        The tracker writes step N to ".step_N.json.tmp-<pid>" first: that name becomes a link to
        /dev/full for steps 20 and 30, and the kernel answers those writes with ENOSPC.
        """

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step == 15:
                for step in (20, 30):
                    os.symlink("/dev/full", out / f".step_{step:06d}.json.tmp-{os.getpid()}")

    with caplog.at_level(logging.ERROR, logger="tracker"):
        result = train_toy(out, steps=50, n_examples=12, schedule="every 10", callbacks=[FillTheDisk()])

    assert result["global_step"] == 50  # training went on
    assert sorted(snapshots(out)) == [0, 10, 40, 50]  # the captures after the full disk worked
    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest)
    assert manifest.errors == 2 and manifest.status == "finished"
    assert manifest.last_error is not None and "No space left on device" in manifest.last_error
    assert "writing at step 20 failed" in caplog.text and "writing at step 30 failed" in caplog.text
    assert _dot_files(out) == []  # the temp files are gone


EFBIG_WRITER = """
import json, resource, signal, sys
from tracker.tracker import EvolutionTracker
directory = sys.argv[1]
rows = [{"id": f"ex{i}", "input": f"q{i}", "output": "a"} for i in range(4)]
tracker = EvolutionTracker(output_dir=directory, fsync=False, heartbeat_seconds=3600, examples=rows)
def record(step, text):
    tracker.record(step, [{"example_id": f"ex{i}", "model_output": text} for i in range(4)])
    tracker.flush()
record(0, "a")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process at the limit
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, hard))  # run.json fits, a snapshot does not
record(10, "b" * 2000)
record(20, "c" * 2000)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again
record(30, "d" * 2000)
tracker.close()
print(json.dumps({"errors": tracker.manifest.errors, "last_error": tracker.manifest.last_error}))
"""


@pytest.mark.timeout(60)
def test_file_size_limit_fails_writes_cleanly_and_the_next_capture_works(tmp_path: Path) -> None:
    done = _run_child(EFBIG_WRITER, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["errors"] == 2
    assert "File too large" in report["last_error"]
    assert "writing at step 10 failed" in done.stderr and "writing at step 20 failed" in done.stderr
    assert sorted(snapshots(tmp_path)) == [0, 30]
    assert snapshots(tmp_path)[30].examples[0].model_output == "d" * 2000
    assert _dot_files(tmp_path) == []  # the partial temp files (cut at 3000 bytes) were removed
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest) and manifest.errors == 2 and manifest.status == "finished"


# -- two runs, one directory ------------------------------------------------------------------------

RUN_WRITER = """
import json, sys, time
from tracker.tracker import EvolutionTracker
directory, tag, steps, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rows = [{"id": f"ex{i}", "input": f"q{i}", "output": "x"} for i in range(3)]
tracker = EvolutionTracker(output_dir=directory, fsync=False, heartbeat_seconds=0.05, examples=rows,
                           model_version=tag)
for k in range(steps):
    tracker.record(k * 10, [{"example_id": f"ex{i}", "model_output": tag} for i in range(3)])
    tracker.flush()
    print(k * 10, flush=True)
    time.sleep(pause)
tracker.close()
print(json.dumps({"run_id": tracker.manifest.run_id}))
"""


def _versions(directory: Path) -> dict[int, str]:
    return {step: snap.model_version for step, snap in snapshots(directory).items()}


@pytest.mark.timeout(60)
def test_second_live_run_into_one_directory_does_not_mix_or_crash(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", RUN_WRITER, str(tmp_path), "A", "40", "0.03"],
        env=CHILD_ENV,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None
    for _ in range(5):  # A is live and has written five snapshots
        first.stdout.readline()
    second = _run_child(RUN_WRITER, tmp_path, "B", "10", "0.03")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, (err, second.stderr)
    assert "is being written by another live run" in second.stderr  # said loudly, not a crash

    versions = _versions(tmp_path)
    assert sorted(versions) == [k * 10 for k in range(40)]
    assert set(versions.values()) == {"A"}  # no snapshot of B among A's
    assert not (tmp_path / "archive").exists()  # and nothing of the live A moved away under it
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest)
    assert manifest.run_id == json.loads(out.splitlines()[-1])["run_id"] and manifest.status == "finished"


@pytest.mark.timeout(60)
def test_runs_one_after_another_and_after_a_crash_are_archived_whole(tmp_path: Path) -> None:
    # A finishes; B starts into the same directory: A moves to archive/<A's run_id>, whole.
    first = _run_child(RUN_WRITER, tmp_path, "A", "6", "0")
    assert first.returncode == 0, first.stderr
    a_id = json.loads(first.stdout.splitlines()[-1])["run_id"]

    # B is killed mid-run (no close, no atexit): its lock dies with it, its run.json says "running".
    second = subprocess.Popen(
        [sys.executable, "-c", RUN_WRITER, str(tmp_path), "B", "1000", "0.01"],
        env=CHILD_ENV,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert second.stdout is not None
    for _ in range(4):
        second.stdout.readline()
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=30)
    b_manifest = read_manifest(tmp_path)
    assert isinstance(b_manifest, RunManifest) and b_manifest.status == "running"
    b_steps = sorted(_versions(tmp_path))

    # C starts fresh: the crashed B is archived (not blocked by a stale lock), and nothing is mixed.
    third = _run_child(RUN_WRITER, tmp_path, "C", "3", "0")
    assert third.returncode == 0, third.stderr
    archive = tmp_path / "archive"
    assert sorted(p.name for p in archive.iterdir()) == sorted([a_id, b_manifest.run_id])
    assert _versions(archive / a_id) == {k * 10: "A" for k in range(6)}
    assert set(_versions(archive / b_manifest.run_id).values()) == {"B"}
    assert sorted(_versions(archive / b_manifest.run_id)) == b_steps
    assert _versions(tmp_path) == {0: "C", 10: "C", 20: "C"}
    for run_id in (a_id, b_manifest.run_id):
        archived = read_manifest(archive / run_id)
        assert isinstance(archived, RunManifest) and archived.run_id == run_id


def test_temp_files_left_by_a_killed_writer_are_removed_by_the_next_run(tmp_path: Path) -> None:
    from tracker.tracker import EvolutionTracker

    (tmp_path / ".step_000010.json.tmp-999999").write_bytes(b'{"training_step": 10, "exa')
    (tmp_path / ".run.json.tmp-999999").write_bytes(b"{")
    (tmp_path / ".hidden-notes").write_text("not ours: kept")
    tracker = EvolutionTracker(output_dir=tmp_path, fsync=False, examples=[{"id": "a", "input": "q", "output": "x"}])
    tracker.record(0, [{"example_id": "a", "model_output": "x"}])
    tracker.close()
    assert _dot_files(tmp_path) == [".hidden-notes"]
    assert sorted(snapshots(tmp_path)) == [0]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_tracker_records_hostile_text_faithfully(tmp_path: Path, fmt: str) -> None:
    from tests._reliability_helpers import FIVE_MB_OUTPUT, HOSTILE_TEXTS
    from tracker.tracker import EvolutionTracker

    texts = {**HOSTILE_TEXTS, "five_mb": FIVE_MB_OUTPUT}
    rows = [{"id": name, "input": f"say {text[:100]}", "output": text} for name, text in texts.items()]
    tracker = EvolutionTracker(output_dir=tmp_path, fsync=False, examples=rows, snapshot_format=fmt)  # type: ignore[arg-type]
    tracker.record(7, [{"example_id": name, "model_output": text} for name, text in texts.items()])
    tracker.close()
    [snapshot] = snapshots(tmp_path).values()
    by_id = {row.example_id: row for row in snapshot.examples}
    assert set(by_id) == set(texts)
    for name, text in texts.items():
        assert by_id[name].model_output == text and by_id[name].expected_output == text
        assert by_id[name].exact_match and by_id[name].similarity == 1.0


# -- resume after a crash ---------------------------------------------------------------------------

CRASHING_TRAINING = """
import os, signal, sys
from transformers import TrainerCallback
from tracker.toy_train import train_toy
out, trainer_dir, mode = sys.argv[1], sys.argv[2], sys.argv[3]

class KillAt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 55:
            os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit: a crash

common = dict(steps=60, n_examples=12, schedule="every 10", trainer_dir=trainer_dir, save_steps=20)
if mode == "crash":
    train_toy(out, callbacks=[KillAt()], **common)
else:
    train_toy(out, resume_from_checkpoint=os.path.join(trainer_dir, "checkpoint-40"), **common)
print("finished")
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_resume_from_checkpoint_after_a_crash_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out, trainer_dir = tmp_path / "evo", tmp_path / "trainer"
    crashed = _run_child(CRASHING_TRAINING, out, trainer_dir, "crash", timeout=180)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    before = snapshots(out)
    assert {0, 10, 20, 30, 40} <= set(before) <= {0, 10, 20, 30, 40, 50}
    run_id = read_manifest(out).run_id  # type: ignore[union-attr]
    step40 = before[40]
    # The capture is queued on the training thread and written by a background thread: a crash right
    # after the checkpoint can leave the checkpoint's own snapshot unwritten. Make that happen here.
    (out / "step_000040.json").unlink()

    resumed = _run_child(CRASHING_TRAINING, out, trainer_dir, "resume", timeout=180)
    assert resumed.returncode == 0, resumed.stderr

    files = list_snapshot_files(out)
    assert [f.step for f in files] == [0, 10, 20, 30, 40, 50, 60]  # each step once, none missing
    after = snapshots(out)
    for step in (0, 10, 20, 30):
        assert after[step] == before[step]  # kept as written before the crash
    # Step 40 is captured again from the checkpoint's weights: the very same predictions.
    assert [r.model_output for r in after[40].examples] == [r.model_output for r in step40.examples]
    assert [r.loss for r in after[40].examples] == pytest.approx([r.loss for r in step40.examples], rel=1e-5)
    # What the crashed run wrote after the checkpoint is moved aside, not mixed and not lost.
    archived = [p for p in (out / "archive").rglob("step_*")] if (out / "archive").exists() else []
    assert all(isinstance(read_snapshot(p), Snapshot) and p.name == "step_000050.json" for p in archived)
    assert len(archived) == (50 in before)
    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest)
    assert manifest.run_id == run_id and manifest.status == "finished" and manifest.current_step == 60
