"""Regenerate screenshots/*.svg from the app itself, on REAL runs of the toy model trained right here.

    python scripts/screenshots.py [--out screenshots] [--steps 1000]

Trains ``tracker.toy_train`` for real (seed 0, 100 examples, a snapshot every 25 steps, torch on one
thread; about 20 s on 2 cores), plus two short runs (another seed, a narrower model) so that the run
picker has a choice, and the main run again with another learning rate for the compare picture. Then
it drives the app under Pilot at fixed sizes with a frozen clock (12 s after the last snapshot shown)
and saves one SVG per screen. Nothing shown is made up: the hero picture
(main.svg) is the same run cut at a mid-run snapshot, with run.json saying "running" at that step, as
the viewer saw it while the run was live (its clock 2 s after that snapshot).

The pictures depend on the training (CPU kernels, library versions), so they are not compared by the
tests; the SVG snapshot tests use seeded synthetic runs (tests/__snapshots__) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from textual.pilot import Pilot  # noqa: E402

from evotui.analysis.runs import parse_time  # noqa: E402
from evotui.watch.app import make_app  # noqa: E402
from evotui.watch.screens.main import MainScreen  # noqa: E402
from evotui.watch.widgets.detail import ExampleDetail  # noqa: E402
from tracker.store import list_snapshot_files, read_manifest, read_snapshot, write_manifest  # noqa: E402

Step = Callable[[Pilot], Awaitable[None]]
CLOCK_AFTER_LAST_SNAPSHOT = 12.0
RUN_NAME = "toy-addition"
# Where the hero picture cuts the run: a mid-run snapshot, once the model has learned part of the task.
HERO_FRACTION = 0.5
# The live run wrote a snapshot every 0.4 s: 12 s of silence would put its ETA at 0 and look dead.
LIVE_CLOCK_AFTER_LAST_SNAPSHOT = 2.0


async def wait(pilot: Pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.02)


async def detail_settled(pilot: Pilot) -> None:
    screen = pilot.app.screen
    if isinstance(screen, MainScreen):
        detail = screen.query_one(ExampleDetail)
        await wait(pilot, lambda: detail.shown is not None and detail.shown[2] == screen.selected)


async def loaded(pilot: Pilot) -> None:
    app = pilot.app
    await wait(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
    # The dynamics analysis runs in a worker: the sparkline marks, data map and statuses need it.
    await wait(pilot, lambda: getattr(app.screen.state, "dynamics", None) is not None)
    await detail_settled(pilot)
    await pilot.pause(0.2)


def then(*keys: str) -> Step:
    async def step(pilot: Pilot) -> None:
        await loaded(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.05)
        await detail_settled(pilot)
        await pilot.pause(0.5)

    return step


async def picker(pilot: Pilot) -> None:
    from evotui.watch.screens.run_picker import RunPickerScreen

    await wait(pilot, lambda: isinstance(pilot.app.screen, RunPickerScreen))
    await pilot.pause(0.3)


async def compared(pilot: Pilot) -> None:
    """The compare screen with its comparison on screen, the cursor two rows down, the detail drawn."""
    from evotui.watch.screens.compare_runs import CompareRunsScreen
    from evotui.watch.widgets.compare_detail import CompareDetail

    app = pilot.app
    await wait(pilot, lambda: isinstance(app.screen, CompareRunsScreen) and app.screen.loaded)
    await pilot.press("down", "down")
    screen = app.screen
    detail = screen.query_one(CompareDetail)
    await wait(pilot, lambda: detail.shown is not None and detail.shown[1] == screen.selected)
    await pilot.pause(0.5)


@dataclass
class Shot:
    name: str
    target: Path  # relative to the working directory, so no temp directory names show in the pictures
    size: tuple[int, int]
    step: Step
    title: str
    compare: tuple[Path, ...] = ()  # runs compared with ``target`` (`evotui watch TARGET COMPARE...`)


async def shoot(shot: Shot, now: float, out: Path) -> None:
    app = make_app(shot.target, interval=0.05, clock=lambda: now, compare=shot.compare)
    async with app.run_test(size=shot.size) as pilot:
        await shot.step(pilot)
        app.save_screenshot(filename=shot.name, path=str(out))
    print(f"  {shot.name} ({shot.size[0]}x{shot.size[1]}): {shot.title}")


def train(run_dir: Path, **kwargs: object) -> None:
    from tracker.toy_train import train_toy

    result = train_toy(run_dir, n_examples=100, schedule="every 25", threads=1, **kwargs)  # type: ignore[arg-type]
    print(f"  trained {run_dir.name}: {result['global_step']} steps in {result['seconds']:.1f} s")


def snapshot_time(path: Path) -> float:
    snapshot = read_snapshot(path)
    moment = parse_time(getattr(snapshot, "timestamp", "") or "")
    if moment is None:
        raise SystemExit(f"{path}: no timestamp")
    return moment.timestamp()


def last_snapshot_time(run_dir: Path) -> float:
    return snapshot_time(list_snapshot_files(run_dir)[-1].path)


def cut_live_copy(run_dir: Path, dest: Path, fraction: float) -> float:
    """Copy ``run_dir`` up to a mid-run snapshot, with run.json as the live run wrote it then.

    Returns the time of the last snapshot kept. The manifest's heartbeat and step are set to that
    snapshot's (the writer updates run.json at each capture), status "running".
    """
    files = list_snapshot_files(run_dir)
    keep = files[: max(2, int(len(files) * fraction))]
    dest.mkdir(parents=True)
    for f in keep:
        shutil.copy2(f.path, dest / f.path.name)
    manifest = read_manifest(run_dir)
    if manifest is None or not hasattr(manifest, "status"):
        raise SystemExit(f"{run_dir}: no readable run.json")
    last = read_snapshot(keep[-1].path)
    moment = snapshot_time(keep[-1].path)
    manifest.status = "running"  # type: ignore[union-attr]
    manifest.current_step = keep[-1].step  # type: ignore[union-attr]
    manifest.updated_at = last.timestamp  # type: ignore[union-attr]
    write_manifest(dest, manifest)  # type: ignore[arg-type]
    return moment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--steps", type=int, default=1000, help="steps of the main run")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evotui-shots-") as tmp:
        os.chdir(tmp)
        runs = Path("runs")
        run_dir = runs / RUN_NAME
        print("training (real runs):")
        train(run_dir, steps=args.steps, seed=0)
        train(runs / "toy-addition-seed1", steps=300, seed=1)
        train(runs / "toy-addition-h32", steps=300, seed=0, hidden=32)
        # The same examples and seed with a higher learning rate, beside the run picker's directory.
        other_lr = Path("compare") / "toy-addition-lr1e-2"
        train(other_lr, steps=args.steps, seed=0, learning_rate=1e-2)
        # The live copy lives in another directory under the same relative name, so its header reads
        # "runs/toy-addition" too.
        live_root = Path(tmp) / "live"
        live_moment = cut_live_copy(run_dir, live_root / run_dir, HERO_FRACTION)
        # Each picture's clock is 12 s after the last snapshot of what it shows: the run trained first does
        # not say "finished 40 s ago" because the second one took 40 s to train.
        finished_now = last_snapshot_time(run_dir) + CLOCK_AFTER_LAST_SNAPSHOT
        compared_now = max(last_snapshot_time(p) for p in (run_dir, other_lr)) + CLOCK_AFTER_LAST_SNAPSHOT
        picker_now = max(last_snapshot_time(p) for p in runs.iterdir()) + CLOCK_AFTER_LAST_SNAPSHOT

        older = ["left_square_bracket"] * 24  # from the last snapshot back to mid-run, where answers change most
        finished: list[Shot] = [
            Shot("main-80x24.svg", run_dir, (80, 24), loaded, "the finished run at 80x24"),
            Shot(
                "detail.svg",
                run_dir,
                (120, 36),
                then("f", "f", "down", "enter"),
                "a forgotten example, its detail pane: answers and loss over the steps",
            ),
            Shot("data-map.svg", run_dir, (120, 36), then("m"), "the data map: confidence vs variability"),
            Shot("step-travel.svg", run_dir, (120, 36), then(*older), "the table as it was at a mid-run step"),
            Shot("compare.svg", run_dir, (120, 36), then(*older, "c"), "that step against the one before it"),
            Shot("regressions.svg", run_dir, (120, 36), then("r"), "snapshots where examples were forgotten"),
            Shot(
                "filter.svg",
                run_dir,
                (120, 36),
                then("slash", *"add_1", "enter", "S"),
                "a text filter and reversed sort",
            ),
            Shot("help.svg", run_dir, (100, 32), then("question_mark"), "help"),
            Shot(
                "compare-runs.svg",
                run_dir,
                (160, 48),
                compared,
                "two real runs compared: learning rates 3e-3 and 1e-2 on the same examples",
                compare=(other_lr,),
            ),
            Shot("runs.svg", runs, (100, 16), picker, "the run picker on a directory of three runs"),
        ]
        print("pictures:")
        os.chdir(live_root)
        asyncio.run(
            shoot(
                Shot("main.svg", run_dir, (120, 36), then("down", "down"), "the main screen, mid-run (live)"),
                live_moment + LIVE_CLOCK_AFTER_LAST_SNAPSHOT,
                out,
            )
        )
        os.chdir(tmp)
        for shot in finished:
            now = picker_now if shot.target == runs else compared_now if shot.compare else finished_now
            asyncio.run(shoot(shot, now, out))
        os.chdir(ROOT)
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
