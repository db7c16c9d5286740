"""The paper's Table 4 ablation (baseline, rp-tra, rp-eta, full) under the reduced protocol of bench/table4.yaml.

Each cell (corpus, variant, seed) is one recorded training run (flows.training.train_run) and one recorded
evaluation of its best epoch on the dev subset (flows.evaluation.evaluate_run), both in the results warehouse.
A cell whose evaluation is already there is skipped; an interrupted cell resumes from its checkpoint.

    python bench/table4.py splits                      # once: the fixed subsets under bench/splits/
    python bench/table4.py run --corpus conll2003 --seed 42 --variant baseline
    python bench/table4.py table                       # Markdown table of every finished cell (and the peer)
    python bench/table4.py --protocol bench/table4-long.yaml run ...   # another protocol file (6 epochs)
    python bench/table4.py subset conll2003 dev --out dev.jsonl         # a subset as a file, for typeprior evaluate

Run heavy cells with one torch thread (the default here) and at most two processes at once.
"""
from __future__ import annotations

import functools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from typeprior.model.corpus import Sentence, read_corpus  # noqa: E402

PROTOCOL_FILE = BENCH / "table4.yaml"
NOT_INHERITED = ("superseded",)  # run ids listed as superseded belong to the protocol that lists them
SPLITS_DIR = BENCH / "splits"
RESULTS = BENCH / "results"
WAREHOUSE = RESULTS / "results.duckdb"

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


class ProtocolError(ValueError):
    """The protocol file or a split list is missing or inconsistent; the message names which."""


_protocol_file = PROTOCOL_FILE  # `--protocol` of the command line (bench/table4.py and bench/peer.py)


def current_protocol_file() -> Path:
    """The protocol file the commands read (the `--protocol` given, or the default)."""
    return _protocol_file


