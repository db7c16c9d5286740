"""Speed of the paper's variants: training step at batch 16 and greedy / beam-4 decoding, per variant.

Training steps of the variants are interleaved (each
batch goes through every variant in turn), so a busy machine slows them alike. Same sentences as bench/bench_model.py (CoNLL-2003 dev when ../shared/data is at hand, else synthetic
CoNLL-length ones). Each variant is built untrained on the same backbone and seed; the full variant gets
knowledge-base-like E_T (unit 384-d vectors), the cost of which does not depend on their values. The goal
is full <= 1.3 x baseline per training step on the MiniLM backbone; the JSON has the ratio per variant.

    python bench/bench_variants.py                      # MiniLM, 2 threads, writes bench_variants.json
    python bench/bench_variants.py --threads 1 --variants baseline full
    python bench/bench_variants.py --reduce-dim 128     # override model/additions.yaml for a run
    python bench/bench_variants.py --profile full       # where a training step of that variant spends its time
    python bench/bench_variants.py --smoke              # tiny random backbone, a few seconds

Measured (MiniLM, CoNLL dev batches of 16, mean 14.5 words, 1 torch thread on a 2-core machine shared with
other jobs, so +-15 % between runs): full / baseline per training step 1.08-2.17 at grid and reduce width 256
before length grouping, about 1.6 after it, 1.15-1.37 at width 128 (the MiniLM default in model/additions.yaml;
1.22 over 10 interleaved steps). Decoding a batch of 32: encode +35 %, each decoder step +20 % (27.8 against
23.1 ms) for full; sentences/s per variant in the JSON also depend on how long the untrained models generate.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_model import TYPES, load_sentences  # noqa: E402

VARIANTS = ["baseline", "rp-tra", "rp-eta", "full"]
GOAL = 1.3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="minilm", help="minilm, tiny-random or a BART path")
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument("--batch", type=int, default=16, help="training batch size")
    p.add_argument("--train-steps", type=int, default=10, help="timed training steps per variant (after 2 warm-up)")
    p.add_argument("--sentences", type=int, default=128, help="sentences decoded per decoding measurement")
    p.add_argument("--eval-batch", type=int, default=32)
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--grid-dim", type=int, default=None, help="override grid_dim of model/additions.yaml")
    p.add_argument("--reduce-dim", type=int, default=None, help="override reduce_dim of model/additions.yaml")
    p.add_argument("--profile", choices=VARIANTS, default=None, help="print the top operators of one training step")
    p.add_argument("--no-decode", action="store_true", help="training steps only")
    p.add_argument("--smoke", action="store_true", help="tiny random backbone and few sentences: checks the script runs")
    p.add_argument("--json", type=Path, default=Path("bench_variants.json"), help="where to write the results")
    args = p.parse_args(argv)
    if args.smoke:
        args.backbone, args.train_steps, args.sentences = "tiny-random", 2, 16
    return args


def build(args: argparse.Namespace, variant: str, types: list[str]):
    import torch

    from typeprior.model.predict import Tagger

    overrides = {k: v for k, v in (("grid_dim", args.grid_dim), ("reduce_dim", args.reduce_dim)) if v is not None}
    vectors = None
    if variant in ("rp-eta", "full"):
        vectors = torch.nn.functional.normalize(torch.randn(len(types), 384, generator=torch.Generator().manual_seed(0)), dim=1)
    return Tagger.from_backbone(args.backbone, types, seed=0, type_vectors=vectors, variant=variant, **overrides)


class Stepper:
    """One variant's model and optimizer, taking timed training steps (forward, backward, clip, AdamW)."""

    def __init__(self, tagger, device) -> None:
        import torch

        from typeprior.model.training import TrainingConfig, parameter_groups

        self.tagger = tagger
        self.device = device
        self.model = tagger.model.to(device).train()
        self.cfg = TrainingConfig.load(progress=False)
        self.opt = torch.optim.AdamW(parameter_groups(self.model, self.cfg))
        self.times: list[float] = []

    def step(self, batch, timed: bool) -> None:
        import torch

        from typeprior.model.batching import encode_sentences

        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        b = encode_sentences(batch, self.tagger.encoder, self.tagger.vocab).to(self.device)
        sync()
        t0 = time.perf_counter()
        out = self.model(**b.model_inputs())
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        sync()
        if timed:
            self.times.append(time.perf_counter() - t0)

    def profile(self, batch) -> None:
        from torch.profiler import ProfilerActivity, profile as torch_profile

        from typeprior.model.batching import encode_sentences

        b = encode_sentences(batch, self.tagger.encoder, self.tagger.vocab).to(self.device)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            self.model(**b.model_inputs()).loss.backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)


def interleaved_training(steppers: dict, sentences, args) -> None:
    """Step every variant on the same batch in turn, so that a busy machine slows all of them alike."""
    for i in range(args.train_steps + 2):
        batch = sentences[i * args.batch : (i + 1) * args.batch]
        for stepper in steppers.values():
            stepper.step(batch, timed=i >= 2)


def decoding(tagger, sentences, args, device) -> dict:
    import torch

    from typeprior.model.batching import encode_sentences
    from typeprior.model.decoding import decode

    model = tagger.model.to(device).eval()
    result = {}
    for beams in args.beams:
        n_tokens = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            for k in range(0, len(sentences), args.eval_batch):
                b = encode_sentences(sentences[k : k + args.eval_batch], tagger.encoder, tagger.vocab,
                                     with_labels=False).to(device)
                w = b.words
                state = model.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
                n_tokens += sum(len(s) for s in decode(model, state, beams))
        seconds = time.perf_counter() - t0
        result[f"beam{beams}"] = {"sentences_per_s": len(sentences) / seconds, "seconds": seconds,
                                  "mean_generated_length": n_tokens / len(sentences)}
    return result


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sentences, source = load_sentences(max(args.sentences, args.batch * (args.train_steps + 2)))
    types = sorted({e.type for s in sentences for e in s.entities} | set(TYPES))
    steppers = {variant: Stepper(build(args, variant, types), device) for variant in args.variants}
    interleaved_training(steppers, sentences, args)
    if args.profile in steppers:
        steppers[args.profile].profile(sentences[: args.batch])
    per_variant = {}
    for variant, stepper in steppers.items():
        cfg = stepper.model.config
        times = stepper.times
        per_variant[variant] = {
            "additions": list(cfg.additions),
            "grid_dim": cfg.grid_dim if cfg.additions else None,
            "reduce_dim": cfg.reduce_dim if cfg.relation_attention else None,
            "parameters": sum(p.numel() for p in stepper.model.parameters()),
            "train": {"batch": args.batch, "steps": len(times), "seconds_per_step": statistics.mean(times),
                      "median_seconds_per_step": statistics.median(times)},
        }
        if not args.no_decode:
            per_variant[variant]["decode"] = decoding(stepper.tagger, sentences[: args.sentences], args, device)
    if "baseline" in per_variant:
        base = per_variant["baseline"]["train"]["median_seconds_per_step"]
        for v in per_variant.values():
            v["train"]["ratio_to_baseline"] = v["train"]["median_seconds_per_step"] / base
    result = {
        "backbone": args.backbone,
        "device": str(device),
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "sentences": source,
        "mean_words": statistics.mean(len(s.tokens) for s in sentences),
        "goal": f"full <= {GOAL} x baseline per training step",
        "variants": per_variant,
        "smoke": args.smoke,
    }
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
