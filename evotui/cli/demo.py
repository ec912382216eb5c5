"""`evotui demo`: train a tiny model for real in a background process and watch it learn.

The training side (``python -m tracker.toy_train``) runs in its own process, as it would on a real
machine: it needs the ``train`` extra (torch, transformers, accelerate); the viewer here never imports
torch. Nothing is downloaded: the model and the tokenizer are built from a config.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TRAIN_MODULES = ("torch", "transformers", "accelerate")
INSTALL_HINT = (
    'pip install "evotui[train]"  (from a checkout: pip install -e ".[train]"; '
    'for a CPU-only torch: pip install "torch==2.13.0" first, or use the CPU wheel index)'
)
DEFAULT_STEPS = 2000
DEFAULT_EXAMPLES = 100
# The tracker's own default, dense early (0, 10, 25, 50, ..., 1000, 1500, 2000): what a real run writes, and
# sparse enough later that a flip of an example between two snapshots is a real change, not noise.
DEFAULT_SCHEDULE = "default"
# The demo's recipe: easy and hard sums, a decaying learning rate. Examples are learned early, late,
# forgotten or never (with a constant rate nearly every example flips back and forth: a wall of "unstable").
TASK = "mixed"
LR_SCHEDULE = "cosine"


def default_threads(cpu_count: int | None = None) -> int:
    """torch threads for the demo's training: 1 unless the machine has cores to spare.

    The toy model is tiny: more threads barely speed it up, and on a machine where other work (the
    viewer beside it, first of all) wants the cores, threads that wait for each other make it far
    slower (measured on 2 cores under load: 15 s with 1 thread, 222 s with 2). Half the cores beyond
    the first two, at most 4.
    """
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, min(4, (cores - 2) // 2))


class DemoError(Exception):
    """A problem the person running the demo can fix; the message says how."""


@dataclass
class DemoPlan:
    directory: Path
    steps: int
    examples: int
    schedule: str
    hidden: int
    seed: int
    threads: int = 1

    @property
    def log_path(self) -> Path:
        # Beside the snapshots, where a person looks; the viewer ignores files not named step_*.
        return self.directory / "train.log"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "tracker.toy_train",
            "--output-dir", str(self.directory),
            "--steps", str(self.steps),
            "--examples", str(self.examples),
            "--schedule", self.schedule,
            "--hidden", str(self.hidden),
            "--seed", str(self.seed),
            "--threads", str(self.threads),
            "--task", TASK,
            "--lr-schedule", LR_SCHEDULE,
        ]  # fmt: skip


def missing_training_modules() -> list[str]:
    return [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]


def default_directory(now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return Path("data") / "evolution_snapshots" / f"demo-{stamp}"


def plan_demo(
    directory: Path | None,
    steps: int,
    examples: int,
    schedule: str = DEFAULT_SCHEDULE,
    hidden: int = 64,
    seed: int = 0,
    threads: int | None = None,
) -> DemoPlan:
    """Check everything that can be checked before starting a process; raise DemoError with the fix."""
    missing = missing_training_modules()
    if missing:
        names = ", ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        raise DemoError(f"the demo trains a model and needs {names}, which {verb} not installed: {INSTALL_HINT}")
    if steps < 1:
        raise DemoError(f"--steps must be at least 1, got {steps}")
    if not 1 <= examples <= 441:
        raise DemoError(f"--examples must be between 1 and 441 (the toy task has 441 sums), got {examples}")
    directory = directory if directory is not None else default_directory()
    if directory.exists():
        if not directory.is_dir():
            raise DemoError(f"{directory} is a file: give a directory that does not exist yet")
        if any(directory.iterdir()):
            raise DemoError(f"{directory} is not empty: the demo writes a fresh run; give a new directory")
    if threads is not None and threads < 1:
        raise DemoError(f"--threads must be at least 1, got {threads}")
    return DemoPlan(directory, steps, examples, schedule, hidden, seed, threads or default_threads())


def training_env(threads: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    if threads is not None:  # OpenMP's pool too, not only torch's intra-op threads
        env["OMP_NUM_THREADS"] = str(threads)
    # Run the same checkout as this process (an uninstalled checkout included).
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start_training(plan: DemoPlan) -> subprocess.Popen[bytes]:
    plan.directory.mkdir(parents=True, exist_ok=True)
    log = open(plan.log_path, "ab")  # noqa: SIM115 (the child owns it; closed when we are done)
    try:
        return subprocess.Popen(
            plan.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=training_env(plan.threads),
            start_new_session=True,  # a Ctrl-C in the viewer is the viewer's, not the trainer's
        )
    finally:
        log.close()


def run_finished(directory: Path) -> bool:
    """run.json says the training finished (its process may still be shutting down)."""
    from tracker.store import read_manifest

    manifest = read_manifest(directory)
    return getattr(manifest, "status", None) == "finished"


def stop_training(proc: subprocess.Popen[bytes], timeout: float = 10.0, finishing: bool = False) -> int | None:
    """Stop the trainer if it still runs: SIGTERM, then SIGKILL. Returns its exit code.

    ``finishing``: the run has finished and the process is only exiting: give it ``timeout`` seconds
    to end by itself first (a signal now would turn a finished run's exit into an interrupted one).
    """
    if proc.poll() is not None:
        return proc.returncode
    if finishing:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def run_training_foreground(plan: DemoPlan) -> int:
    """--no-watch: train here, output on this terminal; returns the trainer's exit code."""
    plan.directory.mkdir(parents=True, exist_ok=True)
    return subprocess.call(plan.command(), env=training_env(plan.threads), stdin=subprocess.DEVNULL)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror or exc})"
    return "\n".join(text.splitlines()[-lines:])
