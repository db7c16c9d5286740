"""The peer users would pick instead: token classification (AutoModelForTokenClassification) on the same MiniLM
encoder, the same fixed subsets, epochs and batch size as bench/table4.py, recorded in the same warehouse.

BIO tags on each word's first sub-word (the others are ignored by the loss), AdamW with linear decay, best epoch
by dev F1 (seqeval, exact spans, the same choice rule as the Table 4 cells). Dev F1 is
also recomputed with the project's exact-match scorer on entity sets, so both systems are scored alike.
Inference speed: sentences per second over the dev subset at the evaluation batch size, one torch thread.

    python bench/peer.py run --corpus conll2003 --corpus wnut17 --seed 42
    python bench/peer.py run --corpus conll2003 --recipe two-rate     # the new classifier at the model's lr_new

Recipes (bench/table4.yaml `peer.recipes`): `standard`, one learning rate for encoder and classifier (the usual
token-classification recipe), and `two-rate`, the classifier at a higher rate, as the Table 4 cells train their
new parts (lr_new), so the peer is not handicapped by a slower-learning head in a 3-epoch budget.
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from table4 import WAREHOUSE, code_commit, load_protocol, protocol_option, subset, subset_sources  # noqa: E402

from typeprior.model.corpus import Entity, Sentence  # noqa: E402

VARIANT = "peer-tokcls"
HEAD_PREFIX = "classifier."  # AutoModelForTokenClassification's new layer on a BERT encoder


def variant_name(recipe: str) -> str:
    return VARIANT if recipe == "standard" else f"{VARIANT}/{recipe}"


def recipe_config(protocol: dict[str, Any], recipe: str) -> dict[str, Any]:
    """The peer settings of a recipe: the protocol's `peer` keys, overridden by `peer.recipes[recipe]`."""
    base = {k: v for k, v in protocol["peer"].items() if k not in {"recipes", "corpora"}}
    recipes = protocol["peer"].get("recipes") or {}
    if recipe != "standard" and recipe not in recipes:
        raise typer.BadParameter(f"unknown peer recipe {recipe!r}; known: {['standard', *recipes]}")
    return {**base, **(recipes.get(recipe) or {})}


app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


@app.callback()
def cli(protocol: Optional[Path] = typer.Option(None, help="protocol file (default bench/table4.yaml)")) -> None:
    """Subcommands (`run`), so the command line reads the same as bench/table4.py's."""
    protocol_option(protocol)


class PeerError(ValueError):
    """A sentence the BIO peer cannot represent (a discontinuous or overlapping entity)."""


def bio_tags(sentence: Sentence) -> list[str]:
    tags = ["O"] * len(sentence.tokens)
    for e in sentence.entities:
        idx = list(e.indices)
        if idx != list(range(idx[0], idx[-1] + 1)) or any(tags[i] != "O" for i in idx):
            raise PeerError(f"sentence {sentence.id!r}: entity {idx} ({e.type}) is not flat and contiguous")
        tags[idx[0]] = f"B-{e.type}"
        for i in idx[1:]:
            tags[i] = f"I-{e.type}"
    return tags


def entities_from_bio(tags: Sequence[str]) -> list[Entity]:
    """Spans of a BIO sequence (an I- without a matching opener starts a span, as seqeval's default mode)."""
    out: list[Entity] = []
    start, kind = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        inside = tag.startswith("I-") and kind == tag[2:]
        if start is not None and not inside:
            out.append(Entity(tuple(range(start, i)), kind))
            start, kind = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and not inside):
            start, kind = i, tag[2:]
    return out


