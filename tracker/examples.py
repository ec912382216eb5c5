"""The examples a run is evaluated on: loaded from dicts or a JSONL file, in the common dataset shapes.

Shapes understood (the first that matches wins):

* chat: ``{"messages": [{"role": ..., "content": ...}, ...]}``; the last assistant turn is the expected
  output, the turns before it are the prompt;
* prompt/completion: ``{"prompt": ..., "completion": ...}`` (strings, or lists of chat turns as TRL writes them);
* input/output: ``{"input": ..., "output": ...}``, and Alpaca's ``{"instruction", "input"?, "output"}``.

Every example gets a stable id: the row's own ``id`` / ``example_id`` when it has one, else ``ex_000``,
``ex_001``... by position in the source. A bad row is refused with an error naming its line (JSONL) or
index (dicts) and what is missing. Imports no torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ExampleSource = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


class ExampleError(ValueError):
    """A row that cannot be used as an example; the message names where it is and what is wrong."""


@dataclass(frozen=True)
class Example:
    """One example, ready to be rendered for a model.

    ``messages`` is set for chat examples (the prompt turns, without the expected assistant turn);
    ``prompt`` is the plain-text prompt otherwise. ``input`` is what the viewer shows.
    """

    example_id: str
    input: str
    expected_output: str
    prompt: str = ""
    messages: tuple[Mapping[str, str], ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


def _where(line: int | None, index: int) -> str:
    return f"line {line}" if line is not None else f"row {index}"


def _check_turns(turns: Any, what: str, where: str) -> list[dict[str, str]]:
    if not isinstance(turns, list) or not turns:
        raise ExampleError(f"{where}: {what!r} must be a non-empty list of {{'role', 'content'}} turns")
    clean: list[dict[str, str]] = []
    for k, turn in enumerate(turns):
        if not isinstance(turn, Mapping) or "role" not in turn or "content" not in turn:
            raise ExampleError(f"{where}: {what}[{k}] needs 'role' and 'content'")
        content = turn["content"]
        if not isinstance(content, str):
            # Multimodal content lists: keep the text parts, which is all a text model is scored on.
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
            else:
                raise ExampleError(f"{where}: {what}[{k}].content must be text")
        clean.append({"role": str(turn["role"]), "content": content})
    return clean


def _display_turns(turns: Sequence[Mapping[str, str]]) -> str:
    # One user turn (with or without a system prompt) reads best as the bare question.
    non_system = [t for t in turns if t["role"] != "system"]
    if len(non_system) == 1:
        return non_system[0]["content"]
    return "\n".join(f"{t['role']}: {t['content']}" for t in turns)


def _text(row: Mapping[str, Any], key: str, where: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise ExampleError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    return value


def parse_example(row: Any, index: int, line: int | None = None) -> Example:
    """One row -> Example. ``index`` is its position in the source (for the default id)."""
    where = _where(line, index)
    if not isinstance(row, Mapping):
        raise ExampleError(f"{where}: expected a JSON object, got {type(row).__name__}")
    raw_id = row.get("example_id", row.get("id"))
    example_id = str(raw_id) if raw_id is not None and str(raw_id) != "" else f"ex_{index:03d}"

    if "messages" in row:
        turns = _check_turns(row["messages"], "messages", where)
        last_assistant = max((k for k, t in enumerate(turns) if t["role"] == "assistant"), default=None)
        if last_assistant is None:
            raise ExampleError(f"{where}: 'messages' has no assistant turn to use as the expected output")
        prompt_turns = turns[:last_assistant]
        if not prompt_turns:
            raise ExampleError(f"{where}: 'messages' has no turn before the last assistant turn to use as prompt")
        return Example(
            example_id=example_id,
            input=_display_turns(prompt_turns),
            expected_output=turns[last_assistant]["content"],
            messages=tuple(prompt_turns),
        )

    if "prompt" in row or "completion" in row:
        if "prompt" not in row or "completion" not in row:
            present, missing = ("prompt", "completion") if "prompt" in row else ("completion", "prompt")
            raise ExampleError(f"{where}: has {present!r} but no {missing!r}")
        prompt, completion = row["prompt"], row["completion"]
        if isinstance(completion, list):  # conversational prompt/completion (TRL)
            completion_turns = _check_turns(completion, "completion", where)
            completion = "".join(t["content"] for t in completion_turns if t["role"] == "assistant")
        elif not isinstance(completion, str):
            raise ExampleError(f"{where}: 'completion' must be a string or a list of turns")
        if isinstance(prompt, list):
            prompt_turns = _check_turns(prompt, "prompt", where)
            return Example(example_id, _display_turns(prompt_turns), completion, messages=tuple(prompt_turns))
        if not isinstance(prompt, str):
            raise ExampleError(f"{where}: 'prompt' must be a string or a list of turns")
        return Example(example_id, prompt, completion, prompt=prompt)

    if "output" in row and ("input" in row or "instruction" in row):
        output = _text(row, "output", where)
        if "instruction" in row:
            instruction = _text(row, "instruction", where)
            extra = _text(row, "input", where) if row.get("input") is not None else ""
            prompt = f"{instruction}\n\n{extra}" if extra else instruction
        else:
            prompt = _text(row, "input", where)
        return Example(example_id, prompt, output, prompt=prompt)

    keys = ", ".join(sorted(map(str, row))) or "none"
    raise ExampleError(
        f"{where}: not an example: expected 'messages', 'prompt' + 'completion', or 'input' + 'output' (keys: {keys})"
    )


def _iter_jsonl(path: Path) -> Iterable[tuple[int, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExampleError(f"{path}: line {line_no}: not valid JSON: {exc.msg} (column {exc.colno})") from None


def load_examples(source: ExampleSource, max_examples: int | None = 100) -> list[Example]:
    """Examples from a JSONL path (``.json``: a list of rows) or an iterable of dicts.

    Takes the first ``max_examples`` (None: all) rows. Raises ``ExampleError`` for a bad row or duplicate id,
    ``FileNotFoundError`` for a missing file.
    """
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples must be >= 1 or None, got {max_examples}")
    rows: Iterable[tuple[int | None, Any]]
    label = ""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = f"{path}: "
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list):
                raise ExampleError(f"{path}: a .json examples file must hold a list of rows")
            rows = ((None, r) for r in data)
        else:
            rows = _iter_jsonl(path)
    elif isinstance(source, Mapping):
        raise ExampleError("examples must be a list of rows or a JSONL path, not a single dict")
    else:
        rows = ((None, r) for r in source)

    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, (line, row) in enumerate(rows):
        if max_examples is not None and index >= max_examples:
            break
        try:
            example = parse_example(row, index, line)
        except ExampleError as exc:
            raise ExampleError(f"{label}{exc}") from None
        if example.example_id in seen:
            raise ExampleError(
                f"{label}{_where(line, index)}: duplicate example id {example.example_id!r} "
                f"(first seen at {seen[example.example_id]})"
            )
        seen[example.example_id] = line if line is not None else index
        examples.append(example)
    if not examples:
        raise ExampleError(f"{label}no examples")
    return examples


def select_examples(examples: Sequence[Example], example_ids: Sequence[str]) -> list[Example]:
    """The examples with ``example_ids``, in that order (a resumed run keeps its original example set).

    Raises ExampleError naming the ids that are missing from ``examples``.
    """
    by_id = {e.example_id: e for e in examples}
    missing = [i for i in example_ids if i not in by_id]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ExampleError(f"{len(missing)} example(s) recorded in run.json are not in the examples given: {shown}")
    return [by_id[i] for i in example_ids]
