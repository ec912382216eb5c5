"""How a run ends, in a real process: no global hook changed at import, SIGTERM and Ctrl-C are ``stopped``, an
exception is ``failed``, the lock is released; and which process writes is what the caller says.

Each case runs a small script in a fresh interpreter (no torch: ``record()`` needs no model), fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests._capture_helpers import snapshots
from tracker.schema import RunManifest
from tracker.store import read_manifest

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = """
import os, signal, sys, time
from tracker.tracker import EvolutionTracker
out = sys.argv[1]
ROW = [{"example_id": "a", "expected_output": "x", "model_output": "x"}]
"""


def _script(body: str) -> list[str]:
    return [sys.executable, "-c", PRELUDE + textwrap.dedent(body)]


def _run(body: str, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*_script(body), str(out)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def _manifest(out: Path) -> RunManifest:
    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest), manifest
    return manifest


def test_importing_the_tracker_changes_no_global_hook_and_a_run_restores_what_it_set(tmp_path: Path) -> None:
    done = _run(
        """
        import sys, signal
        before = (sys.excepthook, signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
        import tracker, tracker.tracker, tracker.run_end, tracker.writer
        after_import = (sys.excepthook, signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
        t = EvolutionTracker(output_dir=out)
        t.record(0, ROW)
        during = signal.getsignal(signal.SIGTERM)
        t.close()
        after_close = (sys.excepthook, signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
        print("import", after_import == before)
        print("during", during != before[1])
        print("close", after_close == before)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["import True", "during True", "close True"], done.stdout


def test_sigterm_marks_the_run_stopped_and_releases_the_lock(tmp_path: Path) -> None:
    """The seed's loop, no handler of its own, stopped with SIGTERM (what quitting `evotui demo` sends)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    body = """
        t = EvolutionTracker(output_dir=out, schedule="every 1")
        t.record(0, ROW)
        t.flush()
        print("ready", flush=True)
        for step in range(1, 10**6):
            t.heartbeat(step)
            time.sleep(0.01)
        """
    proc = subprocess.Popen(
        [*_script(body), str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert (tmp_path / ".evotui.lock").exists()  # held while the run lives
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert _manifest(tmp_path).status == "stopped"
    assert not (tmp_path / ".evotui.lock").exists()
    assert sorted(snapshots(tmp_path)) == [0]


def test_sigterm_chains_to_the_programs_own_handler(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    body = """
        def own(signum, frame):
            print("own handler", flush=True)
            raise SystemExit(7)
        signal.signal(signal.SIGTERM, own)
        t = EvolutionTracker(output_dir=out)
        t.record(0, ROW)
        t.flush()
        print("ready", flush=True)
        time.sleep(60)
        """
    proc = subprocess.Popen(
        [*_script(body), str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 7 and "own handler" in out, err
    assert _manifest(tmp_path).status == "stopped"


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("raise KeyboardInterrupt", "stopped"),  # Ctrl-C
        ("raise RuntimeError('training blew up')", "failed"),
        ("pass", "finished"),  # the seed never calls close(): the exit hook does
    ],
)
def test_a_run_left_open_gets_the_status_its_exit_implies(tmp_path: Path, ending: str, status: str) -> None:
    done = _run(
        f"""
        t = EvolutionTracker(output_dir=out)
        t.record(0, ROW)
        {ending}
        """,
        tmp_path,
    )
    assert (done.returncode == 0) == (status == "finished"), done.stderr
    assert _manifest(tmp_path).status == status
    assert not (tmp_path / ".evotui.lock").exists()


def test_context_manager_marks_keyboard_interrupt_stopped(tmp_path: Path) -> None:
    from tracker.tracker import EvolutionTracker

    with pytest.raises(KeyboardInterrupt), EvolutionTracker(output_dir=tmp_path) as tracker:
        tracker.record(0, [{"example_id": "a", "expected_output": "x", "model_output": "x"}])
        raise KeyboardInterrupt
    assert _manifest(tmp_path).status == "stopped"


def test_the_caller_says_which_process_writes(tmp_path: Path) -> None:
    """The Trainer says rank and world size; only without them is the process group asked.

    Here the program's process group says "rank 1 of 2" (a stand-in module: no processes to start), while the
    caller says it is process 0 of 1: the caller is believed and writes. Not told, the group's answer (rank 1)
    is used, and that process does not write.
    """
    done = _run(
        """
        import types
        fake = types.ModuleType("torch.distributed")
        fake.is_available = lambda: True
        fake.is_initialized = lambda: True
        fake.get_rank = lambda: 1
        fake.get_world_size = lambda: 2
        sys.modules["torch.distributed"] = fake
        told = EvolutionTracker(output_dir=out + "/told")
        told.start(0, rank=0, world_size=1)
        told.record(0, ROW)
        told.close()
        from tracker.distributed import process_role
        print("untold writer", process_role().is_writer)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(snapshots(tmp_path / "told")) == [0]
    assert "untold writer False" in done.stdout
