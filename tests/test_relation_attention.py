"""Token relation attention: distance buckets, padding invariance, exact blocks, bounded blocks at 512 words."""
from __future__ import annotations

import pytest
import torch
from transformers import BartConfig, BartModel

from typeprior.model.attention import AttentionExtras, attention_extras, install_extended_attention
from typeprior.model.relation import RelationGrid
from typeprior.model.relation_attention import RelationAttention, distance_buckets

D_MODEL, HEADS, LAYERS = 16, 2, 2


def tiny(block_cells: int | None = None, grid_dim: int = 6, reduce_dim: int = 5) -> tuple[RelationGrid, RelationAttention]:
    torch.manual_seed(0)
    grid = RelationGrid(D_MODEL, grid_dim, dropout=0.0)
    attn = RelationAttention(
        grid_dim, D_MODEL, LAYERS, HEADS, reduce_dim=reduce_dim, distance_dim=3, region_dim=2, dropout=0.0,
        block_cells=block_cells,
    )
    for p in [*grid.parameters(), *attn.parameters()]:  # leave the zero start so every path carries a gradient
        torch.nn.init.normal_(p, std=0.3)
    return grid, attn


def test_distance_buckets_follow_w2ner() -> None:
    rows = torch.tensor([0, 300])
    cols = torch.tensor([0, 1, 2, 3, 4, 299, 300, 600])
    got = distance_buckets(rows, cols)
    assert got[0].tolist() == [19, 10, 11, 11, 12, 18, 18, 18]
    assert got[1].tolist() == [9, 9, 9, 9, 9, 1, 19, 18]
    assert int(got.min()) >= 1 and int(got.max()) <= 19


