"""`evotui export` and `evotui report` (issue 14, issue 11 items 5, 13, 14): Parquet beside CSV and JSONL,
the difficulty table, hard examples back as training rows that the tracker's reader loads unchanged, CSV
cells escaped against formula injection, the insights in the report, full width when piped."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from evotui.analysis.export import COLUMNS, DIFFICULTY_COLUMNS, csv_safe
from evotui.cli.commands import main
from tests._dynamics_helpers import write_plan
from tracker.examples import load_examples
from tracker.tracker import EvolutionTracker

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


# A run whose outputs a spreadsheet would run: formulas, a DDE payload, a tab, and plain negative numbers.
EXPECTED = {"a": "1", "b": "-5", "c": "3", "d": "4", "e": "=1+1"}
OUTPUTS = {
    0: {"a": '=HYPERLINK("http://evil.example","x")', "b": "-5", "c": "@SUM(A1)", "d": "\tx", "e": "x"},
    10: {"a": "1", "b": "-5", "c": "+cmd|' /C calc'!A0", "d": "-2+3", "e": "=1+1"},
    20: {"a": "1", "b": "-5", "c": "3", "d": "\rr", "e": "=1+1"},
    30: {"a": "1", "b": "-5", "c": "x", "d": "\rr", "e": "=1+1"},  # c forgotten
}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_plan(tmp_path / "run", EXPECTED, OUTPUTS)


def test_csv_safe_escapes_formulas_but_not_numbers() -> None:
    for risky in ("=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rr", "-", "+"):
        assert csv_safe(risky) == "'" + risky
    for fine in ("-5", "+3", "-0.25", "1e-3", "-.5", "hello", "", "5-"):
        assert csv_safe(fine) == fine


def test_exported_csv_has_no_cell_a_spreadsheet_would_run(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "long.csv"
    code, _ = invoke("export", str(run_dir), "-o", str(out))
    assert code == 0
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS
    cells = [value for row in rows for value in row.values()]
    risky = [c for c in cells if c and c[0] in "=+-@\t\r" and not c.lstrip("+-").replace(".", "").isdigit()]
    assert risky == []
    by = {(r["step"], r["example_id"]): r for r in rows}
    assert by[("0", "a")]["model_output"] == '\'=HYPERLINK("http://evil.example","x")'
    assert by[("0", "b")]["model_output"] == "-5"  # a number stays a number
    assert by[("0", "b")]["expected_output"] == "-5"
    assert by[("10", "e")]["expected_output"] == "'=1+1"
    assert by[("0", "a")]["input"] == "What is a?"  # the long table carries input and expected output
    # JSONL and Parquet hold the text as it is
    code, _ = invoke("export", str(run_dir), "-o", str(tmp_path / "long.jsonl"))
    jsonl = [json.loads(line) for line in (tmp_path / "long.jsonl").read_text().splitlines()]
    assert jsonl[0]["model_output"].startswith("=HYPERLINK")


def test_parquet_long_table_holds_what_csv_holds(run_dir: Path, tmp_path: Path) -> None:
    code, out = invoke("export", str(run_dir), "-o", str(tmp_path / "long.parquet"))
    assert code == 0 and "wrote 20 rows" in out
    table = pq.read_table(tmp_path / "long.parquet")
    assert tuple(table.column_names) == COLUMNS
    rows = table.to_pylist()
    jsonl = [json.loads(line) for line in _export_text(run_dir, tmp_path / "same.jsonl").splitlines()]
    assert rows == jsonl
    assert table.schema.field("exact_match").type == "bool"
    assert rows[0]["learned_after"] is None or isinstance(rows[0]["learned_after"], int)


def _export_text(run_dir: Path, out: Path) -> str:
    code, _ = invoke("export", str(run_dir), "-o", str(out))
    assert code == 0
    return out.read_text()


def test_difficulty_table_per_example_with_forgets_and_slices(run_dir: Path, tmp_path: Path) -> None:
    code, out = invoke("export", str(run_dir), "--difficulty", "-o", str(tmp_path / "d.parquet"))
    assert code == 0 and "wrote 5 rows" in out
    rows = {r["example_id"]: r for r in pq.read_table(tmp_path / "d.parquet").to_pylist()}
    assert tuple(pq.read_schema(tmp_path / "d.parquet").names) == DIFFICULTY_COLUMNS
    assert rows["a"]["status"] == "learned" and rows["a"]["learned_step"] == 10 and rows["a"]["forgets"] == 0
    assert rows["c"]["forgets"] == 1 and rows["c"]["forgetting_steps"] == [30] and rows["c"]["status"] == "forgotten"
    assert rows["a"]["run"] == "run"
    assert isinstance(rows["a"]["slices"], list)
    code, out = invoke("export", str(run_dir), "--difficulty", "--select", "forgotten", "-o", str(tmp_path / "d.csv"))
    with open(tmp_path / "d.csv", newline="") as fh:
        assert [r["example_id"] for r in csv.DictReader(fh)] == ["c"]


def test_unknown_selection_and_wrong_extension_are_refused(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(run_dir), "--select", "nope", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "never" in result.output  # names what can be chosen
    result = CliRunner().invoke(main, ["export", str(run_dir), "--as-examples", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and ".jsonl" in result.output
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_parquet_without_pyarrow_names_the_pip_command(run_dir: Path, tmp_path: Path) -> None:
    """pyarrow missing (shadowed here by a package that cannot be imported): a message naming the fix."""
    fake = tmp_path / "fake"
    (fake / "pyarrow").mkdir(parents=True)
    (fake / "pyarrow" / "__init__.py").write_text("raise ImportError('no pyarrow here')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{REPO}"}
    proc = subprocess.run(
        [sys.executable, "-m", "evotui", "export", str(run_dir), "-o", str(tmp_path / "x.parquet")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "pip install 'evotui[parquet]'" in proc.stderr
    assert not (tmp_path / "x.parquet").exists()


# -- hard examples back into training ---------------------------------------------------------------------
def _tracked_run(tmp_path: Path, rows: list[dict[str, object]], right: set[str]) -> Path:
    """A run written by the tracker itself (``record``: the caller's own predictions), 3 snapshots."""
    source = tmp_path / "examples.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    tracker = EvolutionTracker(output_dir=out, examples=source, fsync=False, max_examples=None)
    examples = load_examples(source, max_examples=None)
    for step in (0, 10, 20):
        tracker.record(
            step,
            [
                {
                    "example_id": e.example_id,
                    "model_output": e.expected_output if e.example_id in right and step else "?",
                }
                for e in examples
            ],
        )
    tracker.close()
    return out


SOURCE_ROWS: list[dict[str, object]] = [
    {"id": "p1", "prompt": "What is 1+1? ", "completion": "2"},
    {"id": "p2", "prompt": "Name a =formula", "completion": "=SUM(A1)"},
    {
        "id": "c1",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi?"},
            {"role": "assistant", "content": "Hello."},
        ],
    },
    {"instruction": "Translate", "input": "chat", "output": "cat"},  # no id: ex_003 by position
    {"id": "ok", "input": "easy", "output": "yes"},
]


