"""`typeprior train | evaluate | predict`: the generative NER model from the command line.

Torch and transformers are imported inside the commands so that the rest of the CLI starts fast.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from model.corpus import CorpusError, read_corpus

app = typer.Typer(no_args_is_help=True)

FormatOption = typer.Option(None, "--format", "-f", help="Corpus format (default: detected).")
BeamsOption = typer.Option(None, "--beams", help="Beam size (default: the model's; 1 = greedy).")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


def _report_epoch(record: dict) -> None:
    """One line per epoch on stderr (stdout carries the final JSON)."""
    parts = [f"epoch {record['epoch'] + 1}", f"loss {record['loss']:.4f}"]
    if "dev_f1" in record:
        parts += [f"dev p {record['dev_p']:.4f}", f"r {record['dev_r']:.4f}", f"f1 {record['dev_f1']:.4f}"]
    typer.echo("  ".join(parts), err=True)


@app.command()
def train(
    train_file: Path = typer.Option(..., "--train", help="Training corpus file."),
    dev_file: Optional[Path] = typer.Option(None, "--dev", help="Dev corpus file: selects the best epoch by F1."),
    backbone: str = typer.Option("minilm", "--backbone", help="minilm (offline default), tiny-random, or a BART path/name."),
    out: Path = typer.Option(..., "--out", help="Output folder: model/ (best), checkpoint/ (latest), history.json."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default from model/training.yaml)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    lr_backbone: Optional[float] = typer.Option(None, "--lr-backbone"),
    lr_new: Optional[float] = typer.Option(None, "--lr-new"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    beams: Optional[int] = typer.Option(None, "--beams", help="Beam size for dev decoding and the saved model."),
    word_shape: bool = typer.Option(False, "--word-shape/--no-word-shape", help="Add a word-shape embedding (case cues)."),
    max_len: Optional[int] = typer.Option(None, "--max-len", help="Decoding budget: max_len + max_len_a x words (BARTNER: 10)."),
    max_len_a: Optional[float] = typer.Option(None, "--max-len-a", help="CoNLL 0.6, CADEC 1.6, GENIA 0.5."),
    training_config: Optional[Path] = typer.Option(None, "--config", help="Training settings YAML (default: packaged)."),
    format: Optional[str] = FormatOption,
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in --out instead of resuming."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a model; resumes from OUT/checkpoint when one is there. Prints the result as JSON."""
    from model.training import TrainingConfig, TrainingError, train as train_model

    try:
        train_corpus = read_corpus(train_file, format)
        dev_corpus = read_corpus(dev_file, format) if dev_file is not None else None
        cfg = TrainingConfig.load(
            training_config,
            epochs=epochs,
            batch_size=batch_size,
            lr_backbone=lr_backbone,
            lr_new=lr_new,
            seed=seed,
            device=device,
            num_beams=beams,
            progress=False if quiet else None,
        )
        model_config = {"word_shape": word_shape, "num_beams": beams, "max_len": max_len, "max_len_a": max_len_a}
        model_config = {k: v for k, v in model_config.items() if v is not None}
        result = train_model(
            train_corpus.sentences,
            dev_corpus.sentences if dev_corpus is not None else None,
            backbone,
            out,
            cfg,
            resume=not fresh,
            on_epoch=None if quiet else _report_epoch,
            **model_config,
        )
    except (CorpusError, TrainingError, ValueError, OSError) as exc:
        raise _fail(exc) from None
    typer.echo(
        json.dumps(
            {"model": str(result.model_dir), "best_epoch": result.best_epoch, "best_f1": result.best_f1, "epochs": len(result.history)}
        )
    )


@app.command()
def evaluate(
    model_dir: Path = typer.Option(..., "--model", help="Model folder (or a training output folder)."),
    data: Path = typer.Option(..., "--data", help="Gold corpus file."),
    format: Optional[str] = FormatOption,
    beams: Optional[int] = BeamsOption,
    batch_size: int = typer.Option(32, "--batch-size"),
) -> None:
    """Score a model on a corpus; prints JSON with p, r, f1, per_type and per_kind."""
    from model.persistence import ModelFolderError
    from model.predict import Tagger

    try:
        tagger = Tagger.load(model_dir)
        corpus = read_corpus(data, format)
    except (CorpusError, ModelFolderError, OSError) as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(tagger.evaluate(corpus.sentences, batch_size, beams), ensure_ascii=False))


@app.command()
def predict(
    model_dir: Path = typer.Option(..., "--model", help="Model folder (or a training output folder)."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Text file, one sentence per line (default: stdin)."),
    tokens: bool = typer.Option(False, "--tokens", help="Lines are already tokenised (split on whitespace)."),
    beams: Optional[int] = BeamsOption,
    batch_size: int = typer.Option(32, "--batch-size"),
) -> None:
    """Tag text lines; writes one JSON object per line (entities with character offsets)."""
    from model.persistence import ModelFolderError
    from model.predict import Tagger

    try:
        tagger = Tagger.load(model_dir)
        lines = (input.read_text(encoding="utf-8") if input is not None else sys.stdin.read()).splitlines()
    except (ModelFolderError, OSError, UnicodeDecodeError) as exc:
        raise _fail(exc) from None
    for k in range(0, len(lines), batch_size):
        chunk = lines[k : k + batch_size]
        results = tagger.predict([line.split() for line in chunk] if tokens else chunk, batch_size, beams)
        for r in results:
            typer.echo(json.dumps(r, ensure_ascii=False))
