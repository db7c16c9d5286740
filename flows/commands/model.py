"""`typeprior train | evaluate | predict`: the generative NER model from the command line.

Torch and transformers are imported inside the commands so that the rest of the CLI starts fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from typeprior.model.corpus import read_corpus

from .common import WarehouseOption, user_errors
from .common import fail as _fail

app = typer.Typer(no_args_is_help=True)

FormatOption = typer.Option(None, "--format", "-f", help="Corpus format (default: detected).")
BeamsOption = typer.Option(None, "--beams", help="Beam size (default: the model's; 1 = greedy).")
StructureOption = typer.Option(
    None, "--entity-structure", help="Decode as if trained on flat, nested or discontinuous data (default: what the "
    "model's training data held; a model saved before that was recorded decodes unconstrained).")


def _report_epoch(record: dict) -> None:
    """One line per epoch on stderr (stdout carries the final JSON)."""
    parts = [f"epoch {record['epoch'] + 1}", f"loss {record['loss']:.4f}"]
    if "relation_loss" in record:
        parts.append(f"relation {record['relation_loss']:.4f}")
    if "dev_f1" in record:
        parts += [f"dev p {record['dev_p']:.4f}", f"r {record['dev_r']:.4f}", f"f1 {record['dev_f1']:.4f}"]
    typer.echo("  ".join(parts), err=True)


def parse_model_settings(items: list[str]) -> dict[str, object]:
    """`--set KEY=VALUE` items as model/additions.yaml overrides; an unknown key or a bad item names itself."""
    import yaml
    from typeprior.model.config import MODEL_KEYS

    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. focal_alpha=5.0", param_hint="--set")
        if key not in MODEL_KEYS:
            raise typer.BadParameter(f"{key!r} is not a model setting (known: {', '.join(MODEL_KEYS)})",
                                     param_hint="--set")
        try:
            out[key] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise typer.BadParameter(f"{item!r}: the value is not YAML ({exc})", param_hint="--set") from None
    return out


@app.command()
def train(
    train_file: Optional[Path] = typer.Option(None, "--train", help="Training corpus file (or --corpus imported)."),
    dev_file: Optional[Path] = typer.Option(None, "--dev", help="Dev corpus file: selects the best epoch by F1."),
    backbone: Optional[str] = typer.Option(
        None, "--backbone", help="minilm (offline default), tiny-random, or a BART path/name; picks the training "
        "recipe of model/training.yaml."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Output folder: model/ (best), history.json, learning_curve.png (default: a new folder "
        "under runs/models)."),
    variant: Optional[str] = typer.Option(None, "--variant", help="baseline, rp-tra, rp-eta or full (default)."),
    priors: Optional[str] = typer.Option(
        None, "--priors", help="E_T of rp-eta and full: a knowledge-base build id, latest (must exist), auto (the "
        "latest build of the corpus's scheme if any, else learned; the default) or none (learned)."),
    w: Optional[float] = typer.Option(
        None, "--relation-weight", "--w", help="Relation-loss weight w (L = L_entity + w L_relation; default from "
        "model/additions.yaml)."),
    scheme: Optional[str] = typer.Option(None, "--scheme", help="Knowledge-base scheme of the priors (default: the corpus's)."),
    warehouse: Optional[Path] = WarehouseOption,
    corpus: Optional[str] = typer.Option(
        None, "--corpus", help="Corpus name the run is recorded under, and its imported splits when no --train is "
        "given (default: the train file's name)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default: the backbone's recipe)."),
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
    settings: Optional[list[str]] = typer.Option(
        None, "--set", help="A model setting for this model, KEY=VALUE with a YAML value, repeatable: "
        "--set focal_alpha=5.0 (the paper's), --set grid_dim=256. A resumed checkpoint keeps its own."),
    format: Optional[str] = FormatOption,
    resume: bool = typer.Option(False, "--resume", help="Continue the checkpoint in --out (and its recorded run)."),
    keep_checkpoint: bool = typer.Option(
        False, "--keep-checkpoint", help="Keep checkpoint/ (optimizer state, about twice the model) after the run."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar and no per-epoch lines."),
) -> None:
    """Train a model (one of the paper's variants), recorded in the warehouse. Prints the result as JSON.

    The warehouse (created when missing) records the configuration, the priors build, every epoch's losses and
    dev scores; --resume continues an interrupted run, and returns a finished one as it is.
    """
    from typeprior.flows.config import defaults, uses_priors
    from typeprior.flows.report import previous_build
    from typeprior.flows.settings import RunSettings
    from typeprior.flows.training import train_recorded

    from .common import resolve_warehouse

    model_settings = parse_model_settings(settings or [])
    if word_shape:
        model_settings["word_shape"] = True
    model_settings.update({k: v for k, v in (("max_len", max_len), ("max_len_a", max_len_a), ("num_beams", beams))
                           if v is not None})
    if train_file is None and corpus is None:
        raise typer.BadParameter("give --train FILE, or --corpus NAME to train on its imported splits")
    name = corpus or corpus_name(train_file)
    wh = resolve_warehouse(warehouse).resolve()
    try:
        recipe = {k: v for k, v in (("lr_backbone", lr_backbone), ("lr_new", lr_new), ("num_beams", beams),
                                     ("keep_checkpoint", keep_checkpoint or None)) if v is not None}
        run_settings = RunSettings.of(backbone=backbone, priors=priors, w=w, scheme=scheme, seed=seed, epochs=epochs,
                                      batch_size=batch_size, device=device, training=recipe,
                                      model=model_settings)
        outcome = train_recorded(
            wh, name, out, run_settings, train_file=train_file, dev_file=dev_file, format=format, variant=variant,
            resume=resume, progress=not quiet, training_file=training_config,
            on_epoch=None if quiet else _report_epoch,
        )
    except user_errors() as exc:
        raise _fail(exc) from None
    chosen = variant or defaults()["train"]["variant"]
    if outcome.priors_build is None and uses_priors(chosen) and priors != "none":
        typer.echo(f"note: no knowledge-base build for corpus {name!r}: variant {chosen!r} learned E_T "
                   "(build priors with `typeprior kb build`, then pass --priors latest)", err=True)
    typer.echo(json.dumps({"model": outcome.model_dir, "best_epoch": outcome.best_epoch, "best_f1": outcome.best_f1,
                           "epochs": outcome.epochs, "variant": chosen, "run_id": outcome.run_id,
                           "priors_build": outcome.priors_build, "warehouse": str(wh),
                           "previous_build": previous_build(outcome.priors_comparison)}))


def report_path(corpus: str, split: str) -> Path:
    """Where an evaluation's Markdown report goes by default: runs/reports, named as the flows name it."""
    import time

    from typeprior.flows.config import output_dir

    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}"
    return output_dir("reports") / f"evaluation-{corpus}-{split}-{stamp}.md"


