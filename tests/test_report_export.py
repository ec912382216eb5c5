"""`evotui report` and `evotui export` on real run directories: files written through tracker.store
(a planned run with hostile text and a truncated file here; a real tiny training run further down)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from evotui.analysis.dynamics import compute_dynamics
from evotui.analysis.export import COLUMNS, export_run
from evotui.analysis.loader import RunDirectoryError, load_run
from evotui.analysis.report import build_report
from evotui.cli.commands import main
from evotui.cli.report import print_report
from tests._dynamics_helpers import HOSTILE, write_plan
from tracker.schema import ExampleResult, RunManifest
from tracker.store import ReadError, read_snapshot

EXPECTED = {"a": "1", "b": "2", "c": "3", "evil": HOSTILE}
OUTPUTS = {
    0: {"a": "1", "b": "x", "c": "x", "evil": "q"},
    10: {"a": "1", "b": "2", "c": "3", "evil": HOSTILE + "!"},
    20: {"a": "x", "b": "2", "c": "x", "evil": "[link=http://example.com]click[/link]"},
    30: {"a": "1", "b": "2", "evil": HOSTILE + "?"},  # c is absent: a gap
}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    directory = write_plan(
        tmp_path / "run",
        EXPECTED,
        OUTPUTS,
        manifest=RunManifest(run_id="r1", run_name="toy [bold]run[/]", model_name="tiny", status="finished"),
    )
    (directory / "step_000040.json").write_text('{"training_step": 40, "exam')  # truncated by a crash
    return directory


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_load_run_skips_and_reports_the_bad_file(run_dir: Path) -> None:
    history, manifest, errors = load_run(run_dir)
    assert history.steps == [0, 10, 20, 30]
    assert manifest is not None and manifest.run_id == "r1"
    assert [(e.path.name, e.reason.split(":")[0]) for e in errors] == [("step_000040.json", "truncated")]
    with pytest.raises(RunDirectoryError, match="no such directory"):
        load_run(run_dir / "nope")


def test_report_json_has_the_dynamics(run_dir: Path) -> None:
    code, out = invoke("report", str(run_dir), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["snapshots"] == 4 and report["examples"] == 4 and report["latest_step"] == 30
    assert [s["accuracy"] for s in report["steps"]] == pytest.approx([0.25, 0.75, 0.25, 2 / 3])
    assert report["status_counts"] == {"known": 0, "learned": 1, "unstable": 1, "forgotten": 1, "never": 1}
    assert [(r["step"], r["forgotten_ids"]) for r in report["regressions"]] == [(20, ["a", "c"])]
    assert [s["regression"] for s in report["steps"]] == [False, False, True, False]
    assert report["hardest"][0]["example_id"] == "evil"  # never right
    assert report["hardest"][0]["expected_output"] == HOSTILE  # JSON carries the text as it is
    assert [e["example_id"] for e in report["most_forgotten"]] == ["a", "c"]
    c = next(e for e in report["most_forgotten"] if e["example_id"] == "c")
    assert (c["latest_step"], c["latest_output"], c["forgetting_steps"]) == (20, "x", [20])
    assert report["read_errors"][0]["file"].endswith("step_000040.json")


def test_report_tables_show_untrusted_text_as_plain_text(run_dir: Path) -> None:
    history, manifest, errors = load_run(run_dir)
    buffer = io.StringIO()
    console = Console(file=buffer, width=160, force_terminal=True, color_system="truecolor")
    print_report(build_report(history, manifest, errors, directory=run_dir), console)
    out = buffer.getvalue()
    for needle in ("Accuracy by step", "Examples by status and region", "Regressions (1)", "Hardest examples"):
        assert needle in out
    assert "toy [bold]run[/]" in out  # markup in a run name is printed, not applied
    assert "[bold red]boom[/]" in out
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out and "\x9b" not in out
    assert "[bold red]boom[/] ␛" in out  # the escape made visible
    assert "step_000040.json: truncated" in out


def test_report_on_a_missing_or_empty_directory_says_so(tmp_path: Path) -> None:
    code, out = invoke("report", str(tmp_path / "missing"))
    assert code == 1 and "no such directory" in out
    code, out = invoke("report", str(tmp_path))
    assert code == 1 and "no readable snapshot files" in out
    write_plan(tmp_path / "run-a", {"x": "1"}, {0: {"x": "1"}})
    code, out = invoke("report", str(tmp_path))  # a directory of runs: say which
    assert code == 1 and "it holds 1 run(s): run-a" in out


def test_export_csv_long_table(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    code, out = invoke("export", str(run_dir), "-o", str(target))
    assert code == 0, out
    assert "wrote 15 rows" in out and "skipped step_000040.json" in out
    with open(target, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 15  # 4 + 4 + 4 + 3: c has no row at step 30
    by_key = {(r["step"], r["example_id"]): r for r in rows}
    assert ("30", "c") not in by_key
    a20 = by_key[("20", "a")]
    assert (a20["exact_match"], a20["model_output"], a20["forgotten_here"]) == ("false", "x", "true")
    assert (a20["status"], a20["forgets"], a20["learned_step"], a20["learned_after"]) == (
        "unstable",
        "1",
        "30",
        "20",
    )
    assert by_key[("10", "a")]["forgotten_here"] == "false"
    assert by_key[("30", "evil")]["model_output"] == HOSTILE + "?"  # exactly as written, newline and escapes included
    assert by_key[("0", "evil")]["first_learned"] == ""  # none -> empty cell
    assert float(by_key[("10", "b")]["similarity"]) == 1.0


def test_export_jsonl_and_a_filtered_subset(run_dir: Path, tmp_path: Path) -> None:
    history, _, _ = load_run(run_dir)
    target = tmp_path / "subset.jsonl"
    count = export_run(target, history, compute_dynamics(history), indices=[history.index_of("c")])
    lines = target.read_text(encoding="utf-8").splitlines()
    assert count == len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == [0, 10, 20]
    assert {r["example_id"] for r in rows} == {"c"}
    assert rows[0]["first_learned"] == 10 and rows[0]["learned_step"] is None and rows[0]["status"] == "forgotten"
    assert rows[2]["forgotten_here"] is True and rows[2]["exact_match"] is False
    assert list(rows[0]) == list(COLUMNS)


@pytest.mark.parametrize("name", ["out.txt", "out.json", "out"])
def test_export_refuses_other_extensions_before_reading(run_dir: Path, tmp_path: Path, name: str) -> None:
    code, out = invoke("export", str(tmp_path / "missing-dir"), "-o", str(tmp_path / name))
    assert code == 1
    assert "name the file .csv, .jsonl or .parquet" in out
    assert not (tmp_path / name).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temp file left either


# -- a real tiny training run -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Trainer run of the toy model (40 steps, 12 examples, 3 snapshots): ~5 s on 2 idle cores."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch

    from tracker.toy_train import train_toy

    out = tmp_path_factory.mktemp("toy") / "run"
    # One thread: on 2 shared cores, two torch threads spin against other work (measured 1.7 s against
    # 22.6 s for this run under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_toy(out, steps=40, n_examples=12, schedule="every 20")
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.slow
def test_report_and_export_agree_with_the_files_of_a_real_run(trained_run: Path, tmp_path: Path) -> None:
    history, manifest, errors = load_run(trained_run)
    assert errors == [] and manifest is not None and manifest.status == "finished"
    assert history.steps == [0, 20, 40] and history.n_examples == 12

    code, out = invoke("report", str(trained_run), "--json")
    assert code == 0
    report = json.loads(out)
    stored = [history.columns[s].summary.accuracy for s in history.steps]
    assert [s["accuracy"] for s in report["steps"]] == pytest.approx(stored)
    assert sum(report["status_counts"].values()) == 12
    assert sum(report["region_counts"].values()) == 12

    code, out = invoke("report", str(trained_run))
    assert code == 0 and "Accuracy by step" in out and "tiny-llama-h64" in out

    target = tmp_path / "long.jsonl"
    code, out = invoke("export", str(trained_run), "-o", str(target))
    assert code == 0, out
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12 * 3
    by_step: dict[int, list[dict[str, object]]] = {}
    for row in rows:
        by_step.setdefault(int(row["step"]), []).append(row)  # type: ignore[arg-type]
    for step, step_rows in by_step.items():
        files = {r.example_id: r for r in history_rows(trained_run, step)}
        for row in step_rows:
            source = files[row["example_id"]]  # type: ignore[index]
            assert row["model_output"] == source.model_output
            assert row["exact_match"] == source.exact_match
            assert row["loss"] == pytest.approx(source.loss)
    # Each example's forgets is the number of its rows marked forgotten_here.
    for example_id in history.example_ids:
        mine = [r for r in rows if r["example_id"] == example_id]
        assert sum(bool(r["forgotten_here"]) for r in mine) == mine[0]["forgets"]
        assert len({r["status"] for r in mine}) == 1


def history_rows(directory: Path, step: int) -> list[ExampleResult]:
    snapshot = read_snapshot(directory / f"step_{step:06d}.json")
    assert not isinstance(snapshot, ReadError)
    return snapshot.examples
