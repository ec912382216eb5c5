"""Comparing runs (evotui.analysis.compare) and `evotui compare`: two real toy runs checked against a plain
per-example computation from their files; a run on another example set (matched by input text, and not at
all); hostile text; bad paths."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from evotui.analysis.compare import (
    MATCH_ID,
    MATCH_INPUT,
    QUICK_KEYS,
    X_FRACTION,
    X_STEP,
    CompareRun,
    compare_runs,
    match_examples,
    run_names,
)
from evotui.analysis.history import RunHistory
from evotui.cli.commands import main
from evotui.cli.compare import load_runs, render_comparison
from tests._compare_helpers import plain_examples, plain_quick_counts, snapshots_of
from tests._dynamics_helpers import HOSTILE, write_plan
from tracker.schema import ExampleResult, RunManifest, Snapshot
from tracker.scoring import summarize
from tracker.store import write_manifest, write_snapshot
from tracker.synthetic import write_synthetic_run

pytest_plugins = ["tests._compare_fixtures"]  # the session's two real toy runs: the ``toy_pair`` fixture


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def compare_dirs(*dirs: Path) -> tuple[int, dict]:
    code, out = invoke("compare", *map(str, dirs), "--json")
    return code, (json.loads(out) if code == 0 else {"output": out})


def rich_text(*dirs: Path, width: int = 120, **kwargs: object) -> str:
    runs, _ = load_runs([str(d) for d in dirs])
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system="truecolor")
    console.print(render_comparison(compare_runs(runs), width=width, **kwargs))  # type: ignore[arg-type]
    return buffer.getvalue()


def rename_run(source: Path, target: Path, rename: dict[str, str] | None = None, drop: set[str] | None = None) -> Path:
    """``source``'s snapshots rewritten into ``target`` with example ids renamed (``rename``; default
    "ex-<n>" in file order) and the examples ``drop`` left out: the same examples from another writer."""
    target.mkdir()
    for snapshot in snapshots_of(source):
        rows = []
        for n, row in enumerate(snapshot.examples):
            if drop and row.example_id in drop:
                continue
            new_id = (rename or {}).get(row.example_id, f"ex-{n}")
            rows.append(ExampleResult(**{**_fields(row), "example_id": new_id}))
        write_snapshot(target, Snapshot(**{**_fields(snapshot), "examples": rows}), fsync=False)
    return target


def _fields(struct: object) -> dict[str, object]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}  # type: ignore[attr-defined]


# -- two real toy runs ------------------------------------------------------------------------------
@pytest.mark.slow
def test_compare_json_agrees_with_a_plain_computation_on_two_real_runs(toy_pair: tuple[Path, Path]) -> None:
    run_a, run_b = toy_pair
    code, data = compare_dirs(run_a, run_b)
    assert code == 0, data
    plain_a, plain_b = plain_examples(run_a), plain_examples(run_b)
    # The run names in run.json are the dataset's for both: the directories tell them apart.
    assert [r["name"] for r in data["runs"]] == [run_a.name, run_b.name]
    assert data["x_axis"] == X_STEP
    for run, directory, plain in zip(data["runs"], toy_pair, (plain_a, plain_b), strict=True):
        snapshots = snapshots_of(directory)
        assert run["path"] == str(directory)
        assert run["steps"] == [s.training_step for s in snapshots]
        expected_accuracy = [sum(r.exact_match for r in s.examples) / len(s.examples) for s in snapshots]
        assert [p["accuracy"] for p in run["accuracy_by_step"]] == pytest.approx(expected_accuracy)
        statuses = [e.status for e in plain.values()]
        assert run["counts_by_status"] == {s: statuses.count(s) for s in run["counts_by_status"]}
        assert sum(run["counts_by_status"].values()) == 24
    assert data["matching"] == {
        "matched": 24,
        "by_id": 24,
        "by_input_text": 0,
        "own": [0, 0],
        "id_matches_with_different_input": 0,
    }
    assert len(data["examples"]) == 24
    for example in data["examples"]:
        eid = example["example_id"]
        for entry, plain in zip(example["runs"], (plain_a[eid], plain_b[eid]), strict=True):
            assert entry["example_id"] == eid
            assert (entry["status"], entry["learned_step"], entry["model_output"]) == (
                plain.status,
                plain.learned_step,
                plain.output_now,
            )
        la, lb = plain_a[eid].learned_step, plain_b[eid].learned_step
        assert example["learned_step_difference"] == (None if la is None or lb is None else lb - la)
    assert data["quick_filters"] == plain_quick_counts(plain_a, plain_b)
    # The toy runs are not all alike: the filters have something to tell apart.
    assert data["quick_filters"]["all"] == 24 and 0 < data["quick_filters"]["differ"] < 24


@pytest.mark.slow
def test_compare_rows_are_the_quick_filters_and_sorts(toy_pair: tuple[Path, Path]) -> None:
    runs, _ = load_runs([str(p) for p in toy_pair])
    cmp = compare_runs(runs)
    plain_a, plain_b = (plain_examples(p) for p in toy_pair)
    for key in QUICK_KEYS:
        rows = cmp.rows(quick=key)
        assert len(rows) == cmp.quick_counts()[key]
    both = [cmp.example_ids[m] for m in cmp.rows(quick="both")]
    assert both == [e for e in plain_a if plain_a[e].learned_step is not None and plain_b[e].learned_step is not None]
    by_delta = cmp.rows(quick="both", sort="delta")
    deltas = cmp.learned_difference()[by_delta]
    assert np.all(np.diff(deltas) >= 0)  # B's biggest head start first
    everything = cmp.rows(sort="learned_a")
    learned = cmp.learned_x[everything, 0]
    assert np.all(np.isnan(learned[np.argmax(np.isnan(learned)) :])) or not np.isnan(learned).any()  # none last
    eid = cmp.example_ids[0]
    assert cmp.rows(text=eid.upper()).tolist() == [0]


@pytest.mark.slow
def test_compare_tables_on_a_terminal(toy_pair: tuple[Path, Path]) -> None:
    code, out = invoke("compare", *map(str, toy_pair))
    assert code == 0, out
    for needle in ("24 examples matched (24 by id, 0 by input text)", "Quick filters", "learned by A only", "Runs"):
        assert needle in out
    code, out = invoke("compare", *map(str, toy_pair), "--filter", "differ", "--top", "3")
    assert code == 0 and "Examples: answers differ now" in out


@pytest.mark.slow
def test_a_run_of_the_same_examples_under_other_ids_is_matched_by_input_text(
    toy_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    run_a, run_b = toy_pair
    ids = list(plain_examples(run_a))
    dropped = ids[0]
    other = rename_run(run_b, tmp_path / "renamed", drop={dropped})  # ids "ex-<n>", one example missing
    code, data = compare_dirs(run_a, other)
    assert code == 0
    assert data["matching"]["matched"] == 23
    assert (data["matching"]["by_id"], data["matching"]["by_input_text"]) == (0, 23)
    assert data["matching"]["own"] == [1, 0]
    plain_b = plain_examples(run_b)
    for example in data["examples"]:
        assert example["matched_by"] == MATCH_INPUT
        eid = example["example_id"]
        b_entry = example["runs"][1]
        assert b_entry["example_id"].startswith("ex-")
        assert (b_entry["status"], b_entry["model_output"]) == (plain_b[eid].status, plain_b[eid].output_now)
    del plain_b[dropped]
    assert data["quick_filters"] == plain_quick_counts(plain_examples(run_a), plain_b)


@pytest.mark.slow
def test_a_run_on_another_dataset_still_compares(toy_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """Nothing shared (other ids, other questions): curves, statuses and learned-step quartiles only."""
    run_a = toy_pair[0]
    synthetic = tmp_path / "synthetic"
    write_synthetic_run(synthetic, 30, 9, seed=5, step_every=50)
    code, data = compare_dirs(run_a, synthetic)
    assert code == 0
    assert data["matching"]["matched"] == 0 and data["examples"] == []
    assert data["matching"]["own"] == [24, 30]
    assert data["quick_filters"] == dict.fromkeys(QUICK_KEYS, 0)
    # Both say max_steps (400 and 400: the synthetic run ends at step 400 too) -> by step.
    assert data["x_axis"] == X_STEP
    side = data["runs"][1]
    assert sum(side["counts_by_status"].values()) == 30
    learned = sorted(e.learned_step for e in plain_examples(synthetic).values() if e.learned_step is not None)
    assert side["learned_step_quartiles"]["50"] == pytest.approx(float(np.percentile(learned, 50)))
    out = rich_text(run_a, synthetic)
    assert "The runs share no example" in out and "0 examples matched" in out


# -- small planned runs -----------------------------------------------------------------------------
def _history(rows: dict[int, list[tuple[str, str, bool | int]]]) -> RunHistory:
    """{step: [(example_id, input, right)]} -> a RunHistory."""
    history = RunHistory()
    for step, examples in rows.items():
        history.add(
            Snapshot(
                training_step=step,
                examples=[
                    ExampleResult(example_id=i, input=t, model_output=str(int(r)), exact_match=bool(r))
                    for i, t, r in examples
                ],
            )
        )
    return history


def test_matching_by_id_then_by_unique_input_text() -> None:
    a = _history({0: [("a", "q1", 1), ("b", "q2", 0), ("c", "dup", 0), ("d", "dup", 1), ("e", "q5", 1)]})
    b = _history({0: [("a", "other", 1), ("x", "q2", 1), ("y", "dup", 0), ("z", "dup", 1), ("w", "q9", 1)]})
    m = match_examples([a, b])
    # a by id (its input differs: counted), b by input "q2"; c and d share an input: never guessed; e has no partner.
    assert m.index.tolist() == [[0, 0], [1, 1]]
    assert m.matched_by.tolist() == [MATCH_ID, MATCH_INPUT]
    assert (m.by_id, m.by_input, m.own, m.input_differs) == (1, 1, (3, 3), 1)


def test_three_runs_match_only_what_all_share_and_b_is_chosen() -> None:
    a = _history({0: [("a", "q1", False), ("b", "q2", False)], 10: [("a", "q1", True), ("b", "q2", True)]})
    b = _history({0: [("a", "q1", True), ("b", "q2", False)], 10: [("a", "q1", True), ("b", "q2", False)]})
    c = _history({0: [("a", "q1", False)], 10: [("a", "q1", False)], 20: [("a", "q1", True)]})
    cmp = compare_runs([CompareRun("A", a), CompareRun("B", b), CompareRun("C", c)])
    assert cmp.example_ids == ["a"] and [r.own for r in cmp.runs] == [1, 1, 0]
    assert cmp.status[0].tolist() == ["learned", "known", "learned"]
    assert cmp.learned_difference(1).tolist() == [-10.0]  # B knew it from step 0, A learned it at 10
    assert cmp.learned_difference(2).tolist() == [10.0]
    assert cmp.quick_counts(1)["b_faster"] == 1 and cmp.quick_counts(2)["b_slower"] == 1
    with pytest.raises(ValueError):
        cmp.quick_counts(0)


def test_runs_of_different_lengths_compare_by_fraction_of_max_steps() -> None:
    a = _history({0: [("a", "q", False)], 100: [("a", "q", True)], 200: [("a", "q", True)]})
    b = _history({0: [("a", "q", False)], 300: [("a", "q", False)], 400: [("a", "q", True)]})
    cmp = compare_runs([CompareRun("A", a, max_steps=200), CompareRun("B", b, max_steps=400)])
    assert cmp.x_axis == X_FRACTION
    assert cmp.runs[1].x.tolist() == [0.0, 0.75, 1.0]
    assert cmp.learned_x[0].tolist() == [0.5, 1.0]  # learned at half of A's run, at the end of B's
    assert cmp.quick_counts()["b_slower"] == 1
    assert cmp.learned_step[0].tolist() == [100, 400]  # the steps themselves stay steps
    # A run without max_steps (still running, no run.json): by step.
    assert compare_runs([CompareRun("A", a, max_steps=200), CompareRun("B", b)]).x_axis == X_STEP


def test_run_names_tell_runs_apart() -> None:
    assert run_names(["x/a", "y/b"], ["toy", "toy"]) == ["a", "b"]
    assert run_names(["x/run", "y/run"], [None, None]) == ["x/run", "y/run"]
    assert run_names(["x/run", "x/run"], ["n", "n"]) == ["x/run #1", "x/run #2"]
    assert run_names(["x/a", "y/b"], ["lr-1", "lr-2"]) == ["lr-1", "lr-2"]


def test_accuracy_by_metadata_tag(tmp_path: Path) -> None:
    def write(directory: Path, rows: list[tuple[str, str, bool]]) -> None:
        examples = [
            ExampleResult(example_id=i, input=i, model_output=str(int(r)), exact_match=r, metadata={"topic": t, "n": i})
            for i, t, r in rows
        ]
        directory.mkdir()
        snapshot = Snapshot(training_step=0, examples=examples, summary=summarize(examples))
        write_snapshot(directory, snapshot, fsync=False)

    rows_a = [(f"e{k}", "math" if k % 2 else "geo", k % 3 == 0) for k in range(20)]
    write(tmp_path / "a", rows_a)
    write(tmp_path / "b", [(f"f{k}", "math", True) for k in range(5)])
    code, data = compare_dirs(tmp_path / "a", tmp_path / "b")
    assert code == 0
    tags_a = data["runs"][0]["accuracy_by_tag"]
    # "n" has a value per example: not a tag. math: odd k (10), right when k % 3 == 0: 3, 9, 15.
    assert set(tags_a) == {"topic=geo", "topic=math"}
    assert (tags_a["topic=math"]["right"], tags_a["topic=math"]["evaluated"]) == (3, 10)
    assert (tags_a["topic=geo"]["right"], tags_a["topic=geo"]["evaluated"]) == (4, 10)
    assert data["runs"][1]["accuracy_by_tag"]["topic=math"]["accuracy"] == 1.0
    assert "topic=math" in rich_text(tmp_path / "a", tmp_path / "b")


# -- hostile text and bad paths ---------------------------------------------------------------------
def test_hostile_text_is_inert_in_the_tables_and_kept_in_json(tmp_path: Path) -> None:
    expected = {"a": "1", "evil": HOSTILE}
    a = write_plan(
        tmp_path / "a",
        expected,
        {0: {"a": "x", "evil": "q"}, 10: {"a": "1", "evil": HOSTILE + "!"}},
        manifest=RunManifest(run_id="r1", run_name="[bold]A\x1b[2J"),
    )
    b_outputs = {0: {"a": "1", "evil": HOSTILE}, 10: {"a": "1", "evil": "\x1b]0;pwned\x07"}}
    b = write_plan(tmp_path / "b", expected, b_outputs)
    out = rich_text(a, b, width=200)
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out and "\x9b" not in out
    assert "[bold]A␛[2J" in out  # the run name, markup and escape shown as characters
    assert "[bold red]boom[/]" in out  # an output, not applied
    code, data = compare_dirs(a, b)
    assert code == 0
    evil = next(e for e in data["examples"] if e["example_id"] == "evil")
    assert evil["runs"][0]["model_output"] == HOSTILE + "!"  # JSON carries the text as it is
    assert evil["runs"][1]["status"] == "forgotten" and evil["runs"][0]["status"] == "never"
    assert data["quick_filters"]["forgotten_one"] == 1


def test_a_bad_path_exits_with_2_and_says_why(tmp_path: Path) -> None:
    good = write_plan(tmp_path / "good", {"a": "1"}, {0: {"a": "1"}})
    (tmp_path / "file.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    for bad, why in (
        (tmp_path / "missing", "no such directory"),
        (tmp_path / "file.json", "not a directory"),
        (tmp_path / "empty", "no readable snapshot files"),
    ):
        code, out = invoke("compare", str(good), str(bad))
        assert code == 2 and why in out, out
    code, out = invoke("compare", str(good))
    assert code == 2  # one run is no comparison
    code, out = invoke("compare", str(good), str(good), "--b", "3")
    assert code == 2


def test_missing_values_are_not_numbers_in_json(tmp_path: Path) -> None:
    """A run with a snapshot of no examples: accuracy NaN there, null in JSON (no NaN token)."""
    a = write_plan(tmp_path / "a", {"a": "1"}, {0: {"a": "0"}, 10: {}})
    b = write_plan(tmp_path / "b", {"a": "1"}, {0: {"a": "1"}})
    write_manifest(b, RunManifest(run_id="b", max_steps=10), fsync=False)
    code, data = compare_dirs(a, b)
    assert code == 0
    assert data["runs"][0]["accuracy_by_step"][1] == {"step": 10, "accuracy": None}
    assert not any(isinstance(v, float) and math.isnan(v) for v in data["quick_filters"].values())


def test_watch_takes_several_directories_and_checks_each(tmp_path: Path) -> None:
    good = write_plan(tmp_path / "good", {"a": "1"}, {0: {"a": "1"}})
    (tmp_path / "file.json").write_text("{}")
    code, out = invoke("watch", str(good), str(tmp_path / "file.json"))
    assert code == 1 and "is a file, not a directory" in out  # refused before any app starts