def corpus_name(train_file: Path) -> str:
    """A corpus name from a training file: its name without suffix, or its folder's for split-named files
    (`data/cadec/train.json` is `cadec`)."""
    stem = train_file.name.split(".")[0]
    if stem.lower() in {"train", "dev", "test", "valid", "eng", "wnut17train"} and train_file.resolve().parent.name:
        return train_file.resolve().parent.name
    return stem or "corpus"


@app.command()
def evaluate(
    model_dir: Path = typer.Option(..., "--model", help="Model folder (or a training output folder)."),
    data: Path = typer.Option(..., "--data", help="Gold corpus file."),
    format: Optional[str] = FormatOption,
    beams: Optional[int] = BeamsOption,
    batch_size: int = typer.Option(32, "--batch-size"),
    warehouse: Optional[Path] = WarehouseOption,
    corpus: Optional[str] = typer.Option(
        None, "--corpus", help="Corpus name: record the evaluation (scores, predictions, report) in the warehouse."),
    split: str = typer.Option("test", "--split", help="Split name the recorded evaluation is filed under."),
    report: Optional[Path] = typer.Option(None, "--report", help="Markdown report path (recorded evaluations)."),
    structure: Optional[str] = StructureOption,
) -> None:
    """Score a model on a corpus; prints JSON with p, r, f1, per_type and per_kind."""
    from typeprior.model.predict import Tagger, resolve_model_dir

    try:
        sentences = read_corpus(data, format).sentences
        if corpus is not None or warehouse is not None:
            from typeprior.flows.evaluation import evaluate_run

            from .common import resolve_warehouse

            if corpus is None:
                raise typer.BadParameter("--warehouse records the evaluation under a corpus name: give --corpus too")
            folder = resolve_model_dir(model_dir)
            path = report if report is not None else report_path(corpus, split)
            outcome = evaluate_run(resolve_warehouse(warehouse), folder, corpus, split, sentences, path,
                                   source=str(data), batch_size=batch_size, num_beams=beams, progress=False,
                                   entity_structure=structure)
            typer.echo(json.dumps({**outcome.scores, "run_id": outcome.run_id, "report": str(path)},
                                  ensure_ascii=False, default=str))
            return
        tagger = Tagger.load(model_dir)
        if structure is not None:
            tagger.set_entity_structure(structure)
    except typer.BadParameter:
        raise
    except user_errors() as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(tagger.evaluate(sentences, batch_size, beams), ensure_ascii=False))


@app.command()
def predict(
    model_dir: Path = typer.Option(..., "--model", help="Model folder (or a training output folder)."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Text file, one sentence per line (default: stdin)."),
    tokens: bool = typer.Option(False, "--tokens", help="Lines are already tokenised (split on whitespace)."),
    beams: Optional[int] = BeamsOption,
    batch_size: int = typer.Option(32, "--batch-size"),
    structure: Optional[str] = StructureOption,
) -> None:
    """Tag text lines; writes one JSON object per line (entities with character offsets)."""
    from typeprior.model.predict import Tagger

    from .input_lines import BadLine, read_lines, undecodable

    try:
        tagger = Tagger.load(model_dir)
        if structure is not None:
            tagger.set_entity_structure(structure)
        lines = read_lines(input)
    except user_errors() as exc:
        raise _fail(exc) from None
    for k in range(0, len(lines), batch_size):
        chunk = lines[k : k + batch_size]
        good = [line for line in chunk if isinstance(line, str)]
        results = iter(tagger.predict([line.split() for line in good] if tokens else good, batch_size, beams)
                       if good else [])
        for line in chunk:
            typer.echo(json.dumps(line.answer() if isinstance(line, BadLine) else next(results), ensure_ascii=False))
    if (error := undecodable(lines)) is not None:
        raise _fail(error)