class Peer:
    """A MiniLM token classifier over BIO labels; words are aligned to their first sub-word."""

    def __init__(self, labels: list[str], seed: int) -> None:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from typeprior.model.backbone import minilm_path

        path = minilm_path()
        self.labels = labels
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        torch.manual_seed(seed)
        self.model = AutoModelForTokenClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)}
        )

    def encode(self, sentences: Sequence[Sentence], with_labels: bool) -> tuple[Any, list[list[int | None]]]:
        batch = self.tokenizer([s.tokens for s in sentences], is_split_into_words=True, truncation=True,
                               max_length=512, padding=True, return_tensors="pt")
        words = [batch.word_ids(i) for i in range(len(sentences))]
        if with_labels:
            import torch

            label_id = {l: i for i, l in enumerate(self.labels)}
            rows = []
            for s, ids in zip(sentences, words):
                tags, prev, row = bio_tags(s), None, []
                for w in ids:
                    row.append(-100 if w is None or w == prev else label_id[tags[w]])
                    prev = w
                rows.append(row)
            batch["labels"] = torch.tensor(rows)
        return batch, words

    def predict(self, sentences: Sequence[Sentence], batch_size: int) -> list[list[str]]:
        import torch

        self.model.eval()
        out: list[list[str]] = []
        with torch.inference_mode():
            for k in range(0, len(sentences), batch_size):
                part = sentences[k : k + batch_size]
                batch, words = self.encode(part, with_labels=False)
                best = self.model(**batch).logits.argmax(-1).tolist()
                for s, ids, row in zip(part, words, best):
                    tags, prev = ["O"] * len(s.tokens), None
                    for pos, w in enumerate(ids):
                        if w is not None and w != prev:
                            tags[w] = self.labels[row[pos]]
                        prev = w
                    out.append(tags)
        return out


def dev_scores(gold: Sequence[Sentence], predicted: list[list[str]]) -> dict[str, Any]:
    from seqeval.metrics import f1_score

    from typeprior.model.metrics import score

    scores = score(gold, [entities_from_bio(t) for t in predicted]).to_dict()
    scores["seqeval_f1"] = f1_score([bio_tags(s) for s in gold], predicted)
    return scores


