"""`evotui demo` in a real terminal (tmux): what a person sees when they quit it while it trains."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
POLLS = 1500  # x 0.2 s: the demo imports torch and transformers before its first snapshot (slow on a busy machine)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def wait_for_pane(session: str, wanted: str) -> str:
    for _ in range(POLLS):
        pane = tmux("capture-pane", "-p", "-t", session)
        if wanted in pane:
            return pane
        time.sleep(0.2)
    raise AssertionError(f"{wanted!r} never appeared; the pane:\n{pane}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quitting_the_demo_while_it_trains_says_it_is_stopping_the_training(tmp_path: Path) -> None:
    session = f"evotui-test-{uuid.uuid4().hex[:8]}"
    run_dir = tmp_path / "demo"
    command = (
        f"cd {tmp_path} && PYTHONPATH={REPO} {sys.executable} -m evotui demo --steps 100000 --examples 5 "
        f"--threads 1 --dir {run_dir}; sleep 600"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], env=env, check=True)
    try:
        wait_for_pane(session, "● live")  # the viewer shows the run, training
        tmux("send-keys", "-t", session, "q")
        pane = wait_for_pane(session, "training stopped when the viewer closed")
        lines = pane.splitlines()
        stopping = next(n for n, line in enumerate(lines) if "stopping training..." in line)
        assert stopping < next(n for n, line in enumerate(lines) if "training stopped" in line)
        assert (run_dir / "step_000000.json").exists()
    finally:
        tmux("kill-session", "-t", session)
