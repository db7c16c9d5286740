"""`typeprior train | evaluate | predict`: the generative NER model from the command line.

Torch and transformers are imported inside the commands so that the rest of the CLI starts fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from typeprior.model.corpus import CorpusError, read_corpus

from .common import WarehouseOption

app = typer.Typer(no_args_is_help=True)

FormatOption = typer.Option(None, "--format", "-f", help="Corpus format (default: detected).")
BeamsOption = typer.Option(None, "--beams", help="Beam size (default: the model's; 1 = greedy).")
StructureOption = typer.Option(
    None, "--entity-structure", help="Decode as if trained on flat, nested or discontinuous data (default: what the "
    "model's training data held; a model saved before that was recorded decodes unconstrained).")


LOCKED_EXIT_CODE = 75  # another process holds the warehouse (as `typeprior sql`): retrying later may succeed


def _fail(exc: Exception) -> typer.Exit:
    """Exit 75 when the warehouse is locked by another process, else 2, with the error on stderr."""
    from typeprior.warehouse.errors import WarehouseLockedError

    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=LOCKED_EXIT_CODE if isinstance(exc, WarehouseLockedError) else 2)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors of bad input (files, settings, warehouse, knowledge base) that end a command with a message."""
    from typeprior.kb.errors import KBError
    from typeprior.model.training import TrainingError
    from typeprior.warehouse.errors import WarehouseError

    return (CorpusError, TrainingError, WarehouseError, KBError, ValueError, LookupError, OSError)


def _report_epoch(record: dict) -> None:
    """One line per epoch on stderr (stdout carries the final JSON)."""
    parts = [f"epoch {record['epoch'] + 1}", f"loss {record['loss']:.4f}"]
    if "relation_loss" in record:
        parts.append(f"relation {record['relation_loss']:.4f}")
    if "dev_f1" in record:
        parts += [f"dev p {record['dev_p']:.4f}", f"r {record['dev_r']:.4f}", f"f1 {record['dev_f1']:.4f}"]
    typer.echo("  ".join(parts), err=True)


def _file_priors(warehouse: Path | None, priors: str | None, variant: str, types: list[str],
                 scheme: str | None) -> tuple[object | None, dict | None]:
    """Type vectors and their build summary for an unrecorded run: read only when --priors is given."""
    from typeprior.flows.config import uses_priors

    if priors is None or not uses_priors(variant):
        if priors is None and uses_priors(variant):
            typer.echo(f"note: no --priors: variant {variant!r} learns E_T instead of reading a knowledge-base build",
                       err=True)
        if priors is not None:
            typer.echo(f"note: variant {variant!r} has no entity type attention; --priors is ignored", err=True)
        return None, None
    from typeprior.kb.priors import load_type_priors

    from .common import resolve_warehouse

    chosen = load_type_priors(resolve_warehouse(warehouse), priors, scheme, types=types)
    summary = {"build_id": chosen.build_id, "scheme": chosen.scheme, "content_hash": chosen.content_hash,
               "empty_types": chosen.empty_types}
    return chosen.vectors, summary


