"""`typeprior data import`: read a corpus file and store it as one split in the warehouse."""
from __future__ import annotations

from pathlib import Path

import typer
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import import_corpus as store_corpus
from typeprior.warehouse.errors import WarehouseError
from typeprior.warehouse.signals import InterruptedAfterCommit, terminate_like_interrupt

from .common import WarehouseOption, resolve_warehouse
from .sql import LockTimeoutOption, fail


def import_corpus(
    file: Path = typer.Argument(..., help="Corpus file to import."),
    corpus: str = typer.Option(..., "--corpus", "-c", help="Corpus name, e.g. conll2003."),
    split: str = typer.Option(..., "--split", "-s", help="Split name, e.g. train, dev, test."),
    format: str | None = typer.Option(None, "--format", help="Input format (detected from the content when omitted)."),
    warehouse: Path | None = WarehouseOption,
    lock_timeout: float | None = LockTimeoutOption,
) -> None:
    """Store a corpus file as CORPUS/SPLIT, replacing an earlier import of that split in one transaction."""
    from typeprior.model.corpus import CorpusError, read_corpus

    try:
        data = read_corpus(file, format=format)
    except CorpusError as exc:
        raise fail(exc) from None
    path = resolve_warehouse(warehouse)
    count: int | None = None
    try:
        with terminate_like_interrupt(), open_warehouse(path, lock_timeout_s=lock_timeout) as wh:
            count = store_corpus(wh, data, corpus, split, source=str(file))
            mentions = wh.query("SELECT mentions FROM splits WHERE corpus = ? AND split = ?", [corpus, split])[0]
    except WarehouseError as exc:
        raise fail(exc) from None
    except InterruptedAfterCommit as exc:
        typer.echo(f"error: {exc}: {corpus}/{split} of {path} is imported in full", err=True)
        raise typer.Exit(128 + exc.signum) from None
    except KeyboardInterrupt as exc:
        state = "is imported in full" if count is not None else "is as it was: nothing was imported"
        typer.echo(f"error: {str(exc) or 'interrupted'}: {corpus}/{split} of {path} {state}", err=True)
        raise typer.Exit(128 + getattr(exc, "signum", 2)) from None
    typer.echo(f"imported {count} sentences, {mentions['mentions']} mentions into {corpus}/{split} of {path}")
