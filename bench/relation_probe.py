"""Relation-task accuracy of trained cells: the word-pair grid's argmax against its gold grid (issue 7 diagnosis).

For each cell (a bench/table4.py output folder, or its `model/` folder), the model's encoder reads the cell's dev
subset; the relation head (model/relation.py) scores every word pair, the most likely relation per pair is its
prediction (RelationPrediction.predict), and the gold grid is the one the trainer builds (model/extended.py
relation_targets: None / Inside / Begin-End, entities on truncated words left out). No decoder runs: the grid
depends on the encoder alone.

Reported per cell, over the labelled word pairs of the dev subset:
- precision, recall and F1 per relation (None, Inside, Begin-End), and Begin-End split into the diagonal (one-word
  entities) and the lower triangle (longer entities);
- per entity kind (flat / nested / discontinuous): the share of gold entities whose every cell (its Inside links
  and its Begin-End cell) is predicted with its gold relation;
- the share of sentences whose whole grid is right;
- per gold relation, the mean predicted distribution, and per relation the average precision of ranking all
  pairs by its probability (what the head learned below the argmax).
The project has no decoder from a relation grid to entities (W2NER-style), and the grid carries no types, so no
entity-level F1 of the grid is reported.

    python bench/relation_probe.py bench/results/models/reduced-v1/conll2003-rp-tra-s42
    python bench/relation_probe.py --discover bench/results/models/reduced-v1 --json-out probe.json
    python bench/relation_probe.py MODEL_FOLDER --dev-file dev.jsonl   # any model, any corpus file
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
import typer

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from typeprior.model.batching import encode_sentences  # noqa: E402
from typeprior.model.corpus import Sentence, read_corpus  # noqa: E402
from typeprior.model.corpus.document import Kind  # noqa: E402
from typeprior.model.extended import relation_targets  # noqa: E402
from typeprior.model.persistence import ModelFolderError  # noqa: E402
from typeprior.model.predict import Tagger, resolve_model_dir  # noqa: E402
from typeprior.model.relation import BEGIN_END, IGNORE_INDEX, INSIDE, RELATIONS, RelationPrediction  # noqa: E402
from table4 import load_protocol, subset  # noqa: E402

HISTORY = "history.json"
GRID_DECODER_NOTE = ("no entity-level F1: the project has no decoder from the relation grid to entities, and the "
                     "grid's relations carry no entity type")
REGIONS = ("diagonal", "lower")  # where a Begin-End cell lies: one-word entities, longer entities

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


class ProbeError(ValueError):
    """A cell folder, its model or its grids cannot be probed; the message names which and why."""


# ---------------------------------------------------------------- counting


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def average_precision(scores: torch.Tensor, positives: torch.Tensor) -> float | None:
    """Area under the precision-recall curve of ranking pairs by score: sum over distinct thresholds of
    (recall gained) x (precision there), tied scores taken together; None without a positive pair.

    Threshold-free, so it shows whether the head ranks a relation's pairs first even when the argmax never picks it.
    """
    total = int(positives.sum())
    if total == 0:
        return None
    order = torch.argsort(scores, descending=True, stable=True)
    s, hit = scores[order], positives[order].to(torch.float64)
    last_of_tie = torch.ones_like(s, dtype=torch.bool)
    last_of_tie[:-1] = s[1:] != s[:-1]
    tp = hit.cumsum(0)[last_of_tie]
    seen = torch.arange(1, len(s) + 1, dtype=torch.float64)[last_of_tie]
    gained = torch.diff(tp, prepend=tp.new_zeros(1)) / total
    return float((gained * tp / seen).sum())


def _square(dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(len(RELATIONS), len(RELATIONS), dtype=dtype)


@dataclass
class RelationCounts:
    """Confusion counts of predicted against gold relations over labelled word pairs, plus entity and sentence tallies.

    confusion[g, p] counts the pairs whose gold relation is g and predicted relation p; `begin_end` holds the
    Begin-End (tp, fp, fn) per region (REGIONS); `entities` holds per kind [gold entities, entities whose every
    cell is right]; `sentences` / `exact` count the sentences and those whose whole grid is right.
    probability_sums[g] sums the predicted distribution over the `probability_pairs[g]` pairs of gold relation g:
    it shows what the head learned below the argmax (how much mass a gold Inside pair gets, say); `scored` keeps
    each labelled pair's (gold relation, predicted distribution) batch by batch for the average precision.
    """

    confusion: torch.Tensor = field(default_factory=lambda: _square(torch.long))
    begin_end: dict[str, list[int]] = field(default_factory=lambda: {r: [0, 0, 0] for r in REGIONS})
    entities: dict[str, list[int]] = field(default_factory=lambda: {k.value: [0, 0] for k in Kind})
    probability_sums: torch.Tensor = field(default_factory=lambda: _square(torch.float64))
    probability_pairs: torch.Tensor = field(default_factory=lambda: torch.zeros(len(RELATIONS), dtype=torch.long))
    scored: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    sentences: int = 0
    exact: int = 0

    def add_grids(self, predicted: torch.Tensor, gold: torch.Tensor) -> None:
        """Count a batch of grids [B, n, n] (IGNORE_INDEX on unlabelled pairs, the same pairs in both)."""
        if predicted.shape != gold.shape:
            raise ProbeError(f"predicted grid {tuple(predicted.shape)} does not match gold grid {tuple(gold.shape)}")
        labelled = gold != IGNORE_INDEX
        if not torch.equal(labelled, predicted != IGNORE_INDEX):
            raise ProbeError("predicted and gold grids label different word pairs (word masks differ)")
        k = len(RELATIONS)
        g, p = gold[labelled], predicted[labelled]
        if g.numel() and (int(p.min()) < 0 or int(p.max()) >= k or int(g.min()) < 0 or int(g.max()) >= k):
            raise ProbeError(f"relation ids outside 0..{k - 1} in the grids")
        self.confusion += torch.bincount(g * k + p, minlength=k * k).reshape(k, k)
        n = gold.shape[-1]
        diagonal = torch.eye(n, dtype=torch.bool).expand_as(gold)
        lower = torch.ones(n, n, dtype=torch.bool).tril(-1).expand_as(gold)
        for name, region in zip(REGIONS, (diagonal, lower)):
            gb, pb = (gold == BEGIN_END) & region, (predicted == BEGIN_END) & region
            counts = self.begin_end[name]
            counts[0] += int((gb & pb).sum())
            counts[1] += int((pb & ~gb).sum())
            counts[2] += int((gb & ~pb).sum())
        self.sentences += gold.shape[0]
        self.exact += int((predicted == gold).flatten(1).all(1).sum())

    def add_probabilities(self, probabilities: torch.Tensor, gold: torch.Tensor) -> None:
        """Sum the predicted distributions [B, n, n, R] of the labelled pairs per gold relation."""
        if probabilities.shape[:-1] != gold.shape or probabilities.shape[-1] != len(RELATIONS):
            raise ProbeError(f"probabilities {tuple(probabilities.shape)} do not fit gold grid {tuple(gold.shape)} "
                             f"with {len(RELATIONS)} relations")
        labelled = gold != IGNORE_INDEX
        g, p = gold[labelled], probabilities[labelled].to(torch.float64)
        self.probability_sums.index_add_(0, g, p)
        self.probability_pairs += torch.bincount(g, minlength=len(RELATIONS))
        self.scored.append((g, p.to(torch.float32)))

    def average_precisions(self) -> dict[str, float | None]:
        """Per relation, the average precision of ranking every labelled pair by its predicted probability."""
        if not self.scored:
            return {name: None for name in RELATIONS}
        gold = torch.cat([g for g, _ in self.scored])
        probabilities = torch.cat([p for _, p in self.scored])
        return {name: average_precision(probabilities[:, i], gold == i) for i, name in enumerate(RELATIONS)}

    def mean_probabilities(self) -> dict[str, dict[str, float] | None]:
        """Per gold relation, the mean predicted probability of each relation (None where no pair was seen)."""
        out: dict[str, dict[str, float] | None] = {}
        for i, gold in enumerate(RELATIONS):
            n = int(self.probability_pairs[i])
            out[gold] = None if n == 0 else {
                pred: float(self.probability_sums[i, j]) / n for j, pred in enumerate(RELATIONS)
            }
        return out

    def add_entities(self, sentences: Sequence[Sentence], predicted: torch.Tensor, kept: Sequence[int]) -> None:
        """Per kind, the gold entities on kept words and those whose Inside and Begin-End cells are all predicted."""
        for s, grid, k in zip(sentences, predicted, kept):
            for entity, kind in s.kinds():
                if entity.last >= k:
                    continue
                idx = entity.indices
                right = int(grid[idx[-1], idx[0]]) == BEGIN_END and all(
                    int(grid[a, b]) == INSIDE for a, b in zip(idx, idx[1:])
                )
                tally = self.entities[kind.value]
                tally[0] += 1
                tally[1] += int(right)

    def per_relation(self) -> dict[str, dict[str, float]]:
        """P/R/F1 with tp, fp, fn and gold support for each relation, then Begin-End per region."""
        out: dict[str, dict[str, float]] = {}
        for i, name in enumerate(RELATIONS):
            tp = int(self.confusion[i, i])
            fp = int(self.confusion[:, i].sum()) - tp
            fn = int(self.confusion[i, :].sum()) - tp
            out[name] = {"tp": tp, "fp": fp, "fn": fn, "support": tp + fn, **_prf(tp, fp, fn)}
        for region, (tp, fp, fn) in self.begin_end.items():
            out[f"{RELATIONS[BEGIN_END]} ({region})"] = {"tp": tp, "fp": fp, "fn": fn, "support": tp + fn,
                                                          **_prf(tp, fp, fn)}
        return out

    @property
    def pairs(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(self.confusion.diagonal().sum()) / self.pairs if self.pairs else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "accuracy": self.accuracy,
            "relations": self.per_relation(),
            "confusion": {"rows_gold_cols_predicted": list(RELATIONS), "counts": self.confusion.tolist()},
            "entities_all_cells_right": {
                kind: {"gold": n, "right": right, "share": right / n if n else None}
                for kind, (n, right) in self.entities.items()
            },
            "mean_probability_by_gold": self.mean_probabilities(),
            "average_precision": self.average_precisions(),
            "sentences": self.sentences,
            "exact_grids": self.exact,
        }


# ---------------------------------------------------------------- running a model


@torch.inference_mode()
def probe_tagger(tagger: Tagger, sentences: Sequence[Sentence], batch_size: int = 32) -> RelationCounts:
    """Relation predictions of a model with a relation task against the trainer's gold grids, over `sentences`."""
    model = tagger.model
    head = getattr(model, "relation", None)
    if not isinstance(head, RelationPrediction) or not model.config.relation_prediction:
        raise ProbeError(f"variant {model.config.variant!r} has no relation prediction task to probe")
    was_training = model.training
    model.eval()
    counts = RelationCounts()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].tokens))
    try:
        for start in range(0, len(order), batch_size):
            batch = [sentences[i] for i in order[start : start + batch_size]]
            w = encode_sentences(batch, tagger.encoder, tagger.vocab, with_labels=False).words.to(tagger.device)
            state = model.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
            logits = head(state.word_states, state.word_mask).float()
            predicted = RelationPrediction.predict(logits, state.word_mask).cpu()
            mask = state.word_mask.cpu()
            gold = relation_targets(batch, mask)
            counts.add_grids(predicted, gold)
            counts.add_probabilities(logits.softmax(-1).cpu(), gold)
            counts.add_entities(batch, predicted, mask.sum(-1).tolist())
    finally:
        model.train(was_training)
    return counts