def train_peer(protocol: dict[str, Any], corpus: str, seed: int, warehouse: Path, threads: int,
               recipe: str = "standard") -> dict[str, Any]:
    """Train, pick the best epoch by dev F1, measure inference speed; one recorded run in the warehouse."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from typeprior.warehouse import open_warehouse
    from typeprior.warehouse.runs import finish_run, record_epoch, record_metrics, start_run

    torch.set_num_threads(threads)
    peer_cfg = recipe_config(protocol, recipe)
    train, dev = subset(protocol, corpus, "train"), subset(protocol, corpus, "dev")
    types = sorted({e.type for s in train for e in s.entities})
    labels = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    epochs, batch_size = int(protocol["epochs"]), int(protocol["batch_size"])
    config = {
        "protocol": protocol["protocol"], "corpus": corpus, "seed": seed, "epochs": epochs, "batch_size": batch_size,
        "peer": peer_cfg, "labels": labels, "data": {**subset_sources(protocol, corpus), "protocol": protocol["protocol"]},
        "code": code_commit(), "threads": threads, "encoder": "all-MiniLM-L6-v2", "recipe": recipe,
    }
    with open_warehouse(warehouse) as wh:
        run_id = start_run(wh, "train", config, corpus=corpus, variant=variant_name(recipe),
                           backbone=protocol["backbone"])
    try:
        peer = Peer(labels, seed)
        lr = float(peer_cfg["lr"])
        lr_head = float(peer_cfg.get("lr_head", lr))
        groups: dict[tuple[float, float], list[Any]] = {}
        for n, p in peer.model.named_parameters():
            decay = 0.0 if n.endswith(".bias") or "LayerNorm" in n else float(peer_cfg["weight_decay"])
            groups.setdefault((lr_head if n.startswith(HEAD_PREFIX) else lr, decay), []).append(p)
        opt = torch.optim.AdamW([{"params": ps, "lr": rate, "weight_decay": decay}
                                 for (rate, decay), ps in groups.items()], lr=lr)
        steps = epochs * math.ceil(len(train) / batch_size)
        sched = get_linear_schedule_with_warmup(opt, int(float(peer_cfg["warmup"]) * steps), steps)
        best: dict[str, Any] | None = None
        train_sents_per_s: list[float] = []
        for epoch in range(epochs):
            started = time.monotonic()
            order = list(range(len(train)))
            random.Random(seed * 1000 + epoch).shuffle(order)
            peer.model.train()
            total = 0.0
            n = 0
            for k in range(0, len(order), batch_size):
                batch, _ = peer.encode([train[i] for i in order[k : k + batch_size]], with_labels=True)
                loss = peer.model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(peer.model.parameters(), 5.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                total += float(loss.detach())
                n += 1
            train_sents_per_s.append(len(train) / (time.monotonic() - started))
            t0 = time.monotonic()
            predicted = peer.predict(dev, int(peer_cfg["eval_batch_size"]))
            infer_s = time.monotonic() - t0
            scores = dev_scores(dev, predicted)
            with open_warehouse(warehouse) as wh:
                record_epoch(wh, run_id, epoch + 1, train_loss=total / n, dev_p=scores["p"], dev_r=scores["r"],
                             dev_f1=scores["f1"], seconds=time.monotonic() - started)
            if best is None or scores["f1"] > best["scores"]["f1"]:
                best = {"epoch": epoch + 1, "scores": scores, "inference_sents_per_s": len(dev) / infer_s}
        assert best is not None
        summary = {"best_epoch": best["epoch"], "seqeval_f1": best["scores"]["seqeval_f1"],
                   "inference_sents_per_s": best["inference_sents_per_s"],
                   "train_sents_per_s": sum(train_sents_per_s) / len(train_sents_per_s)}
        with open_warehouse(warehouse) as wh, wh.transaction():
            record_metrics(wh, run_id, "dev", best["scores"])
            finish_run(wh, run_id, "completed", message=json.dumps(summary))
    except BaseException as err:
        with open_warehouse(warehouse) as wh:
            finish_run(wh, run_id, "failed", message=f"{type(err).__name__}: {err}")
        raise
    return {"run_id": run_id, "f1": best["scores"]["f1"], **summary}


def peer_done(warehouse: Path, protocol: str, corpus: str, seed: int, recipe: str = "standard") -> int | None:
    for row in collect_peer(warehouse, protocol):
        if row["corpus"] == corpus and row["seed"] == seed and row["recipe"] == recipe:
            return row["run_id"]
    return None


def collect_peer(warehouse: Path, protocol: str) -> list[dict[str, Any]]:
    """Every completed peer run of the protocol, with its dev scores and speeds."""
    from typeprior.warehouse import open_warehouse

    if not warehouse.is_file():
        return []
    with open_warehouse(warehouse, read_only=True) as wh:
        rows = wh.query(
            "SELECT r.run_id, r.corpus, r.config, r.message, m.p, m.r, m.f1 FROM runs r "
            "JOIN metrics m ON m.run_id = r.run_id AND m.split = 'dev' AND m.scope = 'overall' "
            "WHERE r.kind = 'train' AND (r.variant = ? OR r.variant LIKE ?) AND r.status = 'completed' "
            "ORDER BY r.run_id", [VARIANT, VARIANT + "/%"])
        out = []
        for r in rows:
            config = json.loads(r["config"])
            if config.get("protocol") != protocol:
                continue
            curve = [e["dev_f1"] for e in wh.query("SELECT dev_f1 FROM epochs WHERE run_id = ? ORDER BY epoch",
                                                   [r["run_id"]])]
            out.append({"run_id": r["run_id"], "corpus": r["corpus"], "seed": config["seed"],
                        "recipe": config.get("recipe", "standard"), "p": r["p"], "r": r["r"],
                        "f1": r["f1"], "code": config.get("code"), "dev_f1_by_epoch": curve,
                        **json.loads(r["message"] or "{}")})
    return out


@app.command()
def run(
    corpus: list[str] = typer.Option(..., help="corpora, in order"),
    seed: Optional[list[int]] = typer.Option(None, help="seeds (default: the protocol's)"),
    warehouse: Path = typer.Option(WAREHOUSE),
    threads: int = typer.Option(1, help="torch CPU threads"),
    recipe: str = typer.Option("standard", help="peer recipe: standard, or one of bench/table4.yaml peer.recipes"),
) -> None:
    """Train and score the peer on every missing (corpus, seed) of the recipe."""
    protocol = load_protocol()
    recipe_config(protocol, recipe)
    code_commit()  # the code this process imported, whatever the checkout does meanwhile
    for c in corpus:
        for s in seed or protocol["seeds"]:
            done = peer_done(warehouse, protocol["protocol"], c, int(s), recipe)
            if done is not None:
                typer.echo(f"skip peer {c} seed {s} ({recipe}): run {done} is in the warehouse")
                continue
            typer.echo(f"{time.strftime('%H:%M:%S')} start peer {c} seed {s} ({recipe})", err=True)
            result = train_peer(protocol, c, int(s), warehouse, threads, recipe)
            typer.echo(f"done peer {c} seed {s} ({recipe}): {json.dumps(result)}")


if __name__ == "__main__":
    app()
