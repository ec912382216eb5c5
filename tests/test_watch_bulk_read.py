"""A big first read shared with a worker process (evotui.watch.bulk_read): the history it builds is the one a
plain row-by-row reading of the same files gives, whoever read which file, even when the worker dies."""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evotui.analysis.history import RunHistory
from evotui.watch import bulk_read
from evotui.watch.bulk_read import Tally, read_in_order
from evotui.watch.service import RunService
from tracker.schema import ExampleResult, Snapshot, Summary
from tracker.store import ReadError, SnapshotStore, list_snapshot_files, read_snapshot

HOSTILE = [
    "\x1b[31mRED\x1b[0m\x1b[2J",
    "unit\x1fseparator",
    "[bold]x[/]",
    "a\x00b\x07c",
    "abc\u202edcba",
    "line\nbreak",
    "",
    "é" * 50,
]


def row(example_id: str, step: int, k: int) -> ExampleResult:
    """One row with every awkward value the format allows: None, NaN and infinite losses, hostile text."""
    losses: list[float | None] = [None, math.nan, math.inf, -math.inf, 0.25 * k, 1.0 / (step + 1)]
    return ExampleResult(
        example_id=example_id,
        input=f"in {example_id} {HOSTILE[k % len(HOSTILE)]}",
        expected_output=f"exp {step % 3}",
        model_output=HOSTILE[(k + step) % len(HOSTILE)] if (k + step) % 4 else "same",
        loss=losses[(k + step) % len(losses)],
        similarity=(k % 7) / 7,
        exact_match=(k + step) % 3 == 0,
        metadata={"finish": "length" if (k + step) % 5 == 0 else "eos"} if step >= 40 else {},
    )


def write_awkward_run(directory: Path) -> None:
    """Ids that change (new, missing, reordered, duplicated), both formats, one step in both, a bad file."""
    for step in range(0, 150, 10):
        ids = [f"e{i}" for i in range(6)]
        if step in (30, 40):
            ids = [*ids[2:], "n1"]  # two missing, one new
        if step == 60:
            ids = list(reversed(ids))
        if step == 70:
            ids = [*ids, "e0"]  # a duplicate: the later row wins
        if step >= 100:
            ids = [*ids, "n2", "n3"]
        rows = [row(eid, step, k) for k, eid in enumerate(ids)]
        snapshot = Snapshot(
            training_step=step,
            examples=rows,
            timestamp=f"2026-01-01T00:{step // 10:02d}:00Z",
            summary=Summary(accuracy=0.5, total_examples=len(rows)) if step != 20 else None,
            epoch=step / 100,
        )
        SnapshotStore(directory, fmt="msgpack" if step % 20 else "json", fsync=False).write(snapshot)
        if step == 80:  # the same step in the other format too: the .msgpack one is read last and wins
            SnapshotStore(directory, fmt="msgpack", fsync=False).write(Snapshot(training_step=80, examples=rows[:3]))
    (directory / "step_000155.json").write_bytes(b'{"training_step": 155, "examples": [')  # cut short


def reference(directory: Path) -> tuple[list[str], dict[str, tuple[str, str]], dict[int, dict[str, tuple[Any, ...]]]]:
    """A plain model, row by row: ids by first appearance; texts from the newest snapshot, else from the
    first one holding the example; per step: id -> (loss, similarity, exact, output, hit the limit)."""
    ids: list[str] = []
    texts: dict[str, tuple[str, str]] = {}
    steps: dict[int, dict[str, tuple[Any, ...]]] = {}
    snapshots = [s for f in list_snapshot_files(directory) if isinstance(s := read_snapshot(f.path), Snapshot)]
    for snapshot in snapshots:
        column: dict[str, tuple[Any, ...]] = {}
        has_metadata = any(r.metadata for r in snapshot.examples)
        for r in snapshot.examples:
            if r.example_id not in texts:
                ids.append(r.example_id)
                texts[r.example_id] = (r.input, r.expected_output)
            loss = r.loss if r.loss is not None and math.isfinite(r.loss) else math.nan
            hit = r.metadata.get("finish") == "length" if has_metadata else None
            column[r.example_id] = (loss, r.similarity, 1.0 if r.exact_match else 0.0, r.model_output, hit)
        steps[snapshot.training_step] = column
    newest = max(snapshots, key=lambda s: s.training_step)
    for r in newest.examples:
        texts[r.example_id] = (r.input, r.expected_output)
    return ids, texts, steps


