"""Builders shared by the reliability tests and bench/load.py: deterministic snapshots and hostile text.

Everything here is a pure function of its arguments, so a child process (a writer killed mid-write)
and the test that checks its files build the very same snapshot for a step.
"""

from __future__ import annotations

import functools
import random

import msgspec

from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import summarize

# Text a model (or a file's author) can produce that a terminal must never act on.
HOSTILE_TEXTS: dict[str, str] = {
    "ansi_colour_and_cursor": "\x1b[31mred\x1b[0m \x1b[2J\x1b[H\x1b[10;10Hmoved \x1b[?25l hidden cursor",
    "osc_title": "\x1b]0;pwned window title\x07after",
    "osc52_clipboard": "\x1b]52;c;ZWNobyBwd25lZAo=\x07copied",
    "osc8_hyperlink": "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\",
    "rich_markup": "[bold red]not bold[/bold red] [link=https://evil.example]link[/link] [/]",
    "rich_markup_broken": "[/not-a-tag] [[ ]] [@click=app.quit]quit[/]",
    "nul_and_controls": "a\x00b\x01c\x07d\x08e\x0bf\x0cg\rh\x7fi\x9bj\x85k",
    "rtl_and_combining": "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd e\u0301\u0301\u0301 Z\u0336\u0351\u0353",
    "wide_emoji": "👩‍👩‍👧‍👦🇫🇷🤖 全角テキスト",
    "bidi_isolates_and_zero_width": "\u2066x\u2069\u200b\u200d\ufeff",
    "tabs_and_newlines": "col1\tcol2\nline2\r\nline3",
    "ten_thousand_lines": "\n".join(f"line {i}" for i in range(10_000)),
}
FIVE_MB_OUTPUT = "x" * (5 * 1024 * 1024)


def make_snapshot(step: int, n_examples: int = 20, *, seed: int = 0, width: int = 12) -> Snapshot:
    """A plausible snapshot for ``step``: same ids at every step, outputs that drift with the step."""
    rng = random.Random(f"{seed}:{step}")
    rows = []
    for i in range(n_examples):
        expected = str(i % 41)
        right = rng.random() < min(0.95, step / 1000)
        output = expected if right else "".join(rng.choice("0123456789abc ") for _ in range(rng.randint(0, width)))
        rows.append(
            ExampleResult(
                example_id=f"ex_{i:05d}",
                input=f"What is {i % 21}+{i // 21 % 21}?",
                expected_output=expected,
                model_output=output,
                loss=round(rng.uniform(0.01, 4.0), 6),
                similarity=1.0 if right else round(rng.random(), 6),
                exact_match=right,
                metadata={"i": i},
            )
        )
    return Snapshot(
        training_step=step,
        examples=rows,
        snapshot_id=f"snap-{seed}-{step}",
        timestamp="2026-01-01T00:00:00.000Z",
        model_version=f"step-{step}",
        summary=summarize(rows),
    )


@functools.lru_cache(maxsize=8)
def _sized_template(variant: int) -> Snapshot:
    n = 5 + (variant * 7919) % 300
    snapshot = make_snapshot(variant, n, seed=7)
    if variant % 2:  # every other variant is large (~1.5 MB): long outputs, as a model babbling
        for i, row in enumerate(snapshot.examples):
            row.model_output = (row.model_output + f" {i}") * 500
    return snapshot


def sized_snapshot(step: int) -> Snapshot:
    """A snapshot for ``step`` whose size varies a lot with the step (1 kB to ~1.5 MB), cheap to build.

    Cheap on purpose: a writer that spends its time writing, not building, gets killed mid-write.
    """
    template = _sized_template(step % 6)
    return msgspec.structs.replace(template, training_step=step, snapshot_id=f"sized-{step}")


def hostile_snapshot(step: int = 0) -> Snapshot:
    """One example per hostile text, the text in every string field (and in metadata)."""
    rows = [
        ExampleResult(
            example_id=name,
            input=f"input {name}: {text}",
            expected_output=text,
            model_output=text,
            loss=1.0,
            similarity=0.5,
            exact_match=False,
            metadata={"note": text, text[:40]: [text[:40]]},
        )
        for name, text in HOSTILE_TEXTS.items()
    ]
    return Snapshot(
        training_step=step,
        examples=rows,
        snapshot_id="hostile",
        timestamp="2026-01-01T00:00:00.000Z",
        model_version="\x1b]0;title\x07[bold]v[/bold]",
        summary=summarize(rows),
    )
