"""bench/speculative_decode.py: drafts from the relation grid, checked in whole decoder passes, give greedy's output
(the experiment of issue 15 whose timing BENCHMARKS.md reports)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from test_decoding_cache import _encoded

from typeprior.model.decoding import greedy_decode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import speculative_decode  # noqa: E402


@pytest.mark.parametrize("max_passes", [1, 2, 50])
def test_speculative_decoding_gives_greedys_output(max_passes: int) -> None:
    model, state = _encoded("full")
    plain = greedy_decode(model, state)
    assert any(len(s) > 1 for s in plain)          # entities are generated: not a comparison of empty outputs
    out, passes = speculative_decode.speculative_greedy_decode(model, state, max_passes=max_passes)
    assert out == plain and 1 <= passes <= max_passes


def test_a_right_draft_is_accepted_in_one_pass_and_a_wrong_one_is_repaired() -> None:
    model, state = _encoded("full")
    plain = greedy_decode(model, state)
    out, passes = speculative_decode.speculative_greedy_decode(model, state, drafts=plain)
    assert out == plain and passes == 1
    wrong = [[model.pointer_offset] * 3 for _ in plain]  # three pointers to the first word and no END
    out, passes = speculative_decode.speculative_greedy_decode(model, state, drafts=wrong, max_passes=100)
    assert out == plain and passes > 1


def test_drafts_come_from_the_grid_and_need_a_relation_variant() -> None:
    model, state = _encoded("full")
    drafts = speculative_decode.grid_drafts(model, state)
    assert len(drafts) == state.word_mask.shape[0] and all(d[-1] == 0 for d in drafts)
    assert any(len(d) > 1 for d in drafts)  # the grid marks spans: the pointer check below is not vacuous
    words = state.word_mask.sum(-1)
    for draft, n in zip(drafts, words.tolist()):
        pointers = [x - model.pointer_offset for x in draft if x >= model.pointer_offset]
        assert all(0 <= w < n for w in pointers)
    baseline, base_state = _encoded("baseline")
    with pytest.raises(ValueError, match="relation grid"):
        speculative_decode.grid_drafts(baseline, base_state)
