"""Begin-End recovery (issue 15): do the relation grid's entities recover what the decoder misses?

Most of the generative model's dev errors are misses that overlap no prediction. `begin_end_recovery` (model
setting, model/recovery.py) adds, at decoding time, the contiguous entities the relation grid marks (Begin-End at
(last, first), Inside between consecutive words) that overlap no generated entity, typed by the decoder. This
decodes already-trained model folders (a variant with relation prediction) with the setting off and on, on the
two dev sets of bench/end_bias.py: the protocol's fixed dev subset (`tune`) and a disjoint seeded sample of the
rest of the split (`confirm`). No retraining: the A/B is paired by model.

    python bench/begin_end_recovery.py run --corpus conll2003 --model s42=bench/results/models/.../model
    python bench/begin_end_recovery.py table bench/records/begin-end-recovery.json
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import typer

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import end_bias  # noqa: E402  (the tune / confirm dev sets)
import table4  # noqa: E402

RECORD = BENCH / "records" / "begin-end-recovery.json"

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def _write(rows: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(rows, indent=1) + "\n")
    tmp.replace(out)


@app.command()
def run(
    corpus: str = typer.Option(..., help="corpus of the protocol (its dev split is read)"),
    model: list[str] = typer.Option(..., help="NAME=FOLDER of a trained model with relation prediction"),
    protocol: Path = typer.Option(BENCH / "table4.yaml", help="protocol whose fixed dev subset is `tune`"),
    confirm_n: int = typer.Option(end_bias.CONFIRM_N, help="sentences in the disjoint `confirm` sample"),
    out: Path = typer.Option(RECORD, help="JSON rows (appended to; a model × arm × set already there is skipped)"),
    threads: int = typer.Option(2),
) -> None:
    """Decode each model with recovery off and on, on both dev sets; one row per model × arm × set."""
    import torch

    from typeprior.model.predict import Tagger

    torch.set_num_threads(threads)
    sets = end_bias.dev_sets(table4.load_protocol(protocol), corpus, confirm_n)
    rows: list[dict[str, Any]] = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["corpus"], r["model"], r["recovery"], r["set"]) for r in rows}
    for item in model:
        name, _, folder = item.partition("=")
        if not folder:
            raise typer.BadParameter(f"--model {item!r}: expected NAME=FOLDER")
        tagger = Tagger.load(folder, device="cpu")
        tagger.mixed_precision = "off"
        if not tagger.model.config.relation_prediction:
            raise typer.BadParameter(f"--model {item!r}: variant {tagger.model.config.variant!r} predicts no relations")
        for arm in (False, True):
            tagger.model.config.begin_end_recovery = arm
            for set_name, sentences in sets.items():
                if (corpus, name, arm, set_name) in done:
                    continue
                start = time.perf_counter()
                result = tagger.evaluate(sentences)
                row = {
                    "corpus": corpus, "model": name, "folder": folder, "recovery": arm, "set": set_name,
                    "sentences": len(sentences), "gold": sum(len(s.entities) for s in sentences),
                    "predicted": result["tp"] + result["fp"], "tp": result["tp"],
                    "f1": result["f1"], "p": result["p"], "r": result["r"],
                    "seconds": round(time.perf_counter() - start, 1),
                }
                rows.append(row)
                _write(rows, out)
                print(json.dumps(row), flush=True)


@app.command()
def table(record: Path = typer.Argument(RECORD)) -> None:
    """F1 / P / R per model, arm and set, what recovery added (predicted, right) and the paired F1 change."""
    rows = json.loads(record.read_text())
    print("| corpus | model | set | F1 off → on | P off → on | R off → on | added (right) | F1 on − off |")
    print("|---|---|---|---|---|---|---|---|")
    gaps: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if not r["recovery"]:
            continue
        off = next((o for o in rows if not o["recovery"] and (o["corpus"], o["model"], o["set"]) ==
                    (r["corpus"], r["model"], r["set"])), None)
        if off is None:
            continue
        gap = 100 * (r["f1"] - off["f1"])
        gaps.setdefault((r["corpus"], r["set"]), []).append(gap)
        print(f"| {r['corpus']} | {r['model']} | {r['set']} | {100 * off['f1']:.2f} → {100 * r['f1']:.2f} "
              f"| {100 * off['p']:.2f} → {100 * r['p']:.2f} | {100 * off['r']:.2f} → {100 * r['r']:.2f} "
              f"| {r['predicted'] - off['predicted']} ({r['tp'] - off['tp']}) | {gap:+.2f} |")
    for (corpus, set_name), g in sorted(gaps.items()):
        spread = f" ± {statistics.stdev(g):.2f}" if len(g) > 1 else ""
        print(f"\n{corpus} {set_name}: {len(g)} models, F1 on − off {statistics.mean(g):+.2f}{spread}")


if __name__ == "__main__":
    app()
