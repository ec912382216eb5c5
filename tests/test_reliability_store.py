"""Reliability of the snapshot format on disk: writers killed mid-write, hostile and odd files, hostile text.

Real files in temp directories, real child processes killed with SIGKILL; nothing mocked.
"""

from __future__ import annotations

import functools
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from tests._reliability_helpers import FIVE_MB_OUTPUT, HOSTILE_TEXTS, hostile_snapshot, make_snapshot, sized_snapshot
from tracker.schema import Snapshot, encode_snapshot
from tracker.store import (
    MAX_STEP,
    ReadError,
    ReadErrorKind,
    SnapshotStore,
    list_snapshot_files,
    read_manifest,
    read_snapshot,
    snapshot_filename,
    write_snapshot,
)

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parent.parent

# The child writes steps start..stop-1 (alternating formats), reports each one after its rename, then
# waits to be killed. Given DIE_AT >= 0, it kills itself with SIGKILL when it is about to rename that
# step's temp file into place: the whole file written, not yet visible (the moment atomic writes are
# for), reached by count. Every bound is a count: the work is the same on a slow machine.
WRITER = """
import os, signal, sys
from tests._reliability_helpers import sized_snapshot
from tracker.store import write_snapshot
directory, fsync = sys.argv[1], sys.argv[3] == "1"
step, die_at, stop = int(sys.argv[2]), int(sys.argv[4]), int(sys.argv[5])
rename = os.replace
def replace_or_die(src, dst):
    if step == die_at:
        os.kill(os.getpid(), signal.SIGKILL)
    rename(src, dst)
os.replace = replace_or_die
while step < stop:
    write_snapshot(directory, sized_snapshot(step), "msgpack" if step % 3 == 0 else "json", fsync=fsync)
    sys.stdout.write(f"{step}\\n")
    sys.stdout.flush()
    step += 1
sys.stdin.read()  # until killed
"""
KILLS = 24  # children killed; each writes 3..15 snapshots first (~200 writes in all)


@functools.lru_cache(maxsize=1024)
def _expected_bytes(step: int, fmt: str) -> bytes:
    return encode_snapshot(sized_snapshot(step), fmt)  # type: ignore[arg-type]


def _check_directory(directory: Path, seen: dict[Path, tuple[int, int]]) -> None:
    """Every file under a final name is whole: byte-identical to what the writer meant to write."""
    for f in list_snapshot_files(directory):
        if seen.get(f.path) == f.signature:
            continue
        data = f.path.read_bytes()
        assert data == _expected_bytes(f.step, f.format), f"partial or wrong content under {f.path.name}"
        seen[f.path] = f.signature


def test_sigkill_during_hundreds_of_writes_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """Bounded by counts (kills, writes per child), never by the clock: as strict on a slow machine."""
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed: set[int] = set()
    seen: dict[Path, tuple[int, int]] = {}
    next_step = 0
    # Each child resumes at the step its predecessor was killed on (overwriting it, as a resumed run does).
    for kill in range(KILLS):
        # Mostly without fsync: SIGKILL does not lose the page cache, and an fsync costs whatever the disk
        # is busy with (other processes' I/O); a few children with it, writing a few snapshots each.
        fsync = kill % 8 == 0
        writes = rng.randint(3, 5) if fsync else rng.randint(3, 15)
        # Odd kills: the child dies just before renaming (a temp file left behind, for sure). Even kills:
        # SIGKILL from here after ``writes`` reports, landing wherever the child is in its next two writes.
        die_at = next_step + writes if kill % 2 else -1
        stop = next_step + writes + 2
        args = [str(tmp_path), str(next_step), "1" if fsync else "0", str(die_at), str(stop)]
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT
        )
        assert child.stdout is not None
        reported: list[int] = []
        while len(reported) < writes:
            line = child.stdout.readline()
            if not line:  # it killed itself
                break
            reported.append(int(line))
            _check_directory(tmp_path, seen)  # a reader racing the writer sees only whole files
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()  # (closes its stdin too)
        assert child.returncode == -signal.SIGKILL
        reported += [int(line) for line in out.decode().split()]
        completed.update(reported)
        _check_directory(tmp_path, seen)
        if reported:
            next_step = reported[-1] + 1

    names = {f.step for f in list_snapshot_files(tmp_path)}
    assert completed <= names, f"reported but missing: {sorted(completed - names)[:10]}"
    for step in completed:
        fmt = "msgpack" if step % 3 == 0 else "json"
        snap = read_snapshot(tmp_path / snapshot_filename(step, fmt))
        assert isinstance(snap, Snapshot), snap
        assert snap == sized_snapshot(step)
    # What a kill leaves behind is a dot-temp file, which readers never list.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert all(".tmp-" in name for name in leftovers)
    assert leftovers, "the children that died before renaming left their temp files"
    assert len(list_snapshot_files(tmp_path)) == len(names)


