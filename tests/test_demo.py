"""`evotui demo`: trains end to end in a subprocess and leaves a valid run; clear messages otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evotui.cli import demo
from evotui.cli.commands import main
from tracker.schema import RunManifest, Snapshot
from tracker.store import list_snapshot_files, read_manifest, read_snapshot

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_trains_end_to_end_and_leaves_valid_snapshots(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo-run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    args = ["demo", "--no-watch", "--steps", "60", "--examples", "12", "--threads", "1", "--dir", str(run_dir)]
    out = subprocess.run(
        [sys.executable, "-m", "evotui", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert str(run_dir) in out.stdout  # the path is printed, and kept
    files = list_snapshot_files(run_dir)
    assert "1 torch thread." in out.stdout and "torch threads: 1" in out.stderr  # asked, and used (the log)
    assert [f.step for f in files] == [0, 10, 25, 50, 60]  # the tracker's default schedule, plus the last step
    snapshots = [read_snapshot(f.path) for f in files]
    assert all(isinstance(s, Snapshot) for s in snapshots), snapshots
    assert all(len(s.examples) == 12 for s in snapshots)  # type: ignore[union-attr]
    manifest = read_manifest(run_dir)
    assert isinstance(manifest, RunManifest)
    assert (manifest.status, manifest.current_step, manifest.max_steps) == ("finished", 60, 60)
    assert snapshots[-1].summary.avg_loss < snapshots[0].summary.avg_loss  # type: ignore[union-attr]


def test_demo_without_the_training_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # A module that is really not installed here stands for a missing torch.
    monkeypatch.setattr(demo, "TRAIN_MODULES", ("transformers", "evotui_no_such_module"))
    result = CliRunner().invoke(main, ["demo", "--no-watch"])
    assert result.exit_code != 0
    assert "evotui_no_such_module" in result.output and "pip install" in result.output
    assert "transformers," not in result.output  # installed modules are not blamed


def test_demo_refuses_a_directory_that_holds_something(tmp_path: Path) -> None:
    (tmp_path / "step_000000.json").write_text("{}")
    result = CliRunner().invoke(main, ["demo", "--no-watch", "--dir", str(tmp_path)])
    assert result.exit_code != 0 and "not empty" in result.output
    assert (tmp_path / "step_000000.json").read_text() == "{}"  # nothing touched


def test_demo_trains_on_one_thread_unless_the_machine_has_cores_to_spare(tmp_path: Path) -> None:
    # The viewer runs beside the training: on 2 cores, 2 torch threads made the toy run 15x slower.
    assert [demo.default_threads(n) for n in (1, 2, 4, 6, 8, 64)] == [1, 1, 1, 2, 3, 4]
    plan = demo.plan_demo(tmp_path / "run", steps=10, examples=5)
    assert plan.command()[plan.command().index("--threads") + 1] == str(demo.default_threads())
    plan = demo.plan_demo(tmp_path / "run", steps=10, examples=5, threads=3)
    assert plan.command()[plan.command().index("--threads") + 1] == "3"
    assert demo.training_env(3)["OMP_NUM_THREADS"] == "3"


def test_the_demo_trains_a_mix_of_easy_and_hard_sums_with_a_decaying_rate(tmp_path: Path) -> None:
    # With only small sums and a constant rate nearly every example flips between right and wrong: a wall
    # of "unstable". The demo mixes in two-digit sums (learned late or never) and decays the rate.
    from tracker.toy import addition_examples, mixed_examples

    rows = mixed_examples(seed=0)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 441 + 220
    assert {r["id"] for r in addition_examples()} < set(ids)
    hard = [r for r in rows[:100] if int(r["id"].split("_")[1]) > 20]
    assert 20 <= len(hard) <= 60  # the tracked first 100 hold both kinds
    assert all(int(r["completion"]) == sum(map(int, r["id"].split("_")[1:])) for r in rows)
    assert mixed_examples(seed=0) == rows  # seeded
    command = demo.plan_demo(tmp_path / "run", steps=10, examples=5).command()
    assert command[command.index("--task") + 1] == "mixed"
    assert command[command.index("--lr-schedule") + 1] == "cosine"
    assert command[command.index("--schedule") + 1] == "default"
