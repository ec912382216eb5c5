"""The real app under Pilot at a fixed size, over real files written in a temp directory."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from evotui.watch.app import make_app
from evotui.watch.screens.help import HelpScreen
from evotui.watch.screens.main import MainScreen
from evotui.watch.screens.run_picker import RunPickerScreen
from evotui.watch.screens.waiting import WaitingScreen
from evotui.watch.widgets.detail import ExampleDetail
from evotui.watch.widgets.example_table import ExampleTable
from tests._watch_helpers import (
    frozen_clock,
    screen_lines,
    screen_text,
    sync,
    wait_for,
    wait_loaded,
    write_hostile_run,
)
from tracker.store import SnapshotStore, atomic_write_bytes
from tracker.synthetic import write_synthetic_run

SIZE = (120, 36)
FAST = 0.05  # poll interval for tests: the default 0.5 s would only make them slower


def table_ids(app) -> list[str]:
    table = app.screen.query_one(ExampleTable)
    return [app.screen.state.history.example_ids[i] for i in table.rows.order.tolist()]


@sync
async def test_snapshots_written_while_running_appear(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "live", 30, 8, seed=1, upto=3, max_steps=70)
    app = make_app(tmp_path / "live", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 3)
        assert "3 snapshots" in screen_lines(app)[0]
        store = SnapshotStore(tmp_path / "live", fsync=False)
        for k in range(3, 8):
            store.write(run.snapshot(k))
            store.write_manifest(run.manifest(k))
        await wait_for(pilot, lambda: app.screen.state.history.n_steps == 8)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "8 snapshots" in text
        assert "output @70" in text  # the table follows the newest snapshot
        assert "step 70/70" in screen_lines(app)[0]
        latest = run.snapshot(7).summary
        assert f"Accuracy {latest.accuracy * 100:.1f}%" in screen_lines(app)[1]
        assert any(n.message.startswith("new snapshot: step 70") for n in app._notifications)
        # The dynamics (status column, quick filters) are recomputed in a thread for the new data.
        from evotui.analysis.dynamics import compute_dynamics

        expected = compute_dynamics(app.screen.state.history)
        await wait_for(pilot, lambda: list(app.screen.state.dynamics.status) == list(expected.status))


@sync
async def test_filter_and_sort(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "r", 40, 6, seed=2)
    app = make_app(tmp_path / "r", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("slash", *"ex_01")
        await pilot.pause()
        expected_ids = [i for i in run.example_ids if "ex_01" in i]
        assert table_ids(app) == expected_ids
        assert f"{len(expected_ids)} of 40 shown" in screen_text(app)
        # Text in the input column filters too (every input is "What is A+B?").
        await pilot.press("enter", "slash", *["backspace"] * 5, *run.inputs[7].lower())
        await pilot.pause()
        assert run.example_ids[7] in table_ids(app)
        assert all(run.inputs[run.example_ids.index(i)] == run.inputs[7] for i in table_ids(app))
        # esc clears the filter.
        await pilot.press("escape")
        await pilot.pause()
        assert len(table_ids(app)) == 40
        # s cycles the sort column: id -> status -> learned -> forgets -> loss.
        await pilot.press("s", "s", "s", "s")
        await pilot.pause()
        losses = run.loss[:, -1].round(5)
        expected_order = [run.example_ids[i] for i in np.argsort(losses, kind="stable")]
        assert table_ids(app) == expected_order
        await pilot.press("S")
        await pilot.pause()
        assert table_ids(app) == [run.example_ids[i] for i in np.argsort(-losses, kind="stable")]
        assert "loss▼" in screen_text(app)
        # Clicking a column title sorts by it.
        await pilot.click(ExampleTable, offset=(1, 0))
        await pilot.pause()
        assert app.screen.query_state.sort == "id"
        # Quick filter "wrong now" agrees with the last snapshot's exact matches.
        await pilot.press("f")
        await pilot.pause()
        wrong = [run.example_ids[i] for i in range(40) if not run.correct[i, -1]]
        assert sorted(table_ids(app)) == sorted(wrong)


@sync
async def test_selecting_a_row_updates_the_detail_pane(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "r", 20, 12, seed=3)
    app = make_app(tmp_path / "r", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        detail = app.screen.query_one(ExampleDetail)
        assert "ex_000" in screen_text(app)
        await pilot.press("down", "down", "down")
        await wait_for(pilot, lambda: str(detail.query_one("#detail-title").render()).startswith("ex_003"))
        assert app.screen.selected == 3
        text = screen_text(app)
        assert f"input    {run.inputs[3]}" in text
        # The prediction history shows this example's outputs (newest rows may need scrolling).
        first_output = run.output(3, 0)
        assert any(first_output in line for line in screen_lines(app)[20:])
        # A mouse click selects too.
        await pilot.click(ExampleTable, offset=(2, 6))
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] == 5)
        assert app.screen.selected == 5
        # The curve plot got this example's series.
        plot_data = detail.query_one("#detail-plot")._data
        assert plot_data is not None
        np.testing.assert_allclose(plot_data[1], run.loss[5].round(5))
        # enter shows the detail pane full height; esc steps back out.
        await pilot.press("enter")
        assert not app.screen.query_one(ExampleTable).display
        await pilot.press("escape")
        assert app.screen.query_one(ExampleTable).display
        await pilot.press("z")  # the other way round: the table alone
        assert not detail.display and app.screen.query_one(ExampleTable).display
        await pilot.press("escape")
        assert detail.display


@sync
async def test_corrupt_file_is_skipped_counted_and_retried(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "r", 10, 4, seed=4)
    bad = tmp_path / "r" / "step_000500.json"
    bad.write_bytes(b'{"training_step": 500, "examples": [')
    (tmp_path / "r" / ".step_000600.json.tmp-123").write_bytes(b"half a write")
    app = make_app(tmp_path / "r", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 4)
        await wait_for(pilot, lambda: "1 skipped" in screen_lines(app)[0])
        assert 500 not in app.screen.state.history.steps
        (reason,) = app.screen.state.errors.values()
        assert reason.path == bad and "truncated" in reason.reason
        assert any("step_000500.json" in str(n.message) for n in app._notifications)
        lying = run.snapshot(3)
        lying.training_step, lying.summary.accuracy = 700, 0.999  # a writer's summary that lies
        SnapshotStore(tmp_path / "r", fsync=False).write(lying)
        await wait_for(pilot, lambda: "1 bad summary" in screen_lines(app)[0])
        (tmp_path / "r" / "run.json").write_text("{not json")
        await wait_for(pilot, lambda: "run.json unreadable" in screen_lines(app)[0])
        assert "finished" in screen_lines(app)[0]  # the last good run.json is kept
        await pilot.press("w")  # the reasons, on demand
        await wait_for(pilot, lambda: "step_000500.json  truncated" in screen_text(app))
        assert "run.json  not valid" in screen_text(app)
        assert "step_000700.json  read, but its summary disagrees" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        # Fixed in place: read again, counted no more.
        snapshot = run.snapshot(3)
        snapshot.training_step = 500
        from tracker.schema import encode_snapshot

        atomic_write_bytes(bad, encode_snapshot(snapshot), fsync=False)
        await wait_for(pilot, lambda: app.screen.state.history.n_steps == 6)  # 4 + the lying one + the fixed one
        await wait_for(pilot, lambda: "skipped" not in screen_lines(app)[0])


@sync
async def test_hostile_text_renders_inert(tmp_path: Path) -> None:
    write_hostile_run(tmp_path / "h")
    app = make_app(tmp_path / "h", interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        for _ in range(7):
            text = screen_text(app)
            assert "\x1b" not in text and "\x00" not in text and "\x07" not in text and "\x9b" not in text
            await pilot.press("down")
            await pilot.pause()
        text = screen_text(app)
        assert "␛" in text  # escapes are shown, not obeyed
        table = app.screen.query_one(ExampleTable)
        table.select_index(2)  # the markup row (the table is sorted by id: positions are not file order)
        detail = app.screen.query_one(ExampleDetail)
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] == 2)
        text = screen_text(app)
        assert "[bold red]markup[/]" in text  # markup stays literal
        assert "[bold]gold[/bold]" in text
        table.select_index(5)  # the megabyte line
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] == 5)
        await pilot.pause(0.1)
        app.screen.query_one("#detail-history").scroll_end(animate=False, immediate=True)
        await pilot.pause()
        text = screen_text(app)
        assert "characters not shown" in text  # cut at 20,000 characters, and said so
        assert all(len(line) <= SIZE[0] for line in screen_lines(app))
        # The id with an OSC title sequence is shown as characters too.
        await pilot.press("slash", *"pwned", "enter")
        await pilot.pause()
        assert "␛]0;pwned␇id" in screen_text(app)


@sync
async def test_missing_directory_waits_then_starts(tmp_path: Path) -> None:
    target = tmp_path / "later" / "run"
    app = make_app(target, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WaitingScreen))
        # The words, wherever a long temp path made the centred message wrap.
        await wait_for(pilot, lambda: "does not exist yet" in " ".join(screen_text(app).split()))
        write_synthetic_run(target, 5, 2, seed=5)
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
        assert "2 snapshots" in screen_lines(app)[0]
        # The directory disappears: said in the header, data kept on screen.
        shutil.rmtree(target)
        await wait_for(pilot, lambda: "directory gone" in screen_lines(app)[0])
        assert "ex_000" in screen_text(app)


@sync
async def test_run_picker_lists_runs_and_opens_one(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "alpha", 8, 3, seed=6)
    beta = write_synthetic_run(tmp_path / "beta", 8, 5, seed=7, max_steps=100)
    (tmp_path / ".hidden").mkdir()
    app = make_app(tmp_path, interval=FAST, clock=frozen_clock(beta))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen))
        text = screen_text(app)
        assert "alpha" in text and "beta" in text and ".hidden" not in text
        acc = beta.snapshot(4).summary.accuracy
        assert f"{acc:.1%}" in text
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
        assert "beta" in screen_lines(app)[0]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen))


@sync
async def test_a_directory_that_gains_runs_after_start_becomes_the_run_picker(tmp_path: Path) -> None:
    """The app opens on DIR's main screen (no snapshot anywhere yet); runs then appear in subdirectories:
    the run picker takes the screen, and esc from a run opened there goes back to it."""
    (tmp_path / "runs").mkdir()
    app = make_app(tmp_path / "runs", interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any(isinstance(s, MainScreen) for s in app.screen_stack))
        write_synthetic_run(tmp_path / "runs" / "alpha", 8, 3, seed=6)
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen))
        assert not any(isinstance(s, MainScreen) for s in app.screen_stack)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen))


@sync
async def test_help_and_quit(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "r", 5, 2)
    app = make_app(tmp_path / "r", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        assert len(app.screen_stack) == 1  # the run's screen is the first one, not pushed over a blank one
        text = screen_text(app)
        for key in ("Quit", "Filter", "Sort", "Help"):
            assert key in screen_lines(app)[-1] or key in text
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "next quick filter" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


@pytest.mark.parametrize("status", ["running", "finished", "stopped"])
@sync
async def test_header_live_stale_finished(tmp_path: Path, status: str) -> None:
    # "stopped" (Ctrl-C, SIGTERM: quitting the demo) is an end like "finished", never "live" or "stale".
    run = write_synthetic_run(tmp_path / "r", 5, 3, max_steps=100, status=status)
    ended = status != "running"
    clock = frozen_clock(run, seconds_after_last=12 if ended else 3600)
    app = make_app(tmp_path / "r", interval=FAST, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        header = screen_lines(app)[0]
        assert (status if ended else "stale") in header
        assert "last 12 s ago" in header if ended else "last 1.0 h ago" in header
        assert not math.isnan(app.screen.state.history.summary_series()["accuracy"][-1])


@sync
async def test_keys_in_one_burst_after_slash_reach_the_filter(tmp_path: Path) -> None:
    """A terminal may deliver "/12/3" in one read (fast typing, tmux send-keys): nothing is lost."""
    from textual import events
    from textual.widgets import Input

    run = write_synthetic_run(tmp_path / "r", 5, 2)
    app = make_app(tmp_path / "r", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        for key, char in [("slash", "/"), ("1", "1"), ("2", "2"), ("slash", "/"), ("3", "3")]:
            app.post_message(events.Key(key, char))
        field = app.screen.query_one("#filter-input", Input)
        await wait_for(pilot, lambda: field.value == "12/3")
        # Text, enter and a key in one burst: the text reaches the filter, the key after enter goes
        # to the table (here: f, the next quick filter).
        await pilot.press("backspace", "backspace", "backspace")
        for key, char in [("4", "4"), ("enter", "\r"), ("f", "f")]:
            app.post_message(events.Key(key, char))
        await wait_for(pilot, lambda: app.screen.query_state.quick == "wrong")
        await wait_for(pilot, lambda: field.value == "14" and app.screen.query_state.text == "14")
        assert app.screen.focused is app.screen.query_one(ExampleTable)


@sync
async def test_live_snapshots_keep_selection_scroll_sort_and_filter(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "r", 200, 8, seed=8, upto=4, max_steps=70)
    app = make_app(tmp_path / "r", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 4)
        screen = app.screen
        table = screen.query_one(ExampleTable)
        await pilot.press("slash", *"what is", "enter", "s", "s", "s", "s", "S")  # filter, sort by loss desc
        await pilot.press(*["pagedown"] * 2, "down", "down")
        await pilot.pause()
        selected_id = screen.state.history.example_ids[table.selected_index]
        scroll_y = table.scroll_offset.y
        assert scroll_y > 0
        store = SnapshotStore(tmp_path / "r", fsync=False)
        for k in range(4, 8):
            store.write(run.snapshot(k))
        await wait_for(pilot, lambda: screen.state.history.n_steps == 8)
        await pilot.pause(0.2)
        assert screen.state.history.example_ids[table.selected_index] == selected_id
        assert table.scroll_offset.y == scroll_y
        assert (screen.query_state.text, screen.query_state.sort, screen.query_state.reverse) == (
            "what is",
            "loss",
            True,
        )
        shown_losses = screen.rows.columns.loss[screen.rows.order]
        assert np.all(np.diff(shown_losses[~np.isnan(shown_losses)]) <= 0)  # still sorted, on the new data
        assert screen.rows.columns.step == 70


@sync
async def test_the_app_raises_the_gc_threshold_and_freezes_its_startup_objects_while_it_runs(tmp_path: Path) -> None:
    import gc

    from evotui.watch.app import GC_THRESHOLDS

    write_synthetic_run(tmp_path / "run", 5, 2, seed=5)
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS  # the interpreter's own (700, 10, 10) or whatever the process had
    app = make_app(tmp_path / "run", interval=FAST)
    frozen_before = gc.get_freeze_count()
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.pause()  # the frame with the run drawn: then the startup objects are frozen
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.isenabled()  # raised, never switched off
        assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # unfrozen when the app ended: collected as usual again