def parse_model_settings(items: list[str]) -> dict[str, object]:
    """`--set KEY=VALUE` items as model/additions.yaml overrides; an unknown key or a bad item names itself."""
    import yaml

    from typeprior.model.config import SETTINGS

    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. focal_alpha=5.0", param_hint="--set")
        if key not in SETTINGS:
            raise typer.BadParameter(f"{key!r} is not a model/additions.yaml setting (known: {', '.join(SETTINGS)})",
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
    backbone: str = typer.Option("minilm", "--backbone", help="minilm (offline default), tiny-random, or a BART path/name."),
    out: Path = typer.Option(..., "--out", help="Output folder: model/ (best), checkpoint/ (latest), history.json."),
    variant: str = typer.Option("full", "--variant", help="baseline, rp-tra, rp-eta or full (the paper's model)."),
    priors: Optional[str] = typer.Option(
        None, "--priors", help="Knowledge-base build id or 'latest' for E_T (rp-eta, full). Recorded runs default "
        "to latest; without --corpus/--warehouse and --priors, E_T is learned."),
    w: Optional[float] = typer.Option(None, "--w", help="Relation loss weight w (L = L_entity + w L_relation; 0.3)."),
    scheme: Optional[str] = typer.Option(None, "--scheme", help="Knowledge-base scheme of the priors (default: the corpus's)."),
    warehouse: Optional[Path] = WarehouseOption,
    corpus: Optional[str] = typer.Option(
        None, "--corpus", help="Corpus name: record the run in the warehouse (files, or its imported splits)."),
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
    settings: Optional[list[str]] = typer.Option(
        None, "--set", help="A model/additions.yaml setting for this model, KEY=VALUE with a YAML value, repeatable: "
        "--set focal_alpha=5.0 (the paper's), --set grid_dim=256. A resumed checkpoint keeps its own."),
    format: Optional[str] = FormatOption,
    resume: bool = typer.Option(False, "--resume", help="Continue the checkpoint in --out (and its recorded run)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a model (one of the paper's variants). Prints the result as JSON.

    With --corpus (or --warehouse) the run is recorded in the warehouse: configuration, priors build, every
    epoch's losses and dev scores; --resume continues it.
    """
    from typeprior.flows.config import check_variant
    from typeprior.model.training import TrainingConfig, train as train_model

    model_settings = parse_model_settings(settings or [])
    try:
        check_variant(variant)
        if corpus is not None or warehouse is not None:
            result = _train_recorded(
                warehouse, corpus, out, train_file, dev_file, format, variant, backbone, priors, w, scheme, seed,
                resume, quiet, training_config, word_shape, max_len, max_len_a, model_settings,
                epochs=epochs, batch_size=batch_size, lr_backbone=lr_backbone, lr_new=lr_new, device=device,
                num_beams=beams,
            )
            typer.echo(json.dumps(result))
            return
        if train_file is None:
            raise typer.BadParameter("give --train FILE, or --corpus NAME to train on its imported splits")
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
        types = sorted({e.type for s in train_corpus.sentences for e in s.entities})
        vectors, build = _file_priors(warehouse, priors, variant, types, scheme)
        model_config = {"word_shape": word_shape, "num_beams": beams, "max_len": max_len, "max_len_a": max_len_a,
                        "variant": variant, "w": w, "priors_build": build, "type_vectors": vectors, **model_settings}
        model_config = {k: v for k, v in model_config.items() if v is not None}
        result = train_model(
            train_corpus.sentences,
            dev_corpus.sentences if dev_corpus is not None else None,
            backbone,
            out,
            cfg,
            entity_types=types,
            resume=resume,
            on_epoch=None if quiet else _report_epoch,
            **model_config,
        )
    except typer.BadParameter:
        raise
    except _user_errors() as exc:
        raise _fail(exc) from None
    typer.echo(
        json.dumps(
            {"model": str(result.model_dir), "best_epoch": result.best_epoch, "best_f1": result.best_f1,
             "epochs": len(result.history), "variant": variant}
        )
    )


def _train_recorded(warehouse: Path | None, corpus: str | None, out: Path, train_file: Path | None,
                    dev_file: Path | None, format: str | None, variant: str, backbone: str, priors: str | None,
                    w: float | None, scheme: str | None, seed: int | None, resume: bool, quiet: bool,
                    training_config: Path | None, word_shape: bool, max_len: int | None, max_len_a: float | None,
                    model_settings: dict[str, object], **training: object) -> dict:
    """A run recorded in the warehouse through flows.training.train_recorded."""
    import yaml

    from typeprior.flows.training import train_recorded

    from .common import resolve_warehouse

    if corpus is None:
        raise typer.BadParameter("--warehouse records the run under a corpus name: give --corpus too")
    if word_shape or max_len is not None or max_len_a is not None:
        raise typer.BadParameter("--word-shape, --max-len and --max-len-a apply to unrecorded runs only "
                                 "(drop --corpus/--warehouse)")
    settings = dict(yaml.safe_load(training_config.read_text()) or {}) if training_config is not None else {}
    settings.update({k: v for k, v in training.items() if v is not None})
    outcome = train_recorded(
        resolve_warehouse(warehouse), corpus, out, train_file=train_file, dev_file=dev_file, format=format,
        variant=variant, backbone=backbone, priors=priors if priors is not None else "latest", w=w, scheme=scheme,
        seed=seed if seed is not None else 42, resume=resume, progress=not quiet, model=model_settings, **settings,
    )
    return {"model": outcome.model_dir, "best_epoch": outcome.best_epoch, "best_f1": outcome.best_f1,
            "epochs": outcome.epochs, "variant": variant, "run_id": outcome.run_id,
            "priors_build": outcome.priors_build}


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
    from typeprior.model.persistence import ModelFolderError
    from typeprior.model.predict import Tagger, resolve_model_dir

    try:
        sentences = read_corpus(data, format).sentences
        if corpus is not None or warehouse is not None:
            from typeprior.flows.evaluation import evaluate_run

            from .common import resolve_warehouse

            if corpus is None:
                raise typer.BadParameter("--warehouse records the evaluation under a corpus name: give --corpus too")
            folder = resolve_model_dir(model_dir)
            path = report if report is not None else folder.parent / f"evaluation-{corpus}-{split}.md"
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
    except (ModelFolderError, *_user_errors()) as exc:
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
    from typeprior.model.persistence import ModelFolderError
    from typeprior.model.predict import Tagger

    from .input_lines import BadLine, read_lines, undecodable

    try:
        tagger = Tagger.load(model_dir)
        if structure is not None:
            tagger.set_entity_structure(structure)
        lines = read_lines(input)
    except (ModelFolderError, OSError, UnicodeDecodeError, ValueError) as exc:
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
