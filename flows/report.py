"""Human-readable reports (Markdown) of evaluations, ablations and sweeps.

The error section follows the paper's motivation: token relation attention is meant to fix boundaries (an
overlapping span of the right type), entity type attention to fix types (the right span with the wrong type),
so those two classes are reported apart from spans wrong in both ways, spurious and missed entities.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

ERROR_ROWS = (
    ("boundary", "overlapping span, right type", "token relation attention (rp-tra)"),
    ("type", "right span, wrong type", "entity type attention (rp-eta)"),
    ("both", "overlapping span, wrong type", "both additions (full)"),
    ("spurious", "predicted where no gold entity is", ""),
    ("missed", "gold entity nothing matched or overlapped", ""),
)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def score_rows(scores: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    return [[k, pct(s["p"]), pct(s["r"]), pct(s["f1"]), s.get("gold", ""), s.get("pred", "")]
            for k, s in scores.items() if s.get("gold") or s.get("pred")]


def error_rows(errors: Mapping[str, int]) -> list[list[Any]]:
    """Each error class with its count, its share of all errors, what it means and which addition targets it."""
    wrong = sum(errors.get(k, 0) for k, _, _ in ERROR_ROWS)
    return [[k, errors.get(k, 0), f"{100 * errors.get(k, 0) / wrong:.1f} %" if wrong else "–", meaning, target]
            for k, meaning, target in ERROR_ROWS]


def previous_build(comparison: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The earlier build's comparable run and the F1 change (view priors_comparison), as a run's summary shows it."""
    if not comparison or comparison.get("previous_build") is None:
        return None
    return {k: comparison[k] for k in ("previous_build", "previous_run_id", "previous_f1", "f1_change")}


def priors_line(comparison: Mapping[str, Any] | None, build: Any) -> str:
    """One sentence: which priors build a model read, and how its F1 compares with the earlier build's model."""
    if build is None:
        return "no knowledge-base priors (learned or no type embeddings)"
    if not comparison or comparison.get("previous_build") is None:
        return f"build {build}; no run of an earlier build of its scheme on the same data to compare with"
    change = comparison["f1_change"]
    verdict = "worse" if change < 0 else "better" if change > 0 else "the same"
    return (f"build {build}: F1 {pct(comparison['f1'])} against {pct(comparison['previous_f1'])} for build "
            f"{comparison['previous_build']} (run {comparison['previous_run_id']}) on the same data, "
            f"{100 * change:+.2f} ({verdict})")


def evaluation_report(info: Mapping[str, Any], scores: Mapping[str, Any], errors: Mapping[str, int],
                      examples: Mapping[str, Sequence[str]], warehouse: str,
                      comparison: Mapping[str, Any] | None = None) -> str:
    """The evaluation report: overall, per-type and per-kind scores, the error breakdown, a few examples, and
    (`comparison`, view priors_comparison) how the model compares with an earlier priors build's on this split."""
    run_id = info["run_id"]
    lines = [
        f"# Evaluation of {info['corpus']}/{info['split']}",
        "",
        f"- model: `{info['model_dir']}` (variant {info.get('variant') or '–'}, backbone {info.get('backbone') or '–'}"
        f", w {info.get('w') if info.get('w') is not None else '–'}, priors build {info.get('priors_build') or '–'})",
        f"- sentences: {info['sentences']}; warehouse run {run_id} in `{warehouse}`",
        f"- type priors: {priors_line(comparison, info.get('priors_build'))}",
        "",
        "## Overall",
        "",
        *_table(["P", "R", "F1", "TP", "FP", "FN"],
                [[pct(scores["p"]), pct(scores["r"]), pct(scores["f1"]), scores["tp"], scores["fp"], scores["fn"]]]),
        "",
        "## Per type",
        "",
        *_table(["type", "P", "R", "F1", "gold", "predicted"], score_rows(scores["per_type"])),
        "",
        "## Per kind",
        "",
        *_table(["kind", "P", "R", "F1", "gold", "predicted"], score_rows(scores["per_kind"])),
        "",
        "## Errors",
        "",
        f"{errors.get('correct', 0)} predictions are correct. The wrong ones and the missed gold entities:",
        "",
        *_table(["error", "count", "share", "meaning", "targeted by"], error_rows(errors)),
        "",
    ]
    for kind, texts in examples.items():
        if texts:
            lines += [f"Examples of `{kind}` errors:", ""] + [f"- {t}" for t in texts] + [""]
    lines += [
        "## Study the errors with SQL",
        "",
        "```bash",
        f"typeprior sql --warehouse {warehouse} \"SELECT status, kind, count(*) AS n FROM outcomes "
        f"WHERE run_id = {run_id} GROUP BY ALL ORDER BY n DESC\"",
        "```",
        "",
    ]
    return "\n".join(lines)


def ablation_report(corpus: str, split: str, rows: Sequence[Mapping[str, Any]], ablation_run_id: int) -> str:
    """The paper's Table 4 over this run: one row per variant, mean F1 over seeds and the error profile."""
    table = [[r["variant"], r["seeds"], pct(r["p"]), pct(r["r"]), pct(r["f1"]),
              r["errors"].get("boundary", 0), r["errors"].get("type", 0), r["errors"].get("both", 0),
              r["errors"].get("spurious", 0), r["errors"].get("missed", 0)] for r in rows]
    return "\n".join([
        f"# Ablation on {corpus}/{split} (warehouse run {ablation_run_id})",
        "",
        *_table(["variant", "seeds", "P", "R", "F1", "boundary", "type", "both", "spurious", "missed"], table),
        "",
        "P, R and F1 are means over the seeds; the error columns are summed over them.",
        "",
    ])


def sweep_report(corpus: str, split: str, rows: Sequence[Mapping[str, Any]], sweep_run_id: int, plot: str) -> str:
    table = [[f"{r['w']:.2f}", r["seeds"], pct(r["p"]), pct(r["r"]), pct(r["f1"])] for r in rows]
    return "\n".join([
        f"# Relation-loss weight (w) sweep on {corpus}/{split} (warehouse run {sweep_run_id})",
        "",
        *_table(["w", "seeds", "P", "R", "F1"], table),
        "",
        f"Plot: `{plot}`",
        "",
    ])
