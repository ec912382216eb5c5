"""The tracker with the clients people use it with: TRL's SFTTrainer on chat rows, PEFT LoRA (under Trainer,
and on an absolute-position model), a Trainer without a tokenizer, and ``train()`` called twice.

Tiny models, few steps, one torch thread: the whole file trains for a few seconds.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._capture_helpers import one_torch_thread, snapshots, toy_model_and_tokenizer
from tracker.schema import RunManifest
from tracker.store import read_manifest
from tracker.toy import addition_examples

pytestmark = pytest.mark.slow

# A chat template for the character tokenizer (no newline in its vocabulary). The {% generation %} markers let
# TRL put the loss on the assistant's turns only (assistant_only_loss).
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}Q: {{ m['content'] }} {% else %}A: {% generation %}"
    "{{ m['content'] }}{{ eos_token }}{% endgeneration %} {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}A: {% endif %}"
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def _trainer(model: Any, tok: Any, out_dir: Path, steps: int, callbacks: list[Any], **kwargs: Any) -> Any:
    """A plain Trainer on the toy addition rows (loss on the answer only)."""
    from transformers import Trainer, TrainingArguments

    from tracker.toy import PadCollator, ToyTrainDataset

    args = TrainingArguments(
        output_dir=str(out_dir),
        max_steps=steps,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        logging_steps=10,
        save_strategy="no",
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        seed=0,
    )
    return Trainer(
        model=model,
        args=args,
        train_dataset=ToyTrainDataset(addition_examples()[:64], tok),
        data_collator=PadCollator(tok.pad_token_id),
        callbacks=callbacks,
        **kwargs,
    )


def _one_row_losses(model: Any, tok: Any, rows: list[dict[str, str]]) -> list[float]:
    """Each row's answer loss from an unpadded forward pass of that row alone: what a capture must report."""
    import torch
    import torch.nn.functional as F

    from tracker.evaluate import encode_examples, unwrap_model
    from tracker.examples import load_examples

    model = unwrap_model(model)
    model.eval()
    out = []
    with torch.inference_mode():
        for e in encode_examples(load_examples(rows), tok):
            ids = torch.tensor([e.prompt_ids + e.answer_ids])
            logits = model(input_ids=ids).logits[0].float()
            n = len(e.answer_ids)
            out.append(F.cross_entropy(logits[-n - 1 : -1], ids[0, -n:]).item())
    return out


# ---------------------------------------------------------------------------------------------- item 1


