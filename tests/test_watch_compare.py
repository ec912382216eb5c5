"""The compare screen under Pilot: two real toy runs (checked against a plain per-example computation from
their files), a run still being written while compared, the run picker's marking, keys, other datasets,
hostile text."""

from __future__ import annotations

from pathlib import Path

import pytest

from evotui.analysis.compare import QUICK_KEYS
from evotui.watch.app import make_app
from evotui.watch.screens.compare_runs import CompareHelpScreen, CompareRunsScreen
from evotui.watch.screens.run_picker import RunPickerScreen
from evotui.watch.widgets.compare_detail import CompareDetail
from evotui.watch.widgets.compare_table import CompareTable
from tests._compare_helpers import plain_examples, plain_quick_counts, snapshots_of, write_compare_pair
from tests._watch_helpers import HOSTILE_OUTPUTS, screen_text, sync, wait_for, write_hostile_run
from tracker.schema import RunManifest
from tracker.store import SnapshotStore, read_manifest
from tracker.synthetic import write_synthetic_run

pytest_plugins = ["tests._compare_fixtures"]  # the session's two real toy runs: ``toy_pair``

FAST = 0.05
NOW = 1.9e9  # a frozen clock, long after every run here: the legend's ages never move


def compare_app(a: Path, *others: Path):
    return make_app(a, interval=FAST, clock=lambda: NOW, compare=list(others))


async def wait_compared(pilot, steps: list[int | None] | None = None) -> CompareRunsScreen:
    """Until the compare screen shows a complete comparison (and, given ``steps``, those latest steps)."""
    app = pilot.app

    def ready() -> bool:
        screen = app.screen
        if not isinstance(screen, CompareRunsScreen) or not screen.loaded or screen.comparison is None:
            return False
        return steps is None or [side.latest_step for side in screen.comparison.runs] == steps

    await wait_for(pilot, ready, timeout=30)
    screen = app.screen
    assert isinstance(screen, CompareRunsScreen)
    detail = screen.query_one(CompareDetail)
    await wait_for(pilot, lambda: detail.shown is not None and detail.shown[1] == screen.selected)
    return screen


def table_ids(screen: CompareRunsScreen) -> list[str]:
    table = screen.query_one(CompareTable)
    assert table.compare_rows is not None and screen.comparison is not None
    return [screen.comparison.example_ids[m] for m in table.compare_rows.order.tolist()]


@pytest.mark.slow
@sync
async def test_two_real_runs_side_by_side(toy_pair: tuple[Path, Path]) -> None:
    run_a, run_b = toy_pair
    plain_a, plain_b = plain_examples(run_a), plain_examples(run_b)
    expected_counts = plain_quick_counts(plain_a, plain_b)
    app = compare_app(run_a, run_b)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await wait_compared(pilot)
        cmp = screen.comparison
        assert cmp is not None
        assert cmp.quick_counts() == expected_counts
        text = screen_text(app)
        assert "24 matched (24 by id, 0 by input text)" in text
        assert run_a.name in text and run_b.name in text  # the legend
        assert "step 400/400" in text and "finished" in text
        assert "24 of 24" in text
        # Each quick filter keeps exactly the examples the plain computation picks, in A's order.
        for k, key in enumerate(QUICK_KEYS[1:], start=1):
            await pilot.press("f")
            await wait_for(pilot, lambda k=k: screen.query_state.quick == QUICK_KEYS[k])
            shown = table_ids(screen)
            assert len(shown) == expected_counts[key]
            assert f"{expected_counts[key]:,} of 24" in screen_text(app)
        await pilot.press("f")  # back to all
        assert screen.query_state.quick == "all" and len(table_ids(screen)) == 24
        # A row: each run's status, learned step and output as the files say.
        first = table_ids(screen)[0]
        row = next(line for line in screen_text(app).splitlines() if line.startswith(first))
        for plain in (plain_a[first], plain_b[first]):
            assert plain.status in row and plain.output_now in row
        # The detail pane follows the cursor: both runs' histories of that example.
        await pilot.press("home", "down")
        second = table_ids(screen)[1]
        detail = screen.query_one(CompareDetail)
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[1] == 1)
        await wait_for(pilot, lambda: f" {second} · A " in screen_text(app))  # the pane's title, drawn
        text = screen_text(app)
        assert plain_a[second].input.strip() in text
        assert text.count("now ") >= 2  # each run's latest output, side by side


@pytest.mark.slow
@sync
async def test_a_run_still_being_written_while_compared(toy_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """B's snapshots are copied into a new directory one by one while the screen is open: they appear."""
    run_a, run_b = toy_pair
    live = tmp_path / "live"
    store = SnapshotStore(live, fsync=False)
    snapshots = snapshots_of(run_b)
    manifest = read_manifest(run_b)
    assert isinstance(manifest, RunManifest)
    for snapshot in snapshots[:3]:
        store.write(snapshot)
    store.write_manifest(RunManifest(**{**_fields(manifest), "status": "running", "current_step": 50}))
    app = compare_app(run_a, live)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await wait_compared(pilot, [400, 50])
        assert "step 50/400" in screen_text(app)
        table = screen.query_one(CompareTable)
        await pilot.press("down", "down")
        chosen = table_ids(screen)[2]
        for snapshot in snapshots[3:]:
            store.write(snapshot)
        store.write_manifest(manifest)
        await wait_compared(pilot, [400, 400])
        assert screen.comparison is not None
        assert screen.comparison.quick_counts() == plain_quick_counts(plain_examples(run_a), plain_examples(run_b))
        assert "step 400/400" in screen_text(app)
        assert table_ids(screen)[table.cursor] == chosen  # the selection stayed on its example


def _fields(struct: object) -> dict[str, object]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}  # type: ignore[attr-defined]


