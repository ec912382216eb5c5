"""The example set of one run: which examples (the first N, or on resume the ones the run started with), and
their token ids for the tokenizer in use (tokenised once: examples and tokenizer do not change during a run).

Imports no torch: loading and choosing examples is plain Python; tokenising calls the caller's tokenizer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tracker.examples import Example, ExampleError, ExampleSource, load_examples, select_examples

logger = logging.getLogger("tracker")


NO_TOKENIZER = (
    "no tokenizer to encode the examples with: pass EvolutionCallback(tokenizer=tokenizer), or build the"
    " Trainer with processing_class=tokenizer (the callback uses the Trainer's); with the original calls,"
    " capture_snapshot(tokenizer=tokenizer)"
)


class SetupError(Exception):
    """A capture cannot work with what it was given and would fail the same way at every step.

    The message says what is missing and how to give it; the tracker reports it once and disables itself.
    """


def _is_examples(source: Any) -> bool:
    return isinstance(source, list) and bool(source) and all(isinstance(e, Example) for e in source)


def load_first(source: ExampleSource, max_examples: int) -> list[Example]:
    """The first ``max_examples`` examples of ``source``; raises ExampleError naming the bad row."""
    if _is_examples(source):
        return list(source)[:max_examples]  # type: ignore[arg-type]
    return load_examples(source, max_examples)


class ExampleSet:
    """The examples evaluated at every capture of a run, and their token ids."""

    def __init__(self, max_examples: int) -> None:
        self.max_examples = max_examples
        self.examples: list[Example] | None = None
        self._encoded: list[Any] | None = None
        self._encoded_for: int | None = None

    @property
    def ids(self) -> list[str]:
        return [e.example_id for e in self.examples or []]

    def choose(
        self, source: ExampleSource, recorded_ids: Sequence[str] | None = None, first: list[Example] | None = None
    ) -> list[Example]:
        """Take the first ``max_examples`` of ``source``; on resume, the ``recorded_ids`` wherever they now are."""
        chosen = first if first is not None else load_first(source, self.max_examples)
        if recorded_ids and [e.example_id for e in chosen] != list(recorded_ids):
            # A resumed run evaluates exactly the example set it started with, wherever those rows now are.
            try:
                pool = list(source) if _is_examples(source) else load_examples(source, max_examples=None)  # type: ignore[arg-type]
                chosen = select_examples(pool, recorded_ids)
            except ExampleError as exc:
                logger.warning("resume: %s; evaluating the first %d examples instead", exc, len(chosen))
        self.examples = chosen
        self._encoded = None
        return chosen

    def encoded(self, tokenizer: Any) -> list[Any]:
        """Token ids of every example (``EncodedExample``), cached for ``tokenizer``.

        Raises SetupError when the tokenizer cannot encode them: that would fail again at every step.
        """
        from tracker.evaluate import encode_examples

        if self._encoded is None or self._encoded_for != id(tokenizer):
            if tokenizer is None:
                raise SetupError(NO_TOKENIZER)
            try:
                self._encoded = encode_examples(self.examples or [], tokenizer)
            except Exception as exc:
                raise SetupError(
                    f"the tokenizer ({type(tokenizer).__name__}) could not encode the examples:"
                    f" {type(exc).__name__}: {exc}; pass a text tokenizer (EvolutionCallback(tokenizer=...))"
                ) from exc
            self._encoded_for = id(tokenizer)
        return self._encoded
