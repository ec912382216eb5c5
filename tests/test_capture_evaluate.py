"""Model compute for a capture: batched equals one at a time, modes restored, chat templates, wrappers."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from tests._capture_helpers import one_torch_thread, toy_model_and_tokenizer
from tracker.evaluate import default_max_new_tokens, encode_examples, evaluate, render_prompt, unwrap_model
from tracker.examples import load_examples
from tracker.toy import addition_examples


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model_and_tok():
    return toy_model_and_tokenizer()


def test_batched_matches_one_at_a_time(model_and_tok) -> None:
    model, tok = model_and_tok
    examples = load_examples(addition_examples(), 12)
    batched = evaluate(model, tok, examples, batch_size=5, max_new_tokens=6)
    single = [evaluate(model, tok, [e], batch_size=1, max_new_tokens=6)[0] for e in examples]
    assert [p.example_id for p in batched] == [e.example_id for e in examples]
    assert [p.model_output for p in batched] == [p.model_output for p in single]
    for b, s in zip(batched, single, strict=True):
        assert b.loss is not None and math.isfinite(b.loss)
        assert b.loss == pytest.approx(s.loss, abs=1e-4)


def test_loss_is_over_the_expected_output_tokens_only(model_and_tok) -> None:
    model, tok = model_and_tok
    (example,) = load_examples([{"prompt": "What is 2+3? ", "completion": "5"}])
    (pred,) = evaluate(model, tok, [example], max_new_tokens=2)
    ids = tok("What is 2+3? 5", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    expected = torch.nn.functional.cross_entropy(logits[-2:-1], torch.tensor(ids[-1:]))
    assert pred.loss == pytest.approx(float(expected), abs=1e-5)


def test_mode_restored_and_no_grad_state_left(model_and_tok) -> None:
    model, tok = model_and_tok
    examples = load_examples(addition_examples(), 3)
    model.train()
    evaluate(model, tok, examples, max_new_tokens=2)
    assert model.training
    model.eval()
    evaluate(model, tok, examples, max_new_tokens=2)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


def test_default_max_new_tokens_covers_the_longest_answer(model_and_tok) -> None:
    _, tok = model_and_tok
    examples = load_examples([{"input": "q", "output": "x" * 30}, {"input": "q", "output": "y"}])
    assert default_max_new_tokens(encode_examples(examples, tok)) >= 30 + 7


def test_chat_template_used_when_the_tokenizer_has_one(model_and_tok) -> None:
    tok = model_and_tok[1]
    (chat,) = load_examples(
        [{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}]
    )
    assert render_prompt(chat, tok) == ("2+2?", False)  # no template: the turn's content
    templated = toy_model_and_tokenizer()[1]
    templated.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
    assert render_prompt(chat, templated) == ("<user>2+2?<assistant>", True)
    (encoded,) = encode_examples([chat], templated)
    assert encoded.prompt_ids == templated("<user>2+2?<assistant>", add_special_tokens=False)["input_ids"]
    assert encoded.answer_ids == templated("4", add_special_tokens=False)["input_ids"]
    model, _ = model_and_tok
    (pred,) = evaluate(model, templated, [chat], max_new_tokens=3)
    assert pred.example_id == "ex_000" and pred.loss is not None and math.isfinite(pred.loss)


def test_wrapped_model_is_unwrapped(model_and_tok) -> None:
    model, tok = model_and_tok
    wrapped = torch.nn.DataParallel(model)  # no GPUs: a plain wrapper without .generate
    assert unwrap_model(wrapped) is model
    examples = load_examples(addition_examples(), 4)
    assert [p.model_output for p in evaluate(wrapped, tok, examples, max_new_tokens=3)] == [
        p.model_output for p in evaluate(model, tok, examples, max_new_tokens=3)
    ]
