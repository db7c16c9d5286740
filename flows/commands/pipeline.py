"""`typeprior pipeline | serve | ablation | sweep`: the orchestrated flows from the command line.

Prefect is imported inside the commands so that the rest of the CLI starts fast. Without $PREFECT_API_URL the
flows run on Prefect's ephemeral local server, started and stopped by the command.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from .common import WarehouseOption, user_errors
from .common import fail as _fail

app = typer.Typer(no_args_is_help=True)

EXAMPLE_SQL = (
    "SELECT status, kind, count(*) AS n FROM outcomes WHERE run_id = {run_id} GROUP BY ALL ORDER BY n DESC"
)


def _corpus_name(corpus: str | None, train: Path | None) -> str | None:
    """The corpus name given, else one from the training file's name (see `typeprior train --corpus`)."""
    if train is not None and corpus is None:
        from .model import corpus_name

        return corpus_name(train)
    return corpus


def _settings(lr_backbone: float | None = None, lr_new: float | None = None, **values: Any) -> Any:
    """The flows' RunSettings from the options given (the learning rates go into its training recipe)."""
    from ..settings import RunSettings

    training = {k: v for k, v in (("lr_backbone", lr_backbone), ("lr_new", lr_new)) if v is not None}
    return RunSettings.of(training=training or None, **values)


CorpusOption = typer.Option(
    None, "--corpus", "-c", help="Corpus name: its imported splits, or the name --train/--dev/--test files are "
    "recorded under (default: the train file's name; with no files either, the demo corpus).")
TrainOption = typer.Option(None, "--train", help="Training file (any format `typeprior data stats` reads).")
DevOption = typer.Option(None, "--dev", help="Dev file: picks the best epoch.")
TestOption = typer.Option(None, "--test", help="Test file: what the model is evaluated on (else dev).")
FormatOption = typer.Option(None, "--format", "-f", help="Corpus format (default: detected).")
BackboneOption = typer.Option(None, "--backbone", help="minilm (offline default), tiny-random, or a BART path/name.")
EpochsOption = typer.Option(None, "--epochs")
BatchOption = typer.Option(None, "--batch-size")
DeviceOption = typer.Option(None, "--device", help="auto, cpu or cuda.")
LrBackboneOption = typer.Option(None, "--lr-backbone")
LrNewOption = typer.Option(None, "--lr-new")
PriorsOption = typer.Option(
    "auto", "--priors", help="Priors build id; latest (of the corpus's scheme, must exist); auto (latest if any, "
    "else learned E_T); none (learned E_T).")
SchemeOption = typer.Option(None, "--scheme", help="Knowledge-base scheme (default: from the corpus name).")
QuietOption = typer.Option(False, "--quiet", help="No progress bars.")


@app.command()
def pipeline(
    corpus: Optional[str] = CorpusOption,
    train: Optional[Path] = TrainOption,
    dev: Optional[Path] = DevOption,
    test: Optional[Path] = TestOption,
    format: Optional[str] = FormatOption,
    scheme: Optional[str] = SchemeOption,
    kb_source: Optional[List[str]] = typer.Option(
        None, "--kb-source", help="Knowledge-base source, repeatable: snapshot (default), live, api:URL, dump:PATH."
    ),
    variant: Optional[str] = typer.Option(None, "--variant", help="baseline, rp-tra, rp-eta or full (default)."),
    backbone: Optional[str] = BackboneOption,
    w: Optional[float] = typer.Option(
        None, "--relation-weight", "--w", help="Relation-loss weight w (L = L_entity + w L_relation)."),
    epochs: Optional[int] = EpochsOption,
    batch_size: Optional[int] = BatchOption,
    device: Optional[str] = DeviceOption,
    lr_backbone: Optional[float] = LrBackboneOption,
    lr_new: Optional[float] = LrNewOption,
    warehouse: Optional[Path] = WarehouseOption,
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Where model folders go (default runs/models)."),
    reports_dir: Optional[Path] = typer.Option(None, "--reports-dir", help="Where reports go (default runs/reports)."),
    quiet: bool = QuietOption,
) -> None:
    """Import the corpus, build type priors, train and evaluate; with no options, the demo on embedded defaults."""
    from ..pipeline import pipeline_flow

    try:
        result = pipeline_flow(
            corpus=_corpus_name(corpus, train),
            train_file=None if train is None else str(train), dev_file=None if dev is None else str(dev),
            test_file=None if test is None else str(test), format=format, kb_sources=kb_source or None,
            variant=variant, settings=_settings(lr_backbone, lr_new, scheme=scheme, backbone=backbone, w=w,
                                                epochs=epochs, batch_size=batch_size, device=device),
            warehouse=None if warehouse is None else str(warehouse),
            models_dir=None if models_dir is None else str(models_dir),
            reports_dir=None if reports_dir is None else str(reports_dir), progress=not quiet,
        )
    except user_errors() as exc:
        raise _fail(exc) from None
    wh = result["warehouse"]
    typer.echo("")
    typer.echo(f"model:          {result['model_dir']}")
    typer.echo(f"report:         {result['report']}")
    typer.echo(f"learning curve: {result['learning_curve']}")
    typer.echo(f"warehouse:      {wh}  (train run {result['train_run_id']}, evaluate run {result['evaluate_run_id']}"
               f", priors build {result['priors_build'] if result['priors_build'] is not None else '–'})")
    typer.echo(f"{result['split']} F1:         {100 * result['f1']:.2f}")
    typer.echo("try:")
    typer.echo(f"  typeprior sql --warehouse {wh} \"{EXAMPLE_SQL.format(run_id=result['evaluate_run_id'])}\"")