# -- hostile and odd files -------------------------------------------------------------------------

VALID = json.loads(msgspec.json.encode(make_snapshot(5, 3)))


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _with(**changes: object) -> bytes:
    return _json({**VALID, **changes})


# case -> (content, the ReadError kind expected): classified by our checks, never by a decoder's wording
BAD_FILES: dict[str, tuple[bytes, ReadErrorKind]] = {
    "empty": (b"", "empty"),
    "truncated": (_json(VALID)[:-40], "invalid"),
    "not_json": (b"<html>502 Bad Gateway</html>", "invalid"),
    "binary_noise": (bytes(range(256)) * 4, "invalid_utf8"),  # JSON must be UTF-8 text
    "json_list": (b"[1, 2, 3]", "wrong_shape"),
    "json_string": (b'"step_000005"', "wrong_shape"),
    "json_null": (b"null", "wrong_shape"),
    "missing_examples": (_json({"training_step": 5}), "wrong_shape"),
    "step_is_string": (_with(training_step="5"), "wrong_shape"),
    "step_is_float": (_with(training_step=5.5), "wrong_shape"),
    "examples_is_dict": (_with(examples={"a": 1}), "wrong_shape"),
    "example_without_id": (_with(examples=[{"input": "x"}]), "wrong_shape"),
    "loss_is_string": (_with(examples=[{**VALID["examples"][0], "loss": "high"}]), "wrong_shape"),
    "exact_match_is_int": (_with(examples=[{**VALID["examples"][0], "exact_match": 1}]), "wrong_shape"),
    "output_is_list": (_with(examples=[{**VALID["examples"][0], "model_output": ["a"]}]), "wrong_shape"),
    "summary_wrong_type": (_with(summary="all good"), "wrong_shape"),
    "loss_overflows": (_json(VALID)[:-1] + b', "train_loss": 1e999}', "wrong_shape"),
    "invalid_utf8": (_json(VALID).replace(b'"ex_00000"', b'"ex_\xff\xfe\xc0"'), "invalid_utf8"),
    "utf8_bom": (b"\xef\xbb\xbf" + _json(VALID), "invalid"),
    "deeply_nested": (
        _json(VALID)[:-1] + b', "extra": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        "too_deep",
    ),
    "schema_version_2": (_with(schema_version=2), "too_new"),
    "negative_step": (_with(training_step=-5), "out_of_range"),
    "huge_step": (_with(training_step=10**20), "out_of_range"),
    "step_differs_from_name": (_with(training_step=6), "step_mismatch"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_snapshot_file_gives_a_read_error_with_a_reason(tmp_path: Path, case: str) -> None:
    content, kind = BAD_FILES[case]
    path = tmp_path / "step_000005.json"
    path.write_bytes(content)
    assert [f.step for f in list_snapshot_files(tmp_path)] == [5]  # listed (a name is a name), not trusted
    result = read_snapshot(path)
    assert isinstance(result, ReadError), f"{case}: decoded {result!r:.200}"
    assert result.path == path
    assert result.kind == kind, result
    assert result.reason and str(result).startswith("step_000005.json: ")


def test_bad_msgpack_files_give_read_errors(tmp_path: Path) -> None:
    good = encode_snapshot(make_snapshot(5, 3), "msgpack")
    cases = {
        "truncated": good[:-7],
        "json_in_msgpack_name": _json(VALID),
        "wrong_shape": msgspec.msgpack.encode([1, 2, 3]),
        "invalid_utf8": good.replace(b"ex_00000", b"ex_\xff\xfe\xc0\xc1\xf5"),
        "claims_4g_elements": b"\x82\xadtraining_step\x05\xa8examples\xdd\xff\xff\xff\xff",
        "step_differs": encode_snapshot(make_snapshot(7, 3), "msgpack"),
    }
    for case, content in cases.items():
        path = tmp_path / "step_000005.msgpack"
        path.write_bytes(content)
        result = read_snapshot(path)
        assert isinstance(result, ReadError), f"{case}: {result!r:.200}"
        assert result.reason


def test_unknown_fields_are_ignored_and_a_summaryless_file_gets_one(tmp_path: Path) -> None:
    data = {**VALID, "future_field": {"x": [1, 2]}, "examples": [{**VALID["examples"][0], "new": 1}]}
    del data["summary"]
    (tmp_path / "step_000005.json").write_bytes(_json(data))
    result = read_snapshot(tmp_path / "step_000005.json")
    assert isinstance(result, Snapshot)
    assert result.summary is not None and result.summary.total_examples == 1


def test_one_gigabyte_sparse_file_is_refused_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "step_000100.json"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # sparse: no disk used, but 1 GB to anyone who reads it
    [listed] = list_snapshot_files(tmp_path)
    assert listed.size == 1 << 30
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    started = time.perf_counter()
    result = read_snapshot(path)
    elapsed = time.perf_counter() - started
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert isinstance(result, ReadError)
    assert "too large" in result.reason and "not read" in result.reason
    assert peak_after - peak_before < 64 * 1024, "the file was read into memory"
    assert elapsed < 5  # generous: reading 1 GB of zeros and decoding them would take far longer


def test_symlink_loop_directory_and_special_files_named_like_snapshots(tmp_path: Path) -> None:
    os.symlink("step_000001.json", tmp_path / "step_000001.json")  # points at itself
    os.symlink("step_000003.json", tmp_path / "step_000002.json")  # a two-link loop
    os.symlink("step_000002.json", tmp_path / "step_000003.json")
    (tmp_path / "step_000004.json").mkdir()
    os.mkfifo(tmp_path / "step_000005.json")  # opening it for reading would wait forever for a writer
    os.symlink("/dev/zero", tmp_path / "step_000006.json")  # endless
    os.symlink("missing.json", tmp_path / "step_000007.json")  # dangling
    write_snapshot(tmp_path, make_snapshot(8, 2))
    os.symlink("step_000008.json", tmp_path / "step_000009.json")  # a link to a real snapshot of another step

    assert [f.step for f in list_snapshot_files(tmp_path)] == [8, 9]
    reasons = {}
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for step in range(1, 8):
        result = read_snapshot(tmp_path / snapshot_filename(step))
        assert isinstance(result, ReadError), step
        reasons[step] = result.reason
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 64 * 1024, "/dev/zero was slurped"
    assert "symbolic links" in reasons[1] and "symbolic links" in reasons[2]
    assert reasons[4] == "is a directory"
    assert "not a regular file" in reasons[5] and "not a regular file" in reasons[6]
    assert "No such file" in reasons[7]
    assert isinstance(read_snapshot(tmp_path / "step_000008.json"), Snapshot)
    assert "file name says step 9" in str(read_snapshot(tmp_path / "step_000009.json"))


def test_two_files_for_one_step_are_both_listed_in_a_stable_order(tmp_path: Path) -> None:
    write_snapshot(tmp_path, make_snapshot(10, 3, seed=1), "msgpack")
    write_snapshot(tmp_path, make_snapshot(10, 3, seed=2), "json")
    write_snapshot(tmp_path, make_snapshot(1_000_000, 3), "json")  # seven digits: ordered by number
    write_snapshot(tmp_path, make_snapshot(999_999, 3), "json")
    files = list_snapshot_files(tmp_path)
    assert [(f.step, f.format) for f in files] == [
        (10, "json"),
        (10, "msgpack"),
        (999_999, "json"),
        (1_000_000, "json"),
    ]
    first, second = (read_snapshot(f.path) for f in files[:2])
    assert isinstance(first, Snapshot) and isinstance(second, Snapshot)
    assert first.snapshot_id == "snap-2-10" and second.snapshot_id == "snap-1-10"


def test_steps_beyond_what_a_file_name_carries_are_refused_by_the_writer() -> None:
    assert snapshot_filename(MAX_STEP) == f"step_{MAX_STEP}.json"
    with pytest.raises(ValueError):
        snapshot_filename(MAX_STEP + 1)
    with pytest.raises(ValueError):
        snapshot_filename(-1)


def test_bad_manifests_give_read_errors_not_exceptions(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    manifest = tmp_path / "run.json"
    for content in (b"", b"{", b"[]", b'{"errors": "many"}', b'{"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"):
        manifest.write_bytes(content)
        assert isinstance(read_manifest(tmp_path), ReadError), content[:20]
    manifest.write_bytes(b'{"schema_version": 9}')
    assert "newer" in str(read_manifest(tmp_path))
    manifest.unlink()
    os.mkfifo(manifest)
    assert "not a regular file" in str(read_manifest(tmp_path))
    manifest.unlink()
    with open(manifest, "wb") as fh:
        fh.truncate(1 << 30)
    assert "too large" in str(read_manifest(tmp_path))


# -- hostile text is recorded faithfully -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_hostile_text_round_trips_byte_for_byte(tmp_path: Path, fmt: str) -> None:
    store = SnapshotStore(tmp_path, fmt=fmt, fsync=False)  # type: ignore[arg-type]
    snapshot = hostile_snapshot(3)
    path = store.write(snapshot)
    back = read_snapshot(path)
    assert isinstance(back, Snapshot)
    assert back == snapshot
    by_id = {row.example_id: row for row in back.examples}
    for name, text in HOSTILE_TEXTS.items():
        assert by_id[name].model_output == text
    assert by_id["ten_thousand_lines"].model_output.count("\n") == 9_999
    if fmt == "json":
        # Raw control characters never reach the file: JSON escapes them, so `cat` of a file is safe too.
        raw = path.read_bytes()
        assert b"\x1b" not in raw and b"\x00" not in raw and b"\x07" not in raw


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_five_megabyte_output_round_trips(tmp_path: Path, fmt: str) -> None:
    snapshot = make_snapshot(4, 3)
    snapshot.examples[1].model_output = FIVE_MB_OUTPUT
    path = write_snapshot(tmp_path, snapshot, fmt, fsync=False)  # type: ignore[arg-type]
    back = read_snapshot(path)
    assert isinstance(back, Snapshot)
    assert back.examples[1].model_output == FIVE_MB_OUTPUT
    assert back == snapshot


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_lone_surrogates_are_replaced_not_a_failed_write(tmp_path: Path, fmt: str) -> None:
    # json.loads('"\\ud800"') gives a str that UTF-8 cannot encode: a dataset can carry one.
    snapshot = make_snapshot(2, 2)
    snapshot.examples[0].input = json.loads('"a\\ud800b"')
    snapshot.examples[0].metadata = {json.loads('"\\udfff"'): [json.loads('"\\udc80"')]}
    path = write_snapshot(tmp_path, snapshot, fmt, fsync=False)  # type: ignore[arg-type]
    back = read_snapshot(path)
    assert isinstance(back, Snapshot)
    assert back.examples[0].input == "a\ufffdb"
    assert back.examples[0].metadata == {"\ufffd": ["\ufffd"]}
    assert back.examples[1] == snapshot.examples[1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
