"""Where a trained model's decoding time goes: one cProfile of `Tagger.predict_tokens` over dev sentences.

Prints the phases (encoder pass, the additions' extras, the decoding loop and its decoder steps) as cumulative
seconds, then the functions with the most time of their own. Run it on an idle machine; profiling slows Python-heavy
parts more than matrix products, so read the shares, not the rates (bench/decode_speed.py times the rates).

    python bench/profile_decode.py MODEL_DIR --dev ../shared/data/conll2003/eng.testa --sentences 320 --threads 2
"""
from __future__ import annotations

import cProfile
import io
import os
import pstats
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer

app = typer.Typer(add_completion=False)

PHASES = {  # label: (file suffix, function name) as pstats names them
    "predict_tokens": ("model/predict.py", "predict_tokens"),
    "encode (encoder pass + extras)": ("model/generator.py", "encode"),
    "extend_state (decoder extras)": ("model/extended.py", "extend_state"),
    "relation attention (grid, convolutions)": ("model/relation_attention.py", "forward"),
    "greedy_decode": ("model/decoding.py", "greedy_decode"),
    "decode_step (decoder + scores)": ("model/generator.py", "decode_step"),
    "allowed_mask": ("model/decoding.py", "allowed_mask"),
    "extended attention inputs": ("model/attention.py", "_extended_inputs"),
    "delinearize": ("model/targets.py", "delinearize"),
}


@app.command()
def main(
    model: Path = typer.Argument(..., help="a trained model folder (or a training output folder)"),
    dev: Path = typer.Option(..., help="corpus file whose first sentences are decoded"),
    sentences: int = typer.Option(320),
    batch_size: int = typer.Option(32),
    beams: int = typer.Option(1),
    threads: int = typer.Option(2),
    top: int = typer.Option(25, help="functions listed by their own time"),
) -> None:
    import torch

    from typeprior.model.corpus import read_corpus
    from typeprior.model.predict import Tagger

    torch.set_num_threads(threads)
    tokens = [s.tokens for s in read_corpus(dev).sentences[:sentences]]
    tagger = Tagger.load(model, device="cpu")
    tagger.predict_tokens(tokens[:batch_size], batch_size, beams)  # warm-up
    profile = cProfile.Profile()
    profile.enable()
    tagger.predict_tokens(tokens, batch_size, beams)
    profile.disable()
    stats = pstats.Stats(profile)
    total = {(f, n): v[3] for (f, _, n), v in stats.stats.items()}  # cumulative seconds per (file, function)
    typer.echo(f"{len(tokens)} sentences, batch {batch_size}, beams {beams}, {threads} threads; load {os.getloadavg()}")
    for label, (suffix, name) in PHASES.items():
        seconds = sum(t for (f, n), t in total.items() if n == name and f.endswith(suffix))
        typer.echo(f"  {label:42s} {seconds:8.3f} s")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    typer.echo(out.getvalue())


if __name__ == "__main__":
    app()
