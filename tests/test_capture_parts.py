"""The tracker's parts, each alone: the run directory's lock and claim, the live manifest, the writer, the process
role, the example set. No model, no torch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests._capture_helpers import snapshots
from tracker.distributed import ProcessRole, process_role
from tracker.example_set import NO_TOKENIZER, ExampleSet, SetupError
from tracker.run_directory import LOCK_NAME, RunDirectory
from tracker.schema import RunManifest, Snapshot
from tracker.store import SnapshotStore, read_manifest, write_snapshot
from tracker.writer import BackgroundWriter, LiveManifest, SnapshotJob


def test_lock_keeps_a_second_holder_out_and_is_gone_after_unlock(tmp_path: Path) -> None:
    first, second = RunDirectory(SnapshotStore(tmp_path)), RunDirectory(SnapshotStore(tmp_path))
    assert first.lock("run A pid 1 on here") is None
    assert (tmp_path / LOCK_NAME).read_text().strip() == "run A pid 1 on here"
    refused = second.lock("run B")
    assert refused is not None and "run A pid 1 on here" in refused
    first.unlock()
    assert not (tmp_path / LOCK_NAME).exists()  # never names a process that has ended
    assert second.lock("run B") is None and second.locked
    second.unlock()


def test_lock_taken_on_a_file_removed_meanwhile_is_retaken_on_the_new_one(tmp_path: Path) -> None:
    """The holder removes the lock file as it ends; one who opened it just before must not keep that inode."""
    import fcntl
    import os

    holder = RunDirectory(SnapshotStore(tmp_path))
    assert holder.lock("run A") is None
    stale = os.open(tmp_path / LOCK_NAME, os.O_RDWR)  # a late opener of A's file
    holder.unlock()
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # it got the lock on the removed file...
    late = RunDirectory(SnapshotStore(tmp_path))
    assert late.lock("run B") is None  # ...which keeps nobody out: B takes the file at the path
    other = RunDirectory(SnapshotStore(tmp_path))
    assert other.lock("run C") is not None  # and B's lock, on the file at the path, holds
    os.close(stale)
    late.unlock()


def test_claim_archives_another_run_or_resumes_up_to_the_step(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for step in (0, 10, 20):
        write_snapshot(tmp_path, Snapshot(training_step=step, examples=[]))
    store.write_manifest(RunManifest(run_id="old", example_ids=["a"]))
    claim = RunDirectory(store).claim(10, resume=True)
    assert claim.resumed and claim.captured_steps == [0, 10] and claim.previous is not None
    assert sorted(snapshots(tmp_path)) == [0, 10]  # step 20 moved aside
    assert sorted(snapshots(tmp_path / "archive" / "old-after-10")) == [20]
    fresh = RunDirectory(store).claim(0, resume=None)
    assert not fresh.resumed and snapshots(tmp_path) == {}
    assert sorted(snapshots(tmp_path / "archive" / "old")) == [0, 10]


def test_live_manifest_heartbeat_is_due_once_per_interval_across_threads() -> None:
    live = LiveManifest(RunManifest(), heartbeat_seconds=3600)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(live.heartbeat_due())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_writer_writes_jobs_in_order_then_the_final_manifest(tmp_path: Path) -> None:
    from tracker.examples import Example

    live = LiveManifest(RunManifest(run_id="r"), heartbeat_seconds=3600)
    writer = BackgroundWriter(SnapshotStore(tmp_path, fsync=False), live, "d", "strip")
    writer.start()
    example = Example("a", "2+2", "4")
    for step in (0, 5):
        job = SnapshotJob.make(step, [example], ["4"], [0.5], [{}], model_version="m", train_loss=float("nan"))
        writer.submit(job)
    live.update(status="finished")
    writer.close()
    snaps = snapshots(tmp_path)
    assert sorted(snaps) == [0, 5] and snaps[5].snapshot_id == "d_step_000005"
    assert snaps[5].train_loss is None and snaps[5].summary is not None and snaps[5].summary.correct == 1
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest) and manifest.status == "finished" and manifest.current_step == 5


def test_process_role_from_the_caller_and_its_shard() -> None:
    role = process_role(rank=1, world_size=3)
    assert role == ProcessRole(1, 3) and not role.is_writer and role.is_distributed
    assert role.shard(list(range(7))) == [1, 4]
    assert process_role() == ProcessRole(0, 1)  # no process group in this test process


def test_example_set_without_a_tokenizer_is_a_setup_error_naming_the_fix() -> None:
    examples = ExampleSet(max_examples=2)
    chosen = examples.choose([{"prompt": "p", "completion": "c"}] * 3)
    assert [e.example_id for e in chosen] == ["ex_000", "ex_001"]
    with pytest.raises(SetupError) as info:
        examples.encoded(None)
    assert str(info.value) == NO_TOKENIZER and "processing_class" in NO_TOKENIZER
