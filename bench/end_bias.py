"""Stopping later (issue 15): does a bias on END's logit recover the entities a trained model misses?

The generative model's dev errors are mostly misses (recall 53-56 % at 73-81 % precision on CoNLL-2003 subsets):
it stops generating too early. `end_bias` (model config, added to END's logit at each decoding step) trades
precision for recall without retraining. This decodes already-trained model folders at several biases and
scores them on two disjoint dev subsets of the same split: the protocol's fixed dev subset (`tune`, where a
default is chosen) and a disjoint sample of the rest of the split (`confirm`, where the choice is checked).

    python bench/end_bias.py run --corpus conll2003 --model s42=bench/results/models/.../model --bias 0 --bias -1
    python bench/end_bias.py table bench/records/end-bias.json
"""
from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import typer

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import table4  # noqa: E402  (bench/table4.py: protocol and fixed subsets)

RECORD = BENCH / "records" / "end-bias.json"
CONFIRM_N = 500
CONFIRM_SEED = "end-bias:confirm"

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def dev_sets(protocol: dict[str, Any], corpus: str, confirm_n: int) -> dict[str, list]:
    """The fixed dev subset, and a seeded sample of the split's other sentences (disjoint from it)."""
    tune = table4.subset(protocol, corpus, "dev")
    everything = table4.source_sentences(protocol, corpus, "dev")
    fixed = {int(x) for x in table4.split_file(corpus, "dev").read_text().split()}
    rest = [i for i in range(len(everything)) if i not in fixed]
    picked = sorted(random.Random(f"{CONFIRM_SEED}:{corpus}").sample(rest, min(confirm_n, len(rest))))
    return {"tune": tune, "confirm": [everything[i] for i in picked]}


@app.command()
def run(
    corpus: str = typer.Option(..., help="corpus of the protocol (its dev split is read)"),
    model: list[str] = typer.Option(..., help="NAME=FOLDER of a trained model (a training output or model folder)"),
    bias: list[float] = typer.Option([0.0, -0.5, -1.0, -1.5, -2.0, -3.0], help="END biases to decode with"),
    protocol: Path = typer.Option(BENCH / "table4.yaml", help="protocol whose fixed dev subset is `tune`"),
    confirm_n: int = typer.Option(CONFIRM_N, help="sentences in the disjoint `confirm` sample"),
    out: Path = typer.Option(RECORD, help="JSON rows (appended to; a model × bias × set already there is skipped)"),
    threads: int = typer.Option(2),
) -> None:
    """Decode each model at each bias on both dev sets; one row per model × bias × set."""
    import torch

    from typeprior.model.predict import Tagger

    torch.set_num_threads(threads)
    proto = table4.load_protocol(protocol)
    sets = dev_sets(proto, corpus, confirm_n)
    rows: list[dict[str, Any]] = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["corpus"], r["model"], r["bias"], r["set"]) for r in rows}
    for item in model:
        name, _, folder = item.partition("=")
        if not folder:
            raise typer.BadParameter(f"--model {item!r}: expected NAME=FOLDER")
        tagger = Tagger.load(folder, device="cpu")
        tagger.mixed_precision = "off"
        for b in bias:
            tagger.model.config.end_bias = float(b)
            for set_name, sentences in sets.items():
                if (corpus, name, float(b), set_name) in done:
                    continue
                start = time.perf_counter()
                result = tagger.evaluate(sentences)
                gold = sum(len(s.entities) for s in sentences)
                row = {
                    "corpus": corpus, "model": name, "folder": folder, "bias": float(b), "set": set_name,
                    "sentences": len(sentences), "gold": gold, "predicted": result["tp"] + result["fp"],
                    "f1": result["f1"], "p": result["p"], "r": result["r"],
                    "per_type_r": {t: c["r"] for t, c in result["per_type"].items()},
                    "seconds": round(time.perf_counter() - start, 1),
                }
                rows.append(row)
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_name(f".{out.name}.tmp")
                tmp.write_text(json.dumps(rows, indent=1) + "\n")
                tmp.replace(out)
                print(json.dumps(row), flush=True)


@app.command()
def table(record: Path = typer.Argument(RECORD)) -> None:
    """Mean F1 / P / R per bias and set, and each bias's paired change against bias 0 over the same models."""
    rows = json.loads(record.read_text())
    for corpus in sorted({r["corpus"] for r in rows}):
        print(f"\n{corpus}\n| bias | set | models | F1 | P | R | predicted / gold | F1 − bias 0 (paired) |")
        print("|---|---|---|---|---|---|---|---|")
        mine = [r for r in rows if r["corpus"] == corpus]
        base = {(r["model"], r["set"]): r["f1"] for r in mine if r["bias"] == 0.0}
        for b in sorted({r["bias"] for r in mine}, reverse=True):
            for set_name in ("tune", "confirm"):
                cell = [r for r in mine if r["bias"] == b and r["set"] == set_name]
                if not cell:
                    continue
                diffs = [100 * (r["f1"] - base[(r["model"], set_name)]) for r in cell if (r["model"], set_name) in base]

                def mean(key: str) -> float:
                    return 100 * statistics.mean(r[key] for r in cell)

                ratio = sum(r["predicted"] for r in cell) / max(1, sum(r["gold"] for r in cell))
                spread = f" ± {statistics.stdev(diffs):.2f}" if len(diffs) > 1 else ""
                gap = f"{statistics.mean(diffs):+.2f}{spread}" if diffs else "—"
                print(f"| {b:g} | {set_name} | {len(cell)} | {mean('f1'):.2f} | {mean('p'):.2f} | {mean('r'):.2f} "
                      f"| {ratio:.2f} | {gap} |")


if __name__ == "__main__":
    app()