def test_extras_have_one_key_value_per_word_and_layer() -> None:
    grid, attn = tiny()
    h = torch.randn(3, 6, D_MODEL)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4, [False] * 6])
    extras = attn(grid, h, mask)
    assert len(extras) == LAYERS
    for e in extras:
        assert e.key.shape == e.value.shape == (3, HEADS, 6, D_MODEL // HEADS)
        assert torch.equal(e.mask, mask)
    pooled = attn.pooled(grid, h, mask)
    assert pooled.shape == (3, 6, attn.pooled_dim)
    assert (pooled[1, 2:] == 0).all() and (pooled[2] == 0).all()


def test_a_sentence_alone_and_in_a_padded_batch_gives_the_same_outputs() -> None:
    grid, attn = tiny(block_cells=None)
    grid.eval(), attn.eval()
    h = torch.randn(2, 9, D_MODEL)
    mask = torch.tensor([[True] * 5 + [False] * 4, [True] * 9])
    with torch.no_grad():
        batched_grid = grid(h, mask)
        alone_grid = grid(h[:1, :5], mask[:1, :5])
        batched = attn(grid, h, mask)
        alone = attn(grid, h[:1, :5], mask[:1, :5])
        pooled_b = attn.pooled(grid, h, mask)
        pooled_a = attn.pooled(grid, h[:1, :5], mask[:1, :5])
    torch.testing.assert_close(batched_grid[0, :5, :5], alone_grid[0])
    torch.testing.assert_close(pooled_b[0, :5], pooled_a[0], rtol=1e-5, atol=1e-5)
    for b, a in zip(batched, alone):
        torch.testing.assert_close(b.key[0, :, :5], a.key[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(b.value[0, :, :5], a.value[0], rtol=1e-5, atol=1e-5)


def test_each_row_is_max_pooled_over_its_real_columns_of_all_dilations() -> None:
    """The pooled vector of word i is the max over real j of the concatenated dilation maps at (i, j) (eq. 6-7)."""
    import torch.nn.functional as F

    grid, attn = tiny(block_cells=None)
    grid.eval(), attn.eval()
    h = torch.randn(2, 7, D_MODEL) - 0.5
    mask = torch.tensor([[True] * 4 + [False] * 3, [True] * 7])
    with torch.no_grad():
        got = attn.pooled(grid, h, mask)
        states = grid.states(h)
        for b, n in ((0, 4), (1, 7)):
            r = grid.rows(states[b : b + 1, :n], mask[b : b + 1, :n], 0, n)
            idx = torch.arange(n)
            region = torch.where(idx[:, None] < idx[None, :], 1, 2)
            x = torch.cat([r, attn.distance(distance_buckets(idx, idx))[None], attn.region(region)[None]], -1)
            x = F.gelu(attn.reduce(x.permute(0, 3, 1, 2)))
            maps = []
            for conv in attn.convs:
                x = F.gelu(conv(x))
                maps.append(x)
            expected = torch.cat(maps, 1).amax(-1).transpose(1, 2)[0]  # [n, C']
            torch.testing.assert_close(got[b, :n], expected, rtol=1e-5, atol=1e-6)
            assert (got[b, n:] == 0).all()


@pytest.mark.parametrize("block_cells", [1, 21 * 15, 21 * 21])
def test_blocks_with_halo_agree_with_the_whole_grid(block_cells: int) -> None:
    h = torch.randn(2, 21, D_MODEL)
    mask = torch.ones(2, 21, dtype=torch.bool)
    mask[0, 15:] = False
    results = []
    for cells in (None, block_cells):
        grid, attn = tiny(block_cells=cells)
        x = h.clone().requires_grad_(True)
        pooled = attn.pooled(grid, x, mask)
        weight = torch.linspace(-1, 1, pooled.numel()).view_as(pooled)
        (pooled * weight).sum().backward()
        results.append((pooled.detach(), x.grad, [p.grad for p in [*grid.parameters(), *attn.parameters()]]))
    (p1, g1, w1), (p2, g2, w2) = results
    torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-5)
    for a, b in zip(w1, w2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_gradients_reach_every_parameter() -> None:
    grid, attn = tiny(block_cells=2 * 8 * 13)
    h = torch.randn(2, 8, D_MODEL)
    mask = torch.tensor([[True] * 8, [True] * 5 + [False] * 3])
    extras = attn(grid, h, mask)
    sum(e.key.sum() * 0.3 + e.value.pow(2).sum() for e in extras).backward()
    for name, p in [*grid.named_parameters("grid."), *attn.named_parameters("attn.")]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_a_512_word_grid_is_processed_in_bounded_blocks() -> None:
    budget = 1 << 15
    grid, attn = tiny(block_cells=budget, grid_dim=2, reduce_dim=2)
    seen: list[int] = []
    attn.reduce.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0] * args[0].shape[2] * args[0].shape[3]))
    h = torch.randn(1, 512, D_MODEL)
    with torch.no_grad():
        pooled = attn.pooled(grid, h, torch.ones(1, 512, dtype=torch.bool))
    assert pooled.shape == (1, 512, attn.pooled_dim) and torch.isfinite(pooled).all()
    assert len(seen) > 1 and max(seen) <= budget


def test_relation_keys_join_the_cross_attention_of_a_bart() -> None:
    torch.manual_seed(0)
    cfg = BartConfig(
        vocab_size=40, d_model=D_MODEL, encoder_layers=1, decoder_layers=LAYERS, encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        dropout=0.0, attention_dropout=0.0,
    )
    bart = install_extended_attention(BartModel(cfg).eval())
    grid, attn = tiny()
    ids = torch.randint(3, 40, (2, 6))
    src_mask = torch.tensor([[1] * 4 + [0] * 2, [1] * 6])
    dec = torch.randint(3, 40, (2, 3))
    words = torch.tensor([[True] * 3 + [False] * 3, [True] * 5 + [False]])
    with torch.no_grad():
        enc = bart.get_encoder()(input_ids=ids, attention_mask=src_mask).last_hidden_state
        extras = AttentionExtras(decoder_cross=attn(grid, enc, words))
        with attention_extras(extras):
            batched = bart(input_ids=ids, attention_mask=src_mask, decoder_input_ids=dec).last_hidden_state
            alone_enc = bart.get_encoder()(input_ids=ids[:1, :4]).last_hidden_state
            alone_extras = AttentionExtras(decoder_cross=attn(grid, alone_enc[:, :3], words[:1, :3]))
        with attention_extras(alone_extras):
            alone = bart(input_ids=ids[:1, :4], decoder_input_ids=dec[:1]).last_hidden_state
        plain = bart(input_ids=ids, attention_mask=src_mask, decoder_input_ids=dec).last_hidden_state
    torch.testing.assert_close(batched[0], alone[0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(batched, plain, atol=1e-3)
