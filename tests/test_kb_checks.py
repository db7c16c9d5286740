"""The hand-checked typing samples: the packaged file loads, kb/sql/check_figures.sql estimates precision and
recall per type (in memory and in the warehouse after a build), and `kb show --checks` prints them."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.kb.checks import CheckSet, check_file, compute_figures, figures_sql, load_checks
from typeprior.kb.errors import SchemeError
from typeprior.kb.store import KBStore


def _checks(items: list[tuple[str, str | None, str | None]], frame: dict[str, int]) -> CheckSet:
    rows = pd.DataFrame([{"sample": "untyped" if a is None else "typed", "title": f"p{i}", "assigned": a,
                          "judged": j, "evidence": None, "note": ""} for i, (_, a, j) in enumerate(items)])
    return CheckSet("toy", "snapshot:x", "f", 1, frame, rows)


def test_figures_weigh_each_stratum_by_its_size() -> None:
    items = ([("", "A", "A")] * 9 + [("", "A", "B")]            # A: 9 of 10 right, one is really B
             + [("", "B", "B")] * 4                              # B: all right
             + [("", None, None)] * 18 + [("", None, "A")] * 2)  # untyped: 2 of 20 are really A
    figures = {r["entity_type"]: r for r in compute_figures(_checks(items, {"A": 100, "B": 40, "untyped": 1000}))}
    a, b = figures["A"], figures["B"]
    assert (a["precision"], a["est_true_positives"], a["est_false_negatives"]) == (0.9, 90.0, 100.0)
    assert a["recall"] == pytest.approx(90 / 190, abs=1e-4)
    assert (b["precision"], b["est_false_negatives"]) == (1.0, 10.0)   # 100 pages of A · 1/10 judged B
    assert b["recall"] == pytest.approx(40 / 50, abs=1e-4)
    assert (a["untyped_should_be"], a["untyped_sample"], a["typed_sample"]) == (2, 20, 10)


def test_the_packaged_conll2003_samples_hold_what_the_readme_reports() -> None:
    checks = load_checks(check_file("conll2003"))
    assert checks.seed == 2026 and set(checks.frame) == {"PER", "LOC", "ORG", "MISC", "untyped"}
    counts = checks.items.groupby(["sample"]).size().to_dict()
    assert counts == {"typed": 200, "untyped": 200}
    assert (checks.items[checks.items["sample"] == "typed"].groupby("assigned").size() == 50).all()
    figures = {r["entity_type"]: r for r in compute_figures(checks)}
    assert {t: r["precision"] for t, r in figures.items()} == {"PER": 1.0, "LOC": 1.0, "ORG": 0.94, "MISC": 0.92}
    recall = {"PER": 0.9834, "LOC": 0.954, "ORG": 0.9033, "MISC": 0.7255}
    assert {t: r["recall"] for t, r in figures.items()} == pytest.approx(recall, abs=1e-4)
    assert check_file("wnut17") is None


def test_a_bad_check_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("scheme: x\nframe: {A: 3}\nitems:\n- {sample: typed, title: t, assigned: B, judged: B}\n",
                    encoding="utf-8")
    with pytest.raises(SchemeError, match=str(path)):
        load_checks(path)


def test_a_build_loads_the_samples_and_show_prints_the_figures(warehouse_path: Path) -> None:
    from typeprior.kb.build import record_checks

    with KBStore.open(warehouse_path) as store:
        assert record_checks(store, "conll2003") and not record_checks(store, "wnut17")
        in_sql = {r["entity_type"]: r["recall"] for r in store.query(figures_sql())}
    assert in_sql == {r["entity_type"]: r["recall"] for r in compute_figures(load_checks(check_file("conll2003")))}
    with KBStore.open(warehouse_path) as store:
        build_id = store.start_build("conll2003", ["snapshot:x"], "m", "h", "{}")
        store.finish_build(build_id, "c")
    result = CliRunner().invoke(app, ["kb", "show", "--checks", "--warehouse", str(warehouse_path)])
    assert result.exit_code == 0, result.output
    assert "typing checks: conll2003.yaml" in result.output and "94.0% (47/50)" in result.output
