"""Train → save → load → predict, on a tiny random BART (flair-style: one base, one subclass per setting).

`ModelRoundTrip` holds the generic checks; a subclass names the model settings. The paper's variants
can subclass it with their own `model_config`.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.model.corpus import Entity, Sentence
from typeprior.model.metrics import score
from typeprior.model.persistence import ModelFolderError
from typeprior.model.predict import Tagger
from typeprior.model.training import Trainer, TrainingConfig, TrainingError, train

S, E = Sentence, Entity

MIXED = [
    S("John Smith lives in New York".split(), [E.span(0, 2, "PER"), E.span(4, 6, "LOC")]),
    S("Mary visited Paris last year".split(), [E.span(0, 1, "PER"), E.span(2, 3, "LOC")]),
    S("the Bank of England raised rates".split(), [E.span(1, 4, "ORG"), E.span(3, 4, "LOC")]),  # nested
    S("University of Oxford is old".split(), [E.span(0, 3, "ORG"), E.span(2, 3, "LOC")]),  # nested
    S("pain in left and right knee".split(), [E.of([0, 2, 5], "ADR"), E.of([0, 4, 5], "ADR")]),  # discontinuous
    S("severe muscle and joint pain".split(), [E.of([1, 4], "ADR"), E.of([3, 4], "ADR")]),  # discontinuous
    S("nothing to see here".split(), []),
    S("Berlin and Rome are cities".split(), [E.span(0, 1, "LOC"), E.span(2, 3, "LOC")]),
]


def fast_training(**overrides) -> TrainingConfig:
    settings = dict(epochs=30, batch_size=4, lr_new=3e-3, warmup=0.05, progress=False, device="cpu")
    settings.update(overrides)
    return TrainingConfig.load(**settings)


class ModelRoundTrip:
    """Generic checks for one model setting; subclasses set `backbone` and `model_config`."""

    backbone = "tiny-random"
    model_config: dict = {}
    training: dict = {}

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls, tmp_path_factory) -> tuple[Path, object]:
        out = tmp_path_factory.mktemp("run")
        result = train(MIXED, MIXED, cls.backbone, out, fast_training(**cls.training), resume=False, **cls.model_config)
        return out, result

    @pytest.fixture(scope="class")
    @classmethod
    def tagger(cls, trained) -> Tagger:
        return Tagger.load(trained[0])

    def test_learns_flat_nested_and_discontinuous_to_f1_one(self, trained, tagger: Tagger) -> None:
        out, result = trained
        assert result.best_f1 == 1.0
        preds = tagger.predict_tokens([s.tokens for s in MIXED])
        scores = score(MIXED, preds.entities)
        assert scores.total.f1 == 1.0
        assert {k for k, c in scores.per_kind.items() if c.gold} == {"flat", "nested", "discontinuous"}
        history = json.loads((out / "history.json").read_text())
        assert history["best_f1"] == 1.0 and len(history["history"]) == fast_training(**self.training).epochs
        assert tagger.model.config.entity_structure == "discontinuous"  # what MIXED holds: decoding is not limited

    def test_save_load_gives_identical_predictions(self, tagger: Tagger, tmp_path: Path) -> None:
        tagger.save(tmp_path / "copy")
        again = Tagger.load(tmp_path / "copy")
        for beams in (1, 3):
            a = tagger.predict([s.tokens for s in MIXED], num_beams=beams)
            b = again.predict([s.tokens for s in MIXED], num_beams=beams)
            assert a == b
        for (name, p), q in zip(tagger.model.state_dict().items(), again.model.state_dict().values()):
            assert torch.equal(p, q), name
        assert again.model.config.to_dict() == tagger.model.config.to_dict()

    def test_predict_raw_text_gives_character_offsets(self, tagger: Tagger) -> None:
        text = "John  Smith lives in New   York"
        result = tagger.predict(text)
        assert result["tokens"] == MIXED[0].tokens
        got = {(e["type"], e["start"], e["end"], text[e["start"] : e["end"]]) for e in result["entities"]}
        assert got == {("PER", 0, 11, "John  Smith"), ("LOC", 21, 31, "New   York")}
        disc = tagger.predict(["pain in left and right knee"])[0]["entities"]
        assert [(e["spans"], e["text"]) for e in disc] == [
            ([[0, 4], [8, 12], [23, 27]], "pain left knee"),
            ([[0, 4], [17, 27]], "pain right knee"),
        ]
        assert tagger.predict("") == {"text": "", "tokens": [], "entities": []}


class TestBartnerTinyRandom(ModelRoundTrip):
    """The BARTNER baseline."""


class TestBartnerWordShape(ModelRoundTrip):
    """With the optional word-shape embedding."""

    model_config = {"word_shape": True}


class Interrupted(Exception):
    pass


@pytest.mark.slow
class TestBartnerMiniLM(ModelRoundTrip):
    """The offline default backbone end to end (about a minute on one CPU thread)."""

    backbone = "minilm"
    training = {"epochs": 20, "lr_backbone": 5e-5, "lr_new": 5e-4}


def test_training_resumes_from_its_checkpoint_exactly(tmp_path: Path) -> None:
    data = MIXED[:4]
    straight = train(data, data, "tiny-random", tmp_path / "a", fast_training(epochs=3, keep_checkpoint=True),
                     resume=False)

    def crash_after_second_epoch(record: dict) -> None:
        if record["epoch"] == 1:
            raise Interrupted

    tagger = Tagger.from_backbone("tiny-random", sorted({e.type for s in data for e in s.entities}), seed=42)
    with pytest.raises(Interrupted):
        Trainer(tagger, fast_training(epochs=3), tmp_path / "b").fit(data, data, on_epoch=crash_after_second_epoch)
    assert (tmp_path / "b" / "checkpoint").is_dir()  # an interrupted run keeps what resuming needs
    resumed = train(data, data, "tiny-random", tmp_path / "b", fast_training(epochs=3, keep_checkpoint=True),
                    resume=True)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2]
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], rel=1e-5)
    a = Tagger.load(tmp_path / "a" / "checkpoint", device="cpu").model
    b = Tagger.load(tmp_path / "b" / "checkpoint", device="cpu").model
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6)


def test_training_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no entities"):
        train([S(["a", "b"])], None, "tiny-random", tmp_path, fast_training(epochs=1))
    with pytest.raises(TrainingError, match="epochz: unknown setting"):
        TrainingConfig.load(epochz=3)
    for bad in ({"lr_new": float("nan")}, {"batch_size": -1}, {"warmup": 1.5}, {"num_beams": 0}, {"device": "tpu"}):
        with pytest.raises(TrainingError, match=next(iter(bad))):
            TrainingConfig.load(**bad)


def test_a_pickled_model_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    torch.save({"w": torch.zeros(1)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelFolderError, match="pickle"):
        Tagger.load(tmp_path)
    with pytest.raises(ModelFolderError, match="does not exist"):
        Tagger.load(tmp_path / "absent")


def test_cli_train_evaluate_predict(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(s.to_json()) for s in MIXED) + "\n")
    out = tmp_path / "run"
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["train", "--train", str(data), "--dev", str(data), "--backbone", "tiny-random", "--epochs", "2",
         "--lr-new", "3e-3", "--batch-size", "4", "--out", str(out), "--quiet", "--device", "cpu"],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 2 and Path(summary["model"]).is_dir()

    r = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(data)])
    assert r.exit_code == 0, r.output
    scores = json.loads(r.stdout)
    assert {"p", "r", "f1", "per_type", "per_kind"} <= set(scores)

    r = runner.invoke(app, ["predict", "--model", str(out / "model")], input="John Smith lives in New York\nParis\n")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [x["text"] for x in lines] == ["John Smith lives in New York", "Paris"]

    r = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "nothing"), "--data", str(data)])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_type_priors_travel_with_the_model_folder(tmp_path: Path) -> None:
    """E_T is a buffer of the model's weights, so the folder needs no file of its own for it."""
    vectors = torch.randn(2, 384)
    tagger = Tagger.from_backbone("tiny-random", ["LOC", "PER"], type_vectors=vectors, variant="rp-eta")
    tagger.model.config.priors_build = {"source": "test", "types": ["LOC", "PER"]}
    tagger.save(tmp_path / "m")
    again = Tagger.load(tmp_path / "m", device="cpu")
    assert torch.equal(again.model.type_embeddings.vectors(), vectors)
    assert again.model.config.type_priors_from_kb
    assert again.model.config.priors_build == {"source": "test", "types": ["LOC", "PER"]}
    assert sorted(p.name for p in (tmp_path / "m").iterdir() if "safetensors" in p.name) == ["model.safetensors"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # nothing left aside


def test_variants_pick_their_model_class() -> None:
    from typeprior.model.generator import PointerNER, model_class
    from typeprior.model.variants import UnknownVariantError

    assert model_class("baseline") is PointerNER
    with pytest.raises(UnknownVariantError, match="not-yet-written"):
        model_class("not-yet-written")
    tagger = Tagger.from_backbone("tiny-random", ["LOC"], variant="baseline", relation_weight=0.5)
    assert (tagger.model.config.variant, tagger.model.config.relation_weight) == ("baseline", 0.5)


def test_training_records_the_entity_structure_that_decoding_keeps_to(tmp_path: Path) -> None:
    from typeprior.model.corpus.document import entity_structure

    flat = [s for s in MIXED if s.is_flat]
    nested = flat + MIXED[2:4]
    assert (entity_structure(flat), entity_structure(nested), entity_structure(MIXED)) == (
        "flat", "nested", "discontinuous")
    assert entity_structure([]) == "flat"
    result = train(flat, None, "tiny-random", tmp_path / "flat", fast_training(epochs=1), resume=False)
    assert Tagger.load(result.model_dir).model.config.entity_structure == "flat"
    with pytest.raises(ValueError, match="entity_structure: .*'mixed'"):
        Tagger.from_backbone("tiny-random", ["PER"], entity_structure="mixed")

    data = tmp_path / "flat.jsonl"
    data.write_text("".join(json.dumps(s.to_json()) + "\n" for s in flat))
    runner = CliRunner()
    base = ["evaluate", "--model", str(result.model_dir), "--data", str(data)]
    assert runner.invoke(app, [*base, "--entity-structure", "discontinuous"]).exit_code == 0
    bad = runner.invoke(app, [*base, "--entity-structure", "mixed"])
    assert bad.exit_code == 2 and "entity structure 'mixed'" in bad.output
    warehouse = tmp_path / "w.duckdb"
    recorded = runner.invoke(app, [*base, "--entity-structure", "nested", "--corpus", "demo", "--warehouse",
                                   str(warehouse)])
    assert recorded.exit_code == 0, recorded.output
    from typeprior.warehouse import open_warehouse

    with open_warehouse(warehouse, read_only=True) as wh:
        config = json.loads(wh.query("SELECT config FROM runs WHERE kind = 'evaluate'")[0]["config"])
    assert config["entity_structure"] == "nested"
