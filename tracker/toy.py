"""A tiny model that learns on a CPU in seconds, built offline: for the demo, the tests and the benchmarks.

A character-level tokenizer (``tokenizers`` WordLevel over printable ASCII, wrapped in
``PreTrainedTokenizerFast``) and a 2-layer Llama from a config. Nothing is downloaded. The task is
"What is A+B? " -> "C" for A, B in 0..20 (441 rows): the model gets most of them right after ~800 steps.

Imports torch and transformers inside the functions: importing this module stays light.
"""

from __future__ import annotations

import random
import string
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
CHARACTERS = string.printable[:95]  # digits, letters, punctuation and the space; no tabs or newlines


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per printable character, plus pad/bos/eos/unk. Decoding joins characters without spaces."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in CHARACTERS:
        vocab.setdefault(ch, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()  # without it, decode puts a space between characters
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK)


def build_tiny_llama(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 64,
    seed: int = 0,
) -> PreTrainedModel:
    """A LlamaForCausalLM from a config (random weights, seeded). hidden 64: ~0.1M params; 256/4: ~3M."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def addition_examples(max_operand: int = 20, seed: int | None = 0) -> list[dict[str, str]]:
    """Rows {"id", "prompt", "completion"} for "What is A+B? " -> "A+B", shuffled with ``seed``."""
    rows = [
        {"id": f"add_{a:02d}_{b:02d}", "prompt": f"What is {a}+{b}? ", "completion": str(a + b)}
        for a in range(max_operand + 1)
        for b in range(max_operand + 1)
    ]
    if seed is not None:
        random.Random(seed).shuffle(rows)
    return rows


def mixed_examples(seed: int | None = 0, n_hard: int = 220) -> list[dict[str, str]]:
    """The demo's task: the 441 small sums of ``addition_examples`` and ``n_hard`` harder ones.

    The harder sums have a two-digit first operand (21..99) and a second one in 10..99, so their answers
    run to three digits: the tiny model learns the small sums early, some hard ones late, and others
    never within a demo's few thousand steps. That is the range a real run shows (and what a demo of
    evotui needs): examples learned early, learned late, forgotten, never learned. Shuffled with ``seed``
    (the hard sums are drawn with it too), ids ``add_AA_BB`` as in ``addition_examples``.
    """
    rows = addition_examples(seed=None)
    pairs = [(a, b) for a in range(21, 100) for b in range(10, 100)]
    for a, b in random.Random(1_000 + (seed or 0)).sample(pairs, n_hard):
        rows.append({"id": f"add_{a:02d}_{b:02d}", "prompt": f"What is {a}+{b}? ", "completion": str(a + b)})
    if seed is not None:
        random.Random(seed).shuffle(rows)
    return rows


TASKS = {"sums": addition_examples, "mixed": mixed_examples}


class ToyTrainDataset:
    """Tokenised prompt + completion + EOS, with the loss on the completion (and EOS) only."""

    def __init__(self, rows: list[dict[str, str]], tokenizer: PreTrainedTokenizerFast) -> None:
        self.items: list[dict[str, list[int]]] = []
        for row in rows:
            prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
            answer_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
            ids = prompt_ids + answer_ids + [tokenizer.eos_token_id]
            labels = [-100] * len(prompt_ids) + answer_ids + [tokenizer.eos_token_id]
            self.items.append({"input_ids": ids, "labels": labels})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


class PadCollator:
    """Right-pads a batch for training (generation uses left padding; that is the evaluator's business)."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        import torch

        width = max(len(item["input_ids"]) for item in batch)
        ids, labels, mask = [], [], []
        for item in batch:
            pad = width - len(item["input_ids"])
            ids.append(item["input_ids"] + [self.pad_token_id] * pad)
            labels.append(item["labels"] + [-100] * pad)
            mask.append([1] * len(item["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }
