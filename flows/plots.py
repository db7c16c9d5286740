"""PNG plots of runs (matplotlib, Agg backend: no display needed), written aside and renamed."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)

from typeprior.model.safe_write import write_file  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    try:
        return write_file(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    finally:
        plt.close(fig)


def learning_curve(history: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Training loss per epoch (left axis) and dev F1 (right axis, when the run had a dev split)."""
    epochs = [int(h["epoch"]) + 1 for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [h["loss"] for h in history], marker="o", color="tab:blue", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    if any("dev_f1" in h for h in history):
        right = ax.twinx()
        right.plot(epochs, [100 * h.get("dev_f1", float("nan")) for h in history], marker="s", color="tab:orange")
        right.set_ylabel("dev F1 (%)", color="tab:orange")
        right.set_ylim(0, 100)
    ax.set_title(title or "learning curve")
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def sweep_plot(points: Sequence[tuple[float, float]], path: str | Path, title: str = "", split: str = "test") -> Path:
    """F1 against the relation-loss weight w (the paper's Fig. 2); mean over seeds with their spread."""
    by_w: dict[float, list[float]] = {}
    for w, f1 in points:
        by_w.setdefault(float(w), []).append(100 * float(f1))
    ws = sorted(by_w)
    means = [sum(by_w[w]) / len(by_w[w]) for w in ws]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ws, means, marker="o", color="tab:green")
    if any(len(v) > 1 for v in by_w.values()):
        ax.fill_between(ws, [min(by_w[w]) for w in ws], [max(by_w[w]) for w in ws], alpha=0.2, color="tab:green")
    ax.set_xlabel("relation-loss weight w")
    ax.set_ylabel(f"{split} F1 (%)")
    ax.set_xticks(ws)
    ax.set_title(title or "F1 against w")
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))
