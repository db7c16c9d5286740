"""Speed of the generative NER model: training step at batch 16, greedy and beam-4 decoding sentences/s.

Sentences are CoNLL-2003 dev sentences when ../shared/data is at hand (the first N, with their gold
entities), otherwise synthetic sentences with CoNLL's length distribution (mean ~14 words). The model
is the untrained pointer model on the chosen backbone: decoding speed then depends on how long the
generated sequences are, so the JSON also reports the mean generated length.

    python bench/bench_model.py                         # MiniLM backbone, 2 threads, writes bench_model.json
    python bench/bench_model.py --backbone path/to/bart --device cuda
    python bench/bench_model.py --smoke                 # tiny random backbone, a few seconds
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CONLL_DEV = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testa"
TYPES = ["LOC", "MISC", "ORG", "PER"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="minilm", help="minilm, tiny-random or a BART path")
    p.add_argument("--batch", type=int, default=16, help="training batch size")
    p.add_argument("--train-steps", type=int, default=20, help="timed training steps (after 2 warm-up steps)")
    p.add_argument("--sentences", type=int, default=256, help="sentences decoded per decoding measurement")
    p.add_argument("--eval-batch", type=int, default=32)
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--word-shape", action="store_true", help="with the word-shape embedding")
    p.add_argument("--smoke", action="store_true", help="tiny random backbone and few sentences: checks the script runs")
    p.add_argument("--json", type=Path, default=Path("bench_model.json"), help="where to write the results")
    args = p.parse_args(argv)
    if args.smoke:
        args.backbone, args.train_steps, args.sentences = "tiny-random", 3, 24
    return args


def load_sentences(n: int, seed: int = 0):
    """CoNLL dev sentences when available, else synthetic CoNLL-length sentences with a few entities."""
    from typeprior.model.corpus import Entity, Sentence

    if CONLL_DEV.is_file():
        from typeprior.model.corpus import read_corpus

        sents = [s for s in read_corpus(CONLL_DEV).sentences if s.tokens]
        return sents[:n], "conll2003 dev"
    rng = random.Random(seed)
    words = "the of to in said on for was at by with from New York John Smith Germany EU Reuters".split()
    out = []
    for _ in range(n):
        length = max(2, min(60, int(rng.lognormvariate(2.5, 0.6))))
        tokens = [rng.choice(words) for _ in range(length)]
        ents = []
        for start in range(0, length - 1, 7):
            ents.append(Entity.span(start, start + 1 + rng.randint(0, 1), rng.choice(TYPES)))
        out.append(Sentence(tokens, ents))
    return out, "synthetic (CoNLL-like lengths)"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    from typeprior.model.batching import encode_sentences
    from typeprior.model.decoding import decode
    from typeprior.model.predict import Tagger
    from typeprior.model.training import TrainingConfig, parameter_groups

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else args.device if args.device != "auto" else "cpu")
    sentences, source = load_sentences(max(args.sentences, args.batch * (args.train_steps + 2)))
    types = sorted({e.type for s in sentences for e in s.entities} | set(TYPES))
    tagger = Tagger.from_backbone(args.backbone, types, word_shape=args.word_shape)
    model = tagger.model.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    # training steps: forward, backward, clip, AdamW
    cfg = TrainingConfig.load(progress=False)
    opt = torch.optim.AdamW(parameter_groups(model, cfg))
    model.train()
    times = []
    for i in range(args.train_steps + 2):
        batch = sentences[i * args.batch : (i + 1) * args.batch]
        b = encode_sentences(batch, tagger.encoder, tagger.vocab).to(device)
        sync()
        t0 = time.perf_counter()
        out = model(**b.model_inputs())
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        if i >= 2:
            times.append(time.perf_counter() - t0)

    # decoding
    model.eval()
    dec_sents = sentences[: args.sentences]
    decoding = {}
    for beams in args.beams:
        n_tokens = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            for k in range(0, len(dec_sents), args.eval_batch):
                b = encode_sentences(dec_sents[k : k + args.eval_batch], tagger.encoder, tagger.vocab, with_labels=False).to(device)
                w = b.words
                state = model.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
                n_tokens += sum(len(s) for s in decode(model, state, beams))
        sync()
        seconds = time.perf_counter() - t0
        decoding[f"beam{beams}"] = {
            "sentences_per_s": len(dec_sents) / seconds,
            "seconds": seconds,
            "mean_generated_length": n_tokens / len(dec_sents),
        }

    result = {
        "backbone": args.backbone,
        "word_shape": args.word_shape,
        "device": str(device),
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "sentences": source,
        "mean_words": statistics.mean(len(s.tokens) for s in sentences),
        "train": {
            "batch": args.batch,
            "steps": len(times),
            "seconds_per_step": statistics.mean(times),
            "median_seconds_per_step": statistics.median(times),
            "sentences_per_s": args.batch / statistics.mean(times),
        },
        "decode": {"sentences": len(dec_sents), "batch": args.eval_batch, **decoding},
        "smoke": args.smoke,
    }
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