# ---------------------------------------------------------------- cells


def cell_folder(folder: Path) -> Path:
    """The cell folder (holding history.json and model/) of a cell or model folder."""
    folder = Path(folder)
    return folder.parent if folder.name == "model" and not (folder / HISTORY).is_file() else folder


def history_has_relation_task(folder: Path) -> bool | None:
    """Whether the cell's history.json records a relation_loss (None: no history.json, not a finished cell)."""
    path = cell_folder(folder) / HISTORY
    if not path.is_file():
        return None
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
        epochs = history["history"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ProbeError(f"{path} is not a training history ({err})") from err
    return any(isinstance(e, dict) and "relation_loss" in e for e in epochs)


def finished_relation_cells(root: Path) -> list[Path]:
    """Cell folders under `root` whose training finished (every planned epoch in history.json, a model/ folder)
    and whose history records a relation_loss, by name."""
    cells = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        path = folder / HISTORY
        if not path.is_file() or not (folder / "model" / "config.json").is_file():
            continue
        history = json.loads(path.read_text(encoding="utf-8"))
        planned = int((history.get("config") or {}).get("epochs", 0))
        if len(history.get("history") or []) >= planned > 0 and history_has_relation_task(folder):
            cells.append(folder)
    return cells


def cell_corpus(folder: Path, corpora: Sequence[str]) -> str:
    """The corpus of a table4 cell folder named <corpus>-<variant>-s<seed>[-tag]."""
    name = cell_folder(folder).name
    matches = [c for c in corpora if name.startswith(f"{c}-")]
    if not matches:
        raise ProbeError(f"cell folder {folder}: its name {name!r} starts with none of the protocol's corpora "
                         f"{sorted(corpora)} (give --dev-file for a folder that is not a table4 cell)")
    return max(matches, key=len)


def probe_cell(
    folder: Path, sentences: Sequence[Sentence], batch_size: int = 32, device: str = "cpu"
) -> dict[str, Any]:
    """Load a cell's model and probe it on `sentences`; the counts as a dict, with the cell's name and timing."""
    model_dir = resolve_model_dir(folder)
    tagger = Tagger.load(model_dir, device=device)
    started = time.perf_counter()
    counts = probe_tagger(tagger, sentences, batch_size)
    return {
        "cell": cell_folder(folder).name,
        "model_dir": str(model_dir),
        "variant": tagger.model.config.variant,
        "history_relation_loss": history_has_relation_task(folder),
        "seconds": time.perf_counter() - started,
        **counts.to_dict(),
    }


# ---------------------------------------------------------------- tables


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}"