def test_no_tokenizer_says_so_once_with_the_fix_and_training_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Trainer without processing_class (a custom collator) and a callback without tokenizer=."""
    from tracker.callback import EvolutionCallback

    model, tok = toy_model_and_tokenizer()
    out = tmp_path / "evo"
    callback = EvolutionCallback(examples=addition_examples()[:4], output_dir=out, schedule="every 5")
    trainer = _trainer(model, tok, tmp_path / "trainer", 15, [callback])
    with caplog.at_level(logging.INFO, logger="tracker"):
        result = trainer.train()
    assert result.global_step == 15  # training went on
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # one message, not one per capture
    message = errors[0].getMessage()
    assert "EvolutionCallback(tokenizer=" in message and "processing_class" in message
    assert errors[0].exc_info is None  # a sentence with the fix, not a traceback
    assert snapshots(out) == {}
    manifest = read_manifest(out)
    assert isinstance(manifest, RunManifest)
    assert manifest.disabled is not None and "processing_class" in manifest.disabled  # run.json says why
    assert manifest.status == "finished" and manifest.errors == 0


def test_the_same_capture_error_is_one_traceback_then_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tracker.tracker import EvolutionTracker

    model, tok = toy_model_and_tokenizer()

    def broken_generate(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of memory (simulated)")

    model.generate = broken_generate
    tracker = EvolutionTracker(output_dir=tmp_path, schedule="every 1")
    with caplog.at_level(logging.ERROR, logger="tracker"):
        for step in range(3):
            assert not tracker.capture_snapshot(model, tok, examples=addition_examples()[:2], current_step=step)
    tracker.close()
    assert sum(r.exc_info is not None for r in caplog.records) == 1
    assert caplog.text.count("the same error as at step 0") == 2
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest) and manifest.errors == 3 and manifest.disabled is None


# ---------------------------------------------------------------------------------------------- item 3


def test_train_twice_makes_a_second_run_and_archives_the_first(tmp_path: Path) -> None:
    from tracker.callback import EvolutionCallback

    model, tok = toy_model_and_tokenizer()
    out = tmp_path / "evo"
    callback = EvolutionCallback(examples=addition_examples()[:4], output_dir=out, schedule="every 5")
    trainer = _trainer(model, tok, tmp_path / "trainer", 10, [callback], processing_class=tok)
    trainer.train()
    first = read_manifest(out)
    assert isinstance(first, RunManifest) and first.status == "finished"
    first_outputs = [e.model_output for e in snapshots(out)[10].examples]

    trainer.train()  # a second phase with the same callback
    second = read_manifest(out)
    assert isinstance(second, RunManifest)
    assert second.status == "finished" and second.run_id != first.run_id
    assert sorted(snapshots(out)) == [0, 5, 10]
    archived = out / "archive" / first.run_id
    assert sorted(snapshots(archived)) == [0, 5, 10]
    assert [e.model_output for e in snapshots(archived)[10].examples] == first_outputs
    assert not (out / ".evotui.lock").exists()


# ---------------------------------------------------------------------------------------------- item 2 and PEFT


def _tiny_gpt2(tok: Any) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


def _lora(model: Any, target_modules: list[str], fan_in_fan_out: bool = False) -> Any:
    from peft import LoraConfig, get_peft_model

    # init_lora_weights=False: random adapters, so the LoRA path changes the outputs (it is not the identity).
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=target_modules, init_lora_weights=False, fan_in_fan_out=fan_in_fan_out
    )
    return get_peft_model(model, config)


# Prompts of very different lengths in one batch: left padding moves the short ones far to the right.
VARIED_ROWS = [
    {"id": "short", "prompt": "2+2=", "completion": "4"},
    {"id": "long", "prompt": "What is the sum of seventeen and five? ", "completion": "22"},
    {"id": "mid", "prompt": "What is 13+8? ", "completion": "21"},
    {"id": "tiny", "prompt": "1+", "completion": "1=2"},
]


@pytest.mark.parametrize("wrapper", ["peft", "ddp+peft", "compile+peft", "ddp", "compile"])
def test_loss_equals_the_unpadded_one_row_loss_on_wrapped_absolute_position_models(wrapper: str) -> None:
    """GPT-2 (absolute positions) with LoRA, under DDP, under torch.compile: batched losses equal one-row ones."""
    import torch
    import torch.distributed as dist

    from tracker.evaluate import evaluate
    from tracker.examples import load_examples

    _, tok = toy_model_and_tokenizer()
    base = _tiny_gpt2(tok)
    model = _lora(base, ["c_attn"], fan_in_fan_out=True) if "peft" in wrapper else base  # GPT-2: Conv1D
    expected = _one_row_losses(model, tok, VARIED_ROWS)
    started_group = False
    try:
        if wrapper.startswith("ddp"):
            if not dist.is_initialized():
                dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
                started_group = True
            model = torch.nn.parallel.DistributedDataParallel(model)
        elif wrapper.startswith("compile"):
            model = torch.compile(model, backend="eager")
        got = [p.loss for p in evaluate(model, tok, load_examples(VARIED_ROWS), batch_size=len(VARIED_ROWS))]
    finally:
        if started_group:
            dist.destroy_process_group()
    assert got == pytest.approx(expected, abs=1e-5)


@pytest.fixture(scope="module")
def lora_trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """LoRA on the toy Llama, trained briefly under Trainer with the callback; its state before and after."""
    from tracker.callback import EvolutionCallback

    tmp = tmp_path_factory.mktemp("lora")
    model, tok = toy_model_and_tokenizer()
    peft_model = _lora(model, ["q_proj", "v_proj"])

    def state(m: Any) -> dict[str, Any]:
        return {
            "requires_grad": {n: p.requires_grad for n, p in m.named_parameters()},
            "active_adapter": m.active_adapter,
            "adapters": sorted(m.peft_config),
            "lora_modules_training": sorted({mod.training for n, mod in m.named_modules() if "lora_" in n}),
        }

    before = state(peft_model)
    rows = addition_examples()[:8]
    callback = EvolutionCallback(examples=rows, output_dir=tmp / "evo", schedule="every 10")
    trainer = _trainer(peft_model, tok, tmp / "trainer", 20, [callback], processing_class=tok)
    trainer.train()
    return {"before": before, "after": state(peft_model), "model": peft_model, "tok": tok, "rows": rows, "out": tmp}


def test_lora_under_trainer_keeps_peft_state_and_reports_one_row_losses(lora_trained: dict[str, Any]) -> None:
    after, before = lora_trained["after"], lora_trained["before"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["active_adapter"] == before["active_adapter"] and after["adapters"] == before["adapters"]
    snaps = snapshots(lora_trained["out"] / "evo")
    assert sorted(snaps) == [0, 10, 20]
    # The last snapshot was taken on the final weights: its losses are each row's own unpadded loss.
    expected = _one_row_losses(lora_trained["model"], lora_trained["tok"], lora_trained["rows"])
    assert [e.loss for e in snaps[20].examples] == pytest.approx(expected, abs=1e-5)


# ---------------------------------------------------------------------------------------------- TRL


def test_sft_trainer_on_chat_rows_sees_prompts_as_training_did_and_learns(tmp_path: Path) -> None:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from tracker.callback import EvolutionCallback
    from tracker.evaluate import encode_examples
    from tracker.examples import load_examples

    model, tok = toy_model_and_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    rows = [
        {
            "id": r["id"],
            "messages": [
                {"role": "user", "content": r["prompt"].strip()},
                {"role": "assistant", "content": r["completion"]},
            ],
        }
        for r in addition_examples()[:16]
    ]
    out = tmp_path / "evo"
    callback = EvolutionCallback(examples=rows, output_dir=out, schedule="every 40")
    args = SFTConfig(
        output_dir=str(tmp_path / "trainer"),
        max_steps=80,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        bf16=False,  # SFTConfig turns bf16 on by default, even on a CPU
        use_cpu=True,
        report_to=[],
        logging_steps=20,
        save_strategy="no",
        disable_tqdm=True,
        assistant_only_loss=True,
        max_length=64,
        seed=0,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, callbacks=[callback]
    )
    trainer.train()

    # The prompt a capture feeds the model is the start of the sequence training saw, token for token.
    encoded = encode_examples(load_examples(rows), tok)
    by_id = {row["id"]: row["input_ids"] for row in trainer.train_dataset}
    for example, enc in zip(load_examples(rows), encoded, strict=True):
        trained_on = by_id[example.example_id]
        assert trained_on[: len(enc.prompt_ids)] == enc.prompt_ids, example.example_id
        assert trained_on[len(enc.prompt_ids) : len(enc.prompt_ids) + len(enc.answer_ids)] == enc.answer_ids

    snaps = snapshots(out)
    assert sorted(snaps) == [0, 40, 80]
    first, last = snaps[0].summary, snaps[80].summary
    assert first is not None and last is not None
    assert last.accuracy > first.accuracy and last.accuracy >= 0.5
    assert last.avg_loss is not None and first.avg_loss is not None and last.avg_loss < first.avg_loss
    # Plausible outputs: numbers, not the template's text or special tokens.
    assert all(re.fullmatch(r"\d{1,3}", e.model_output) for e in snaps[80].examples), [
        e.model_output for e in snaps[80].examples
    ]
    assert all(e.loss is not None and math.isfinite(e.loss) for e in snaps[80].examples)
