"""Numerics check of issue 15's speed settings: dev F1 on a fixed CoNLL-2003 subset, old settings against new.

Trains the given variant on a fixed sample of `--train` CoNLL-2003 train sentences (seed 0) and scores the best
epoch on a fixed sample of `--dev` eng.testa sentences (seed 0), per seed and arm:

- old: `mixed_precision=off`, `bucket_batches=0` (float32, plain shuffle);
- new: model/training.yaml's defaults (bf16 autocast on a CPU with native bf16, length-bucketed batches);
- bf16: `bucket_batches=0` with the default mixed precision (bf16's effect alone: the old arm's batches).

One JSON line per run goes to `--out` (appended; runs already there are skipped); `--keep DIR` keeps each run's
best model in DIR/<variant>-<arm>-<seed> (e.g. for bench/speed_cpu.py --model).

    OMP_NUM_THREADS=1 python bench/numerics_cpu.py --out bench/results/numerics_cpu.jsonl --seed 1 --seed 2
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "conll2003"
ARMS = {"old": {"mixed_precision": "off", "bucket_batches": 0}, "new": {}, "bf16": {"bucket_batches": 0}}


def sample(name: str, n: int) -> list:
    from typeprior.model.corpus import read_corpus

    sents = [s for s in read_corpus(DATA / name).sentences if s.tokens]
    return random.Random(0).sample(sents, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variant", default="baseline")
    ap.add_argument("--arm", action="append", choices=list(ARMS), default=None, help="default: old and new")
    ap.add_argument("--seed", type=int, action="append", default=None, help="default: 1 and 2")
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--dev", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr-backbone", type=float, default=5e-5)
    ap.add_argument("--lr-new", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    import shutil

    import torch

    from typeprior.model.training import TrainingConfig, train

    torch.set_num_threads(args.threads)
    tr, dev = sample("eng.train", args.train), sample("eng.testa", args.dev)
    done = set()
    if args.out.exists():
        done = {(r["variant"], r["arm"], r["seed"]) for r in map(json.loads, args.out.read_text().splitlines()) if r}
    for seed in args.seed or [1, 2]:
        for arm in args.arm or ["old", "new"]:
            if (args.variant, arm, seed) in done:
                print(f"skip {args.variant} {arm} seed {seed}", file=sys.stderr)
                continue
            cfg = TrainingConfig.load(epochs=args.epochs, lr_backbone=args.lr_backbone, lr_new=args.lr_new, seed=seed,
                                      progress=False, device="cpu", **ARMS[arm])
            with tempfile.TemporaryDirectory() as tmp:
                started, load = time.time(), os.getloadavg()
                result = train(tr, dev, "minilm", tmp, cfg, resume=False, variant=args.variant)
                seconds = time.time() - started
                if args.keep is not None:
                    target = args.keep / f"{args.variant}-{arm}-{seed}"
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(Path(tmp) / "model", target)
            row = {"variant": args.variant, "arm": arm, "seed": seed, "settings": ARMS[arm] or "defaults",
                   "mixed_precision": cfg.mixed_precision, "bucket_batches": cfg.bucket_batches,
                   "train": args.train, "dev": args.dev, "epochs": args.epochs, "lr_backbone": args.lr_backbone,
                   "lr_new": args.lr_new, "threads": args.threads, "best_epoch": result.best_epoch,
                   "best_f1": result.best_f1, "history": result.history, "seconds": seconds,
                   "loadavg_start": load, "loadavg_end": os.getloadavg()}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in ("variant", "arm", "seed", "best_f1", "best_epoch", "seconds")}), flush=True)


if __name__ == "__main__":
    main()
