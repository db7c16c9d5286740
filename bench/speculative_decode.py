"""Speculative greedy decoding, an experiment of issue 15 (not a decoding path of the product: it lost its A/B).

The relation grid drafts each sentence's output, whole decoder passes check it. Greedy decoding runs one decoder
step per output token. The relation task already marks most entities in its word-pair grid (model/recovery.py
reads spans from it), so a draft of the whole output is at hand before the first step: the marked spans in
BARTNER's order, each closed by a placeholder type. One teacher-forced pass over the draft gives the decoder's
choice at every position at once, under the same constraints as greedy (`allowed_mask` along the draft). Every
position up to the first disagreement is what greedy would have chosen, and so is the decoder's choice there,
since its whole prefix is right; the pass's later choices become the next draft (Jacobi iteration). Passes repeat
until each sentence's accepted prefix ends; after `max_passes`, the sentences left are decoded by plain greedy.
So the output is greedy's, up to float rounding (a whole pass and cached single steps add in different orders).

    python bench/speculative_decode.py MODEL_DIR --dev ../shared/data/conll2003/eng.testa --sentences 320 --threads 1

prints how many outputs equal greedy's, how many drafts already hold greedy's pointers, and greedy against
speculative decoding (and drafting alone) over the same encoded batches, interleaved for `--rounds` rounds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
import typer
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from typeprior.model.decoding import DecodeState, NEG_INF, _strip, advance, allowed_mask, budgets, greedy_decode
from typeprior.model.generator import START, EncoderState, PointerNER
from typeprior.model.recovery import free_spans, grid_spans
from typeprior.model.targets import END

PLACEHOLDER_TYPE = 1  # the first type's id: the draft's guess, which the first pass replaces


@torch.no_grad()
def grid_drafts(model: PointerNER, state: EncoderState) -> list[list[int]]:
    """Each sentence's draft output: the grid's contiguous spans (no two sharing a word, likeliest kept) in
    BARTNER's order, each as its pointers and a placeholder type, then END."""
    relation = getattr(model, "relation", None)
    if relation is None or not getattr(model.config, "relation_prediction", False):
        raise ValueError("speculative decoding drafts from the relation grid: it needs rp-tra, rp-eta or full")
    logits = relation(state.word_states, state.word_mask)
    drafts = []
    for marked in grid_spans(logits, state.word_mask):
        ids: list[int] = []
        for first, last in sorted(free_spans(marked, set())):
            ids += [model.pointer_offset + w for w in range(first, last + 1)] + [PLACEHOLDER_TYPE]
        drafts.append(ids + [END])
    return drafts


