"""bench/relation_probe.py: relation-grid counts on hand-checked grids, and the probe on a tiny saved model."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from typeprior.model.corpus import Entity, Sentence
from typeprior.model.extended import relation_targets
from typeprior.model.predict import Tagger
from typeprior.model.relation import BEGIN_END, INSIDE, NONE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import relation_probe  # noqa: E402
from relation_probe import (  # noqa: E402
    ProbeError, RelationCounts, app, average_precision, cell_corpus, finished_relation_cells, probe_tagger,
)

TYPES = ["LOC", "PER"]
# Hand-counted gold grids (relations at (row, column)):
# A (5 words): PER [0, 1] -> Inside (0,1), Begin-End (1,0); LOC [3] -> Begin-End (3,3). 22 None pairs.
# B (4 words): LOC [0, 2] (discontinuous) -> Inside (0,2), Begin-End (2,0); PER [1, 2, 3] (nested: shares word 2)
#              -> Inside (1,2), (2,3), Begin-End (3,1). 11 None pairs.
# C (3 words): no entity, 9 None pairs.
SENTENCES = [
    Sentence(["Ann", "Lee", "went", "Rome", "today"], [Entity((0, 1), "PER"), Entity((3,), "LOC")]),
    Sentence(["north", "west", "side", "road"], [Entity((0, 2), "LOC"), Entity((1, 2, 3), "PER")]),
    Sentence(["nothing", "here", "."]),
]
GOLD_SUPPORT = {"None": 42, "Inside": 4, "Begin-End": 4, "Begin-End (diagonal)": 1, "Begin-End (lower)": 3}
GOLD_KINDS = {"flat": 2, "nested": 1, "discontinuous": 1}


def gold_grids() -> torch.Tensor:
    n = max(len(s.tokens) for s in SENTENCES)
    mask = torch.tensor([[i < len(s.tokens) for i in range(n)] for s in SENTENCES])
    return relation_targets(SENTENCES, mask)


def counted(predicted: torch.Tensor) -> RelationCounts:
    counts = RelationCounts()
    counts.add_grids(predicted, gold_grids())
    counts.add_entities(SENTENCES, predicted, [len(s.tokens) for s in SENTENCES])
    return counts


def test_predictions_equal_to_gold_score_one_everywhere() -> None:
    result = counted(gold_grids()).to_dict()
    assert result["pairs"] == 50 and result["accuracy"] == 1.0
    for name, support in GOLD_SUPPORT.items():
        rel = result["relations"][name]
        assert (rel["support"], rel["tp"], rel["fp"], rel["fn"]) == (support, support, 0, 0), name
        assert rel["p"] == rel["r"] == rel["f1"] == 1.0, name
    assert {k: (v["gold"], v["right"]) for k, v in result["entities_all_cells_right"].items()} == {
        k: (n, n) for k, n in GOLD_KINDS.items()
    }
    assert result["sentences"] == 3 and result["exact_grids"] == 3


def test_deliberately_wrong_cells_give_their_counts() -> None:
    predicted = gold_grids().clone()
    predicted[0, 0, 1] = NONE  # A: PER's Inside link missed      -> Inside fn, None fp
    predicted[0, 4, 4] = BEGIN_END  # A: "today" as a one-word entity -> Begin-End fp (diagonal), None fn
    predicted[1, 2, 0] = INSIDE  # B: LOC's Begin-End read as Inside -> Begin-End fn (lower), Inside fp
    result = counted(predicted).to_dict()
    rel = result["relations"]
    assert (rel["None"]["tp"], rel["None"]["fp"], rel["None"]["fn"]) == (41, 1, 1)
    assert (rel["Inside"]["tp"], rel["Inside"]["fp"], rel["Inside"]["fn"]) == (3, 1, 1)
    assert (rel["Begin-End"]["tp"], rel["Begin-End"]["fp"], rel["Begin-End"]["fn"]) == (3, 1, 1)
    diagonal, lower = rel["Begin-End (diagonal)"], rel["Begin-End (lower)"]
    assert (diagonal["tp"], diagonal["fp"], diagonal["fn"]) == (1, 1, 0)
    assert (lower["tp"], lower["fp"], lower["fn"]) == (2, 0, 1)
    assert rel["Inside"]["p"] == pytest.approx(0.75) and rel["Inside"]["r"] == pytest.approx(0.75)
    assert result["confusion"]["counts"] == [[41, 0, 1], [1, 3, 0], [0, 1, 3]]
    assert result["accuracy"] == pytest.approx(47 / 50)
    # flat: PER [0, 1] lost its Inside link, LOC [3] is right; LOC [0, 2] lost its Begin-End; PER [1, 2, 3] is right
    assert {k: v["right"] for k, v in result["entities_all_cells_right"].items()} == {
        "flat": 1, "nested": 1, "discontinuous": 0
    }
    assert result["exact_grids"] == 1  # only C


def test_average_precision_by_hand() -> None:
    # ranked: hit, miss, hit, miss -> recall 1/2 at precision 1, recall 2/2 at precision 2/3
    assert average_precision(torch.tensor([0.9, 0.8, 0.7, 0.1]), torch.tensor([True, False, True, False])) == \
        pytest.approx(0.5 + 0.5 * 2 / 3)
    # a tie is one threshold: both pairs come in together at precision 1/2
    assert average_precision(torch.tensor([0.5, 0.5, 0.2]), torch.tensor([True, False, False])) == pytest.approx(0.5)
    assert average_precision(torch.tensor([0.3, 0.2]), torch.tensor([False, False])) is None


def test_grids_that_label_different_pairs_are_refused() -> None:
    predicted = gold_grids().clone()
    predicted[2, 0, 3] = NONE  # a padded pair of C given a relation
    with pytest.raises(ProbeError, match="different word pairs"):
        RelationCounts().add_grids(predicted, gold_grids())


@pytest.fixture(scope="module")
def tiny_cell(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained rp-tra model saved as a cell, whose relation head always says None (bias 10 on None)."""
    cell = tmp_path_factory.mktemp("cells") / "toy-rp-tra-s0"
    tagger = Tagger.from_backbone("tiny-random", TYPES, seed=0, variant="rp-tra")
    with torch.no_grad():
        last = tagger.model.relation.classifier.mlp[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([10.0, 0.0, 0.0]))
    tagger.save(cell / "model")
    history = {"config": {"epochs": 1}, "best_epoch": 0, "best_f1": 0.0,
               "history": [{"epoch": 0, "loss": 1.0, "entity_loss": 0.9, "relation_loss": 0.3}]}
    (cell / "history.json").write_text(json.dumps(history))
    return cell