def summary_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per cell: accuracy, P / R / F1 of Inside and Begin-End, entities with all cells right, exact grids."""
    lines = ["| cell | sentences | word pairs | accuracy | None F1 | Inside P / R / F1 | Begin-End P / R / F1 | "
             "mean p(gold) None / Inside / Begin-End | AP Inside / Begin-End | "
             "entities all cells right (flat / nested / disc.) | exact grids | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rel = r["relations"]
        prf = lambda name: " / ".join(_pct(rel[name][k]) for k in ("p", "r", "f1"))  # noqa: E731
        ents = " / ".join("—" if v["gold"] == 0 else f"{_pct(v['share'])} ({v['gold']})"
                          for v in r["entities_all_cells_right"].values())
        mean = r["mean_probability_by_gold"]
        gold_p = " / ".join("—" if mean[g] is None else _pct(mean[g][g]) for g in RELATIONS)
        ap = " / ".join(_pct(r["average_precision"][g]) for g in RELATIONS[1:])
        exact = _pct(r["exact_grids"] / r["sentences"] if r["sentences"] else None)
        lines.append(
            f"| {r['cell']} | {r['sentences']} | {r['pairs']} | {_pct(r['accuracy'])} | {_pct(rel['None']['f1'])} | "
            f"{prf('Inside')} | {prf('Begin-End')} | {gold_p} | {ap} | {ents} | {r['exact_grids']} ({exact} %) | "
            f"{r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def relation_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per cell and relation (Begin-End also per region): tp, fp, fn, gold support, P, R, F1."""
    lines = ["| cell | relation | gold pairs | tp | fp | fn | P | R | F1 |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name, v in r["relations"].items():
            lines.append(f"| {r['cell']} | {name} | {v['support']} | {v['tp']} | {v['fp']} | {v['fn']} | "
                         f"{_pct(v['p'])} | {_pct(v['r'])} | {_pct(v['f1'])} |")
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    os.replace(tmp, path)


@app.command()
def main(
    cells: Optional[list[Path]] = typer.Argument(None, help="cell folders (or their model/ folders)"),
    discover: Optional[Path] = typer.Option(None, help="also probe every finished cell under this folder whose "
                                                       "history.json records a relation_loss"),
    dev_file: Optional[Path] = typer.Option(None, help="probe on this corpus file instead of the cell's dev subset"),
    json_out: Optional[Path] = typer.Option(None, help="also write the results here as JSON"),
    batch_size: int = typer.Option(32, min=1),
    threads: int = typer.Option(1, min=1, help="torch CPU threads"),
    device: str = typer.Option("cpu"),
) -> None:
    """Probe the relation grid of each cell on its dev subset and print Markdown tables."""
    torch.set_num_threads(threads)
    folders = list(cells or []) + (finished_relation_cells(discover) if discover is not None else [])
    if not folders:
        raise typer.BadParameter("give cell folders or --discover ROOT")
    if dev_file is not None:
        fixed: list[Sentence] | None = read_corpus(dev_file).sentences
        protocol = None
    else:
        fixed, protocol = None, load_protocol()
    results, not_probed = [], []
    for folder in folders:
        if fixed is not None:
            sentences, source = fixed, str(dev_file)
        else:
            corpus = cell_corpus(folder, list(protocol["corpora"]))
            sentences, source = subset(protocol, corpus, "dev"), f"{protocol['protocol']}:{corpus}:dev"
        try:
            result = probe_cell(folder, sentences, batch_size, device)
        except (ModelFolderError, ProbeError) as err:  # e.g. a superseded cell the current code cannot load
            not_probed.append({"cell": cell_folder(folder).name, "reason": str(err)})
            typer.echo(f"{cell_folder(folder).name}: not probed ({err})", err=True)
            continue
        result["dev"] = source
        results.append(result)
        typer.echo(f"{result['cell']}: {result['sentences']} sentences in {result['seconds']:.1f} s", err=True)
    typer.echo(f"Relation-task accuracy on the dev subsets ({GRID_DECODER_NOTE}):\n")
    typer.echo(summary_table(results))
    typer.echo("\nPer relation, over word pairs (Begin-End also split: diagonal = one-word entities, "
               "lower = longer):\n")
    typer.echo(relation_table(results))
    if not_probed:
        typer.echo("\nNot probed: " + "; ".join(f"{n['cell']} ({n['reason']})" for n in not_probed))
    if json_out is not None:
        write_json(json_out, {"note": GRID_DECODER_NOTE, "threads": threads, "cells": results,
                              "not_probed": not_probed})
    if not results:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