def test_as_examples_with_the_source_file_round_trips_every_shape(tmp_path: Path) -> None:
    run = _tracked_run(tmp_path, SOURCE_ROWS, right={"ok"})
    out = tmp_path / "hard.jsonl"
    code, text = invoke(
        "export",
        str(run),
        "--select",
        "never,forgotten",
        "--as-examples",
        "--examples",
        str(tmp_path / "examples.jsonl"),
        "-o",
        str(out),
    )
    assert code == 0 and "wrote 4 examples" in text
    original = {e.example_id: e for e in load_examples(tmp_path / "examples.jsonl", max_examples=None)}
    exported = load_examples(out, max_examples=None)
    assert [e.example_id for e in exported] == ["p1", "p2", "c1", "ex_003"]
    # The tracker's reader gives back the very same examples, the chat's system prompt included.
    assert exported == [original[e.example_id] for e in exported]
    assert json.loads(out.read_text().splitlines()[2]) == SOURCE_ROWS[2]


@pytest.mark.parametrize("shape", ["auto", "input", "prompt"])
def test_as_examples_from_the_stored_text_round_trips(tmp_path: Path, shape: str) -> None:
    rows = [r for r in SOURCE_ROWS if "messages" not in r]
    run = _tracked_run(tmp_path, rows, right=set())
    out = tmp_path / "hard.jsonl"
    code, _ = invoke("export", str(run), "--select", "never", "--as-examples", "--shape", shape, "-o", str(out))
    assert code == 0
    original = load_examples(tmp_path / "examples.jsonl", max_examples=None)
    assert load_examples(out, max_examples=None) == original


def test_as_examples_as_chat_messages(tmp_path: Path) -> None:
    rows = [{"id": "c2", "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}]
    run = _tracked_run(tmp_path, rows, right=set())
    out = tmp_path / "hard.jsonl"
    code, _ = invoke("export", str(run), "--as-examples", "--shape", "messages", "-o", str(out))
    assert code == 0
    assert load_examples(out) == load_examples(tmp_path / "examples.jsonl")


# -- report ------------------------------------------------------------------------------------------------
def test_report_json_lists_insights_with_their_fields(tmp_path: Path) -> None:
    """A planted collapse: 12 of 20 examples answer "7" from step 200 on, after a run that had learned."""
    expected = {f"q{i:02d}": str(i + 10) for i in range(20)}
    outputs = {}
    for k, step in enumerate(range(0, 1300, 100)):
        outputs[step] = {
            eid: ("7" if (k >= 11 and i < 12) else (answer if k >= 1 else "0"))
            for i, (eid, answer) in enumerate(expected.items())
        }
    run = write_plan(tmp_path / "run", expected, outputs)
    code, out = invoke("report", str(run), "--json")
    assert code == 0
    insights = json.loads(out)["insights"]
    collapse = [x for x in insights if x["kind"] == "output_collapse"]
    assert len(collapse) == 1
    assert {"kind", "severity", "step", "message", "example_ids"} <= set(collapse[0])
    assert collapse[0]["severity"] == "warning" and collapse[0]["step"] == 1100
    assert sorted(collapse[0]["example_ids"]) == [f"q{i:02d}" for i in range(12)]
    code, text = invoke("report", str(run))
    assert "output_collapse" in text and "Insights (" in text


@pytest.mark.slow
def test_report_piped_is_not_cut_to_80_columns(tmp_path: Path) -> None:
    """Not a terminal (a real pipe): columns get their full width, not Rich's 80-column default."""
    question = "What is the capital of the country north of Spain?"  # 50 characters
    expected = {f"x{i}": "Paris" for i in range(3)}
    outputs = {0: dict.fromkeys(expected, "Madrid"), 10: dict.fromkeys(expected, "Lyon")}
    run = write_plan(tmp_path / "run", expected, outputs)
    for f in run.glob("step_*.json"):
        f.write_text(f.read_text().replace("What is x", question[:-2] + " x"))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "evotui", "report", str(run)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    # Cut only at the report's own cell limit (40 characters), as on a wide terminal; at 80 columns: "What …".
    assert question[:39] + "…" in proc.stdout
    assert max(len(line.rstrip()) for line in proc.stdout.splitlines()) > 80