def test_probe_of_a_saved_model_counts_its_all_none_grid(tiny_cell: Path, tmp_path: Path) -> None:
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps(s.to_json()) + "\n" for s in SENTENCES))
    out = tmp_path / "probe.json"
    run = CliRunner().invoke(app, [str(tiny_cell), "--dev-file", str(dev), "--json-out", str(out), "--batch-size", "2"])
    assert run.exit_code == 0, run.output
    assert "| toy-rp-tra-s0 | Inside | 4 | 0 | 0 | 4 |" in run.output
    [result] = json.loads(out.read_text())["cells"]
    rel = result["relations"]
    assert result["pairs"] == 50 and result["variant"] == "rp-tra" and result["history_relation_loss"] is True
    assert {name: rel[name]["support"] for name in GOLD_SUPPORT} == GOLD_SUPPORT
    assert (rel["None"]["tp"], rel["None"]["fp"], rel["None"]["fn"]) == (42, 8, 0)
    assert (rel["Inside"]["tp"], rel["Inside"]["fn"], rel["Begin-End"]["tp"], rel["Begin-End"]["fn"]) == (0, 4, 0, 4)
    assert result["exact_grids"] == 1 and all(v["right"] == 0 for v in result["entities_all_cells_right"].values())
    p_none = torch.softmax(torch.tensor([10.0, 0.0, 0.0]), -1)[0].item()
    for gold, mean in result["mean_probability_by_gold"].items():
        assert mean["None"] == pytest.approx(p_none, rel=1e-5), gold
    # one distribution for every pair: ranking by it is no better than the share of the relation's pairs
    assert result["average_precision"] == pytest.approx({"None": 42 / 50, "Inside": 4 / 50, "Begin-End": 4 / 50})


def test_probe_of_an_untrained_head_keeps_the_gold_counts(tiny_cell: Path) -> None:
    """Whatever an untrained head predicts, the gold side and the pair total come from the trainer's targets."""
    tagger = Tagger.load(tiny_cell / "model", device="cpu")
    with torch.no_grad():
        tagger.model.relation.classifier.mlp[-1].weight.normal_(0, 1.0)
    counts = probe_tagger(tagger, SENTENCES, batch_size=3).to_dict()
    assert counts["pairs"] == 50 and counts["sentences"] == 3
    assert {name: counts["relations"][name]["support"] for name in GOLD_SUPPORT} == GOLD_SUPPORT
    predicted = sum(v["tp"] + v["fp"] for name, v in counts["relations"].items() if "(" not in name)
    assert predicted == 50


def test_a_model_without_relation_task_is_refused(tmp_path: Path) -> None:
    tagger = Tagger.from_backbone("tiny-random", TYPES, seed=0, variant="baseline")
    with pytest.raises(ProbeError, match="no relation prediction task"):
        probe_tagger(tagger, SENTENCES)


def test_finished_relation_cells_and_cell_corpus(tiny_cell: Path, tmp_path: Path) -> None:
    root = tiny_cell.parent
    baseline = root / "toy-baseline-s0"
    unfinished = root / "toy-full-s0"
    for folder, epochs, entry in ((baseline, 1, {"epoch": 0, "loss": 1.0}),
                                  (unfinished, 3, {"epoch": 0, "loss": 1.0, "relation_loss": 0.3})):
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "config.json").write_text("{}")
        (folder / "history.json").write_text(json.dumps({"config": {"epochs": epochs}, "history": [entry]}))
    assert finished_relation_cells(root) == [tiny_cell]
    assert cell_corpus(root / "conll2003-rp-tra-s42" / "model", ["conll2003", "cadec"]) == "conll2003"
    with pytest.raises(ProbeError, match="none of the protocol's corpora"):
        cell_corpus(tiny_cell, ["conll2003", "cadec"])
    assert relation_probe.history_has_relation_task(tmp_path) is None