@torch.no_grad()
def speculative_greedy_decode(
    model: PointerNER, state: EncoderState, drafts: list[list[int]] | None = None, max_passes: int = 3
) -> tuple[list[list[int]], int]:
    """Greedy's output for each sentence, and the number of decoder passes it took (for benchmarks)."""
    drafts = grid_drafts(model, state) if drafts is None else drafts
    n = state.word_mask.shape[0]
    device = state.word_mask.device
    budget = budgets(model, state.word_mask)
    steps = max(int(budget.max()), 1)
    guess = torch.full((n, steps), END, dtype=torch.long, device=device)
    for b, draft in enumerate(drafts):
        draft = draft[:steps]
        if draft:
            guess[b, : len(draft)] = torch.tensor(draft, dtype=torch.long, device=device)
    results: list[list[int]] = [[] for _ in range(n)]
    rows = torch.arange(n, device=device)
    passes = 0
    # the cross-attention keys and values depend on the encoder alone: projected once, as greedy's cache does
    cross = model.cross_attention_cache(state).cross_attention_cache
    while rows.numel():
        g_all = guess[rows]
        is_end = g_all == END
        first_end = torch.where(is_end.any(1), is_end.int().argmax(1), torch.full_like(rows, steps - 1))
        width = int(first_end.max()) + 1
        g = g_all[:, :width]
        prev = torch.cat([torch.full_like(g[:, :1], START), g[:, :-1]], dim=1)
        cache = EncoderDecoderCache(DynamicCache(config=model.config.bart), cross)
        logits, _ = model.decode_step(state, prev, cache)
        passes += 1
        logits = logits.float()
        logits[..., END] += model.config.end_bias
        st = DecodeState.start(model, state.word_mask)
        st.budget = budget[rows]
        masks = []
        for t in range(width):
            masks.append(allowed_mask(model, st, state.word_mask, t))
            st = advance(model, st, g[:, t])
        chosen = logits.masked_fill(~torch.stack(masks, dim=1), NEG_INF).argmax(-1)
        wrong = chosen != g
        first_wrong = torch.where(wrong.any(1), wrong.int().argmax(1), torch.full_like(rows, width))
        pos = torch.arange(width, device=device).unsqueeze(0)
        fixed = torch.where(pos < first_wrong.unsqueeze(1), g, chosen)
        guess[rows, :width] = fixed
        accepted = (first_wrong + 1).clamp(max=width)
        ended = ((fixed == END) & (pos < accepted.unsqueeze(1))).any(1) | (accepted >= steps)
        for k in ended.nonzero().flatten().tolist():
            results[int(rows[k])] = _strip(fixed[k, : int(accepted[k])].tolist())
        keep = (~ended).nonzero().flatten()
        rows = rows[keep]
        if rows.numel():
            state = state.index_select(keep)
            cross.reorder_cache(keep)
        if rows.numel() and passes >= max_passes:  # drafts this far off: plain greedy for the few rows left
            for k, seq in zip(rows.tolist(), greedy_decode(model, state)):
                results[k] = seq
            break
    return results, passes


app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Path = typer.Argument(..., help="a trained model folder of a variant with relation prediction"),
    dev: Path = typer.Option(..., help="corpus file whose first sentences are decoded"),
    sentences: int = typer.Option(320),
    batch_size: int = typer.Option(32),
    threads: int = typer.Option(1),
    rounds: int = typer.Option(3),
    max_passes: int = typer.Option(3),
) -> None:
    from typeprior.model.batching import encode_sentences
    from typeprior.model.corpus import read_corpus
    from typeprior.model.corpus.document import Sentence
    from typeprior.model.predict import Tagger

    torch.set_num_threads(threads)
    tagger = Tagger.load(model, device="cpu")
    m = tagger.model.eval()
    words = sorted((s.tokens for s in read_corpus(dev).sentences[:sentences] if s.tokens), key=len)
    states = []
    with torch.no_grad():
        for k in range(0, len(words), batch_size):
            w = encode_sentences([Sentence(list(x)) for x in words[k : k + batch_size]], tagger.encoder,
                                 tagger.vocab, with_labels=False).words
            states.append(m.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids,
                                   w.match_ids))
    equal = drafted = 0
    passes = []
    pointers = lambda seq: [x for x in seq if x >= m.pointer_offset or x == END]  # noqa: E731
    for state in states:
        plain = greedy_decode(m, state)
        fast, used = speculative_greedy_decode(m, state, max_passes=max_passes)
        passes.append(used)
        equal += sum(a == b for a, b in zip(plain, fast))
        drafted += sum(pointers(a) == pointers(d) for a, d in zip(plain, grid_drafts(m, state)))
    typer.echo(f"{len(words)} sentences, {len(states)} batches: {equal} outputs equal greedy's; {drafted} drafts hold "
               f"greedy's pointers; passes per batch {passes}")
    runs = {"greedy": lambda s: greedy_decode(m, s),
            "speculative": lambda s: speculative_greedy_decode(m, s, max_passes=max_passes),
            "drafts alone": lambda s: grid_drafts(m, s)}
    for r in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            for state in states:
                run(state)
            typer.echo(f"round {r + 1}  {name:<12} {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    app()
