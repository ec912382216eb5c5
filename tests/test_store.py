"""The snapshot directory: naming, ordering, atomic writes, error values, run.json, archiving."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.test_schema import make_snapshot
from tracker.schema import RunManifest, Snapshot, encode_snapshot
from tracker.store import (
    ReadError,
    SnapshotStore,
    archive_run,
    atomic_write_bytes,
    list_snapshot_files,
    parse_snapshot_filename,
    read_manifest,
    read_snapshot,
    snapshot_filename,
    write_manifest,
    write_snapshot,
)

REPO = Path(__file__).resolve().parents[1]


def test_names_have_at_least_six_digits_and_more_when_needed() -> None:
    assert snapshot_filename(0) == "step_000000.json"
    assert snapshot_filename(25, "msgpack") == "step_000025.msgpack"
    assert snapshot_filename(1_000_000) == "step_1000000.json"
    assert parse_snapshot_filename("step_1000000.json") == (1_000_000, "json")
    for name in (".step_000025.json.tmp-123", "step_12.txt", "run.json", "step_.json", "step_000010.json~"):
        assert parse_snapshot_filename(name) is None, name


def test_listing_orders_by_parsed_step_never_by_name(tmp_path: Path) -> None:
    for step in (999_999, 1_000_000, 10, 0, 25):
        write_snapshot(tmp_path, make_snapshot(step=step, n=1), fsync=False)
    (tmp_path / ".step_000050.json.tmp-99").write_bytes(b"{")  # a write in progress
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "step_000077.json").mkdir()  # a directory that looks like a snapshot
    steps = [f.step for f in list_snapshot_files(tmp_path)]
    assert steps == [0, 10, 25, 999_999, 1_000_000]
    assert SnapshotStore(tmp_path).steps() == steps


def test_write_then_read(tmp_path: Path) -> None:
    snapshot = make_snapshot(step=100)
    path = SnapshotStore(tmp_path / "new" / "run", fmt="msgpack").write(snapshot)
    assert path.name == "step_000100.msgpack"
    assert read_snapshot(path) == snapshot
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def _error_for(tmp_path: Path, name: str, content: bytes) -> ReadError:
    path = tmp_path / name
    path.write_bytes(content)
    result = read_snapshot(path)
    assert isinstance(result, ReadError), f"{name} decoded: {result!r}"
    assert result.path == path and name in str(result)
    return result


def test_bad_content_gives_an_error_value_naming_file_and_reason(tmp_path: Path) -> None:
    good = encode_snapshot(make_snapshot(step=10))
    assert "empty" in _error_for(tmp_path, "step_000001.json", b"").reason
    assert "truncated" in _error_for(tmp_path, "step_000002.json", good[: len(good) // 2]).reason
    assert "not valid" in _error_for(tmp_path, "step_000003.json", b"hello, not json").reason
    shape = _error_for(tmp_path, "step_000004.json", b"[1, 2, 3]").reason
    assert "wrong shape" in shape and "object" in shape
    missing = _error_for(tmp_path, "step_000005.json", b'{"examples": []}').reason
    assert "training_step" in missing
    doc = json.loads(good)
    doc["examples"][0]["exact_match"] = "yes"
    wrong_type = _error_for(tmp_path, "step_000006.json", json.dumps(doc).encode()).reason
    assert "exact_match" in wrong_type and "bool" in wrong_type
    doc = json.loads(good)
    doc["schema_version"] = 2
    assert "newer" in _error_for(tmp_path, "step_000007.json", json.dumps(doc).encode()).reason
    assert "not valid" in _error_for(tmp_path, "step_000008.msgpack", b"\xc1\xc1\xc1").reason
    assert "directory" in read_snapshot(tmp_path).reason  # type: ignore[union-attr]
    missing_file = read_snapshot(tmp_path / "step_000009.json")
    assert isinstance(missing_file, ReadError) and "cannot read" in missing_file.reason


def test_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "step_000001.json"
    path.write_bytes(encode_snapshot(make_snapshot()))
    result = read_snapshot(path, max_bytes=100)
    assert isinstance(result, ReadError) and "too large" in result.reason


def test_summary_is_computed_when_a_file_has_none(tmp_path: Path) -> None:
    doc = json.loads(encode_snapshot(make_snapshot(n=4)))
    del doc["summary"]
    path = tmp_path / "step_000010.json"
    path.write_text(json.dumps(doc))
    snapshot = read_snapshot(path)
    assert isinstance(snapshot, Snapshot) and snapshot.summary is not None
    assert (snapshot.summary.total_examples, snapshot.summary.correct) == (4, 2)


def test_atomic_write_removes_temp_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection at the OS boundary: the disk fails at fsync (EIO), after the bytes went out.
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", failing_fsync)
        with pytest.raises(OSError):
            atomic_write_bytes(tmp_path / "step_000001.json", b"{}")
    assert list(tmp_path.iterdir()) == []
    # A target that cannot be replaced (a directory) fails at rename: the temp file goes too.
    (tmp_path / "step_000002.json").mkdir()
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "step_000002.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["step_000002.json"]


def test_manifest_read_write_and_errors(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    manifest = RunManifest(run_id="abc", run_name="toy", current_step=5, max_steps=10)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    (tmp_path / "run.json").write_text('{"run_id": ')
    bad = read_manifest(tmp_path)
    assert isinstance(bad, ReadError) and "run.json" in str(bad)


def test_archive_moves_a_run_aside_and_deletes_nothing(tmp_path: Path) -> None:
    for step in (0, 10):
        write_snapshot(tmp_path, make_snapshot(step=step), fsync=False)
    write_manifest(tmp_path, RunManifest(run_id="first/../run"), fsync=False)
    target = archive_run(tmp_path)
    assert target is not None and target.parent == tmp_path / "archive"
    assert target.name == "first_.._run"  # one path component: the separator made harmless
    assert sorted(p.name for p in target.iterdir()) == ["run.json", "step_000000.json", "step_000010.json"]
    assert list_snapshot_files(tmp_path) == [] and read_manifest(tmp_path) is None
    # A second run with the same id does not overwrite the first archive.
    write_snapshot(tmp_path, make_snapshot(step=0), fsync=False)
    write_manifest(tmp_path, RunManifest(run_id="first/../run"), fsync=False)
    second = archive_run(tmp_path)
    assert second is not None and second != target and target.exists()
    assert archive_run(tmp_path) is None  # nothing left to move


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from tests.test_schema import make_snapshot
    from tracker.store import write_snapshot
    for step in range(100000):
        # Big enough that a write takes a while, so the kill lands mid-write often.
        write_snapshot(sys.argv[1], make_snapshot(step=step, n=400), fmt="json" if step % 2 else "msgpack")
        if step == 0:
            print("started", flush=True)
    """
)


def test_sigkill_mid_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO)))
    out = tmp_path / "run"
    out.mkdir()
    for round_ in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"started"
        time.sleep(0.3 + 0.17 * round_)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    files = list_snapshot_files(out)
    assert len(files) > 4
    for f in files:
        assert isinstance(read_snapshot(f.path), Snapshot), f.path
    # Whatever the kills left is a dot-temp file, which readers never list.
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert all(".tmp-" in name for name in leftovers)
