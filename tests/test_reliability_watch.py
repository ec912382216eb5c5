"""Reliability of `evotui watch`: non-atomic writers, a directory that vanishes, hostile text, load.

The real app under Pilot at a fixed size over real files; writers are threads or child processes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import msgspec
import pytest
from rich.segment import Segment

from evotui.watch.app import make_app
from evotui.watch.screens.main import MainScreen
from tests._reliability_helpers import FIVE_MB_OUTPUT, hostile_snapshot, make_snapshot
from tests._watch_helpers import screen_lines, screen_text, sync, wait_for, wait_loaded
from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import summarize
from tracker.store import snapshot_filename, write_snapshot
from tracker.synthetic import write_synthetic_run

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]
SIZE = (120, 36)
FAST = 0.02  # poll interval: catch files mid-write


def seed_style_json(snapshot: Snapshot) -> bytes:
    """The seed's writer: stdlib json with indent=2, straight to the final name."""
    return json.dumps(msgspec.to_builtins(snapshot), indent=2).encode()


def slow_plain_write(path: Path, data: bytes, chunks: int = 4, pause: float = 0.06) -> None:
    """Open the final name, write it in chunks with pauses: readers can see every partial state."""
    with open(path, "wb") as fh:
        for i in range(chunks):
            fh.write(data[i * len(data) // chunks : (i + 1) * len(data) // chunks])
            fh.flush()
            time.sleep(pause)


def vanish(directory: Path) -> None:
    """Delete a directory in one step for its readers: moved away, then deleted (``rmtree`` alone removes
    the files one by one, and a poll in between rightly sees some steps removed)."""
    gone = directory.with_name(directory.name + ".gone")
    os.rename(directory, gone)
    shutil.rmtree(gone)


def _header(app) -> str:  # type: ignore[no-untyped-def]
    return screen_lines(app)[0]


@sync
async def test_slow_plain_writer_partial_files_are_skipped_then_picked_up(tmp_path: Path) -> None:
    run_dir = tmp_path / "seedrun"
    run_dir.mkdir()
    snaps = {step: make_snapshot(step, 30, seed=5) for step in (0, 10, 20, 30)}
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        # A partial file, deterministically: the first half of step 0, left there until the app has
        # judged it. It is skipped with its kind (never shown, never fatal), then read once complete.
        first = seed_style_json(snaps[0])
        (run_dir / snapshot_filename(0)).write_bytes(first[: len(first) // 2])

        def main_state():  # type: ignore[no-untyped-def]  # the main screen's, also under the waiting screen
            screen = next(s for s in app.screen_stack if hasattr(s, "state"))
            return screen.state

        await wait_for(pilot, lambda: bool(main_state().errors))
        (error,) = main_state().errors.values()
        assert error.kind == "invalid"
        assert main_state().history.n_steps == 0
        with open(run_dir / snapshot_filename(0), "ab") as fh:
            fh.write(first[len(first) // 2 :])

        # The seed's slow writer for the rest: whatever partial states the polls meet (the test does not
        # depend on meeting any), every file ends up read, and nothing stays skipped.
        for step in (10, 20, 30):
            await asyncio.to_thread(slow_plain_write, run_dir / snapshot_filename(step), seed_style_json(snaps[step]))
        await wait_loaded(pilot, 4)
        await wait_for(pilot, lambda: not app.screen.state.errors)
        history = app.screen.state.history
        assert history.steps == [0, 10, 20, 30]
        for step, snap in snaps.items():
            assert list(history.columns[step].outputs) == [r.model_output for r in snap.examples]
        assert "skipped" not in _header(app)

        # Replaced in place, slowly, with other content: read again (not a second step).
        changed = make_snapshot(30, 30, seed=5)
        for row in changed.examples:
            row.model_output = "ZQZQ"
        await asyncio.to_thread(slow_plain_write, run_dir / "step_000030.json", seed_style_json(changed))
        await wait_for(pilot, lambda: app.screen.state.history.columns[30].outputs[0] == "ZQZQ")
        await wait_for(pilot, lambda: "ZQZQ" in screen_text(app))
        # Replaced in place with a file of the very same size: the mtime tells it apart.
        same_size = make_snapshot(30, 30, seed=5)
        for row in same_size.examples:
            row.model_output = "QZQZ"
        data = seed_style_json(same_size)
        assert len(data) == (run_dir / "step_000030.json").stat().st_size
        (run_dir / "step_000030.json").write_bytes(data)
        await wait_for(pilot, lambda: app.screen.state.history.columns[30].outputs[0] == "QZQZ")
        assert app.screen.state.history.steps == [0, 10, 20, 30]


@sync
async def test_watched_directory_deleted_replaced_unreadable_and_recreated(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_synthetic_run(run_dir, 20, 3, seed=2, status="running")
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 3)

        def state():  # the main screen's view now (each change is a new one; it may be under the waiting screen)
            return next(s for s in app.screen_stack if isinstance(s, MainScreen)).state

        vanish(run_dir)  # deleted
        await wait_for(pilot, lambda: state().dir_state == "disappeared")
        await wait_for(pilot, lambda: "directory gone" in _header(app))
        assert state().history.n_steps == 3  # what was shown stays on screen
        await pilot.press("down", "down")  # and the app still answers
        assert app.screen.selected == 2  # type: ignore[attr-defined]

        write_synthetic_run(run_dir, 20, 5, seed=2, status="running")  # recreated, further on
        await wait_for(pilot, lambda: state().history.n_steps == 5 and state().dir_state == "ok")
        await wait_for(pilot, lambda: "directory gone" not in _header(app))

        vanish(run_dir)
        run_dir.write_text("not a directory any more")  # replaced by a file
        await wait_for(pilot, lambda: state().dir_state == "not a directory")
        await wait_for(pilot, lambda: "directory gone" in _header(app))

        # Unreadable: root reads through chmod 000, so make listing it fail another way (ELOOP).
        run_dir.unlink()
        os.symlink(run_dir.name, run_dir)
        await wait_for(pilot, lambda: state().dir_state == "unreadable")
        assert "symbolic links" in state().dir_message
        assert state().history.n_steps == 5

        run_dir.unlink()  # back, holding another, shorter run: the vanished steps go, no mix
        write_synthetic_run(run_dir, 20, 2, seed=9, status="running")
        await wait_for(pilot, lambda: state().history.steps == [0, 10] and state().dir_state == "ok")
        await wait_for(pilot, lambda: "2 snapshots" in _header(app))


FORBIDDEN = {chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]} | {
    chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
}


def _check_inert(app) -> str:  # type: ignore[no-untyped-def]
    """The rendered screen: no control, escape or bidi character, no link, no click action of the data's
    (the app's own quick filters are clickable), and every line fits the terminal."""
    strips = app.screen._compositor.render_strips()
    for y, strip in enumerate(strips):
        for segment in strip:
            assert isinstance(segment, Segment)
            bad = FORBIDDEN.intersection(segment.text)
            assert not bad, f"line {y}: {sorted(map(hex, map(ord, bad)))} in {segment.text[:60]!r}"
            style = segment.style
            if style is not None:
                assert not style.link, f"line {y}: a hyperlink {style.link!r}"
                click = str((style.meta or {}).get("@click", ""))
                assert "quit" not in click and "evil" not in click, f"line {y}: a click action from the data"
        assert strip.cell_length <= SIZE[0]
    return "\n".join("".join(s.text for s in strip) for strip in strips)


@sync
async def test_hostile_text_is_shown_inertly_in_the_app(tmp_path: Path) -> None:
    run_dir = tmp_path / "hostile"
    run_dir.mkdir()
    write_snapshot(run_dir, hostile_snapshot(0), fsync=False)
    last = hostile_snapshot(10)
    huge = ExampleResult(example_id="zz_five_mb", input="big", expected_output="x", model_output=FIVE_MB_OUTPUT)
    last.examples.append(huge)
    last.summary = summarize(last.examples)
    write_snapshot(run_dir, last, "msgpack", fsync=False)
    good = make_snapshot(20, 3).examples[0]
    (run_dir / "step_000020.json").write_bytes(
        msgspec.json.encode(Snapshot(training_step=20, examples=[good])).replace(b"ex_00000", b"ex_\xff\xfe")
    )
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 2)
        await wait_for(pilot, lambda: "1 skipped" in _header(app))  # the invalid UTF-8 file, counted
        assert next(iter(app.screen.state.errors.values())).kind == "invalid_utf8"
        n_rows = len(last.examples)
        for _ in range(n_rows):  # every example, in the table and in the detail pane
            _check_inert(app)
            await pilot.press("down")
            await pilot.pause()
        _check_inert(app)
        assert app.screen.selected == n_rows - 1  # the 5 MB example is reached, and the app answers

        await pilot.press("slash", *"rich_markup", "enter")
        await wait_for(pilot, lambda: len(app.screen.rows) == 2)  # rich_markup and rich_markup_broken
        await pilot.press("home")
        await pilot.pause(0.1)
        text = _check_inert(app)
        # Literal in the detail pane (wrapped there, so checked piece by piece).
        assert "[bold red]not bold[/bold red]" in text and "[link=https://evil.example]link[/link]" in text
        await pilot.press("escape")
        await pilot.press("slash", *"osc52", "enter")
        await wait_for(pilot, lambda: len(app.screen.rows) == 1)
        await pilot.pause(0.1)
        text = _check_inert(app)
        assert "␛]52;c;ZWNobyBwd25lZAo=␇copied" in text  # the clipboard write, as characters


def _load_bench() -> object:
    spec = importlib.util.spec_from_file_location("evotui_bench_load", Path(__file__).parent.parent / "bench/load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@sync
async def test_app_under_load_takes_every_snapshot_keeps_the_filter_and_memory_is_bounded(tmp_path: Path) -> None:
    bench = _load_bench()
    n, k = 2000, 30
    run_dir = tmp_path / "load"
    bench.start_writer(run_dir, n, 2, 100.0).wait()  # type: ignore[attr-defined]
    app = make_app(run_dir, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 2)
        rss_loaded_2 = bench.rss_mb()  # type: ignore[attr-defined]
        writer = bench.start_writer(run_dir, n, k, 15.0, start=2)  # type: ignore[attr-defined]
        keys = 0
        while writer.poll() is None:  # filter, sort and scroll while snapshots arrive
            for key in bench.KEY_SCRIPT:  # type: ignore[attr-defined]
                await pilot.press(key)
                keys += 1
        assert writer.returncode == 0
        await pilot.press("slash", *"7", "enter")  # a filter set during the load stays set
        await wait_loaded(pilot, k, timeout=60)
        screen = app.screen
        assert keys >= len(bench.KEY_SCRIPT)  # type: ignore[attr-defined]
        assert screen.query_state.text == "7"
        shown = [screen.state.history.example_ids[i] for i in screen.rows.order.tolist()]
        assert shown and len(shown) < n
        # The dynamics (computed off the UI thread) catch up with the last snapshot.
        await wait_for(pilot, lambda: int(screen.state.dynamics.steps[-1]) == screen.state.history.latest_step)
        rss_loaded_k = bench.rss_mb()  # type: ignore[attr-defined]
        # Bounded by the data: ~16 bytes of arrays and an output string per example-step; allow 4x.
        per_example_step = (rss_loaded_k - rss_loaded_2) * 1e6 / (n * (k - 2))
        assert per_example_step < 800, f"{per_example_step:.0f} bytes per example-step"
        # Keys alone do not grow memory (no per-key leak): one more round of the script.
        for key in bench.KEY_SCRIPT:  # type: ignore[attr-defined]
            await pilot.press(key)
        await pilot.pause()
        assert bench.rss_mb() - rss_loaded_k < 40  # type: ignore[attr-defined]


def test_history_shares_unchanged_output_strings_between_snapshots() -> None:
    from evotui.analysis.history import RunHistory

    history = RunHistory()
    first, second = make_snapshot(0, 50, seed=1), make_snapshot(0, 50, seed=1)
    second.training_step = 10
    second.examples[3].model_output = "changed"
    for snap in (first, msgspec.json.decode(msgspec.json.encode(second), type=Snapshot)):  # new str objects
        history.add(snap)
    before, after = history.columns[0].outputs, history.columns[10].outputs
    assert list(after) == [r.model_output for r in second.examples]  # the values are the snapshot's
    assert after[3] == "changed" and before[3] != "changed"
    assert all(after[i] is before[i] for i in range(50) if i != 3 and before[i] == after[i])


@sync
async def test_two_files_for_one_step_make_one_step_and_do_not_flip(tmp_path: Path) -> None:
    run_dir = tmp_path / "both"
    run_dir.mkdir()
    as_json, as_msgpack = make_snapshot(10, 5, seed=1), make_snapshot(10, 5, seed=1)
    for row in as_json.examples:
        row.model_output = "from-json"
    for row in as_msgpack.examples:
        row.model_output = "from-msgpack"
    write_snapshot(run_dir, make_snapshot(0, 5, seed=1), fsync=False)
    write_snapshot(run_dir, as_json, "json", fsync=False)
    write_snapshot(run_dir, as_msgpack, "msgpack", fsync=False)
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 2)
        history = app.screen.state.history
        shown = history.columns[10].outputs[0]
        assert shown in ("from-json", "from-msgpack")
        assert not app.screen.state.errors
        for _ in range(10):  # many polls later: the same file's content, read once
            await pilot.pause(FAST)
            assert app.screen.state.history.columns[10].outputs[0] == shown
        assert app.screen.state.history.steps == [0, 10]
        (run_dir / ("step_000010.msgpack" if shown == "from-msgpack" else "step_000010.json")).unlink()
        await wait_for(pilot, lambda: app.screen.state.history.columns[10].outputs[0] != shown)
        assert app.screen.state.history.steps == [0, 10]  # the other file still holds the step
