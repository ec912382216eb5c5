"""Examples: the common dataset shapes, stable ids, max_examples and errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._capture_helpers import SEED_JSONL
from tracker.examples import ExampleError, load_examples, select_examples


def test_seed_chat_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "test_math.jsonl"
    path.write_text(SEED_JSONL)
    examples = load_examples(path)
    assert [e.example_id for e in examples] == ["ex_000", "ex_001"]
    assert examples[0].input == "What is 2+2?"
    assert examples[0].expected_output == "4"
    assert examples[0].is_chat and examples[0].messages == ({"role": "user", "content": "What is 2+2?"},)


def test_chat_last_assistant_turn_is_the_answer() -> None:
    row = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
        ]
    }
    (example,) = load_examples([row])
    assert example.expected_output == "4"
    assert len(example.messages or ()) == 4
    assert example.input == "system: Be brief.\nuser: Hi\nassistant: Hello\nuser: 2+2?"


def test_prompt_completion_input_output_and_alpaca_shapes() -> None:
    rows = [
        {"id": "a", "prompt": "P1", "completion": "C1"},
        {"input": "I2", "output": "O2"},
        {"instruction": "Add", "input": "2 and 2", "output": "4"},
        {"instruction": "Say hi", "input": "", "output": "hi"},
        {"prompt": [{"role": "user", "content": "Q"}], "completion": [{"role": "assistant", "content": "A"}]},
    ]
    examples = load_examples(rows)
    assert [e.example_id for e in examples] == ["a", "ex_001", "ex_002", "ex_003", "ex_004"]
    assert [(e.prompt, e.expected_output) for e in examples[:4]] == [
        ("P1", "C1"),
        ("I2", "O2"),
        ("Add\n\n2 and 2", "4"),
        ("Say hi", "hi"),
    ]
    assert examples[4].is_chat and examples[4].expected_output == "A"


def test_max_examples_takes_the_first_n(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}", "completion": f"c{i}"}) + "\n" for i in range(250)))
    assert [e.example_id for e in load_examples(path)] == [f"ex_{i:03d}" for i in range(100)]
    assert len(load_examples(path, max_examples=7)) == 7
    assert len(load_examples(path, max_examples=None)) == 250


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"prompt": "only a prompt"}', "has 'prompt' but no 'completion'"),
        ('{"messages": [{"role": "user", "content": "no answer"}]}', "no assistant turn"),
        ('{"messages": [{"role": "user"}]}', "needs 'role' and 'content'"),
        ('{"text": "plain"}', "expected 'messages', 'prompt' + 'completion', or 'input' + 'output' (keys: text)"),
        ("{not json", "not valid JSON"),
        ('["a", "list"]', "expected a JSON object"),
    ],
)
def test_bad_row_error_names_its_line(tmp_path: Path, line: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok", "completion": "ok"}\n\n' + line + "\n")
    with pytest.raises(ExampleError) as info:
        load_examples(path)
    assert "line 3" in str(info.value)
    assert needle in str(info.value)


def test_duplicate_ids_and_empty_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExampleError, match="duplicate example id 'x'"):
        load_examples([{"id": "x", "input": "a", "output": "b"}, {"id": "x", "input": "c", "output": "d"}])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ExampleError, match="no examples"):
        load_examples(empty)


def test_select_examples_keeps_the_recorded_order_and_names_missing_ids() -> None:
    examples = load_examples([{"id": k, "input": k, "output": k} for k in "abcd"])
    assert [e.example_id for e in select_examples(examples, ["c", "a"])] == ["c", "a"]
    with pytest.raises(ExampleError, match="not in the examples given: z"):
        select_examples(examples, ["a", "z"])