def assert_matches_reference(history: RunHistory, directory: Path) -> None:
    ids, texts, steps = reference(directory)
    assert history.example_ids == ids
    assert list(zip(history.inputs, history.expected, strict=True)) == [texts[i] for i in ids]
    assert history.steps == sorted(steps)
    for step, column in steps.items():
        col = history.columns[step]
        for j, example_id in enumerate(ids):
            want = column.get(example_id)
            got_numbers = (col.value("loss", j), col.value("similarity", j), col.value("exact", j))
            if want is None:
                assert col.output(j) is None
                assert all(math.isnan(v) for v in got_numbers)
                continue
            assert col.output(j) == want[3]
            np.testing.assert_array_equal(np.array(got_numbers), np.array(want[:3]))
            if want[4] is None:
                assert col.hit_limit is None
            else:
                assert col.hit_limit is not None and bool(col.hit_limit[j]) == want[4]


def wait_for_service(service: RunService) -> None:
    """Until the service has posted a view of its first read with dynamics (bounded by count, not time)."""
    for _ in range(2000):
        view = service.view
        if view is not None and view.polled and view.dynamics is not None:
            return
        service._stop.wait(0.02)
    raise AssertionError("the service never posted its first read")


def first_read(directory: Path) -> Any:
    """The view a run service posts after its first read of ``directory``."""
    service = RunService(directory, interval=60)
    service.start()
    try:
        wait_for_service(service)
    finally:
        service.close()
    return service.view


