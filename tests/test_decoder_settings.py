"""The decoder's learn-faster settings (issue 15): end_bias, pointer_state_input and constrained_loss.

Off, each must compute what the model computed before it existed; on, it must do what its config comment says,
survive a save and load, and be refused with a one-line error when its value is not of its kind. The last two are
on by default, and off for a model folder saved before they existed.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from test_model_training import MIXED
from test_variants import TYPES, _encoder_inputs, tagger_for

from typeprior.model.batching import encode_sentences
from typeprior.model.config import ModelConfigError, TypePriorConfig
from typeprior.model.decoding import (
    DecodeState, advance, allowed_mask, beam_decode, greedy_decode, teacher_forced_allowed,
)
from typeprior.model.generator import PAD
from typeprior.model.predict import Tagger
from typeprior.model.targets import END


def _state(t: Tagger, sentences=MIXED):
    t.model.eval()
    batch = encode_sentences(sentences, t.encoder, t.vocab, with_labels=False)
    with torch.no_grad():
        return t.model.encode(**_encoder_inputs(batch))


@pytest.mark.parametrize("variant", ["baseline", "full"])
def test_end_bias_moves_where_decoding_stops(variant: str) -> None:
    torch.manual_seed(0)
    t = tagger_for(variant)
    state = _state(t)
    plain = greedy_decode(t.model, state)
    t.model.config.end_bias = 0.0
    assert greedy_decode(t.model, state) == plain
    t.model.config.end_bias = 1e4  # END wherever it is allowed: at the first step
    assert greedy_decode(t.model, state) == [[END]] * len(MIXED)
    assert all(s == [END] for s in beam_decode(t.model, state, 3))
    t.model.config.end_bias = -1e4  # END only when nothing else fits the budget
    long = greedy_decode(t.model, state)
    assert all(len(a) >= len(b) for a, b in zip(long, plain))
    assert sum(map(len, long)) > sum(map(len, plain))


def test_end_bias_is_saved_with_the_model_and_checked(tmp_path: Path) -> None:
    t = Tagger.from_backbone("tiny-random", ["PER", "LOC"], end_bias=-1.5)
    t.save(tmp_path / "m")
    assert Tagger.load(tmp_path / "m", device="cpu").model.config.end_bias == -1.5
    with pytest.raises(ModelConfigError, match="end_bias"):
        TypePriorConfig(entity_types=["PER"], end_bias=float("inf"))
    with pytest.raises(ModelConfigError, match="constrained_loss"):
        TypePriorConfig(entity_types=["PER"], constrained_loss="yes")


def test_teacher_forced_allowed_is_what_decoding_allows_after_the_gold_prefix() -> None:
    t = tagger_for("baseline")
    t.model.config.entity_structure = "flat"
    batch = encode_sentences(MIXED[:4], t.encoder, t.vocab)
    labels, word_mask = batch.labels, batch.words.word_mask.bool()
    allowed = teacher_forced_allowed(t.model, labels, word_mask)
    assert allowed.shape == (*labels.shape, t.model.pointer_offset + word_mask.shape[1])
    real = labels != PAD
    gold = labels.clamp(min=0)
    assert bool(allowed.gather(2, gold.unsqueeze(-1)).squeeze(-1)[real].all())  # gold is always allowed
    st = DecodeState.start(t.model, word_mask)
    st.budget = torch.full_like(st.budget, 10_000)  # the budget aside, as in training
    for step in range(labels.shape[1]):  # step by step, as greedy decoding would see it
        expected = allowed_mask(t.model, st, word_mask, step)
        rows = real[:, step]
        gold_here = torch.nn.functional.one_hot(gold[:, step], expected.shape[1]).bool()
        assert torch.equal(allowed[rows, step], (expected | gold_here)[rows])
        st = advance(t.model, st, gold[:, step])
    # inside an open flat entity only the next word or a type is allowed: few choices, far fewer than the vocabulary
    assert allowed[real].float().sum(-1).min() < allowed.shape[-1] / 2


@pytest.mark.parametrize("variant", ["baseline", "full"])
def test_constrained_loss_is_the_cross_entropy_over_allowed_outputs_and_no_larger(variant: str) -> None:
    t = tagger_for(variant)
    t.model.config.entity_structure = "flat"
    t.model.eval()  # no dropout: both losses see the same logits
    inputs = encode_sentences(MIXED, t.encoder, t.vocab).model_inputs()
    with torch.no_grad():
        t.model.config.constrained_loss = False
        plain = t.model(**inputs)
        t.model.config.constrained_loss = True
        constrained = t.model(**inputs)
    assert torch.isfinite(constrained.entity_loss)
    assert float(constrained.entity_loss) < float(plain.entity_loss)
    labels = inputs["labels"]
    allowed = teacher_forced_allowed(t.model, labels, inputs["word_mask"].bool())
    masked = plain.logits.masked_fill(~allowed, float("-inf"))
    expected = torch.nn.functional.cross_entropy(masked.reshape(-1, masked.shape[-1]), labels.reshape(-1),
                                                 ignore_index=PAD)
    assert float(constrained.entity_loss) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("variant", ["baseline", "full"])
def test_pointer_state_input_starts_as_bartner_and_learns(variant: str, tmp_path: Path) -> None:
    plain = Tagger.from_backbone("tiny-random", TYPES, seed=3, variant=variant, pointer_state_input=False)
    fed = Tagger.from_backbone("tiny-random", TYPES, seed=3, variant=variant, pointer_state_input=True)
    # the projection starts at zero and draws nothing from the random state: the other weights are the same
    shared = {k: v for k, v in fed.model.state_dict().items() if not k.startswith("pointer_state.")}
    assert all(torch.equal(v, plain.model.state_dict()[k]) for k, v in shared.items())
    assert set(fed.model.state_dict()) - set(shared) == {"pointer_state.weight", "pointer_state.bias"}
    a, b = _state(plain), _state(fed)
    assert greedy_decode(plain.model, a) == greedy_decode(fed.model, b)
    fed.model.train()
    out = fed.model(**encode_sentences(MIXED, fed.encoder, fed.vocab).model_inputs())
    out.loss.backward()
    assert float(fed.model.pointer_state.weight.grad.abs().sum()) > 0
    with torch.no_grad():
        fed.model.pointer_state.weight.normal_(std=0.5)
    fed.save(tmp_path / "m")
    back = Tagger.load(tmp_path / "m", device="cpu")
    assert back.model.config.pointer_state_input is True
    assert torch.equal(back.model.pointer_state.weight, fed.model.pointer_state.weight)
    assert greedy_decode(back.model, _state(back)) == greedy_decode(fed.model, _state(fed))


def test_both_are_on_for_a_new_model_and_off_for_a_folder_saved_before_they_existed(tmp_path: Path) -> None:
    import json

    t = Tagger.from_backbone("tiny-random", TYPES, seed=1, pointer_state_input=False)
    assert t.model.config.constrained_loss and Tagger.from_backbone("tiny-random", TYPES).model.pointer_state is not None
    t.save(tmp_path / "old")
    config = tmp_path / "old" / "config.json"
    saved = json.loads(config.read_text())
    for key in ("pointer_state_input", "constrained_loss"):
        del saved[key]  # as a folder written before the settings existed
    config.write_text(json.dumps(saved))
    old = Tagger.load(tmp_path / "old", device="cpu")
    assert (old.model.config.pointer_state_input, old.model.config.constrained_loss) == (False, False)
    assert old.model.pointer_state is None
    assert greedy_decode(old.model, _state(old)) == greedy_decode(t.model, _state(t))
