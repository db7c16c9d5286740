"""Relation prediction task: labels, conditional layer norm, focal loss, padding and blockwise computation."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from typeprior.model.corpus.document import Entity, Sentence
from typeprior.model.relation import (
    BEGIN_END,
    IGNORE_INDEX,
    INSIDE,
    NONE,
    ConditionalLayerNorm,
    FocalLoss,
    RelationLabelError,
    RelationPrediction,
    batch_relation_labels,
    relation_labels,
    grid_blocks,
    length_groups,
    row_blocks,
    word_states,
)


def expected(n_words: int, length: int, inside: list[tuple[int, int]], begin_end: list[tuple[int, int]]) -> torch.Tensor:
    want = torch.full((n_words, n_words), IGNORE_INDEX)
    want[:length, :length] = NONE
    for cell in inside:
        want[cell] = INSIDE
    for cell in begin_end:
        want[cell] = BEGIN_END
    return want


def test_flat_labels_with_a_two_word_and_a_one_word_entity() -> None:
    s = Sentence("John Smith visited Paris today".split(), [Entity.span(0, 2, "PER"), Entity.span(3, 4, "LOC")])
    got = relation_labels(s, 7)
    # Two-word entity: Inside at (first, last) above the diagonal, Begin-End at (last, first) below it.
    assert torch.equal(got, expected(7, 5, inside=[(0, 1)], begin_end=[(1, 0), (3, 3)]))


def test_nested_labels() -> None:
    s = Sentence(
        "the University of Oxford campus".split(),
        [Entity.span(1, 4, "ORG"), Entity.span(3, 4, "LOC")],
    )
    got = relation_labels(s, 5)
    assert torch.equal(got, expected(5, 5, inside=[(1, 2), (2, 3)], begin_end=[(3, 1), (3, 3)]))


def test_discontinuous_labels_follow_entity_order() -> None:
    tokens = "severe pain in my left and right knee".split()
    s = Sentence(tokens, [Entity.of([1, 4, 7], "ADR"), Entity.of([1, 6, 7], "ADR"), Entity.span(0, 2, "ADR")])
    got = relation_labels(s, 8)
    want = expected(8, 8, inside=[(1, 4), (4, 7), (1, 6), (6, 7), (0, 1)], begin_end=[(7, 1), (1, 0)])
    assert torch.equal(got, want)


def test_entity_list_and_explicit_length() -> None:
    got = relation_labels([Entity.span(0, 2, "X")], 4, length=3)
    assert torch.equal(got, expected(4, 3, inside=[(0, 1)], begin_end=[(1, 0)]))
    assert (relation_labels([], 3) == NONE).all()


def test_labels_reject_entities_outside_the_grid() -> None:
    with pytest.raises(RelationLabelError, match=r"\[2, 3\]"):
        relation_labels([Entity.span(2, 4, "X")], 5, length=3)
    with pytest.raises(RelationLabelError, match="do not fit"):
        relation_labels(Sentence(["a", "b", "c"], [], id="s1"), 2)


def test_batch_labels_pad_to_the_longest_sentence() -> None:
    a = Sentence(["a", "b"], [Entity.span(0, 2, "X")])
    b = Sentence(["c", "d", "e", "f"], [Entity.span(3, 4, "Y")])
    got = batch_relation_labels([a, b])
    assert got.shape == (2, 4, 4)
    assert torch.equal(got[0], relation_labels(a, 4))
    assert (got[0, 2:] == IGNORE_INDEX).all() and got[1, 3, 3] == BEGIN_END


def test_conditional_layer_norm_matches_equations() -> None:
    torch.manual_seed(0)
    cln = ConditionalLayerNorm(6)
    torch.nn.init.normal_(cln.w_gamma.weight)
    torch.nn.init.normal_(cln.w_beta.weight)
    torch.nn.init.normal_(cln.gamma)
    torch.nn.init.normal_(cln.beta)
    h = torch.randn(2, 4, 6)
    got = cln(h, h)
    for b in range(2):
        for i in range(4):
            gain = cln.gamma + cln.w_gamma.weight @ h[b, i]
            bias = cln.beta + cln.w_beta.weight @ h[b, i]
            for j in range(4):
                x = h[b, j]
                mu = x.mean()
                sigma = torch.sqrt(((x - mu) ** 2).mean() + 1e-12)
                torch.testing.assert_close(got[b, i, j], gain * (x - mu) / sigma + bias)


def test_conditional_layer_norm_starts_as_layer_norm_of_h_j() -> None:
    cln = ConditionalLayerNorm(8)
    h = torch.randn(1, 3, 8)
    got = cln(h, h)
    plain = F.layer_norm(h, (8,), eps=1e-12)
    for i in range(3):
        torch.testing.assert_close(got[0, i], plain[0])


def test_focal_loss_matches_its_formula() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 3, 3, generator=g)
    target = torch.randint(0, 3, (2, 3, 3), generator=g)
    target[1, 2, :] = IGNORE_INDEX
    got = FocalLoss(alpha=5.0, gamma=1.0)(logits, target)
    terms = []
    for idx in torch.cartesian_prod(torch.arange(2), torch.arange(3), torch.arange(3)).tolist():
        t = int(target[tuple(idx)])
        if t == IGNORE_INDEX:
            continue
        z = logits[tuple(idx)].tolist()
        p = math.exp(z[t]) / sum(math.exp(v) for v in z)
        terms.append(-5.0 * (1 - p) ** 1.0 * math.log(p))
    assert got.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    ce = F.cross_entropy(logits.reshape(-1, 3), target.reshape(-1), ignore_index=IGNORE_INDEX)
    torch.testing.assert_close(FocalLoss(alpha=1.0, gamma=0.0)(logits, target), ce)
    assert FocalLoss(alpha=5.0, gamma=1.0)(logits, torch.full_like(target, IGNORE_INDEX)).item() == 0.0
    per_relation = FocalLoss(alpha=[1.0, 4.0, 9.0], gamma=1.0)(logits, target)
    weights = [1.0, 4.0, 9.0]
    kept = [int(t) for t in target.flatten().tolist() if t != IGNORE_INDEX]
    weighted = [w_over_5 * weights[t] for w_over_5, t in zip([x / 5.0 for x in terms], kept)]
    assert per_relation.item() == pytest.approx(sum(weighted) / len(weighted), rel=1e-5)
    torch.testing.assert_close(FocalLoss(alpha=[5.0, 5.0, 5.0], gamma=1.0)(logits, target), got)
    for bad in ([1.0, 2.0], [1.0, -1.0, 1.0], [1.0, float("nan"), 1.0]):
        with pytest.raises(ValueError, match="focal alpha"):
            FocalLoss(alpha=bad, gamma=1.0)


def tiny_task(**kw) -> RelationPrediction:
    torch.manual_seed(0)
    task = RelationPrediction(d_model=12, grid_dim=8, hidden=10, dropout=0.0, **{"alpha": 5.0, "gamma": 1.0, **kw})
    for p in task.parameters():  # leave the zero start so that every path carries a gradient
        torch.nn.init.normal_(p, std=0.3)
    return task


def test_gradients_reach_every_parameter() -> None:
    task = tiny_task()
    h = torch.randn(2, 5, 12)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    s = [Sentence(list("abcde"), [Entity.span(1, 3, "X")]), Sentence(list("abc"), [Entity.span(0, 1, "Y")])]
    loss = task.loss(task(h, mask), batch_relation_labels(s))
    loss.backward()
    for name, p in task.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_a_sentence_alone_and_in_a_padded_batch_gives_the_same_logits() -> None:
    task = tiny_task().eval()
    h = torch.randn(2, 7, 12)
    mask = torch.tensor([[True] * 4 + [False] * 3, [True] * 7])
    with torch.no_grad():
        batched = task(h, mask)
        alone = task(h[:1, :4], mask[:1, :4])
    torch.testing.assert_close(batched[0, :4, :4], alone[0], rtol=1e-5, atol=1e-5)
    predicted = RelationPrediction.predict(batched, mask)
    assert (predicted[0, 4:] == IGNORE_INDEX).all() and (predicted[0, :, 4:] == IGNORE_INDEX).all()


def test_blockwise_and_whole_grid_agree_with_gradients() -> None:
    h = torch.randn(2, 23, 12)
    mask = torch.ones(2, 23, dtype=torch.bool)
    mask[1, 17:] = False
    labels = torch.randint(0, 3, (2, 23, 23))
    results = []
    for cells in (None, 2 * 23 * 3):
        task = tiny_task(block_cells=cells)
        x = h.clone().requires_grad_(True)
        logits = task(x, mask)
        task.loss(logits, labels).backward()
        results.append((logits.detach(), x.grad, [p.grad for p in task.parameters()]))
    (l1, g1, p1), (l2, g2, p2) = results
    torch.testing.assert_close(l1, l2)
    torch.testing.assert_close(g1, g2)
    for a, b in zip(p1, p2):
        torch.testing.assert_close(a, b)


def test_row_blocks_cover_the_rows_within_the_budget() -> None:
    blocks = row_blocks(512, 512, 1 << 15, halo=6)
    assert blocks[0][0] == 0 and blocks[-1][1] == 512
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    assert all((e - s + 12) * 512 <= 1 << 15 for s, e in blocks)
    assert row_blocks(5, 10**9, 1) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert row_blocks(5, 10, None) == [(0, 5)]


def test_grid_blocks_group_short_sentences_and_cut_long_ones() -> None:
    assert grid_blocks(8, 64, 1 << 15) == [(0, 8, [(0, 64)])]
    assert grid_blocks(8, 128, 1 << 15) == [(0, 2, [(0, 128)]), (2, 4, [(0, 128)]), (4, 6, [(0, 128)]), (6, 8, [(0, 128)])]
    long = grid_blocks(3, 512, 1 << 15, halo=6)
    assert [(b0, b1) for b0, b1, _ in long] == [(0, 1), (1, 2), (2, 3)]
    rows = long[0][2]
    assert rows[0][0] == 0 and rows[-1][1] == 512 and all((e - s + 12) * 512 <= 1 << 15 for s, e in rows)
    assert grid_blocks(3, 7, None) == [(0, 3, [(0, 7)])]


def test_word_states_gathers_first_sub_words() -> None:
    tokens = torch.arange(2 * 6 * 3, dtype=torch.float).view(2, 6, 3)
    index = torch.tensor([[1, 2, 4], [1, 3, 0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    got = word_states(tokens, index, mask)
    assert torch.equal(got[0], tokens[0, [1, 2, 4]])
    assert torch.equal(got[1, :2], tokens[1, [1, 3]]) and (got[1, 2] == 0).all()


def test_length_groups_keep_padding_within_the_slack() -> None:
    lengths = [41, 12, 13, 9, 40, 14, 0, 11]
    groups = length_groups(lengths, block_cells=None)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        longest = max(lengths[i] for i in g)
        assert lengths[g[0]] == longest
        if len(g) > 1:
            assert len(g) * longest**2 <= 1.5 * sum(lengths[i] ** 2 for i in g)
    assert [lengths[i] for i in groups[0][:2]] == [41, 40]
    assert all(len(g) * max(lengths[i] for i in g) ** 2 <= 200 or len(g) == 1 for g in length_groups(lengths, 200))
