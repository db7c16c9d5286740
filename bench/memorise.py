"""Memorising: does a recipe fit 40 real mixed sentences (CADEC + GENIA dev) it trains on?

The sentences are a fixed, seeded sample of 20 CADEC dev and 20 GENIA dev sentences with at least one entity
(flat, nested and discontinuous). Each recipe trains `--epochs` epochs on them and is scored on the same
sentences; a line of JSON per recipe goes to `--out` (appended, so a rerun skips recipes already done).

    python bench/memorise.py --out runs/memorise.jsonl --recipe default --recipe lr_backbone=5e-5,lr_new=5e-4
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

from typeprior.model.corpus import read_corpus
from typeprior.model.training import TrainingConfig, train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def sentences(n_each: int = 20, seed: int = 0) -> list:
    """20 CADEC dev + 20 GENIA dev sentences with entities, chosen with a fixed seed."""
    out = []
    for path in (DATA / "cadec" / "dev.json", DATA / "genia" / "dev.jsonlines"):
        pool = [s for s in read_corpus(path).sentences if s.entities]
        out += random.Random(seed).sample(pool, n_each)
    return out


def parse_recipe(text: str) -> dict[str, float | int | str]:
    """`default` (the backbone's recipe in model/training.yaml), or comma-separated KEY=VALUE training settings over it
    (`model.KEY=VALUE` for a model setting)."""
    if text == "default":
        return {}
    out: dict[str, float | int | str] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = json.loads(value)  # numbers, lists, true / false
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--recipe", action="append", required=True)
    ap.add_argument("--variant", default="full")
    ap.add_argument("--backbone", default="minilm")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = sentences()
    done = set()
    if args.out.exists():
        done = {json.loads(line)["recipe"] for line in args.out.read_text().splitlines() if line.strip()}
    for recipe in args.recipe:
        if recipe in done:
            continue
        settings = parse_recipe(recipe)
        model_settings = {k[6:]: v for k, v in settings.items() if k.startswith("model.")}
        training = {k: v for k, v in settings.items() if not k.startswith("model.")}
        cfg = TrainingConfig.load(backbone=args.backbone, epochs=args.epochs, seed=args.seed, progress=False, **training)
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            result = train(data, None, args.backbone, tmp, cfg, variant=args.variant, **model_settings)
            from typeprior.model.predict import Tagger

            scores = Tagger.load(Path(tmp) / "model", device="cpu").evaluate(data, 32)
        row = {"recipe": recipe, "variant": args.variant, "backbone": args.backbone, "epochs": args.epochs,
               "seed": args.seed, "f1": scores["f1"], "p": scores["p"], "r": scores["r"],
               "seconds": round(time.monotonic() - started, 1), "threads": args.threads}
        with args.out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
