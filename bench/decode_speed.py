"""Decoding speed of trained Table 4 models (greedy and beam 4) relative to the peer's inference, in one process.

The models are the best epochs of finished bench/table4.py cells; the peer is bench/peer.py's token classifier on
the same MiniLM encoder (its inference cost does not depend on its training, so a fresh one is timed). All are
timed on the same fixed dev subset, at the same batch size and thread count, interleaved, so machine load
affects them alike. Goal (issue 7): decoding ≥ 0.3× the peer's sentences/s.

    OMP_NUM_THREADS=1 python bench/decode_speed.py --corpus conll2003 --variant baseline --variant full --seed 42
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from peer import Peer  # noqa: E402
from table4 import RESULTS, Cell, load_protocol, protocol_option, subset  # noqa: E402


def timed(fn: Any, repeats: int) -> float:
    """Best of `repeats` wall times (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main(
    corpus: str = typer.Option("conll2003"),
    variant: list[str] = typer.Option(["baseline"]),
    seed: int = typer.Option(42),
    tag: list[str] = typer.Option([], help="per variant, the rerun tag of its cell ('-' for none)"),
    beams: list[int] = typer.Option([1, 4]),
    sentences: int = typer.Option(300, help="first N sentences of the dev subset"),
    batch_size: int = typer.Option(32),
    repeats: int = typer.Option(1),
    threads: int = typer.Option(1),
    json_out: Optional[Path] = typer.Option(RESULTS / "decode_speed.json"),
    protocol: Optional[Path] = typer.Option(None, help="protocol file whose cells and dev subset to use "
                                            "(default bench/table4.yaml), e.g. bench/table4-full.yaml"),
    models_dir: Optional[Path] = typer.Option(
        None, help="folder holding the cells' output folders (default: bench/results/models/<protocol>), e.g. to "
        "time another checkout's code on this checkout's trained cells"
    ),
) -> None:
    import torch

    from typeprior.model.predict import Tagger

    torch.set_num_threads(threads)
    protocol_option(protocol)
    protocol = load_protocol()
    dev = subset(protocol, corpus, "dev")[:sentences]
    tokens = [s.tokens for s in dev]
    types = sorted({e.type for s in subset(protocol, corpus, "train") for e in s.entities})
    peer = Peer(["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")], seed)
    peer.predict(dev[:batch_size], batch_size)  # warm-up
    rows: list[dict[str, Any]] = []
    tags = [t if t != "-" else "" for t in tag] or [""] * len(variant)
    for v, t in zip(variant, tags, strict=True):
        cell = Cell(protocol["protocol"], corpus, v, seed, t)
        cell_dir = cell.out_dir if models_dir is None else models_dir / cell.name
        if not (cell_dir / "model").is_dir():
            raise typer.BadParameter(f"no trained model of cell {cell.name} at {cell_dir / 'model'}")
        tagger = Tagger.load(cell_dir / "model", device="cpu")
        tagger.predict_tokens(tokens[:batch_size], batch_size, 1)  # warm-up
        for b in beams:
            peer_s = timed(lambda: peer.predict(dev, batch_size), repeats)
            model_s = timed(lambda: tagger.predict_tokens(tokens, batch_size, b), repeats)
            rows.append({"variant": v, "cell": cell.name, "beams": b, "sentences": len(dev), "model_sents_per_s": len(dev) / model_s,
                         "peer_sents_per_s": len(dev) / peer_s, "ratio": peer_s / model_s})
            typer.echo(json.dumps(rows[-1]))
    report = {"corpus": corpus, "seed": seed, "batch_size": batch_size, "threads": threads, "repeats": repeats,
              "load_average": os.getloadavg(), "rows": rows}
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    typer.run(main)
