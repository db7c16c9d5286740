"""Entity-level scores and the error breakdown, cross-checked against seqeval on flat BIO data."""
from __future__ import annotations

import random

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from typeprior.model.corpus import Entity, Sentence, read_corpus
from typeprior.model.corpus.tagging import decode, encode
from typeprior.model.metrics import ERROR_CLASSES, error_breakdown, score

E = Entity


def sentence(n: int, *entities: Entity) -> Sentence:
    return Sentence([f"w{i}" for i in range(n)], list(entities))


def test_micro_scores_by_hand():
    gold = [sentence(6, E((0, 1), "PER"), E((3,), "LOC")), sentence(3, E((2,), "ORG"))]
    pred = [[E((0, 1), "PER"), E((3,), "ORG"), E((5,), "LOC")], [E((2,), "ORG")]]
    s = score(gold, pred)
    assert (s.total.tp_pred, s.total.pred, s.total.gold) == (2, 4, 3)
    d = s.to_dict()
    assert (d["tp"], d["fp"], d["fn"]) == (2, 2, 1)
    assert d["p"] == pytest.approx(0.5) and d["r"] == pytest.approx(2 / 3)
    assert d["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert d["per_type"]["PER"]["f1"] == 1.0
    assert d["per_type"]["LOC"]["r"] == 0.0 and d["per_type"]["LOC"]["pred"] == 1
    assert d["per_type"]["ORG"]["p"] == 0.5 and d["per_type"]["ORG"]["r"] == 1.0


def test_duplicates_count_once_and_sentences_are_accepted():
    gold = [sentence(3, E((0,), "X"))]
    dup = [sentence(3, E((0,), "X"), E((0,), "X"))]
    assert score(gold, dup).to_dict()["p"] == 1.0
    assert score(gold, [[E((0,), "X"), E((0,), "X"), E((1,), "X")]]).total.pred == 2


def test_empty_inputs_score_zero_without_dividing_by_zero():
    assert score([sentence(2)], [[]]).to_dict()["f1"] == 0.0


def test_per_kind_recall_by_gold_kind_precision_by_predicted_kind():
    gold = [sentence(6, E((0, 1, 2), "ORG"), E((2,), "GPE"), E((0, 4), "ADR"))]
    pred = [[E((0, 1, 2), "ORG"), E((0, 4), "ADR"), E((5,), "GPE")]]
    k = score(gold, pred).to_dict()["per_kind"]
    # gold: ORG and GPE are nested (they share token 2), ADR is discontinuous
    assert (k["nested"]["gold"], k["nested"]["tp_gold"], k["nested"]["r"]) == (2, 1, 0.5)
    # predicted: ORG overlaps the predicted ADR (token 0), so ORG is nested within its own set; GPE is flat
    assert (k["nested"]["pred"], k["nested"]["tp_pred"]) == (1, 1)
    assert (k["flat"]["gold"], k["flat"]["pred"], k["flat"]["tp_pred"], k["flat"]["p"]) == (0, 1, 0, 0.0)
    assert (k["discontinuous"]["p"], k["discontinuous"]["r"]) == (1.0, 1.0)


def test_misaligned_predictions_are_refused():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predictions"):
        score([sentence(1), sentence(1)], [[]])
    with pytest.raises(ValueError, match="predicted tokens differ"):
        score([sentence(2)], [Sentence(["a", "b"])])


def test_error_breakdown_classes():
    gold = [sentence(12, E((0, 1), "PER"), E((3, 4), "LOC"), E((6,), "ORG"), E((8, 9), "ORG"), E((11,), "MISC"))]
    pred = [[
        E((0, 1), "PER"),   # correct
        E((3,), "LOC"),     # boundary: overlaps LOC 3-4
        E((6,), "PER"),     # type: same indices as ORG 6
        E((9, 10), "LOC"),  # both: overlaps ORG 8-9 with another type
        E((7,), "X"),       # spurious
    ]]                      # MISC 11 is missed
    counts = error_breakdown(gold, pred)
    assert counts == {"correct": 1, "boundary": 1, "type": 1, "both": 1, "spurious": 1, "missed": 1}
    assert tuple(counts) == ERROR_CLASSES


def test_error_breakdown_totals_match_scores():
    rng = random.Random(3)

    def some(n: int) -> list[Entity]:
        starts = [rng.randrange(n) for _ in range(rng.randint(0, 3))]
        return [E.span(a, rng.randint(a + 1, n), rng.choice("AB")) for a in starts]

    gold, pred = [], []
    for _ in range(40):
        n = rng.randint(1, 8)
        gold.append(sentence(n, *some(n)))
        pred.append(some(n))
    counts, s = error_breakdown(gold, pred), score(gold, pred)
    assert counts["correct"] == s.total.tp_pred
    assert sum(counts[c] for c in ERROR_CLASSES if c != "missed") == s.total.pred
    assert counts["missed"] <= s.total.gold - s.total.tp_gold


def test_error_breakdown_compares_with_the_best_overlapping_gold():
    gold = [sentence(6, E((0, 1, 2), "ORG"), E((2, 3), "LOC"), E((5,), "PER"))]
    # overlaps the correctly found ORG with its own type: a boundary error, not a spurious entity
    assert error_breakdown(gold, [[E((0, 1, 2), "ORG"), E((1,), "ORG")]])["boundary"] == 1
    # prefers the overlapping gold of its own type (LOC) over the larger overlap with ORG
    counts = error_breakdown(gold, [[E((1, 2), "LOC")]])
    assert (counts["boundary"], counts["both"], counts["missed"]) == (1, 0, 2)
    # one prediction touches one gold entity only: ORG and PER are missed
    counts = error_breakdown(gold, [[E((1, 2, 3), "PER")]])
    assert (counts["both"], counts["missed"]) == (1, 2)


def as_sentences(tag_lists: list[list[str]]) -> list[Sentence]:
    return [sentence(len(t), *[E.span(a, b, ty) for a, b, ty in decode(t, "bio", strict=False)]) for t in tag_lists]


def check_against_seqeval(gold_tags: list[list[str]], pred_tags: list[list[str]]) -> None:
    s = score(as_sentences(gold_tags), as_sentences(pred_tags)).to_dict()
    assert s["p"] == pytest.approx(precision_score(gold_tags, pred_tags))
    assert s["r"] == pytest.approx(recall_score(gold_tags, pred_tags))
    assert s["f1"] == pytest.approx(f1_score(gold_tags, pred_tags))
    report = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0)
    for type_, ours in s["per_type"].items():
        if ours["gold"]:
            assert ours["f1"] == pytest.approx(report[type_]["f1-score"]), type_
            assert ours["gold"] == report[type_]["support"]


def test_matches_seqeval_on_random_tag_sequences():
    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 15))] for _ in range(300)]
    pred = [[t if rng.random() < 0.8 else rng.choice(tags) for t in seq] for seq in gold]
    check_against_seqeval(gold, pred)


@pytest.mark.data
def test_matches_seqeval_on_wnut17_dev(shared_data):
    corpus = read_corpus(shared_data / "wnut17/emerging.dev.conll")
    gold = [encode([(e.start, e.last + 1, e.type) for e in s.entities], len(s.tokens)) for s in corpus]
    rng = random.Random(1)
    labels = sorted({t for seq in gold for t in seq})
    pred = [[t if rng.random() < 0.9 else rng.choice(labels) for t in seq] for seq in gold]
    check_against_seqeval(gold, pred)
    assert score(corpus, corpus).to_dict()["f1"] == 1.0