@pytest.fixture
def always_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bulk read shares with a worker (the real threshold is ~48 MB), one file per chunk."""
    monkeypatch.setattr(bulk_read, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(bulk_read, "CHUNK_FILES", 1)


def test_the_service_s_first_read_with_a_worker_builds_the_row_by_row_history(
    tmp_path: Path, always_a_worker: None
) -> None:
    write_awkward_run(tmp_path)
    view = first_read(tmp_path)
    assert view is not None
    assert view.load.by_worker >= 1  # the worker read some of it (the first chunks are always its own)
    assert_matches_reference(view.history, tmp_path)
    assert [e.kind for e in view.errors.values()] == ["invalid"]  # the cut file: the same error as in a thread


def test_a_first_read_in_the_thread_alone_builds_the_same_history(tmp_path: Path) -> None:
    write_awkward_run(tmp_path)
    view = first_read(tmp_path)
    assert view is not None and view.load.by_worker == 0  # small: no worker
    assert_matches_reference(view.history, tmp_path)


def test_files_come_in_their_order_and_a_dead_worker_leaves_the_rest_to_the_thread(
    tmp_path: Path, always_a_worker: None
) -> None:
    write_awkward_run(tmp_path)
    files = list_snapshot_files(tmp_path)
    tally = Tally()
    got = []
    for k, (f, outcome, _seconds) in enumerate(read_in_order(files, tally=tally)):
        got.append((f, outcome))
        if k == 0:
            assert tally.worker_pid is not None
            os.kill(tally.worker_pid, signal.SIGKILL)  # mid-read: the chunk it holds must not be lost
    assert [f for f, _ in got] == files
    assert tally.worker + tally.thread == len(files)
    # The worker held WORKER_AHEAD chunks (a file each) when killed: the replies it wrote before dying may
    # still be read from the pipe (how many depends on the machine's timing), the rest the thread reads.
    assert 1 <= tally.worker <= bulk_read.WORKER_AHEAD
    history = RunHistory()
    for f, outcome in got:
        if isinstance(outcome, ReadError):
            assert f.path.name == "step_000155.json"
        else:
            history.add(outcome, texts=False)
    newest = read_snapshot(files[-2].path)
    assert isinstance(newest, Snapshot)
    history.set_texts(newest)
    assert_matches_reference(history, tmp_path)


def test_a_stopped_read_reads_no_more_and_ends_its_worker(tmp_path: Path, always_a_worker: None) -> None:
    write_awkward_run(tmp_path)
    files = list_snapshot_files(tmp_path)
    tally = Tally()
    seen: list[object] = []
    outcomes = read_in_order(files, stopped=lambda: len(seen) >= 1, tally=tally)
    seen.append(next(outcomes))
    assert list(outcomes) == []
    assert tally.worker_pid is not None
    bulk_read.join_reapers()  # the read does not wait for the worker to exit: a thread reaps it
    with pytest.raises(ProcessLookupError):  # ended and reaped when the read ended
        os.kill(tally.worker_pid, 0)


@pytest.fixture
def early_reads(monkeypatch: pytest.MonkeyPatch, always_a_worker: None) -> None:
    """`evotui watch DIR` starts a worker before importing the app when a core looks free (here: always)."""
    monkeypatch.setattr(bulk_read, "EARLY_MIN_BYTES", 0)
    monkeypatch.setattr(bulk_read, "_a_core_is_free", lambda: True)


def test_an_early_read_is_taken_over_by_the_service(tmp_path: Path, early_reads: None) -> None:
    write_awkward_run(tmp_path)
    assert bulk_read.start_early_read(tmp_path)
    view = first_read(tmp_path)
    assert view.load.by_worker == len(list_snapshot_files(tmp_path))  # every file was given to it up front
    assert not bulk_read.has_early_read(tmp_path)  # taken over once
    assert_matches_reference(view.history, tmp_path)


def test_an_early_read_is_started_once_per_directory(tmp_path: Path, early_reads: None) -> None:
    """The entry point starts it from its guess at the arguments, then the command asks again: one worker."""
    write_awkward_run(tmp_path)
    assert bulk_read.start_early_read(tmp_path)
    worker = bulk_read._early[tmp_path.resolve()][0]
    assert bulk_read.start_early_read(tmp_path)
    assert bulk_read._early[tmp_path.resolve()][0] is worker
    view = first_read(tmp_path)
    assert view.load.by_worker == len(list_snapshot_files(tmp_path))
    assert_matches_reference(view.history, tmp_path)


def test_the_entry_point_guesses_the_watched_directory_only_when_sure(tmp_path: Path) -> None:
    from evotui.cli.entry import watched_directory

    run, other = tmp_path / "run", tmp_path / "other"
    run.mkdir()
    other.mkdir()
    assert watched_directory(["watch", str(run)]) == run
    assert watched_directory(["watch", "--interval", "2", "--bell", str(run)]) == run
    assert watched_directory(["watch", "--alerts=a.jsonl", str(run)]) == run
    assert watched_directory(["watch", str(run), str(other)]) is None  # a comparison: the command decides
    assert watched_directory(["watch", "--help", str(run)]) is None
    assert watched_directory(["watch", "--new-option", str(run)]) is None
    assert watched_directory(["watch", str(tmp_path / "missing")]) is None
    assert watched_directory(["watch", "--interval"]) is None
    assert watched_directory(["report", str(run)]) is None
    assert watched_directory([]) is None


def test_the_entry_point_pauses_the_collector_only_while_watch_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evotui watch` runs its imports with the collector paused; it is on again whatever the command does
    (here click refuses a file given as the run directory, before any import), and other commands never
    pause it."""
    import gc

    from evotui.cli import entry

    not_a_directory = tmp_path / "file.txt"
    not_a_directory.write_text("x")
    paused_during: list[bool] = []
    real_imports_done = entry.startup_imports_done

    for argv in (["watch", str(not_a_directory)], ["report", str(not_a_directory)]):
        monkeypatch.setattr(sys, "argv", ["evotui", *argv])
        monkeypatch.setattr(
            "evotui.cli.commands.check_watch_path", lambda _p: paused_during.append(not gc.isenabled()) or "no"
        )
        with pytest.raises(SystemExit):
            entry.main()
        assert gc.isenabled()
    assert paused_during == [True]  # the watch command ran with the collector paused; report never asked

    # Once the app is imported: what the imports made is frozen and the collector is on again.
    gc.disable()
    monkeypatch.setattr(entry, "_collector_paused", True)
    frozen_before = gc.get_freeze_count()
    try:
        real_imports_done()
        assert gc.isenabled() and gc.get_freeze_count() > frozen_before
    finally:
        gc.enable()
        gc.unfreeze()


def test_an_early_read_of_files_changed_since_is_not_used(tmp_path: Path, early_reads: None) -> None:
    write_awkward_run(tmp_path)
    assert bulk_read.start_early_read(tmp_path)
    first = list_snapshot_files(tmp_path)[0].path
    rewritten = Snapshot(training_step=0, examples=[row("e0", 0, 1), row("late", 0, 2)])
    SnapshotStore(tmp_path, fmt="json", fsync=False).write(rewritten)  # step 0 rewritten meanwhile
    assert first.name == "step_000000.json"
    view = first_read(tmp_path)
    assert "late" in view.history.example_ids
    assert_matches_reference(view.history, tmp_path)


def test_evotui_worker_0_reads_in_the_thread_only(
    tmp_path: Path, early_reads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOTUI_WORKER", "0")
    write_awkward_run(tmp_path)
    assert not bulk_read.start_early_read(tmp_path)
    view = first_read(tmp_path)
    assert view.load.by_worker == 0
    assert_matches_reference(view.history, tmp_path)
