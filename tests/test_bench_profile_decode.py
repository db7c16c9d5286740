"""bench/profile_decode.py: the phases of a saved model's decoding, each within the whole prediction."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import profile_decode  # noqa: E402

from typeprior.model.predict import Tagger

CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
visited VBD I-VP O
Paris NNP I-NP I-LOC
"""


def test_phases_of_a_full_model_are_timed_within_the_prediction(tmp_path: Path) -> None:
    Tagger.from_backbone("tiny-random", ["LOC", "MISC", "ORG", "PER"], variant="full").save(tmp_path / "m")
    (tmp_path / "dev.txt").write_text(CONLL, encoding="utf-8")
    result = CliRunner().invoke(profile_decode.app, [str(tmp_path / "m"), "--dev", str(tmp_path / "dev.txt"),
                                                     "--sentences", "2", "--batch-size", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    seconds = {label: float(m.group(1)) for label in profile_decode.PHASES
               if (m := re.search(re.escape(label) + r"\s+([0-9.]+) s", result.output))}
    assert set(seconds) == set(profile_decode.PHASES)
    whole = seconds["predict_tokens"]
    assert whole > 0 and seconds["greedy_decode"] > 0 and seconds["relation attention (grid, convolutions)"] > 0
    assert all(s <= whole for s in seconds.values())
    assert "2 sentences, batch 2" in result.output and "tottime" in result.output
