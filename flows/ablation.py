"""Prefect flow `ablation`: the paper's Table 4 — baseline, rp-tra, rp-eta and full on one corpus with the same
seeds — as one table in the warehouse (view `ablation_results`), in a Markdown report and as Prefect artifacts."""
from __future__ import annotations

import time
from typing import Any

from prefect import flow

from . import artifacts
from .config import check_variant, defaults, variant_names
from .evaluation import write_text
from .grid import (
    Cell,
    Places,
    eval_split,
    finish_parent,
    report_file,
    run_cell,
    start_parent,
    summarise,
)
from .report import ablation_report, pct
from .settings import RunSettings
from .train import load_corpus_task
from .warehouse_path import warehouse_path


@flow(name="ablation")
def ablation_flow(
    corpus: str = "demo",
    train_file: str | None = None,
    dev_file: str | None = None,
    test_file: str | None = None,
    format: str | None = None,
    variants: list[str] | None = None,
    seeds: list[int] | None = None,
    split: str | None = None,
    settings: RunSettings | None = None,
    warehouse: str | None = None,
    models_dir: str | None = None,
    reports_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and evaluate every variant with every seed; returns the ablation run id, its rows and its report.

    `settings` (flows/settings.py) is how every cell trains; each cell's seed replaces `settings.seed`."""
    settings = settings or RunSettings()
    places = Places(models_dir, reports_dir, progress)
    d = defaults()["ablation"]
    variants = [check_variant(v) for v in (variants or d.get("variants") or variant_names())]
    seeds = [int(s) for s in (seeds or d["seeds"])]
    wh = warehouse_path(warehouse)
    data = load_corpus_task(wh, corpus, train_file, dev_file, test_file, format, False)
    on = eval_split(data, split)
    parent = start_parent(wh, "ablation", corpus, {"variants": variants, "seeds": seeds, "split": on,
                                                   "data": data.sources, "settings": settings.given()})
    try:
        results = [run_cell(wh, parent, data, Cell(v, s), on, settings, places)
                   for v in variants for s in seeds]
        rows = summarise(results, "variant")
        text = ablation_report(corpus, on, rows, parent)
        path = write_text(report_file(places, f"ablation-{corpus}-run{parent}-{time.strftime('%Y%m%d-%H%M%S')}.md"),
                          text)
    except BaseException as err:
        finish_parent(wh, parent, err)
        raise
    finish_parent(wh, parent, message=f"report: {path}")
    artifacts.table(f"ablation-run-{parent}",
                    [{"variant": r["variant"], "seeds": r["seeds"], "p": pct(r["p"]), "r": pct(r["r"]),
                      "f1": pct(r["f1"]), **{k: r["errors"].get(k, 0) for k in ("boundary", "type", "both",
                                                                                  "spurious", "missed")}}
                     for r in rows],
                    f"Ablation (paper Table 4) on {corpus}/{on}, run {parent}: F1 in %, errors summed over seeds")
    artifacts.markdown(f"ablation-report-run-{parent}", text, f"Ablation report, run {parent}")
    return {"run_id": parent, "split": on, "rows": rows, "report": str(path)}
