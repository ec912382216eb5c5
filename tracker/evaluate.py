"""Model compute for one capture: batched teacher-forced loss and batched greedy generation.

Everything here runs on the training thread and only does what needs the model; scoring, encoding and
writing happen on the tracker's writer thread. The model is put in eval mode under
``torch.inference_mode`` and its train/eval mode is restored afterwards.

Both passes use left padding with position ids computed from the attention mask, so a padded row
sees the same positions as it would alone, and the expected-output tokens of every row sit at the end:
the loss pass asks the model for the logits of the last ``max_answer_len + 1`` positions only
(``logits_to_keep``), which keeps a large vocabulary from costing batch x length x vocab floats.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.examples import Example

if TYPE_CHECKING:
    import torch

    from tracker.distributed import ProcessRole

DEFAULT_BATCH_SIZE = 32
MAX_NEW_TOKENS_MARGIN = 8


@dataclass
class EncodedExample:
    prompt_ids: list[int]
    answer_ids: list[int]


@dataclass
class Prediction:
    """The model's side of one example at one step (scored later, on the writer thread)."""

    example_id: str
    model_output: str
    loss: float | None
    finish: str  # "eos" (stopped by itself) or "length" (cut at max_new_tokens)


def unwrap_model(model: Any) -> Any:
    """The module under DDP / DataParallel / Accelerate / torch.compile wrappers.

    FSDP (v1) is *not* unwrapped: its forward gathers the sharded parameters. FSDP2 does not wrap at all.
    """
    from torch import nn

    seen = 0
    while seen < 8:
        seen += 1
        name = type(model).__name__
        inner = getattr(model, "module", None)
        if name in ("DistributedDataParallel", "DataParallel") and isinstance(inner, nn.Module):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            break
    return model


def is_fsdp(model: Any) -> bool:
    """True when any part of ``model`` is FSDP-sharded (v1 wrapper or FSDP2 ``fully_shard``)."""
    try:
        from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel
    except ImportError:  # pragma: no cover - torch without distributed
        return False
    return any(isinstance(m, (FSDPModule, FullyShardedDataParallel)) for m in model.modules())


def _pad_id(tokenizer: Any, model: Any) -> int:
    for candidate in (
        getattr(tokenizer, "pad_token_id", None),
        getattr(getattr(model, "generation_config", None), "pad_token_id", None),
        getattr(tokenizer, "eos_token_id", None),
    ):
        if isinstance(candidate, int):
            return candidate
        if isinstance(candidate, list) and candidate:
            return int(candidate[0])
    return 0


def _eos_ids(tokenizer: Any, model: Any) -> list[int]:
    ids: list[int] = []
    for candidate in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(candidate, int):
            ids.append(candidate)
        elif isinstance(candidate, (list, tuple)):
            ids.extend(int(c) for c in candidate)
    return sorted(set(ids))


def render_prompt(example: Example, tokenizer: Any) -> tuple[str, bool]:
    """(prompt text, whether it already carries the special tokens) for one example.

    Chat examples use the tokenizer's chat template when it has one; without one, the prompt turns'
    contents are joined (which is what a plain-text model trained on them would have seen).
    """
    if example.messages is not None:
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(list(example.messages), tokenize=False, add_generation_prompt=True)
            return str(text), True
        return "\n".join(m["content"] for m in example.messages), False
    return example.prompt, False


def encode_examples(examples: Sequence[Example], tokenizer: Any) -> list[EncodedExample]:
    encoded: list[EncodedExample] = []
    for example in examples:
        text, templated = render_prompt(example, tokenizer)
        prompt_ids = list(tokenizer(text, add_special_tokens=not templated)["input_ids"])
        answer_ids = list(tokenizer(example.expected_output, add_special_tokens=False)["input_ids"])
        encoded.append(EncodedExample(prompt_ids, answer_ids))
    return encoded


