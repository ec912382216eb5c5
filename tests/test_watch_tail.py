"""Directory tailing, run discovery and run state: real files in temp directories, no UI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from evotui.analysis.history import RunHistory
from evotui.analysis.runs import describe_run, find_runs, parse_time
from evotui.watch.run_state import STALE_AFTER_SECONDS, RunState
from evotui.watch.tail import (
    DIR_DISAPPEARED,
    DIR_MISSING,
    DIR_NOT_A_DIRECTORY,
    DIR_OK,
    DirectoryTailer,
)
from tracker.schema import encode_snapshot
from tracker.store import SnapshotStore, atomic_write_bytes
from tracker.synthetic import SyntheticRun, write_synthetic_run


def test_reads_only_new_or_changed_files(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, 6, 3, seed=1)
    tailer = DirectoryTailer(tmp_path)
    first = tailer.poll()
    assert first.state == DIR_OK and sorted(s.training_step for _, s in first.loaded) == [0, 10, 20]
    assert first.manifest_changed and first.manifest is not None
    again = tailer.poll()
    assert not again.changed and again.loaded == []
    store = SnapshotStore(tmp_path, fsync=False)
    store.write(run.snapshot(2))  # same step rewritten: new mtime/size -> read again
    path = tmp_path / "step_000020.json"
    os.utime(path, ns=(1, 1))
    third = tailer.poll()
    assert [s.training_step for _, s in third.loaded] == [20]


def test_ignores_dot_and_temp_files_and_other_names(tmp_path: Path) -> None:
    (tmp_path / ".step_000010.json.tmp-99").write_bytes(b"partial")
    (tmp_path / "step_000010.json.bak").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "step_000030.json").mkdir()  # a directory named like a snapshot
    result = DirectoryTailer(tmp_path).poll()
    assert result.loaded == [] and result.failed == [] and result.files_seen == 0


def test_bad_file_counted_with_reason_and_retried_only_on_change(tmp_path: Path) -> None:
    run = SyntheticRun(4, 2, seed=2)
    bad = tmp_path / "step_000010.json"
    bad.write_bytes(b"\x00\x01 not json")
    (tmp_path / "step_000020.msgpack").write_bytes(b"")
    tailer = DirectoryTailer(tmp_path)
    result = tailer.poll()
    reasons = {e.path.name: e.reason for e in result.failed}
    assert set(reasons) == {"step_000010.json", "step_000020.msgpack"}
    assert reasons["step_000020.msgpack"] == "empty file"
    assert len(result.errors) == 2
    quiet = tailer.poll()
    assert quiet.failed == [] and len(quiet.errors) == 2 and not quiet.changed  # not reread, still counted
    atomic_write_bytes(bad, encode_snapshot(run.snapshot(1)), fsync=False)
    fixed = tailer.poll()
    assert [s.training_step for _, s in fixed.loaded] == [10]
    assert list(fixed.errors) == [tmp_path / "step_000020.msgpack"] and fixed.errors_changed


def test_missing_then_created_then_disappeared(tmp_path: Path) -> None:
    target = tmp_path / "run"
    tailer = DirectoryTailer(target)
    assert tailer.poll().state == DIR_MISSING
    write_synthetic_run(target, 3, 2)
    created = tailer.poll()
    assert created.state == DIR_OK and created.state_changed and len(created.loaded) == 2
    shutil.rmtree(target)
    gone = tailer.poll()
    assert gone.state == DIR_DISAPPEARED and "disappeared" in gone.message
    (tmp_path / "file").write_text("x")
    assert DirectoryTailer(tmp_path / "file").poll().state == DIR_NOT_A_DIRECTORY


def test_removed_file_reports_its_step(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path, 3, 3)
    tailer = DirectoryTailer(tmp_path)
    tailer.poll()
    (tmp_path / "step_000010.json").unlink()
    assert tailer.poll().removed_steps == [10]


def test_find_and_describe_runs(tmp_path: Path) -> None:
    a = write_synthetic_run(tmp_path / "a", 5, 3, seed=3)
    write_synthetic_run(tmp_path / "b", 5, 2, fmt="msgpack", manifest=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / ".hidden").mkdir()
    write_synthetic_run(tmp_path / "archive", 2, 1)
    assert [p.name for p in find_runs(tmp_path)] == ["a", "b"]
    info = describe_run(tmp_path / "a")
    assert (info.snapshots, info.latest_step, info.status) == (3, 20, "finished")
    assert info.accuracy == a.snapshot(2).summary.accuracy
    assert describe_run(tmp_path / "b").status == "unknown"


def test_run_state_status_and_eta(tmp_path: Path) -> None:
    run = SyntheticRun(5, 4, seed=4, max_steps=100, seconds_per_step=2.0)
    state = RunState(tmp_path)
    assert state.status(0.0) == "waiting"
    state.history = RunHistory()
    for k in range(4):
        snap = run.snapshot(k)
        state.history.add(snap)
        state.note_written(snap.training_step, snap.timestamp, None)
    state.manifest = run.manifest(3)
    last = parse_time(run.timestamp(3)).timestamp()  # type: ignore[union-attr]
    assert state.status(last + 5) == "live"
    assert state.status(last + STALE_AFTER_SECONDS + 1) == "stale"
    # 10 steps per 20 s = 0.5 step/s; 70 steps to go = 140 s, minus the 5 s already gone.
    assert abs(state.steps_per_second() - 0.5) < 1e-9  # type: ignore[operator]
    assert abs(state.eta_seconds(last + 5) - 135.0) < 1e-6  # type: ignore[operator]
    state.manifest.status = "finished"
    assert state.status(last + STALE_AFTER_SECONDS + 1) == "finished"


def test_synthetic_run_is_deterministic(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "x", 20, 5, seed=9, run_name="same")
    write_synthetic_run(tmp_path / "y", 20, 5, seed=9, run_name="same")
    for f in sorted((tmp_path / "x").iterdir()):
        assert f.read_bytes() == (tmp_path / "y" / f.name).read_bytes()
    run = SyntheticRun(300, 40, seed=0)
    assert {"known", "learn", "unstable", "hard"} == set(run.kind.tolist())
    acc = run.correct.mean(axis=0)
    assert acc[-1] > acc[0] + 0.3  # it learns


def test_bulk_load_reports_progress_and_streams_into_a_consumer(tmp_path: Path) -> None:
    from evotui.watch.tail import LoadProgress

    write_synthetic_run(tmp_path, 4, 5)
    progress = LoadProgress()
    seen: list[int] = []
    result = DirectoryTailer(tmp_path).poll(consume=lambda f, s: seen.append(s.training_step), progress=progress)
    assert seen == [0, 10, 20, 30, 40] and result.loaded == []  # handed over, not kept
    assert [step for step, _ in result.consumed] == seen
    assert (progress.done, progress.total, progress.active) == (5, 5, False)


def test_a_summary_that_disagrees_with_its_rows_is_reported(tmp_path: Path) -> None:
    run = SyntheticRun(6, 2, seed=5)
    tailer = DirectoryTailer(tmp_path)
    good = run.snapshot(0)
    bad = run.snapshot(1)
    bad.summary.correct = 6
    bad.summary.accuracy = 1.0
    store = SnapshotStore(tmp_path, fsync=False)
    store.write(good)
    store.write(bad)
    result = tailer.poll()
    assert list(result.warnings) == [tmp_path / "step_000010.json"]
    assert "summary says 6 correct" in result.warnings[tmp_path / "step_000010.json"]
