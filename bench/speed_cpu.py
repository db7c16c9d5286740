"""Speed on this CPU (issue 15): the old training/decoding settings against the new defaults, interleaved in one run.

Per variant, two untrained models (same backbone and seed) train on the same fixed sample of CoNLL-2003 train
sentences, one epoch each, through the trainer's own `Trainer._batches` and `Trainer._step`:

- old arm: a decoder as deep as the encoder (`decoder_layers: None`), `mixed_precision: off`, `bucket_batches: 0`
  (plain shuffle), AdamW's default per-parameter loop, and the decoder's own embedding lookups (the state's shared
  `word_embeds` / `special_embeds` removed), as the code before issue 15 ran on a CPU;
- new arm: the defaults (the backbone's decoder depth of model/additions.yaml, model/training.yaml's
  `mixed_precision: auto`, float32 on a CPU since bf16 became opt-in; length-bucketed batches, fused AdamW, one
  shared-embedding lookup per forward). Where the default depth is the encoder's, both arms start from the same
  weights.

The arms alternate every `--chunk` steps (old, new, old, ...; every variant in turn), so a busy machine slows both
alike. Training sentences/s = sentences of the epoch / summed step time (encoding the batch included).

Greedy decoding (`Tagger.predict_tokens`, length-sorted batches in both arms): per variant one model — a trained
folder from `--model VARIANT=DIR`, else the new arm's model after its epoch — decodes the first `--decode-sentences`
CoNLL-2003 dev sentences with mixed precision off (old) and `auto` (new; float32 on a CPU, so the two arms then
differ only by noise), alternating for `--rounds` rounds, together
with bench/peer.py's token classifier (untrained: its inference cost does not depend on its weights) as it
predicts there (float32, batches in input order). The share of sentences whose entities agree between the fp32 and
bf16 decodings is reported too. Machine load (/proc/loadavg) is recorded before, between and after.

    OMP_NUM_THREADS=1 python bench/speed_cpu.py --threads 1 --json bench/results/speed_cpu.json
    python bench/speed_cpu.py --smoke        # tiny random backbone, seconds
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = ROOT.parent / "shared" / "data" / "conll2003"
VARIANTS = ["baseline", "full"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--variants", nargs="+", default=VARIANTS)
    p.add_argument("--train-sentences", type=int, default=640, help="fixed sample of CoNLL-2003 train (seed 0)")
    p.add_argument("--chunk", type=int, default=2, help="steps per arm before switching to the other")
    p.add_argument("--decode-sentences", type=int, default=320, help="first N CoNLL-2003 dev sentences")
    p.add_argument("--rounds", type=int, default=3, help="decoding rounds (old, new, peer in each)")
    p.add_argument("--eval-batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--model", action="append", default=[], help="VARIANT=DIR: a trained model to decode with")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny random backbone, few sentences, no peer")
    p.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = p.parse_args(argv)
    if args.smoke:
        args.backbone, args.train_sentences, args.decode_sentences, args.rounds, args.no_peer = "tiny-random", 64, 32, 1, True
    return args


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def sentences(split: str, n: int, shuffle: bool):
    from typeprior.model.corpus import read_corpus

    sents = [s for s in read_corpus(DATA / split).sentences if s.tokens]
    if shuffle:
        random.Random(0).shuffle(sents)
    return sents[:n]


def without_shared_embeddings(model) -> None:
    """The old arm: the decoder looks its inputs and END up in the shared embedding itself."""
    extend = model.extend_state
    model.extend_state = lambda state: extend(replace(state, word_embeds=None, special_embeds=None))


class Arm:
    def __init__(self, name: str, tagger, settings: dict, out: Path) -> None:
        import torch
        from transformers import get_linear_schedule_with_warmup

        from typeprior.model.training import Trainer, TrainingConfig, make_optimizer, parameter_groups

        self.name = name
        self.cfg = TrainingConfig.load(progress=False, device="cpu", **settings)
        self.trainer = Trainer(tagger, self.cfg, out)
        model = self.trainer.model.train()
        if name == "old":
            self.opt = torch.optim.AdamW(parameter_groups(model, self.cfg))
            without_shared_embeddings(model)
        else:
            self.opt = make_optimizer(model, self.cfg)
        self.sched = get_linear_schedule_with_warmup(self.opt, 0, 10_000)
        self.times: list[float] = []
        self.sentences = 0
        self.words = 0

    def step(self, batch, timed: bool = True) -> None:
        t0 = time.perf_counter()
        self.trainer._step(batch, self.opt, self.sched)
        if timed:
            self.times.append(time.perf_counter() - t0)
            self.sentences += len(batch)
            self.words += sum(len(s.tokens) for s in batch)


def training(args, variants: dict, sample, warm_up) -> dict:
    """After one untimed warm-up step on sentences outside the sample, every (variant, arm) takes `chunk` steps in
    turn until all have done their epoch of the sample."""
    queues = {}
    for v, arms in variants.items():
        for arm in arms.values():
            arm.step(warm_up, timed=False)  # one-off allocations
            queues[(v, arm.name)] = arm.trainer._batches(sample, 0)
    while any(queues.values()):
        for (v, name), q in queues.items():
            for _ in range(min(args.chunk, len(q))):
                variants[v][name].step(q.pop(0))
    out = {}
    for v, arms in variants.items():
        row = {}
        for name, arm in arms.items():
            row[name] = {"steps": len(arm.times), "sentences": arm.sentences, "seconds": sum(arm.times),
                         "sentences_per_s": arm.sentences / sum(arm.times),
                         "median_step_s": statistics.median(arm.times), "words_per_s": arm.words / sum(arm.times),
                         "settings": {"mixed_precision": arm.cfg.mixed_precision, "bucket_batches": arm.cfg.bucket_batches,
                                      "amp_dtype": str(arm.trainer.amp_dtype)}}
        row["speedup"] = row["new"]["sentences_per_s"] / row["old"]["sentences_per_s"]
        out[v] = row
    return out


def decoding(args, taggers: dict, dev, peer) -> dict:
    from typeprior.model.metrics import score

    tokens = [s.tokens for s in dev]
    times: dict[str, dict[str, list[float]]] = {v: {"old": [], "new": []} for v in taggers}
    peer_times: list[float] = []
    outputs: dict[str, dict[str, list]] = {v: {} for v in taggers}
    for v, tagger in taggers.items():  # warm-up
        for mp in ("off", "auto"):
            tagger.mixed_precision = mp
            tagger.predict_tokens(tokens[: args.eval_batch], args.eval_batch, 1)
    if peer is not None:
        peer.predict(dev[: args.eval_batch], args.eval_batch)
    for _ in range(args.rounds):
        for v, tagger in taggers.items():
            for arm, mp in (("old", "off"), ("new", "auto")):
                tagger.mixed_precision = mp
                t0 = time.perf_counter()
                preds = tagger.predict_tokens(tokens, args.eval_batch, 1)
                times[v][arm].append(time.perf_counter() - t0)
                outputs[v][arm] = preds.entities
        if peer is not None:
            t0 = time.perf_counter()
            peer.predict(dev, args.eval_batch)
            peer_times.append(time.perf_counter() - t0)
    out: dict = {}
    peer_rate = len(dev) / statistics.median(peer_times) if peer_times else None
    for v in taggers:
        old, new = outputs[v]["old"], outputs[v]["new"]
        row = {arm: {"sentences_per_s": len(dev) / statistics.median(ts), "round_seconds": ts}
               for arm, ts in times[v].items()}
        row["speedup"] = row["new"]["sentences_per_s"] / row["old"]["sentences_per_s"]
        row["same_entities_share"] = sum(a == b for a, b in zip(old, new)) / len(dev)
        row["f1_old"] = score(dev, old).total.f1
        row["f1_new"] = score(dev, new).total.f1
        row["mean_entities_predicted"] = statistics.mean(len(e) for e in new)
        if peer_rate:
            row["new_to_peer"] = row["new"]["sentences_per_s"] / peer_rate
            row["old_to_peer"] = row["old"]["sentences_per_s"] / peer_rate
        out[v] = row
    if peer_times:
        out["peer"] = {"sentences_per_s": peer_rate, "round_seconds": peer_times}
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    from typeprior.model import precision
    from typeprior.model.predict import Tagger

    torch.set_num_threads(args.threads)
    load_start = loadavg()
    sample = sentences("eng.train", args.train_sentences + 16, shuffle=True)
    sample, warm_up = sample[: args.train_sentences], sample[args.train_sentences :]
    dev = sentences("eng.testa", args.decode_sentences, shuffle=False)
    types = sorted({e.type for s in sample for e in s.entities})
    models = dict(m.split("=", 1) for m in args.model)
    variants, taggers = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for v in args.variants:
            vectors = None
            if v in ("rp-eta", "full"):
                vectors = torch.nn.functional.normalize(
                    torch.randn(len(types), 384, generator=torch.Generator().manual_seed(0)), dim=1)
            base = Tagger.from_backbone(args.backbone, types, seed=0, type_vectors=vectors, variant=v)
            old = Tagger.from_backbone(args.backbone, types, seed=0, type_vectors=vectors, variant=v, decoder_layers=None)
            variants[v] = {
                "old": Arm("old", old, {"mixed_precision": "off", "bucket_batches": 0}, Path(tmp) / v / "old"),
                "new": Arm("new", base, {}, Path(tmp) / v / "new"),
            }
        train = training(args, variants, sample, warm_up)
        load_mid = loadavg()
        for v in args.variants:
            taggers[v] = Tagger.load(models[v], device="cpu") if v in models else variants[v]["new"].trainer.tagger
            taggers[v].model.eval()
        del variants
        peer = None
        if not args.no_peer:
            from peer import Peer

            peer = Peer(["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")], 0)
        decode = decoding(args, taggers, dev, peer)
    result = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else " ".join(argv),
        "backbone": args.backbone, "threads": args.threads, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.processor() or platform.machine(), "cpu_bf16": precision.cpu_bf16_supported(),
        "torch": torch.__version__,
        "train_sample": {"source": "conll2003 eng.train, shuffled with seed 0", "sentences": len(sample),
                         "mean_words": statistics.mean(len(s.tokens) for s in sample), "batch_size": 16, "shuffle_seed": 42},
        "decode_sample": {"source": "conll2003 eng.testa, first sentences", "sentences": len(dev),
                          "batch_size": args.eval_batch, "rounds": args.rounds,
                          "models": {v: models.get(v, "the new arm after its training epoch") for v in args.variants}},
        "loadavg": {"start": load_start, "after_training": load_mid, "end": loadavg()},
        "train": train, "decode": decode, "smoke": args.smoke,
    }
    text = json.dumps(result, indent=1)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