@sync
async def test_compare_from_the_run_picker(tmp_path: Path) -> None:
    for name, seed in (("alpha", 1), ("beta", 2), ("gamma", 3)):
        write_synthetic_run(tmp_path / name, 20, 5, seed=seed)
    app = make_app(tmp_path, interval=FAST, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen))
        picker = app.screen
        await pilot.press("c")  # nothing marked: says what to do, stays
        assert app.screen is picker
        await pilot.press("down", "down", "space")  # gamma is A: marked first
        await pilot.press("up", "up", "space")  # then alpha
        assert [p.name for p in picker.marked] == ["gamma", "alpha"]
        assert "● A" in screen_text(app) and "● B" in screen_text(app)
        await pilot.press("c")
        screen = await wait_compared(pilot)
        assert [p.name for p in screen.paths] == ["gamma", "alpha"]
        assert "20 matched" in screen_text(app)  # same ids ex_000..: matched by id
        # Other seeds, other questions under the same ids: the title says the inputs differ.
        assert screen.comparison is not None and screen.comparison.input_differs > 0
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is picker)


@sync
async def test_keys_on_three_runs(tmp_path: Path) -> None:
    dirs = []
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        write_synthetic_run(tmp_path / name, 30, 6, seed=seed)
        dirs.append(tmp_path / name)
    app = compare_app(*dirs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_compared(pilot)
        cmp = screen.comparison
        assert cmp is not None and cmp.n_runs == 3
        await pilot.press("b")
        assert screen.b == 2
        await pilot.press("f", "f")  # learned by C only (B is run C now)
        assert len(table_ids(screen)) == cmp.quick_counts(2)["b_only"]
        await pilot.press("b")
        assert screen.b == 1 and len(table_ids(screen)) == cmp.quick_counts(1)["b_only"]
        await pilot.press("escape")  # clears the quick filter
        assert screen.query_state.quick == "all"
        await pilot.press("s")  # sort by B - A
        assert screen.query_state.sort == "delta"
        await pilot.press("slash", *"ex_00", "enter")
        assert sorted(table_ids(screen)) == [i for i in cmp.example_ids if "ex_00" in i]  # sorted by B-A
        await pilot.press("o")
        assert screen.has_class("overview") and "Examples by status" in screen_text(app)
        await pilot.press("o", "enter")
        assert screen.has_class("detail-max")
        await pilot.press("escape")
        assert not screen.has_class("detail-max")
        await pilot.press("question_mark")
        assert isinstance(app.screen, CompareHelpScreen)
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Compare: learned by B only" in titles and "Compare: next B" in titles


@sync
async def test_runs_on_different_datasets_show_the_overview(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "a", 20, 5, seed=1)
    other = tmp_path / "b"
    write_hostile_run(other)  # other ids, other inputs
    app = compare_app(tmp_path / "a", other)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await wait_compared(pilot)
        assert screen.comparison is not None and screen.comparison.n_matched == 0
        assert screen.has_class("overview")
        text = screen_text(app)
        assert "share no example" in text and "Learned step" in text and "0 matched" in text


@sync
async def test_hostile_text_is_inert_on_the_compare_screen(tmp_path: Path) -> None:
    write_hostile_run(tmp_path / "one")
    write_hostile_run(tmp_path / "two")
    app = compare_app(tmp_path / "one", tmp_path / "two")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await wait_compared(pilot)
        assert screen.comparison is not None and screen.comparison.n_matched == len(HOSTILE_OUTPUTS) + 1
        for _ in range(len(HOSTILE_OUTPUTS) + 1):  # every row through the detail pane
            await pilot.press("down")
            await pilot.pause()
        text = screen_text(app)
        assert "\x1b" not in text and "\x07" not in text and "\x00" not in text and "\u202e" not in text
        assert "[bold red]markup[/]" in text or "[bold red]markup" in text  # shown, not applied
        assert "␛" in text


# -- pictures (SVG snapshots: seeded runs, frozen clock, fixed sizes) -------------------------------
def _pair_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # relative paths: nothing machine-specific in the pictures
    a, b, now = write_compare_pair(Path("runs"))
    return make_app(a, interval=FAST, clock=lambda: now, compare=[b])


async def _compared(pilot) -> None:
    await wait_compared(pilot)
    await pilot.press("down", "down")
    screen = pilot.app.screen
    detail = screen.query_one(CompareDetail)
    await wait_for(pilot, lambda: detail.shown is not None and detail.shown[1] == screen.selected)


class TestPictures:
    def test_compare_screen_80x24(self, snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        app = _pair_app(tmp_path, monkeypatch)
        assert snap_compare(app, terminal_size=(80, 24), run_before=_compared)

    def test_compare_screen_160x48(self, snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        app = _pair_app(tmp_path, monkeypatch)
        assert snap_compare(app, terminal_size=(160, 48), run_before=_compared)
