"""A/B probe of the optional word-shape embedding (case cues for an uncased backbone such as MiniLM).

Trains the same model twice for a fixed number of steps (same seed, same batches), once without and
once with the word-shape embedding, and scores both on the first dev sentences. Not in the paper: the
embedding is an option (`--word-shape` in `typeprior train`), off by default.

First measurement (this script's defaults: MiniLM, the first 1,920 CoNLL-2003 training sentences,
120 steps of batch 16, lr 5e-5 / 5e-4, the first 300 dev sentences, 1 CPU thread, same seed and
batches for both): dev F1 0.196 without, 0.202 with (P 0.269 / 0.272, R 0.154 / 0.161); training loss
over the last 20 steps 1.43 vs 1.38. A small gain at a budget far too short to settle it: measure
again on a full training run (`typeprior train ... --word-shape`).

    python bench/bench_word_shape.py --steps 120
    python bench/bench_word_shape.py --smoke
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CONLL = ROOT.parent / "shared" / "data" / "conll2003"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--train-file", type=Path, default=CONLL / "eng.train")
    p.add_argument("--dev-file", type=Path, default=CONLL / "eng.testa")
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--dev-sentences", type=int, default=300)
    p.add_argument("--lr-backbone", type=float, default=5e-5)
    p.add_argument("--lr-new", type=float, default=5e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny random backbone, a few steps: checks the script runs")
    p.add_argument("--json", type=Path, default=Path("bench_word_shape.json"))
    args = p.parse_args(argv)
    if args.smoke:
        args.backbone, args.steps, args.batch, args.dev_sentences = "tiny-random", 3, 4, 8
    return args


def run(args: argparse.Namespace, train, dev, types: list[str], word_shape: bool) -> dict:
    import torch
    from transformers import get_linear_schedule_with_warmup

    from typeprior.model.batching import encode_sentences
    from typeprior.model.predict import Tagger
    from typeprior.model.training import TrainingConfig, parameter_groups

    tagger = Tagger.from_backbone(args.backbone, types, seed=args.seed, word_shape=word_shape)
    model = tagger.model
    cfg = TrainingConfig.load(lr_backbone=args.lr_backbone, lr_new=args.lr_new)
    torch.manual_seed(args.seed)
    opt = torch.optim.AdamW(parameter_groups(model, cfg))
    sched = get_linear_schedule_with_warmup(opt, max(1, args.steps // 10), args.steps)
    model.train()
    losses = []
    started = time.perf_counter()
    for i in range(args.steps):
        batch = train[(i * args.batch) % len(train) :][: args.batch]
        out = model(**encode_sentences(batch, tagger.encoder, tagger.vocab).model_inputs())
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        losses.append(float(out.loss.detach()))
    seconds = time.perf_counter() - started
    scores = tagger.evaluate(dev)
    tail = losses[-min(20, len(losses)) :]
    return {
        "word_shape": word_shape,
        "train_seconds": seconds,
        "final_loss": sum(tail) / len(tail),
        "dev_p": scores["p"],
        "dev_r": scores["r"],
        "dev_f1": scores["f1"],
        "per_type_f1": {t: c["f1"] for t, c in scores["per_type"].items()},
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    from typeprior.model.corpus import read_corpus

    torch.set_num_threads(args.threads)
    train = [s for s in read_corpus(args.train_file).sentences if s.tokens][: args.steps * args.batch]
    dev = [s for s in read_corpus(args.dev_file).sentences if s.tokens][: args.dev_sentences]
    types = sorted({e.type for s in train for e in s.entities})
    runs = [run(args, train, dev, types, shape) for shape in (False, True)]
    result = {
        "backbone": args.backbone,
        "steps": args.steps,
        "batch": args.batch,
        "dev_sentences": len(dev),
        "runs": runs,
        "dev_f1_gain": runs[1]["dev_f1"] - runs[0]["dev_f1"],
        "smoke": args.smoke,
    }
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
