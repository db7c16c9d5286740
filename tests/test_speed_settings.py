"""Issue 15's speed settings: length-bucketed batches, bf16 autocast on CPU, the order of predictions, resuming."""
from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
import torch

from typeprior.model import precision
from typeprior.model import predict as predict_module
from typeprior.model.corpus import Entity, Sentence
from typeprior.model.distributed import DataParallel, epoch_order
from typeprior.model.predict import Tagger
from typeprior.model.training import Trainer, TrainingConfig, TrainingError, train

S, E = Sentence, Entity
_RNG = random.Random(5)
LENGTHS = [_RNG.randint(1, 60) for _ in range(203)]


def spread(batches: list[list[int]]) -> float:
    return sum(max(LENGTHS[i] for i in b) - min(LENGTHS[i] for i in b) for b in batches) / len(batches)


@pytest.mark.parametrize("pool", [0, 1, 4, 64])
def test_bucketing_keeps_every_item_once_and_is_seeded_per_epoch(pool: int) -> None:
    n, size = len(LENGTHS), 8
    orders = {(seed, epoch): epoch_order(n, seed, epoch, size, LENGTHS, pool) for seed in (1, 2) for epoch in (0, 1)}
    for order in orders.values():
        assert sorted(order) == list(range(n))
    assert orders[(1, 0)] == epoch_order(n, 1, 0, size, LENGTHS, pool)  # the same batches on a resume
    assert len({tuple(o) for o in orders.values()}) == 4
    items = list(range(n))
    batches = DataParallel().batches(items, size, seed=1, epoch=0, lengths=LENGTHS, pool=pool)
    assert [len(b) for b in batches] == [size] * (n // size) + [n % size]  # all full but the last
    assert sorted(i for b in batches for i in b) == items


def test_no_bucketing_is_the_plain_seeded_shuffle() -> None:
    order = list(range(50))
    random.Random(7 * 1000 + 3).shuffle(order)
    assert epoch_order(50, 7, 3) == order
    assert epoch_order(50, 7, 3, 8, LENGTHS[:50], 0) == order
    assert DataParallel().batches(list(range(50)), 8, 7, 3) == [order[k : k + 8] for k in range(0, 50, 8)]


def test_bucketed_batches_hold_sentences_of_like_length() -> None:
    items = list(range(len(LENGTHS)))
    plain = DataParallel().batches(items, 8, seed=1, epoch=0)
    bucketed = DataParallel().batches(items, 8, seed=1, epoch=0, lengths=LENGTHS, pool=64)
    assert spread(bucketed[:-1]) < 0.2 * spread(plain[:-1])


def test_bucketed_ranks_take_shares_of_the_single_process_batches() -> None:
    items = list(range(len(LENGTHS)))
    one = DataParallel().batches(items, 8, seed=3, epoch=2, lengths=LENGTHS, pool=4)
    ranks = [DataParallel(rank=r, world_size=2).batches(items, 8, seed=3, epoch=2, lengths=LENGTHS, pool=4) for r in (0, 1)]
    assert [sorted(a + b) for a, b in zip(*ranks)][:-1] == [sorted(b) for b in one][:-1]


def test_the_trainer_buckets_by_words_when_asked() -> None:
    sentences = [S(["w"] * n) for n in LENGTHS]
    tagger = Tagger.from_backbone("tiny-random", ["PER"], seed=0)
    on = Trainer(tagger, TrainingConfig.load(batch_size=8, bucket_batches=64, progress=False, device="cpu"), "unused")
    off = Trainer(tagger, TrainingConfig.load(batch_size=8, bucket_batches=0, progress=False, device="cpu"), "unused")
    lengths = lambda batches: [[len(s.tokens) for s in b] for b in batches]  # noqa: E731
    assert lengths(on._batches(sentences, 0)) == [[LENGTHS[i] for i in b] for b in
                                                  DataParallel().batches(list(range(len(LENGTHS))), 8, 42, 0, LENGTHS, 64)]
    assert lengths(off._batches(sentences, 0)) == [[LENGTHS[i] for i in b] for b in
                                                   DataParallel().batches(list(range(len(LENGTHS))), 8, 42, 0)]
    with pytest.raises(TrainingError, match="bucket_batches"):
        TrainingConfig.load(bucket_batches=-1)


def test_predictions_come_back_in_input_order(monkeypatch) -> None:
    """Batches are sorted by length: a fake decoder that points at each row's last word shows where results land."""
    tagger = Tagger.from_backbone("tiny-random", ["PER", "LOC"], seed=0)
    offset = tagger.model.pointer_offset

    def last_word(model, state, num_beams=None):
        return [[offset + int(m.sum()) - 1, 1, 0] for m in state.word_mask]

    monkeypatch.setattr(predict_module, "decode", last_word)
    lengths = [7, 1, 12, 3, 3, 9, 2, 15, 4]
    sentences = [S([f"w{i}"] * n, [E.span(n - 1, n, "PER")]) for i, n in enumerate(lengths)]
    preds = tagger.predict_tokens([s.tokens for s in sentences], batch_size=2)
    assert [[e.indices for e in es] for es in preds.entities] == [[(n - 1,)] for n in lengths]
    results = tagger.predict([s.tokens for s in sentences], batch_size=3)
    assert [r["tokens"] for r in results] == [s.tokens for s in sentences]
    assert tagger.evaluate(sentences, batch_size=4)["f1"] == 1.0


@pytest.mark.parametrize(("setting", "mode"), [("auto", "auto"), (True, "auto"), (False, "off"), ("off", "off"),
                                               ("bf16", "bf16"), ("BF16", "bf16"), ("fp16", "fp16")])
def test_mixed_precision_settings(setting, mode) -> None:
    assert precision.normalise(setting) == mode
    assert TrainingConfig.load(mixed_precision=setting).mixed_precision == setting


def test_an_unknown_mixed_precision_is_refused() -> None:
    with pytest.raises(TrainingError, match="mixed_precision"):
        TrainingConfig.load(mixed_precision="int8")


def test_cpu_autocast_follows_the_cpu(monkeypatch, caplog) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: True)
    assert precision.amp_dtype("auto", "cpu") is None  # CPU bf16 is opt-in (it collapsed a long training)
    assert precision.amp_dtype("bf16", "cpu") is torch.bfloat16
    assert precision.amp_dtype("off", "cpu") is None
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: False)
    with caplog.at_level(logging.WARNING, logger="typeprior.model.precision"):
        assert precision.amp_dtype("auto", "cpu") is None
        assert not caplog.records  # auto falls back quietly
        assert precision.amp_dtype("bf16", "cpu") is None
        assert precision.amp_dtype("fp16", "cpu") is None
    assert len(caplog.records) == 2 and "float32" in caplog.records[0].getMessage()


