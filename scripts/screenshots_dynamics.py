"""Pictures of the training-dynamics screens, on a REAL run: the toy model trained by the real Trainer.

    python scripts/screenshots_dynamics.py [--steps 800] [--size 120x36]

Trains ``tracker.toy_train`` (100 examples, a snapshot every 25 steps; about 15 s on 2 cores), then
drives the app under Pilot and saves ``screenshots/dynamics-*.svg``: the data map, step travel, compare
mode and the regressions list. The clock is frozen at 12 s after the last snapshot. (The other
pictures, on seeded synthetic runs, come from scripts/screenshots.py.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "screenshots"
sys.path.insert(0, str(ROOT))

SHOTS: list[tuple[str, list[str]]] = [
    ("dynamics-data-map", ["m"]),
    ("dynamics-step-travel", ["escape", "left_square_bracket", "left_square_bracket", "left_square_bracket"]),
    ("dynamics-compare", ["c"]),
    ("dynamics-regressions", ["escape", "escape", "r"]),
]


async def shoot(run_dir: Path, size: tuple[int, int], now: float) -> None:
    from evotui.app import MainScreen, make_app

    app = make_app(run_dir, interval=0.1, clock=lambda: now)
    async with app.run_test(size=size) as pilot:
        for _ in range(400):
            if isinstance(app.screen, MainScreen) and app.screen.loaded:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        for name, keys in SHOTS:
            await pilot.press(*keys)
            await pilot.pause(0.5)
            path = app.save_screenshot(f"{name}.svg", str(HERE))
            print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--size", default="120x36")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch

    from evotui.loader import load_run
    from evotui.tail import parse_time
    from tracker.toy_train import train_toy

    torch.set_num_threads(1)  # steadier on shared cores
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "toy-addition"
        result = train_toy(run_dir, steps=args.steps, n_examples=100, schedule="every 25")
        print(f"trained {result['global_step']} steps in {result['seconds']:.1f} s")
        history, _, _ = load_run(run_dir)
        latest = history.latest()
        moment = parse_time(latest.timestamp) if latest is not None else None
        now = (moment.timestamp() if moment else 0.0) + 12.0
        asyncio.run(shoot(run_dir, (width, height), now))


if __name__ == "__main__":
    main()
