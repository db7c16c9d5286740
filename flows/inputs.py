"""What a run reads: a corpus (files, or splits imported into the warehouse) and, for some variants, type priors."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typeprior.kb.priors import TypePriorSet
from typeprior.model.corpus import Sentence, read_corpus
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import import_corpus, list_splits, load_corpus

from .config import FlowConfigError, project_path, scheme_for, uses_priors

SPLITS = ("train", "dev", "test")


@dataclass
class CorpusInput:
    """A corpus's splits as sentences, and where each came from."""

    name: str
    splits: dict[str, list[Sentence]]
    sources: dict[str, str]

    def split(self, name: str) -> list[Sentence]:
        if name not in self.splits:
            raise FlowConfigError(
                f"corpus {self.name!r} has no {name} split (has {', '.join(sorted(self.splits)) or 'none'})"
            )
        return self.splits[name]

    def entity_types(self) -> list[str]:
        """Types in the training split, sorted: the model's label order and the order of E_t rows."""
        return sorted({e.type for s in self.split("train") for e in s.entities})


def read_files(files: dict[str, str | Path | None], format: str | None = None) -> dict[str, tuple[list[Sentence], str]]:
    out: dict[str, tuple[list[Sentence], str]] = {}
    for split, file in files.items():
        if file is None:
            continue
        path = project_path(file)
        out[split] = (read_corpus(path, format).sentences, str(path))
    return out


def resolve_corpus(
    warehouse: str | Path,
    corpus: str,
    train_file: str | Path | None = None,
    dev_file: str | Path | None = None,
    test_file: str | Path | None = None,
    format: str | None = None,
    import_files: bool = False,
) -> CorpusInput:
    """The corpus from files when any is given (imported into the warehouse when `import_files`), else the
    splits of `corpus` imported earlier with `typeprior data import`."""
    files = {"train": train_file, "dev": dev_file, "test": test_file}
    if any(f is not None for f in files.values()):
        if train_file is None:
            raise FlowConfigError(f"corpus {corpus!r}: a dev or test file was given without a train file")
        read = read_files(files, format)
        if import_files:
            with open_warehouse(warehouse) as wh, wh.transaction():
                for split, (sentences, source) in read.items():
                    import_corpus(wh, sentences, corpus, split, source=source, format=format)
        return CorpusInput(corpus, {k: v[0] for k, v in read.items()}, {k: v[1] for k, v in read.items()})
    splits: dict[str, list[Sentence]] = {}
    sources: dict[str, str] = {}
    with open_warehouse(warehouse) as wh:
        imported = {r["split"] for r in list_splits(wh) if r["corpus"] == corpus}
        for split in SPLITS:
            if split in imported:
                splits[split] = load_corpus(wh, corpus, split).sentences
                sources[split] = f"warehouse:{corpus}/{split}"
    if "train" not in splits:
        raise FlowConfigError(
            f"corpus {corpus!r}: no --train file given and no {corpus}/train split in the warehouse "
            f"{warehouse} (import one with `typeprior data import FILE --corpus {corpus} --split train`)"
        )
    return CorpusInput(corpus, splits, sources)


def resolve_priors(
    warehouse: str | Path, variant: str, corpus: str, types: list[str], build: str | int = "latest",
    scheme: str | None = None,
) -> TypePriorSet | None:
    """E_t for the corpus's types from a build, or None (the variant has no type attention, or learns E_T).

    `build`: an id; `latest` (the latest finished build of the corpus's scheme, which must exist); `auto` (that
    build when there is one, else learned E_T); `none` (learned E_T, the paper's no-knowledge-base ablation).
    """
    if not uses_priors(variant) or str(build) == "none":
        return None
    from typeprior.kb.errors import BuildNotFoundError
    from typeprior.kb.priors import load_type_priors

    chosen = scheme_for(corpus, scheme)
    try:
        named = str(build) in ("latest", "auto")  # an explicit build id says its own scheme
        priors = load_type_priors(warehouse, "latest" if str(build) == "auto" else build,
                                  chosen if named or scheme else None, types=types)
    except BuildNotFoundError as err:
        if str(build) == "auto":
            return None
        hint = "" if scheme else f" (or pass --scheme: corpus {corpus!r} reads scheme {chosen!r})"
        raise BuildNotFoundError(f"{err}{hint}") from None
    return priors
