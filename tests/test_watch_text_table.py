"""Inert text and the table's rows (filter, quick filters, sort) without the UI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from rich.console import Console
from rich.text import Text

from evotui.analysis.dynamics import compute_dynamics
from evotui.analysis.history import RunHistory
from evotui.analysis.table import TableQuery, table_rows
from evotui.cli.commands import main
from evotui.watch.text import cell_text, visible, whole_text
from tracker.synthetic import SyntheticRun


def rendered(text: Text, width: int = 200) -> str:
    console = Console(width=width, force_terminal=True, color_system="truecolor", record=False)
    with console.capture() as capture:
        console.print(text, end="")
    return capture.get()


def test_escapes_and_controls_are_made_visible() -> None:
    hostile = "\x1b[31mred\x1b]8;;http://x\x07\x00\x7f\x9b\u202e[bold]b[/bold]"
    shown = visible(hostile)
    assert "\x1b" not in shown and "\x00" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert shown.startswith("␛[31mred␛]8;;http://x␇␀␡\\x9b\\u202e[bold]b[/bold]")
    # Through Rich to terminal bytes: the only escapes are Rich's own styling, never the file's.
    out = rendered(cell_text(hostile, 60))
    assert "[bold]b[/bold]" in out and "\x1b]8" not in out and "\x1b[31m" not in out
    assert "\n" not in visible("a\nb") and "⏎" in visible("a\nb")
    assert whole_text("a\nb\tc").plain == "a\nb    c"


def test_cells_are_cut_to_width_and_megabyte_lines_are_cheap() -> None:
    assert cell_text("hello world", 5).plain == "hell…"
    assert cell_text("ok", 5).plain == "ok"
    assert cell_text("日本語のテキスト", 7).cell_len <= 7
    huge = "y" * 5_000_000
    cell = cell_text(huge, 30)
    assert cell.cell_len == 30 and cell.plain.endswith("…")
    detail = whole_text(huge)
    assert len(detail.plain) < 20_100 and "4,980,000 more characters" in detail.plain


def history_and_dynamics(n: int = 50, k: int = 8) -> tuple[SyntheticRun, RunHistory]:
    run = SyntheticRun(n, k, seed=11)
    return run, RunHistory.from_snapshots(run.snapshot(i) for i in range(k))


def test_filter_quick_filters_and_sort_agree_with_the_data() -> None:
    run, history = history_and_dynamics()
    dyn = compute_dynamics(history)
    rows = table_rows(history, dyn, TableQuery())
    assert rows.order.tolist() == list(range(50)) and rows.total == 50
    rows = table_rows(history, dyn, TableQuery(text="EX_00"))  # case-insensitive
    assert [history.example_ids[i] for i in rows.order] == [f"ex_00{i}" for i in range(10)]
    wrong = table_rows(history, dyn, TableQuery(quick="wrong"))
    assert set(wrong.order.tolist()) == set(np.flatnonzero(~run.correct[:, -1]).tolist())
    never = table_rows(history, dyn, TableQuery(quick="never"))
    assert set(never.order.tolist()) == set(np.flatnonzero(~run.correct.any(axis=1)).tolist())
    forgotten = table_rows(history, dyn, TableQuery(quick="forgotten"))
    expect = run.correct.any(axis=1) & ~run.correct[:, -1]
    assert set(forgotten.order.tolist()) == set(np.flatnonzero(expect).tolist())
    # Without the dynamics analysis the quick filters still work, from the exact-match matrix.
    assert table_rows(history, None, TableQuery(quick="forgotten")).order.tolist() == forgotten.order.tolist()
    by_sim = table_rows(history, dyn, TableQuery(sort="sim", reverse=True))
    sims = history.columns[history.latest_step].similarity[by_sim.order]
    assert np.all(np.diff(sims) <= 0)
    by_output = table_rows(history, dyn, TableQuery(sort="output", step=history.steps[0]))
    outs = [run.output(i, 0) for i in by_output.order]
    assert outs == sorted(outs)
    # Filter and step together: the text of the output at that step is searched.
    needle = run.output(3, 0)
    at_zero = table_rows(history, dyn, TableQuery(text=needle, step=0))
    assert 3 in at_zero.order.tolist()


def test_gaps_sort_last_in_both_directions() -> None:
    _, history = history_and_dynamics(6, 2)
    col = history.columns[history.latest_step]
    col.loss[2] = np.nan
    for reverse in (False, True):
        order = table_rows(history, None, TableQuery(sort="loss", reverse=reverse)).order.tolist()
        assert order[-1] == 2


def test_cli_rejects_a_file_and_reports_version(tmp_path: Path) -> None:
    f = tmp_path / "step_000000.json"
    f.write_text("{}")
    result = CliRunner().invoke(main, ["watch", str(f)])
    assert result.exit_code != 0 and "is a file, not a directory" in result.output
    result = CliRunner().invoke(main, ["watch", str(tmp_path), "--interval", "0"])
    assert result.exit_code != 0
    out = subprocess.run(
        [sys.executable, "-m", "evotui", "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert "evotui" in out.stdout


def test_read_side_core_imports_no_ui_or_torch() -> None:
    code = (
        "import sys, evotui.watch.tail, evotui.analysis.table, evotui.watch.run_state, evotui.watch.text,"
        " tracker.synthetic;"
        "bad = [m for m in ('textual', 'torch', 'transformers') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
