"""What the knowledge base adds (issue 16): KB type priors against learned type vectors, by training-set size.

Each cell is a bench/table4.py cell of the protocol bench/priors-value.yaml (one recorded training run and one
recorded evaluation of its best epoch on the dev subset, in the results warehouse); a finished cell is skipped and
an interrupted one resumes. The `no-kb` arm is the same variant trained with `--no-kb-priors` (tag `no-kb`).

    python bench/priors_value.py run --corpus conll2003 --train-n 100 --seed 42 --seed 43 --seed 44
    python bench/priors_value.py record     # bench/records/priors-value.json, bench/records/priors-value.png

Build the priors first: `typeprior kb build --scheme conll2003 --warehouse bench/results/results.duckdb` (and
wnut17). Cells of one size and seed run their two arms back to back, so a stopped run leaves paired cells.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import table4  # noqa: E402  (bench/table4.py: protocol, subsets, cells)

PROTOCOL_FILE = BENCH / "priors-value.yaml"
RECORD = BENCH / "records" / "priors-value.json"
ARMS = {"kb": True, "no-kb": False}  # arm -> whether type attention reads the KB's priors
NO_KB_TAG = "no-kb"

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


@app.callback()
def cli(protocol: Optional[Path] = typer.Option(None, help="protocol file (default bench/priors-value.yaml)")) -> None:
    """Cells of the priors-value protocol: run, record."""
    table4.protocol_option(protocol or PROTOCOL_FILE)


@app.command()
def run(
    corpus: list[str] = typer.Option(..., help="corpora, in order"),
    train_n: list[int] = typer.Option(..., help="training-set sizes, in order (each ≤ the protocol's train list)"),
    seed: Optional[list[int]] = typer.Option(None, help="seeds (default: the protocol's)"),
    arm: Optional[list[str]] = typer.Option(None, help="kb, no-kb (default: both, in that order)"),
    warehouse: Path = typer.Option(table4.WAREHOUSE),
    threads: int = typer.Option(2, help="torch CPU threads"),
    progress: bool = typer.Option(False),
    diagnostic: str = typer.Option("", help="model or training overrides named in the protocol's `diagnostics` "
                                            "(an arm of its own, ARM/NAME, compared with ARM over the same seeds)"),
) -> None:
    """Train and evaluate every missing cell: corpus × size × seed × arm, one after another."""
    import torch

    arms = arm or list(ARMS)
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise typer.BadParameter(f"unknown arms {unknown} (known: {', '.join(ARMS)})")
    protocol = table4.load_protocol()
    if diagnostic:
        try:
            table4.diagnostic_settings(protocol, diagnostic)
        except table4.ProtocolError as err:
            raise typer.BadParameter(str(err)) from None
    torch.set_num_threads(threads)
    table4.code_commit()
    for c in corpus:
        for n in train_n:
            for s in seed or protocol["seeds"]:
                for a in arms:
                    for variant in protocol["variants"]:
                        tag = "-".join(x for x in ("" if ARMS[a] else NO_KB_TAG, diagnostic) if x)
                        cell = table4.Cell(protocol["protocol"], c, variant, int(s), tag, n)
                        typer.echo(f"{time.strftime('%H:%M:%S')} start {cell}", err=True)
                        typer.echo(table4.run_cell(protocol, cell, warehouse, progress, use_priors=ARMS[a],
                                                   diagnostic=diagnostic))


def rows(cells: list[dict[str, Any]], protocol: str) -> list[dict[str, Any]]:
    """The record's rows: one per finished cell of `protocol`, with its arm and training-set size."""
    out = []
    for c in cells:
        variant, *labels = c["variant"].split("/")
        arm = "no-kb" if table4.NO_KB.strip("/") in labels else "kb"
        diagnostics = [x for x in labels if x != table4.NO_KB.strip("/")]
        out.append({
            "corpus": c["corpus"], "train_n": c["train_n"], "arm": "/".join([arm, *diagnostics]),
            "variant": variant, "seed": c["seed"], "f1": c["f1"], "p": c["p"],
            "r": c["r"], "per_type": c["per_type"], "dev_f1_by_epoch": c["dev_f1_by_epoch"], "epochs": c["epochs"],
            "train_seconds": c["train_seconds"], "train_run": c["train_run"], "eval_run": c["eval_run"],
            "priors_build": c["priors_build"], "code": c["code"], "protocol": protocol,
        })
    return sorted(out, key=row_order)