def use_protocol_file(path: Path) -> None:
    """Make `path` the protocol every later `load_protocol()` reads (the commands' `--protocol` option)."""
    global _protocol_file
    if not path.is_file():
        raise ProtocolError(f"no protocol file {path}")
    _protocol_file = path


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`, mappings merged key by key (lists and values replaced)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_protocol(path: Path | None = None, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The protocol file, with `extends: OTHER.yaml` resolved (a longer protocol restates only what differs)."""
    path = path or _protocol_file
    if not path.is_file():
        raise ProtocolError(f"no protocol file {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: not a mapping")
    parent = data.pop("extends", None)
    if parent is not None:
        base = path.parent / str(parent)
        chain = (*_seen, path.resolve())
        if base.resolve() in chain:
            raise ProtocolError(f"{path}: extends {parent}, which extends it back (a loop)")
        inherited = load_protocol(base, chain)
        for key in NOT_INHERITED:
            inherited.pop(key, None)
        data = _merged(inherited, data)
    for key in ("protocol", "backbone", "seeds", "variants", "epochs", "batch_size", "corpora", "split_seed"):
        if key not in data:
            raise ProtocolError(f"{path}: missing key {key!r}")
    return data


def data_path(protocol: dict[str, Any], relative: str) -> Path:
    return (ROOT / protocol["data_root"] / relative).resolve()


@functools.lru_cache(maxsize=1)
def code_commit() -> dict[str, Any]:
    """The git commit of the code a cell ran, and whether the code folders had uncommitted changes.

    Read once per process (the commands call it first): a process that runs several cells keeps the code it
    imported, even when the checkout moves on meanwhile."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    dirty = git("status", "--porcelain", "--", "model", "flows", "warehouse", "kb")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(dirty)}


# ---------------------------------------------------------------- fixed subsets

def split_file(corpus: str, split: str) -> Path:
    return SPLITS_DIR / f"{corpus}.{split}.txt"


def genia_doc_file(split: str) -> Path:
    return SPLITS_DIR / f"genia.docs.{split}.txt"


def _write_lines(path: Path, lines: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    os.replace(tmp, path)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ProtocolError(f"split list {path} is missing (make it with `python bench/table4.py splits`)")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def genia_document(sentence: Sentence) -> str:
    """GENIA sentence ids are DOC-N ("MEDLINE:93061407-0"): the document is the part before the last dash."""
    if not sentence.id or "-" not in sentence.id:
        raise ProtocolError(f"GENIA sentence without a DOC-N id: {sentence.id!r}")
    return sentence.id.rsplit("-", 1)[0]


def source_sentences(protocol: dict[str, Any], corpus: str, split: str) -> list[Sentence]:
    """All sentences of the file a corpus split is drawn from (GENIA: both splits come from its dev file)."""
    spec = protocol["corpora"][corpus]
    key = "file" if "file" in spec else split
    return read_corpus(data_path(protocol, spec[key])).sentences


def _sample(rng: random.Random, pool: list[int], n: int) -> list[int]:
    return sorted(rng.sample(pool, min(n, len(pool))))


def make_splits(protocol: dict[str, Any], force: bool = False) -> list[Path]:
    """Write the index lists (0-based sentence positions in the source file) and GENIA's document split."""
    written: list[Path] = []
    for corpus, spec in protocol["corpora"].items():
        targets = [split_file(corpus, split) for split in ("train", "dev") if spec.get(f"{split}_n") is not None]
        if "file" in spec:
            targets += [genia_doc_file("train"), genia_doc_file("dev")]
        if not force and all(p.is_file() for p in targets):
            continue
        rng = random.Random(f"{protocol['split_seed']}:{corpus}")
        if "file" in spec:
            sentences = source_sentences(protocol, corpus, "train")
            docs = list(dict.fromkeys(genia_document(s) for s in sentences))
            shuffled = docs[:]
            rng.shuffle(shuffled)
            cut = round(len(shuffled) * float(spec["train_share"]))
            train_docs = set(shuffled[:cut])
            _write_lines(genia_doc_file("train"), [d for d in docs if d in train_docs])
            _write_lines(genia_doc_file("dev"), [d for d in docs if d not in train_docs])
            written += [genia_doc_file("train"), genia_doc_file("dev")]
            pools = {
                "train": [i for i, s in enumerate(sentences) if genia_document(s) in train_docs],
                "dev": [i for i, s in enumerate(sentences) if genia_document(s) not in train_docs],
            }
        else:
            pools = {split: list(range(len(source_sentences(protocol, corpus, split)))) for split in ("train", "dev")}
        for split in ("train", "dev"):
            if spec.get(f"{split}_n") is None:  # the whole split: no list to write
                continue
            _write_lines(split_file(corpus, split), _sample(rng, pools[split], int(spec[f"{split}_n"])))
            written.append(split_file(corpus, split))
    return written


def subset(protocol: dict[str, Any], corpus: str, split: str, train_n: int = 0) -> list[Sentence]:
    """The fixed subset of a corpus split, in the order of its index list.

    `train_n` > 0 takes the first `train_n` sentences of the list shuffled once with the split seed, so the smaller
    training sets of a learning curve are nested (100 within 300 within 1,000) and every arm and seed reads the same."""
    sentences = source_sentences(protocol, corpus, split)
    spec = protocol["corpora"][corpus]
    if spec.get(f"{split}_n") is None:  # the whole split (bench/table4-full.yaml): no index list
        if "file" in spec:
            docs = set(_read_lines(genia_doc_file(split)))
            sentences = [s for s in sentences if genia_document(s) in docs]
        if train_n:
            raise ProtocolError(f"{corpus}: a nested training subset needs the protocol's train_n list")
        return sentences
    indices = [int(x) for x in _read_lines(split_file(corpus, split))]
    if indices and max(indices) >= len(sentences):
        raise ProtocolError(f"{split_file(corpus, split)}: index {max(indices)} beyond the {len(sentences)} sentences")
    if train_n:
        if split != "train" or train_n > len(indices):
            raise ProtocolError(f"{corpus}: a {split} subset of {train_n} sentences (the {split} list holds "
                                f"{len(indices)}; only train subsets shrink)")
        random.Random(f"{protocol['split_seed']}:{corpus}:nested").shuffle(indices)
        indices = indices[:train_n]
    return [sentences[i] for i in indices]


def epochs_for(protocol: dict[str, Any], train_n: int) -> int:
    """The protocol's epochs, or `epochs_by_train_n`'s for a smaller training set (a small set needs more passes)."""
    by_size = {int(k): int(v) for k, v in (protocol.get("epochs_by_train_n") or {}).items()}
    return by_size.get(train_n, int(protocol["epochs"]))


def subset_sources(protocol: dict[str, Any], corpus: str) -> dict[str, str]:
    """Where each split's sentences come from: the file, and the index list (or GENIA's document list) read."""
    spec = protocol["corpora"][corpus]
    out = {}
    for split in ("train", "dev"):
        file = spec.get("file", spec.get(split))
        if spec.get(f"{split}_n") is None:
            listed = genia_doc_file(split) if "file" in spec else None
        else:
            listed = split_file(corpus, split)
        out[split] = f"{data_path(protocol, file)}" + ("" if listed is None else f"#{listed.relative_to(ROOT)}")
    return out


# ---------------------------------------------------------------- cells

@dataclass(frozen=True)
class Cell:
    protocol: str
    corpus: str
    variant: str
    seed: int
    tag: str = ""  # a rerun of a superseded cell (see `superseded` in table4.yaml) gets its own folder
    train_n: int = 0  # > 0: the nested training subset of this many sentences (`subset`); 0: the whole list

    @property
    def name(self) -> str:
        return (f"{self.corpus}-{self.variant}-s{self.seed}" + (f"-n{self.train_n}" if self.train_n else "")
                + (f"-{self.tag}" if self.tag else ""))

    @property
    def out_dir(self) -> Path:
        return (RESULTS / "models" / self.protocol / self.name).resolve()

    @property
    def report(self) -> Path:
        return RESULTS / "reports" / self.protocol / f"{self.name}.md"


def cell_state(warehouse: Path, cell: Cell) -> tuple[int | None, bool]:
    """(completed train run id or None, whether its dev evaluation is recorded)."""
    from typeprior.warehouse import open_warehouse

    if not warehouse.is_file():
        return None, False
    with open_warehouse(warehouse) as wh:
        rows = wh.query(
            "SELECT run_id FROM runs WHERE kind = 'train' AND status = 'completed' AND model_dir = ? "
            "ORDER BY run_id DESC LIMIT 1",
            [str(cell.out_dir)],
        )
        if not rows:
            return None, False
        train_id = int(rows[0]["run_id"])
        done = wh.query(
            "SELECT 1 FROM runs WHERE kind = 'evaluate' AND status = 'completed' AND parent_run_id = ?", [train_id]
        )
    return train_id, bool(done)


NO_KB = "/no-kb"  # label suffix of a diagnostic cell whose type attention learns E_T instead of reading KB priors


def diagnostic_settings(protocol: dict[str, Any], name: str, section: str = "model") -> dict[str, Any]:
    """The overrides of a named diagnostic (table4.yaml `diagnostics`): its model settings, or `section="training"`."""
    known = protocol.get("diagnostics") or {}
    if name not in known:
        raise ProtocolError(f"no diagnostic {name!r} in {_protocol_file.name} (known: {sorted(known)})")
    unknown = set(known[name]) - {"model", "training"}
    if unknown:
        raise ProtocolError(f"diagnostic {name!r}: unknown sections {sorted(unknown)} (model, training)")
    return dict(known[name].get(section) or {})


def run_cell(protocol: dict[str, Any], cell: Cell, warehouse: Path, progress: bool, use_priors: bool = True,
             diagnostic: str = "", reevaluate: bool = False) -> str:
    """Train (or resume) and evaluate one cell unless the warehouse already has it; says what it did.

    `use_priors=False` trains a priors variant with learned type vectors (a diagnostic of what the KB adds);
    `diagnostic` names model-setting overrides of table4.yaml's `diagnostics` (the cell is listed as VARIANT/NAME).
    Decoding keeps to the entity structure of the cell's training subset, also for a model saved before the trainer
    recorded it; `reevaluate` evaluates a finished cell again (the table reads each cell's latest evaluation)."""
    from typeprior.flows.evaluation import evaluate_run
    from typeprior.flows.inputs import CorpusInput, resolve_priors
    from typeprior.flows.settings import RunSettings
    from typeprior.flows.training import make_spec, train_run

    from typeprior.model.corpus.document import entity_structure

    train_id, evaluated = cell_state(warehouse, cell)
    if evaluated and not reevaluate:
        return f"skip {cell}: train run {train_id} and its evaluation are in the warehouse"
    if reevaluate and train_id is None:
        return f"skip {cell}: no finished training to evaluate again"
    train = subset(protocol, cell.corpus, "train", cell.train_n)
    dev = subset(protocol, cell.corpus, "dev")
    sources = {**subset_sources(protocol, cell.corpus), "protocol": protocol["protocol"],
               "code": json.dumps(code_commit()), "tag": cell.tag, "kb_priors": "yes" if use_priors else "no",
               "diagnostic": diagnostic, "train_n": str(len(train))}
    model_settings = {**(protocol.get("model") or {}), **(diagnostic_settings(protocol, diagnostic) if diagnostic else {})}
    data = CorpusInput(cell.corpus, {"train": train, "dev": dev}, sources)
    started = time.monotonic()
    if train_id is None:
        priors = resolve_priors(warehouse, cell.variant, cell.corpus, data.entity_types()) if use_priors else None
        settings = RunSettings(
            backbone=protocol["backbone"], seed=cell.seed, epochs=epochs_for(protocol, cell.train_n),
            batch_size=int(protocol["batch_size"]), device="cpu", model=model_settings,
            training={**(protocol.get("training") or {}),
                      **(diagnostic_settings(protocol, diagnostic, "training") if diagnostic else {})},
        )
        spec = make_spec(warehouse, cell.corpus, settings, variant=cell.variant, out=cell.out_dir, resume=True)
        outcome = train_run(warehouse, spec, data, priors, progress=progress)
        train_id, model_dir = outcome.run_id, outcome.model_dir
    else:
        model_dir = str(cell.out_dir / "model")
    result = evaluate_run(warehouse, model_dir, cell.corpus, "dev", dev, cell.report,
                          source=sources["dev"], parent_run_id=train_id, progress=progress,
                          entity_structure=entity_structure(train))
    return (f"done {cell}: train run {train_id}, evaluate run {result.run_id}, dev F1 {result.scores['f1']:.4f} "
            f"({time.monotonic() - started:.0f} s)")


# ---------------------------------------------------------------- table

def _mean_spread(values: list[float]) -> str:
    if not values:
        return "—"
    mean = statistics.mean(values) * 100
    if len(values) == 1:
        return f"{mean:.2f} (n=1)"
    return f"{mean:.2f} ± {statistics.stdev(values) * 100:.2f} (n={len(values)})"


def superseded_runs(protocol: dict[str, Any]) -> dict[int, str]:
    """Train runs left out of the table (kept in the warehouse and listed apart), with the reason."""
    return {int(run): entry["reason"] for entry in protocol.get("superseded") or [] for run in entry["train_runs"]}


def collect(warehouse: Path, protocol: str) -> list[dict[str, Any]]:
    """Every finished cell of the protocol: corpus, variant, seed, dev scores, per-kind F1, train seconds."""
    from typeprior.warehouse import open_warehouse

    if not warehouse.is_file():
        return []
    with open_warehouse(warehouse, read_only=True) as wh:
        rows = wh.query(
            "SELECT t.run_id AS train_id, e.run_id AS eval_id, t.corpus, t.variant, t.config, t.priors_build, "
            "(SELECT sum(seconds) FROM epochs WHERE run_id = t.run_id) AS train_seconds, "
            "(SELECT count(*) FROM epochs WHERE run_id = t.run_id) AS epochs "
            "FROM runs t JOIN runs e ON e.run_id = (SELECT max(run_id) FROM runs WHERE parent_run_id = t.run_id "
            "AND kind = 'evaluate' AND status = 'completed') "
            "WHERE t.kind = 'train' AND t.status = 'completed' ORDER BY t.run_id"
        )
        out = []
        for r in rows:
            config = json.loads(r["config"])
            if (config.get("data") or {}).get("protocol") != protocol:
                continue
            metrics = wh.query("SELECT scope, key, p, r, f1 FROM metrics WHERE run_id = ? AND split = 'dev' "
                               "AND scope IN ('overall', 'kind', 'type') "
                               "AND coalesce(tp, 0) + coalesce(fp, 0) + coalesce(fn, 0) > 0", [r["eval_id"]])
            curve = [e["dev_f1"] for e in wh.query("SELECT dev_f1 FROM epochs WHERE run_id = ? ORDER BY epoch",
                                                   [r["train_id"]])]
            overall = next(m for m in metrics if m["scope"] == "overall")
            out.append({
                "corpus": r["corpus"],
                "variant": r["variant"] + (NO_KB if config["data"].get("kb_priors") == "no" else "")
                + (f"/{config['data']['diagnostic']}" if config["data"].get("diagnostic") else ""),
                "seed": config["seed"], "train_run": r["train_id"],
                "train_n": int(config["data"].get("train_n") or 0) or None,
                "eval_run": r["eval_id"], "priors_build": r["priors_build"], "p": overall["p"], "r": overall["r"],
                "f1": overall["f1"], "epochs": r["epochs"], "train_seconds": r["train_seconds"],
                "per_kind": {m["key"]: m["f1"] for m in metrics if m["scope"] == "kind"},
                "per_type": {m["key"]: m["f1"] for m in metrics if m["scope"] == "type"},
                "dev_f1_by_epoch": curve,
                "code": json.loads(config["data"].get("code", "{}")), "tag": config["data"].get("tag", ""),
                "eval_sents_per_s": eval_rate(wh, r["eval_id"]),
            })
    return out


def eval_rate(wh: Any, eval_id: int) -> float | None:
    """The evaluation's sentences/s (model load, greedy decoding, scoring, storing), kept with its cell so a record
    merged from several warehouses still has it."""
    took = wh.query("SELECT epoch(finished - created) AS s FROM runs WHERE run_id = ?", [eval_id])[0]["s"]
    n = wh.query("SELECT count(*) AS n FROM predictions WHERE run_id = ?", [eval_id])[0]["n"]
    return n / took if took else None


def cell_key(cell: dict[str, Any]) -> tuple:
    """What one cell of a protocol is: corpus, variant (with /no-kb or /DIAGNOSTIC) and seed."""
    return cell["corpus"], cell["variant"], cell["seed"]


def peer_key(run: dict[str, Any]) -> tuple:
    return run["corpus"], run.get("recipe", "standard"), run["seed"]


def merged_cells(kept: list[dict[str, Any]], new: list[dict[str, Any]], key: Any) -> list[dict[str, Any]]:
    """The cells (or peer runs) of both, one per key: one in both takes its row from `new` (the warehouse)."""
    fresh = {key(c) for c in new}
    return [c for c in kept if key(c) not in fresh] + new


def paired_gap(cells: list[dict[str, Any]], corpus: str, variant: str, reference: str) -> str:
    """Mean F1 difference variant − reference over the seeds both have (so an extra seed of one side does not
    move the gap), with the number of pairs."""
    def by_seed(v: str) -> dict[int, float]:
        return {c["seed"]: c["f1"] for c in cells if c["corpus"] == corpus and c["variant"] == v}

    a, b = by_seed(variant), by_seed(reference)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return "—"
    return f"{statistics.mean(a[k] - b[k] for k in seeds) * 100:+.2f} (n={len(seeds)})"


def markdown_table(cells: list[dict[str, Any]], variants: list[str], peers: list[dict[str, Any]]) -> str:
    corpora = list(dict.fromkeys([c["corpus"] for c in cells] + [p["corpus"] for p in peers]))
    recipes = list(dict.fromkeys(p.get("recipe", "standard") for p in peers)) or ["standard"]
    lines = ["| corpus | " + " | ".join(variants) + " | "
             + " | ".join(f"peer, token classification ({r})" for r in recipes) + " | full − baseline (paired seeds) |",
             "|---|" + "---|" * (len(variants) + len(recipes) + 1)]
    for corpus in corpora:
        f1 = {v: _f1s(cells, corpus, v) for v in variants}
        peer = {r: [p["f1"] for p in peers if p["corpus"] == corpus and p.get("recipe", "standard") == r]
                for r in recipes}
        gap = paired_gap(cells, corpus, "full", "baseline")
        lines.append(f"| {corpus} | " + " | ".join(_mean_spread(f1[v]) for v in variants) + " | "
                     + " | ".join(_mean_spread(peer[r]) for r in recipes) + f" | {gap} |")
    return "\n".join(lines)


def _commit_label(code: dict[str, Any]) -> str:
    """The short commit a run recorded, marked +dirty when the code folders had uncommitted changes."""
    return f"{code.get('commit', '?')[:7]}{'+dirty' if code.get('dirty') else ''}"


def _f1s(cells: list[dict[str, Any]], corpus: str, variant: str) -> list[float]:
    return [c["f1"] for c in cells if c["corpus"] == corpus and c["variant"] == variant]


def diagnostic_table(cells: list[dict[str, Any]], variants: list[str]) -> str:
    """Mean ± spread of the diagnostic cells (VARIANT/NAME), each beside its plain variant and the baseline."""
    names = sorted({c["variant"] for c in cells if c["variant"] not in variants})
    lines = ["| corpus | diagnostic | F1 | the plain variant | baseline | − plain variant (paired seeds) | − baseline (paired seeds) |",
             "|---|---|---|---|---|---|---|"]
    for corpus in dict.fromkeys(c["corpus"] for c in cells):
        for name in names:
            f1 = _f1s(cells, corpus, name)
            if not f1:
                continue
            plain = name.split("/")[0]
            lines.append(f"| {corpus} | {name} | {_mean_spread(f1)} | {_mean_spread(_f1s(cells, corpus, plain))} "
                         f"| {_mean_spread(_f1s(cells, corpus, 'baseline'))} | {paired_gap(cells, corpus, name, plain)} "
                         f"| {paired_gap(cells, corpus, name, 'baseline')} |")
    return "\n".join(lines)


def cell_lines(cells: list[dict[str, Any]]) -> str:
    lines = ["| corpus | variant | seed | P | R | F1 | per-kind F1 | dev F1 by epoch | train s (with dev passes) | train run | eval run | priors build | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        kinds = ", ".join(f"{k} {v * 100:.1f}" for k, v in sorted(c["per_kind"].items()) if v is not None)
        curve = " → ".join(f"{f * 100:.1f}" for f in c["dev_f1_by_epoch"] if f is not None)
        lines.append(
            f"| {c['corpus']} | {c['variant']} | {c['seed']} | {c['p'] * 100:.2f} | {c['r'] * 100:.2f} | "
            f"{c['f1'] * 100:.2f} | {kinds} | {curve} | {c['train_seconds'] or 0:.0f} | {c['train_run']} | "
            f"{c['eval_run']} | {c['priors_build'] or '—'} | {_commit_label(c['code'])} |"
        )
    return "\n".join(lines)


def speed_rows(cells: list[dict[str, Any]], peers: list[dict[str, Any]]) -> str:
    """Per cell, measured in the lanes themselves (same load for all): seconds per epoch (training plus the dev
    pass) relative to the baseline of the same corpus and seed, and the evaluation's sentences/s (model load,
    greedy decoding of the dev subset, scoring and storing) relative to the peer's inference on the same corpus."""
    base = {(c["corpus"], c["seed"]): c["train_seconds"] / c["epochs"] for c in cells if c["variant"] == "baseline"}
    peer_rate = {}
    for p in peers:
        peer_rate.setdefault(p["corpus"], []).append(p["inference_sents_per_s"])
    lines = ["| corpus | variant | seed | s / epoch | × baseline | eval sentences/s | × peer inference |",
             "|---|---|---|---|---|---|---|"]
    for c in cells:
        per_epoch = c["train_seconds"] / c["epochs"]
        ref = base.get((c["corpus"], c["seed"]))
        rate = c.get("eval_sents_per_s")  # absent from cells recorded before it was kept
        peer = statistics.mean(peer_rate[c["corpus"]]) if c["corpus"] in peer_rate else None
        lines.append(
            f"| {c['corpus']} | {c['variant']} | {c['seed']} | {per_epoch:.0f} | "
            f"{'—' if ref is None else f'{per_epoch / ref:.2f}'} | {'—' if rate is None else f'{rate:.1f}'} | "
            f"{'—' if rate is None or peer is None else f'{rate / peer:.2f}'} |"
        )
    for p in peers:
        lines.append(f"| {p['corpus']} | peer ({p.get('recipe', 'standard')}) | {p['seed']} | training {p['train_sents_per_s']:.1f} sentences/s | — | "
                     f"{p['inference_sents_per_s']:.1f} (inference only) | 1 |")
    return "\n".join(lines)


def peer_lines(peers: list[dict[str, Any]]) -> str:
    lines = ["| corpus | recipe | seed | P | R | F1 | seqeval F1 | best epoch | train sentences/s | inference sentences/s | run | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in peers:
        lines.append(
            f"| {p['corpus']} | {p.get('recipe', 'standard')} | {p['seed']} | {p['p'] * 100:.2f} | {p['r'] * 100:.2f} | {p['f1'] * 100:.2f} | "
            f"{p['seqeval_f1'] * 100:.2f} | {p['best_epoch']} | {p['train_sents_per_s']:.1f} | "
            f"{p['inference_sents_per_s']:.1f} | {p['run_id']} | {_commit_label(p.get('code') or {})} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- commands

def protocol_option(protocol: Optional[Path]) -> None:
    """The shared `--protocol` option of bench/table4.py and bench/peer.py."""
    if protocol is not None:
        try:
            use_protocol_file(protocol)
        except ProtocolError as err:
            raise typer.BadParameter(str(err)) from None


@app.callback()
def cli(protocol: Optional[Path] = typer.Option(None, help="protocol file (default bench/table4.yaml), e.g. "
                                                           "bench/table4-long.yaml")) -> None:
    """Cells of the protocol file's Table 4: splits, run, table."""
    protocol_option(protocol)


def table_variants(protocol: dict[str, Any], cells: list[dict[str, Any]]) -> list[str]:
    """The table's columns: the protocol's variants and any other variant with cells, in model/variants.yaml order."""
    from typeprior.model.variants import variant_table

    present = set(protocol["variants"]) | {c["variant"] for c in cells}
    return [v for v in variant_table() if v in present]


def table_command() -> str:
    """How `table` was invoked, for the generated text (the protocol file when it is not the default)."""
    extra = "" if _protocol_file == PROTOCOL_FILE else f" --protocol {_protocol_file.relative_to(ROOT) if _protocol_file.is_relative_to(ROOT) else _protocol_file}"
    return f"python bench/table4.py{extra} table"


def markers(protocol: str) -> tuple[str, str]:
    """The Markdown comments that enclose a protocol's generated block (the first protocol keeps plain TABLE4)."""
    name = "" if protocol == "reduced-v1" else f" {protocol}"
    return f"<!-- TABLE4{name} -->", f"<!-- /TABLE4{name} -->"

@app.command()
def splits(force: bool = typer.Option(False, help="rewrite existing lists (changes the protocol)")) -> None:
    """Write the fixed subsets under bench/splits/ (existing lists are kept unless --force)."""
    for path in make_splits(load_protocol(), force):
        typer.echo(f"wrote {path.relative_to(ROOT)} ({len(_read_lines(path))} lines)")


@app.command("subset")
def subset_file(
    corpus: str = typer.Argument(..., help="a corpus of the protocol"),
    split: str = typer.Argument(..., help="train or dev"),
    out: Path = typer.Option(..., help="JSON-lines file to write (for typeprior train/evaluate)"),
) -> None:
    """Write a cell's fixed subset as a corpus file, so `typeprior evaluate` can score a cell's model on it."""
    from typeprior.model.corpus import write_corpus

    protocol = load_protocol()
    if corpus not in protocol["corpora"] or split not in ("train", "dev"):
        raise typer.BadParameter(f"{corpus}/{split}: expected one of {sorted(protocol['corpora'])} and train or dev")
    sentences = subset(protocol, corpus, split)
    write_corpus(sentences, out, "jsonl")
    typer.echo(f"wrote {out} ({len(sentences)} sentences of {corpus}/{split})")


@app.command()
def run(
    corpus: list[str] = typer.Option(..., help="corpora, in order"),
    variant: Optional[list[str]] = typer.Option(None, help="variants (default: the protocol's)"),
    seed: Optional[list[int]] = typer.Option(None, help="seeds (default: the protocol's)"),
    warehouse: Path = typer.Option(WAREHOUSE),
    threads: int = typer.Option(1, help="torch CPU threads"),
    progress: bool = typer.Option(False),
    tag: str = typer.Option("", help="rerun cells under this tag (after listing the old runs as superseded)"),
    kb_priors: bool = typer.Option(True, help="--no-kb-priors: learned type vectors (diagnostic; give a --tag)"),
    diagnostic: str = typer.Option("", help="model or training overrides named in table4.yaml `diagnostics` "
                                            "(the cells get the diagnostic's name as their tag)"),
    reevaluate: bool = typer.Option(False, help="evaluate finished cells again (after a decoding change); "
                                                "the table reads each cell's latest evaluation"),
) -> None:
    """Train and evaluate every missing cell of the given corpora × variants × seeds, one after another."""
    import torch

    if not kb_priors and not tag:
        raise typer.BadParameter("a cell without KB priors needs its own --tag (its folder must differ)")
    protocol = load_protocol()
    if diagnostic:
        try:
            diagnostic_settings(protocol, diagnostic)
        except ProtocolError as err:
            raise typer.BadParameter(str(err)) from None
        tag = tag or diagnostic

    torch.set_num_threads(threads)
    code_commit()
    for c in corpus:
        for s in seed or protocol["seeds"]:
            for v in variant or protocol["variants"]:
                cell = Cell(protocol["protocol"], c, v, int(s), tag)
                typer.echo(f"{time.strftime('%H:%M:%S')} start {cell}", err=True)
                typer.echo(run_cell(protocol, cell, warehouse, progress, kb_priors, diagnostic, reevaluate))


def plot_curves(cells: list[dict[str, Any]], peers: list[dict[str, Any]], path: Path) -> None:
    """Dev F1 after each epoch, one panel per corpus and one line per cell or peer run, so a reader sees whether
    the curves have flattened; a run keeps its colour in every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(c["corpus"], f"{c['variant']} s{c['seed']}", c["dev_f1_by_epoch"]) for c in cells]
    runs += [(p["corpus"], f"peer ({p.get('recipe', 'standard')}) s{p['seed']}", p.get("dev_f1_by_epoch") or [])
             for p in peers]
    runs = [(corpus, label, curve) for corpus, label, curve in runs if any(f is not None for f in curve)]
    if not runs:
        raise ProtocolError("no cell or peer run has a dev F1 after any epoch to plot")
    corpora = list(dict.fromkeys(corpus for corpus, _, _ in runs))
    labels = sorted(dict.fromkeys(label for _, label, _ in runs))
    palette = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    colour = {label: palette(k % palette.N) for k, label in enumerate(labels)}
    fig, axes = plt.subplots(1, len(corpora), figsize=(5.5 * len(corpora), 4), squeeze=False)
    for ax, corpus in zip(axes[0], corpora):
        for _, label, curve in sorted((r for r in runs if r[0] == corpus), key=lambda r: r[1]):
            points = [(k + 1, f * 100) for k, f in enumerate(curve) if f is not None]
            ax.plot([e for e, _ in points], [f for _, f in points], "o-" if "peer" not in label else "s--",
                    label=label, color=colour[label])
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev F1 (%)")
        ax.set_title(corpus)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


@app.command()
def table(
    warehouse: Path = typer.Option(WAREHOUSE),
    json_out: Optional[Path] = typer.Option(RESULTS / "table4.json", help="also write the cells as JSON"),
    write_into: Optional[Path] = typer.Option(None, help="replace the text between <!-- TABLE4[ PROTOCOL] --> "
                                                         "and <!-- /TABLE4[ PROTOCOL] --> in this Markdown file"),
    curves_out: Optional[Path] = typer.Option(None, help="also plot every cell's and peer run's dev F1 after each "
                                                         "epoch as this PNG"),
    merge: bool = typer.Option(False, help="keep the --json-out record's cells and peer runs that this warehouse "
                                           "lacks (from another warehouse or session); one in both takes the "
                                           "warehouse's row"),
) -> None:
    """The Markdown table (mean ± sample std over seeds, dev F1 %) and one line per finished cell."""
    from peer import collect_peer  # bench/peer.py

    protocol = load_protocol()
    everything = collect(warehouse, protocol["protocol"])
    dropped = superseded_runs(protocol)
    cells = [c for c in everything if c["train_run"] not in dropped]
    old = [c for c in everything if c["train_run"] in dropped]
    peers = collect_peer(warehouse, protocol["protocol"])
    if merge:
        if json_out is None or not json_out.is_file():
            raise ProtocolError(f"--merge keeps the rows of the --json-out record, and there is none at {json_out}")
        kept = json.loads(json_out.read_text(encoding="utf-8"))
        if kept["protocol"]["protocol"] != protocol["protocol"]:
            raise ProtocolError(f"{json_out} records protocol {kept['protocol']['protocol']!r}, "
                                f"not {protocol['protocol']!r}")
        cells = merged_cells(kept["cells"], cells, cell_key)
        old = merged_cells(kept["superseded"] or [], old, cell_key)
        peers = merged_cells(kept["peer"], peers, peer_key)
    if not cells and not peers:
        raise ProtocolError(f"no finished {protocol['protocol']} cells or peer runs in {warehouse}")
    parts = [
        f"Generated by `{table_command()}` at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"from {len(cells)} finished cells and {len(peers)} peer runs. Dev F1 in %, mean ± sample standard "
        "deviation over seeds.",
        markdown_table(cells, table_variants(protocol, cells), peers),
        "Diagnostic cells outside Table 4 (`--no-kb-priors` as /no-kb, `--diagnostic NAME` as /NAME; same "
        "protocol, seeds and subsets):",
        diagnostic_table(cells, table_variants(protocol, cells)),
        "Every finished cell (per-kind F1 counts a kind when gold or predictions have it; the learning curve is "
        "dev F1 after each epoch):",
        cell_lines(cells),
        "Peer runs:",
        peer_lines(peers),
        "Time per epoch (training and the dev pass) and the evaluation's throughput (model load, greedy decoding of "
        "the cell's dev sentences, scoring, storing), as the cells recorded them. The cells ran at different times "
        "beside different jobs, so these ratios are indicative only; the interleaved measurements of "
        "bench/bench_variants.py and bench/decode_speed.py below are the ones to quote:",
        speed_rows(cells, peers),
    ]
    if old:
        parts += ["Superseded cells (kept in the warehouse, left out of the tables above): "
                  + "; ".join(sorted({f"train runs {', '.join(str(c['train_run']) for c in old if dropped[c['train_run']] == why)}: {why}" for why in set(dropped.values())})),
                  cell_lines(old)]
    text = "\n\n".join(parts)
    typer.echo(text)
    if write_into is not None:
        doc = write_into.read_text(encoding="utf-8")
        start, end = markers(protocol["protocol"])
        if start not in doc or end not in doc:
            raise ProtocolError(f"{write_into} lacks the markers {start} and {end}")
        head, rest = doc.split(start, 1)
        tmp = write_into.with_name(f".{write_into.name}.tmp")
        tmp.write_text(f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
        os.replace(tmp, write_into)
    if curves_out is not None:
        plot_curves(cells, peers, curves_out)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_out.with_suffix(json_out.suffix + ".tmp")
        tmp.write_text(json.dumps({"protocol": record_protocol(protocol), "cells": cells, "superseded": old,
                                   "peer": peers}, indent=1, default=str))
        os.replace(tmp, json_out)


def record_protocol(protocol: dict[str, Any]) -> dict[str, Any]:
    """The protocol block of a record: a whole split names no train_n or dev_n (null reads as a size)."""
    corpora = {name: {k: v for k, v in spec.items() if not (k in ("train_n", "dev_n") and v is None)}
               for name, spec in protocol.get("corpora", {}).items()}
    return {**protocol, "corpora": corpora}


if __name__ == "__main__":
    app()