DATA = [
    S("John Smith lives in New York".split(), [E.span(0, 2, "PER"), E.span(4, 6, "LOC")]),
    S("Mary visited Paris".split(), [E.span(0, 1, "PER"), E.span(2, 3, "LOC")]),
    S("Berlin and Rome are large old cities".split(), [E.span(0, 1, "LOC"), E.span(2, 3, "LOC")]),
    S("Peter met Anna".split(), [E.span(0, 1, "PER"), E.span(2, 3, "PER")]),
    S("rain".split(), []),
    S("we flew from Oslo to Rome last week with Tom".split(), [E.span(3, 4, "LOC"), E.span(5, 6, "LOC"), E.span(9, 10, "PER")]),
]


def settings(**overrides) -> TrainingConfig:
    values = dict(epochs=3, batch_size=2, lr_new=3e-3, warmup=0.05, progress=False, device="cpu", seed=3,
                  bucket_batches=2, mixed_precision="bf16")
    values.update(overrides)
    return TrainingConfig.load(**values)


@pytest.mark.parametrize("supported", [True, False])
def test_autocast_is_honoured_and_weights_gradients_and_adam_stay_float32(monkeypatch, supported: bool) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: supported)
    tagger = Tagger.from_backbone("tiny-random", ["LOC", "PER"], seed=0)
    trainer = Trainer(tagger, settings(), "unused")
    assert trainer.amp_dtype == (torch.bfloat16 if supported else None)
    from typeprior.model.training import make_optimizer

    opt = make_optimizer(trainer.model, trainer.cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    seen = {}
    hook = trainer.model.bart.encoder.layers[0].fc1.register_forward_hook(lambda m, i, o: seen.update(dtype=o.dtype))
    losses = trainer._step(DATA[:2], opt, sched)
    hook.remove()
    assert seen["dtype"] == (torch.bfloat16 if supported else torch.float32)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert all(t.dtype == torch.float32 for st in opt.state.values() for k, t in st.items() if k != "step")
    assert tagger.mixed_precision == "bf16"  # dev evaluation decodes under the same setting
    assert len(tagger.predict_tokens([s.tokens for s in DATA]).entities) == len(DATA)


class Interrupted(Exception):
    pass


def test_bucketed_bf16_training_resumes_to_identical_weights(tmp_path: Path) -> None:
    straight = train(DATA, DATA, "tiny-random", tmp_path / "a", settings(keep_checkpoint=True), resume=False)

    def crash(record: dict) -> None:
        if record["epoch"] == 1:
            raise Interrupted

    tagger = Tagger.from_backbone("tiny-random", ["LOC", "PER"], seed=3)
    with pytest.raises(Interrupted):
        Trainer(tagger, settings(), tmp_path / "b").fit(DATA, DATA, on_epoch=crash)
    resumed = train(DATA, DATA, "tiny-random", tmp_path / "b", settings(keep_checkpoint=True), resume=True)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], rel=1e-5)
    a = Tagger.load(tmp_path / "a" / "checkpoint", device="cpu").model
    b = Tagger.load(tmp_path / "b" / "checkpoint", device="cpu").model
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6), name