def whole_rows(record: dict[str, Any], variants: list[str]) -> list[dict[str, Any]]:
    """Rows from a bench/table4.py record of a whole-corpus protocol (bench/records/table4-full.json): its cells of
    this protocol's variants, with and without KB priors, at train_n = the whole training split's size, for the
    corpora that hold cells of both arms (a KB cell alone measures nothing here). Their protocol is that record's
    (its own epochs, model settings and whole dev split), named in each row."""
    name = record["protocol"]["protocol"]
    mine = [c for c in record["cells"] if c["variant"].split("/")[0] in variants]
    paired = {c["corpus"] for c in mine if c["variant"].endswith("/no-kb")}
    cells = [c for c in mine if c["corpus"] in paired]
    if not cells:
        raise typer.BadParameter(f"the {name} record has no KB and no-KB cells of the variants {variants}")
    return rows(cells, name)


def row_order(r: dict[str, Any]) -> tuple:
    """A record's row order: corpus, size, seed, arm."""
    return r["corpus"], r["train_n"], r["seed"], r["arm"]


def merged(kept: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of both, one per (corpus, train_n, arm, seed): a cell in both takes its row from `new`."""
    fresh = {row_order(r) for r in new}
    return sorted([r for r in kept if row_order(r) not in fresh] + new, key=row_order)


def gaps(record: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per corpus and size: mean F1 of each arm and the mean paired difference kb − no-kb over shared seeds."""
    out = []
    for corpus, n in dict.fromkeys((r["corpus"], r["train_n"]) for r in record):
        arm = {a: {r["seed"]: r["f1"] for r in record if (r["corpus"], r["train_n"], r["arm"]) == (corpus, n, a)}
               for a in ARMS}
        paired = sorted(set(arm["kb"]) & set(arm["no-kb"]))
        diffs = [arm["kb"][s] - arm["no-kb"][s] for s in paired]
        out.append({
            "corpus": corpus, "train_n": n, "kb": arm["kb"], "no-kb": arm["no-kb"], "pairs": len(paired),
            "gap": statistics.mean(diffs) if diffs else None,
            "gap_sd": statistics.stdev(diffs) if len(diffs) > 1 else None,
        })
        for label in dict.fromkeys(r["arm"] for r in record if "/" in r["arm"]):
            base = label.split("/")[0]
            mine = {r["seed"]: r["f1"] for r in record if (r["corpus"], r["train_n"], r["arm"]) == (corpus, n, label)}
            if not mine:
                continue
            paired = sorted(set(mine) & set(arm[base]))
            diffs = [mine[s] - arm[base][s] for s in paired]
            out.append({
                "corpus": corpus, "train_n": n, "arm": label, "against": base, label: mine, base: arm[base],
                "pairs": len(paired), "gap": statistics.mean(diffs) if diffs else None,
                "gap_sd": statistics.stdev(diffs) if len(diffs) > 1 else None,
            })
    return out


def markdown(summary: list[dict[str, Any]]) -> str:
    def mean(values: dict[int, float]) -> str:
        v = list(values.values())
        if not v:
            return "—"
        return f"{statistics.mean(v) * 100:.2f}" + (f" ± {statistics.stdev(v) * 100:.2f}" if len(v) > 1 else "") + f" (n={len(v)})"

    def gap(g: dict[str, Any]) -> str:
        return "—" if g["gap"] is None else f"{g['gap'] * 100:+.2f}" + (
            f" ± {g['gap_sd'] * 100:.2f}" if g["gap_sd"] is not None else "") + f" (n={g['pairs']})"

    lines = ["| corpus | train sentences | KB priors | learned E_T (no KB) | KB − no KB (paired seeds) |",
             "|---|---|---|---|---|"]
    for g in summary:
        if "arm" not in g:
            lines.append(f"| {g['corpus']} | {g['train_n']} | {mean(g['kb'])} | {mean(g['no-kb'])} | {gap(g)} |")
    extra = [g for g in summary if "arm" in g]
    if extra:
        lines += ["", "| corpus | train sentences | arm | its F1 | against | their F1 | difference (paired seeds) |",
                  "|---|---|---|---|---|---|---|"]
        for g in extra:
            lines.append(f"| {g['corpus']} | {g['train_n']} | {g['arm']} | {mean(g[g['arm']])} | {g['against']} "
                         f"| {mean(g[g['against']])} | {gap(g)} |")
    return "\n".join(lines)


def plot(record: list[dict[str, Any]], path: Path, protocol: str) -> None:
    """F1 against training-set size, one panel per corpus: each seed as a dot, each arm's mean over `protocol`'s
    subsets as a line, and cells of another protocol (the whole corpus) as large markers of their own."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = list(dict.fromkeys(r["corpus"] for r in record))
    fig, axes = plt.subplots(1, len(corpora), figsize=(5 * len(corpora), 4), squeeze=False)
    for ax, corpus in zip(axes[0], corpora):
        for a, style, marker in zip(ARMS, ("o-", "s--"), ("*", "P")):
            mine = [r for r in record if r["corpus"] == corpus and r["arm"] == a]
            subsets = [r for r in mine if r.get("protocol", protocol) == protocol]
            wholes = [r for r in mine if r.get("protocol", protocol) != protocol]
            sizes = sorted({r["train_n"] for r in subsets})
            means = [statistics.mean(r["f1"] * 100 for r in subsets if r["train_n"] == n) for n in sizes]
            label = "KB priors" if a == "kb" else "learned E_T (no KB)"
            (line,) = ax.plot(sizes, means, style, label=label)
            ax.scatter([r["train_n"] for r in subsets], [r["f1"] * 100 for r in subsets], s=12, alpha=0.5,
                       color=line.get_color())
            if wholes:
                ax.scatter([r["train_n"] for r in wholes], [r["f1"] * 100 for r in wholes], s=70, marker=marker,
                           color=line.get_color(), label=f"{label}: whole corpus ({wholes[0]['protocol']}, whole dev)")
        ax.set_xscale("log")
        ax.set_xlabel("training sentences")
        ax.set_ylabel("dev F1 (%)")
        ax.set_title(corpus)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def record_command(merge: bool, whole: Optional[Path], protocol: Optional[Path] = None,
                   warehouse: Optional[Path] = None, out: Optional[Path] = None) -> str:
    """How `record` was invoked, for the record itself: every option that differs from its default (the protocol
    file, the warehouse, the record), since a merged record cannot be rebuilt from one warehouse."""
    def shown(path: Path) -> Path:
        return path.relative_to(table4.ROOT) if path.is_absolute() and path.is_relative_to(table4.ROOT) else path

    parts = ["python bench/priors_value.py"]
    if protocol is not None and protocol.resolve() != PROTOCOL_FILE.resolve():
        parts.append(f"--protocol {shown(protocol)}")
    parts.append("record")
    if warehouse is not None and warehouse.resolve() != table4.WAREHOUSE.resolve():
        parts.append(f"--warehouse {shown(warehouse)}")
    if out is not None and out.resolve() != RECORD.resolve():
        parts.append(f"--out {shown(out)}")
    if merge:
        parts.append("--merge")
    if whole is not None:
        parts.append(f"--whole {whole}")
    return " ".join(parts)


@app.command()
def record(
    warehouse: Path = typer.Option(table4.WAREHOUSE),
    out: Path = typer.Option(RECORD, help="the JSON record; the PNG goes beside it"),
    merge: bool = typer.Option(False, help="keep the record's rows for cells this warehouse lacks (cells from "
                                           "another machine or session); a cell in both takes the warehouse's row"),
    whole: Optional[Path] = typer.Option(None, help="also take the whole-corpus cells (KB and no-KB) of this "
                                                    "bench/table4.py record, e.g. bench/records/table4-full.json"),
) -> None:
    """Write every finished cell as a row of the record and the plot, and print the table."""
    protocol = table4.load_protocol()
    record_rows = rows(table4.collect(warehouse, protocol["protocol"]), protocol["protocol"])
    if merge and out.exists():
        kept = json.loads(out.read_text(encoding="utf-8"))["rows"]
        for r in kept:  # rows recorded before each named its protocol are this one's
            r.setdefault("protocol", protocol["protocol"])
        record_rows = merged(kept, record_rows)
    if whole is not None:
        if not whole.is_file():
            raise typer.BadParameter(f"--whole: no record {whole}")
        record_rows = merged(record_rows, whole_rows(json.loads(whole.read_text(encoding="utf-8")),
                                                     protocol["variants"]))
    if not record_rows:
        raise typer.BadParameter(f"no finished {protocol['protocol']} cells in {warehouse}")
    summary = gaps(record_rows)
    payload = {"protocol": {k: protocol[k] for k in ("protocol", "backbone", "variants", "epochs", "epochs_by_train_n",
                                                     "batch_size", "model", "training", "split_seed")},
               "command": record_command(merge, whole, table4.current_protocol_file(), warehouse, out),
               "summary": summary, "rows": record_rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out)
    plot(record_rows, out.with_suffix(".png"), protocol["protocol"])
    typer.echo(markdown(summary))


if __name__ == "__main__":
    app()
