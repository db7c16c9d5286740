"""`typeprior data`: inspect and convert corpus files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from typeprior.model.corpus import FORMATS, WRITABLE_FORMATS, CorpusError, read_corpus, write_corpus

app = typer.Typer(no_args_is_help=True)

FormatOption = typer.Option(None, "--format", "-f", help=f"Input format, one of {', '.join(FORMATS)} (default: detected).")
SchemeOption = typer.Option(
    None, "--scheme", help="Tag scheme of tagged input: iob1, bio or bioes (default: detected from the tags)."
)
LenientOption = typer.Option(
    False,
    "--lenient",
    help="Read broken tag sequences as conlleval does (I- after O starts an entity) instead of failing.",
)


def _read_options(scheme: str | None, lenient: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if scheme is not None:
        options["scheme"] = scheme
    if lenient:
        options["strict"] = False
    return options


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


@app.command()
def stats(
    file: Path = typer.Argument(..., help="Corpus file."),
    format: Optional[str] = FormatOption,
    scheme: Optional[str] = SchemeOption,
    lenient: bool = LenientOption,
) -> None:
    """Print sentence, entity, kind and per-type counts as one JSON object."""
    try:
        corpus = read_corpus(file, format, **_read_options(scheme, lenient))
    except CorpusError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(corpus.stats(), ensure_ascii=False))


@app.command()
def convert(
    src: Path = typer.Argument(..., help="Corpus file to read."),
    dst: Path = typer.Argument(..., help="File to write (written aside, then renamed)."),
    from_: Optional[str] = typer.Option(None, "--from", help=f"Input format, one of {', '.join(FORMATS)} (default: detected)."),
    to: str = typer.Option("jsonl", "--to", help=f"Output format, one of {', '.join(WRITABLE_FORMATS)}."),
    scheme: Optional[str] = SchemeOption,
    lenient: bool = LenientOption,
    to_scheme: Optional[str] = typer.Option(
        None, "--to-scheme", help="Tag scheme written by bio and layered-bio: bio (default), bioes or iob1."
    ),
) -> None:
    """Convert a corpus between formats; fails, naming the sentence, where the target cannot express an entity."""
    try:
        corpus = read_corpus(src, from_, **_read_options(scheme, lenient))
        write_corpus(corpus, dst, to, **({"scheme": to_scheme} if to_scheme else {}))
    except CorpusError as exc:
        raise _fail(exc) from None
    summary = {"from": corpus.format, "to": to, "out": str(dst), **corpus.stats()}
    typer.echo(json.dumps(summary, ensure_ascii=False))