@app.command()
def serve(
    config: Optional[Path] = typer.Option(
        None, "--config", help="Deployments file (default: $TYPEPRIOR_DEPLOYMENTS or flows/deployments.yaml)."
    ),
    warehouse: Optional[Path] = WarehouseOption,
    limit: int = typer.Option(1, "--limit", help="Runs at a time (1: one warehouse writer, all cores to torch).", min=1),
) -> None:
    """Serve the prior-rebuild schedule and on-demand training (Prefect serve) until SIGTERM or Ctrl-C."""
    from prefect.settings import PREFECT_API_URL

    from ..config import FlowConfigError
    from ..serve import serve_deployments

    if not PREFECT_API_URL.value():
        typer.echo("note: PREFECT_API_URL is not set, so these deployments live on a temporary server that goes away "
                   "with this process; run `prefect server start` and export PREFECT_API_URL to keep the schedule "
                   "and reach it with `prefect deployment run`.", err=True)
    try:
        serve_deployments(config, None if warehouse is None else str(warehouse), limit)
    except FlowConfigError as exc:
        raise _fail(exc) from None


def _grid_common(corpus: Optional[str], train: Optional[Path], dev: Optional[Path], test: Optional[Path],
                 format: Optional[str], warehouse: Optional[Path]) -> dict[str, Any]:
    """The corpus of an ablation or sweep: files, imported splits, or (given neither) the demo corpus."""
    from ..config import defaults

    files = {"train_file": train, "dev_file": dev, "test_file": test}
    if corpus is None and train is None:
        demo = defaults()["pipeline"]
        corpus = demo["corpus"]
        files = {k: demo[k] for k in files}
    return {
        "corpus": _corpus_name(corpus, train),
        **{k: None if v is None else str(v) for k, v in files.items()}, "format": format,
        "warehouse": None if warehouse is None else str(warehouse),
    }


@app.command()
def ablation(
    corpus: Optional[str] = CorpusOption,
    train: Optional[Path] = TrainOption,
    dev: Optional[Path] = DevOption,
    test: Optional[Path] = TestOption,
    format: Optional[str] = FormatOption,
    variant: Optional[List[str]] = typer.Option(None, "--variant", help="Repeatable (default: all four)."),
    seed: Optional[List[int]] = typer.Option(None, "--seed", help="Repeatable (default: flows/defaults.yaml)."),
    backbone: Optional[str] = BackboneOption,
    priors: str = PriorsOption,
    scheme: Optional[str] = SchemeOption,
    epochs: Optional[int] = EpochsOption,
    batch_size: Optional[int] = BatchOption,
    device: Optional[str] = DeviceOption,
    lr_backbone: Optional[float] = LrBackboneOption,
    lr_new: Optional[float] = LrNewOption,
    warehouse: Optional[Path] = WarehouseOption,
    quiet: bool = QuietOption,
) -> None:
    """The paper's Table 4: every variant with the same seeds on one corpus; prints the table as JSON."""
    from ..ablation import ablation_flow

    try:
        result = ablation_flow(**_grid_common(corpus, train, dev, test, format, warehouse), variants=variant or None,
                               seeds=seed or None,
                               settings=_settings(lr_backbone, lr_new, backbone=backbone, priors=priors, scheme=scheme,
                                                  epochs=epochs, batch_size=batch_size, device=device),
                               progress=not quiet)
    except user_errors() as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({k: result[k] for k in ("run_id", "split", "report", "rows")}, default=str))


@app.command()
def sweep(
    corpus: Optional[str] = CorpusOption,
    train: Optional[Path] = TrainOption,
    dev: Optional[Path] = DevOption,
    test: Optional[Path] = TestOption,
    format: Optional[str] = FormatOption,
    w: Optional[List[float]] = typer.Option(
        None, "--relation-weight", "--w", help="A relation-loss weight w to train with, repeatable (default: 0.1 ... 0.9)."),
    seed: Optional[List[int]] = typer.Option(None, "--seed", help="Repeatable."),
    variant: Optional[str] = typer.Option(None, "--variant", help="Variant swept (default: full)."),
    backbone: Optional[str] = BackboneOption,
    priors: str = PriorsOption,
    scheme: Optional[str] = SchemeOption,
    epochs: Optional[int] = EpochsOption,
    batch_size: Optional[int] = BatchOption,
    device: Optional[str] = DeviceOption,
    lr_backbone: Optional[float] = LrBackboneOption,
    lr_new: Optional[float] = LrNewOption,
    warehouse: Optional[Path] = WarehouseOption,
    quiet: bool = QuietOption,
) -> None:
    """The paper's Fig. 2: F1 against the relation-loss weight w; prints the rows and the plot's path as JSON."""
    from ..weight_sweep import weight_sweep_flow

    try:
        result = weight_sweep_flow(**_grid_common(corpus, train, dev, test, format, warehouse), weights=w or None,
                                   seeds=seed or None, variant=variant,
                                   settings=_settings(lr_backbone, lr_new, backbone=backbone, priors=priors,
                                                      scheme=scheme, epochs=epochs, batch_size=batch_size,
                                                      device=device),
                                   progress=not quiet)
    except user_errors() as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({k: result[k] for k in ("run_id", "split", "report", "plot", "rows")}, default=str))
