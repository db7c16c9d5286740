"""Where a trained model's dev errors lie (issue 15 diagnosis): each gold entity found, found with a wrong type,
overlapped by a prediction with other boundaries, or overlapped by none; and recall by entity length in words.

Also, with `--kb-warehouse`, how many gold mentions are a name of the same type in a knowledge-base build
(case-insensitive over words): what KB-match features (model/gazetteer.py) can see.

    python bench/error_kinds.py MODEL_FOLDER [--protocol bench/table4.yaml] [--corpus conll2003]
    python bench/error_kinds.py MODEL_FOLDER --kb-warehouse bench/results/results.duckdb --kb-build 1
"""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path
from typing import Optional

import typer

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import table4  # noqa: E402  (bench/table4.py: protocol and fixed subsets)


def main(
    model: Path = typer.Argument(..., help="a trained model folder (or a training output folder)"),
    protocol: Path = typer.Option(BENCH / "table4.yaml", help="protocol whose fixed dev subset is read"),
    corpus: str = typer.Option("conll2003"),
    kb_warehouse: Optional[Path] = typer.Option(None, help="warehouse holding the build for the coverage count"),
    kb_build: int = typer.Option(1, help="the build whose names are counted"),
    threads: int = typer.Option(2),
) -> None:
    import torch

    from typeprior.kb.priors import load_type_priors
    from typeprior.model.gazetteer import name_words
    from typeprior.model.predict import Tagger

    torch.set_num_threads(threads)
    dev = table4.subset(table4.load_protocol(protocol), corpus, "dev")
    tagger = Tagger.load(model, device="cpu")
    tagger.mixed_precision = "off"
    predicted = tagger.predict_tokens([s.tokens for s in dev]).entities
    gold_kinds: collections.Counter[str] = collections.Counter()
    by_length: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0])
    for sentence, preds in zip(dev, predicted):
        found = set(preds)
        for e in sentence.entities:
            by_length[len(e.indices)][1] += 1
            if e in found:
                gold_kinds["found"] += 1
                by_length[len(e.indices)][0] += 1
            elif any(p.indices == e.indices for p in found):
                gold_kinds["wrong type"] += 1
            elif any(set(p.indices) & set(e.indices) for p in found):
                gold_kinds["other boundaries"] += 1
            else:
                gold_kinds["no overlapping prediction"] += 1
    out = {"model": str(model), "gold": sum(gold_kinds.values()), "kinds": dict(gold_kinds),
           "recall_by_length": {n: f"{hit}/{total}" for n, (hit, total) in sorted(by_length.items())}}
    if kb_warehouse is not None:
        names = load_type_priors(kb_warehouse, kb_build).names
        keys = {t: {tuple(w.lower() for w in name_words(n)) for n in ns} for t, ns in names.items()}
        covered: collections.Counter[str] = collections.Counter()
        totals: collections.Counter[str] = collections.Counter()
        for sentence in dev:
            for e in sentence.entities:
                totals[e.type] += 1
                covered[e.type] += tuple(sentence.tokens[i].lower() for i in e.indices) in keys.get(e.type, set())
        out["kb_names_cover"] = {t: f"{covered[t]}/{totals[t]}" for t in sorted(totals)}
    typer.echo(json.dumps(out, indent=1))


if __name__ == "__main__":
    typer.run(main)