def default_max_new_tokens(encoded: Sequence[EncodedExample]) -> int:
    """Enough to write the longest expected output, plus room to see where a wrong answer goes."""
    longest = max((len(e.answer_ids) for e in encoded), default=0)
    return longest + max(MAX_NEW_TOKENS_MARGIN, longest // 4)


def _left_pad(rows: Sequence[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, position_ids), left-padded; position ids count real tokens only."""
    import torch

    width = max(len(r) for r in rows)
    # Padded as Python lists, then one tensor each: a per-row tensor copy costs more than the tiny model's forward.
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), position_ids.to(device)


def signature_model(model: Any) -> Any:
    """The module whose ``forward`` says which arguments the model takes.

    A PEFT model's ``forward`` takes ``**kwargs`` and passes them on to the model it wraps: its own signature
    names neither ``position_ids`` nor ``logits_to_keep``. Without position ids an absolute-position model
    (GPT-2) puts a left-padded row's tokens at the wrong positions, and its loss is wrong.
    """
    for _ in range(8):
        get_base = getattr(model, "get_base_model", None)
        if callable(get_base):
            inner = get_base()
        elif type(model).__name__ == "FullyShardedDataParallel":
            # FSDP (v1) is called as it is (its forward gathers the shards) but takes *args, **kwargs too.
            inner = getattr(model, "module", model)
        else:
            break
        if inner is model:
            break
        model = inner
    return model


def _forward_accepts(model: Any, name: str) -> bool:
    return name in _forward_parameters(type(signature_model(model)))


@functools.lru_cache(maxsize=64)
def _forward_parameters(model_class: type) -> frozenset[str]:
    # inspect.signature costs ~0.1 ms a call: once per model class, not twice per batch.
    try:
        return frozenset(inspect.signature(model_class.forward).parameters)
    except (TypeError, ValueError):
        return frozenset()


def batch_losses(
    model: Any, batch: Sequence[EncodedExample], pad_id: int, device: Any, synced: bool = False
) -> list[float | None]:
    """Mean NLL of each row's answer tokens given its prompt, in one forward pass.

    ``synced``: the forward pass runs even when there is nothing to score (a sharded model needs every
    rank in every pass).
    """
    import torch
    import torch.nn.functional as F

    longest_answer = max(len(e.answer_ids) for e in batch)
    nothing_to_score = longest_answer == 0 or not any(e.prompt_ids and e.answer_ids for e in batch)
    if nothing_to_score and not synced:
        return [None] * len(batch)
    rows = [e.prompt_ids + e.answer_ids or [pad_id] for e in batch]
    ids, mask, position_ids = _left_pad(rows, pad_id, device)
    if nothing_to_score:
        model(input_ids=ids, attention_mask=mask, use_cache=False)
        return [None] * len(batch)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
    if _forward_accepts(model, "position_ids"):
        kwargs["position_ids"] = position_ids
    keep = min(longest_answer + 1, ids.shape[1])
    if _forward_accepts(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = keep
    logits = model(**kwargs).logits[:, -keep:, :].float()  # (B, keep, V); full logits when not supported
    # Position j of the kept window predicts token j+1 of the window; the answers are the last tokens.
    predictive = logits[:, :-1, :]
    width = predictive.shape[1]
    targets = ids[:, -width:]
    nll = F.cross_entropy(predictive.reshape(-1, predictive.size(-1)), targets.reshape(-1), reduction="none")
    nll = nll.view(len(batch), width)
    # Row i's answer is its last n_i tokens: a right-aligned mask, then one masked mean for the whole batch.
    lengths = torch.tensor([len(e.answer_ids) if e.prompt_ids else 0 for e in batch], device=nll.device)
    answer_mask = torch.arange(width, device=nll.device).unsqueeze(0) >= (width - lengths).unsqueeze(1)
    sums = (nll * answer_mask).sum(dim=1)
    means = (sums / lengths.clamp(min=1)).tolist()
    # A row with no answer tokens, or no prompt to predict its first token from, has no loss.
    return [m if n > 0 and math.isfinite(m) else None for m, n in zip(means, lengths.tolist(), strict=True)]


def make_generation_config(pad_id: int, eos_ids: list[int], max_new_tokens: int) -> Any:
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=eos_ids or None,
    )


def batch_generate(
    model: Any,
    tokenizer: Any,
    batch: Sequence[EncodedExample],
    pad_id: int,
    eos_ids: list[int],
    config: Any,
    device: Any,
    synced_gpus: bool,
) -> list[tuple[str, str]]:
    """Greedy continuations of a left-padded batch: (text, "eos" | "length") per row."""
    ids, mask, _ = _left_pad([e.prompt_ids for e in batch], pad_id, device)
    out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, synced_gpus=synced_gpus)
    new_tokens = out[:, ids.shape[1] :].tolist()
    eos = set(eos_ids)
    kept_rows: list[list[int]] = []
    finishes: list[str] = []
    for row in new_tokens:
        cut = next((k for k, t in enumerate(row) if t in eos), None)
        finishes.append("eos" if cut is not None else "length")
        kept_rows.append(row[:cut] if cut is not None else row)
    texts = tokenizer.batch_decode(kept_rows, skip_special_tokens=True)
    return list(zip(texts, finishes, strict=True))


def evaluate(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_new_tokens: int | None = None,
    synced_gpus: bool | None = None,
    n_batches: int | None = None,
    padding_example: Example | None = None,
    encoded: Sequence[EncodedExample] | None = None,
) -> list[Prediction]:
    """Loss and greedy output for each example, batched, on the model's own device.

    ``synced_gpus`` (the tracker says; default: whether the model is FSDP-sharded in a process group) keeps
    every rank generating until all are done. Sharded models also need every rank to make the same number
    of forward passes: with synced generation, ``n_batches`` forces that count, filling missing batches with
    ``padding_example`` (whose results are thrown away).
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = unwrap_model(model)
    if synced_gpus is None:
        from tracker.distributed import process_role

        synced_gpus = process_role().is_distributed and is_fsdp(model)
    if encoded is None:
        encoded = encode_examples(examples, tokenizer)
    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens(encoded)
    pad_id = _pad_id(tokenizer, model)
    eos_ids = _eos_ids(tokenizer, model)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")

    batches = [list(range(i, min(i + batch_size, len(encoded)))) for i in range(0, len(encoded), batch_size)]
    filler: EncodedExample | None = None
    if synced_gpus and n_batches is not None and len(batches) < n_batches:
        if padding_example is None:
            raise ValueError("n_batches needs a padding_example to fill missing batches")
        filler = encode_examples([padding_example], tokenizer)[0]
        batches += [[] for _ in range(n_batches - len(batches))]

    config = make_generation_config(pad_id, eos_ids, max_new_tokens)
    was_training = model.training
    predictions: list[Prediction] = []
    model.eval()
    try:
        with torch.inference_mode():
            for batch_idx in batches:
                batch = [encoded[i] for i in batch_idx] or [filler]  # type: ignore[list-item]
                losses = batch_losses(model, batch, pad_id, device, synced=synced_gpus)
                outputs = batch_generate(model, tokenizer, batch, pad_id, eos_ids, config, device, synced_gpus)
                for k, i in enumerate(batch_idx):
                    text, finish = outputs[k]
                    predictions.append(Prediction(examples[i].example_id, text, losses[k], finish))
    finally:
        model.train(was_training)
    return predictions


def check_generative(model: Any) -> None:
    """Raise SetupError unless ``model`` (under its wrappers) can generate: a capture would fail at every step."""
    from tracker.example_set import SetupError

    if model is None or not callable(getattr(unwrap_model(model), "generate", None)):
        raise SetupError(
            f"capture_snapshot needs a generative model (one with .generate()), got {type(model).__name__}:"
            " pass the model being trained (the callback takes the Trainer's)"
        )


def evaluate_shard(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    encoded: Sequence[EncodedExample],
    role: ProcessRole,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_new_tokens: int | None = None,
) -> list[Prediction]:
    """This process's share of a capture: ``examples[rank::world_size]``, with as many forward passes as every
    other process makes (a sharded model needs every rank in every pass; generation is synced under FSDP)."""
    n_batches = None
    if role.is_distributed:
        largest = -(-len(examples) // role.world_size)
        n_batches = -(-largest // batch_size)
    return evaluate(
        model,
        tokenizer,
        role.shard(list(examples)),
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        synced_gpus=role.is_distributed and is_fsdp(unwrap_model(model)),
        n_batches=n_batches,
        padding_example=examples[0] if examples else None,
        encoded=role.shard(list(encoded)),
    )
