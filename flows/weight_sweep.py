"""Prefect flow `weight_sweep`: the paper's Fig. 2 — F1 against the relation-loss weight w in {0.1, ..., 0.9} —
as a view in the warehouse (`sweep_results`), a PNG plot and Prefect artifacts."""
from __future__ import annotations

import time
from typing import Any

from prefect import flow

from . import artifacts
from .config import check_variant, defaults
from .evaluation import write_text
from .grid import Cell, Places, eval_split, finish_parent, report_file, run_cell, start_parent, summarise
from .plots import sweep_plot
from .report import pct, sweep_report
from .settings import RunSettings
from .train import load_corpus_task
from .warehouse_path import warehouse_path


@flow(name="weight-sweep")
def weight_sweep_flow(
    corpus: str = "demo",
    train_file: str | None = None,
    dev_file: str | None = None,
    test_file: str | None = None,
    format: str | None = None,
    weights: list[float] | None = None,
    seeds: list[int] | None = None,
    variant: str | None = None,
    split: str | None = None,
    settings: RunSettings | None = None,
    warehouse: str | None = None,
    models_dir: str | None = None,
    reports_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train and evaluate the variant at each weight; returns the sweep run id, its rows, report and plot.

    `settings` (flows/settings.py) is how every cell trains; each cell's seed and w replace its seed and w."""
    settings = settings or RunSettings()
    places = Places(models_dir, reports_dir, progress)
    d = defaults()["weight_sweep"]
    weights = [float(x) for x in (weights or d["weights"])]
    seeds = [int(s) for s in (seeds or [d["seed"]])]
    variant = check_variant(variant or d["variant"])
    wh = warehouse_path(warehouse)
    data = load_corpus_task(wh, corpus, train_file, dev_file, test_file, format, False)
    on = eval_split(data, split)
    parent = start_parent(wh, "sweep", corpus, {"variant": variant, "weights": weights, "seeds": seeds, "split": on,
                                               "data": data.sources, "settings": settings.given()})
    try:
        results = [run_cell(wh, parent, data, Cell(variant, s, x), on, settings, places)
                   for x in weights for s in seeds]
        rows = summarise(results, "w")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        plot = sweep_plot([(r["cell"].w, r["scores"]["f1"]) for r in results],
                          report_file(places, f"sweep-{corpus}-run{parent}-{stamp}.png"),
                          title=f"{corpus}: {variant}, F1 against w", split=on)
        text = sweep_report(corpus, on, rows, parent, str(plot))
        path = write_text(report_file(places, f"sweep-{corpus}-run{parent}-{stamp}.md"), text)
    except BaseException as err:
        finish_parent(wh, parent, err)
        raise
    finish_parent(wh, parent, message=f"plot: {plot}")
    artifacts.image(f"sweep-plot-run-{parent}", plot, f"{on} F1 against w on {corpus} (paper Fig. 2), run {parent}")
    artifacts.table(f"sweep-run-{parent}",
                    [{"w": r["w"], "seeds": r["seeds"], "p": pct(r["p"]), "r": pct(r["r"]), "f1": pct(r["f1"])}
                     for r in rows], f"Weight sweep on {corpus}/{on}, run {parent} (%)")
    return {"run_id": parent, "split": on, "rows": rows, "report": str(path), "plot": str(plot)}
