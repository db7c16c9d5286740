"""The hand-checked typing samples: the packaged file loads, kb/sql/check_figures.sql estimates precision and
recall per type (in memory and in the warehouse after a build), and `kb show --checks` prints them."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.kb.checks import UNJUDGED, CheckSet, check_file, compute_figures, draw_checks, figures_sql, load_checks
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
    assert checks.seed == 2029 and set(checks.frame) == {"PER", "LOC", "ORG", "MISC", "untyped"}
    counts = checks.items.groupby(["sample"]).size().to_dict()
    assert counts == {"typed": 200, "untyped": 200}
    assert (checks.items[checks.items["sample"] == "typed"].groupby("assigned").size() == 50).all()
    figures = {r["entity_type"]: r for r in compute_figures(checks)}
    assert {t: r["precision"] for t, r in figures.items()} == {"PER": 1.0, "LOC": 1.0, "ORG": 0.98, "MISC": 0.98}
    recall = {"PER": 0.9857, "LOC": 0.9792, "ORG": 0.8376, "MISC": 0.8802}
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
    assert "typing checks: conll2003.yaml" in result.output and "98.0% (49/50)" in result.output


def test_a_draw_is_seeded_over_sorted_titles_and_carries_judgements_over() -> None:
    """The packaged samples are what `draw_checks` gives for their seed over their frame's typing order; a page
    judged before keeps its judgement, every other item waits for a person."""
    typed = {"A": {f"a{i:02}": "description:x" for i in range(30)}, "B": {f"b{i}": "topic:y" for i in range(3)}}
    untyped = [f"u{i:02}" for i in range(40)]
    first = draw_checks(typed, untyped[::-1], "toy", "snapshot:x", "fp", 7, per_type=5, n_untyped=6)
    again = draw_checks(typed, untyped, "toy", "snapshot:x", "fp", 7, per_type=5, n_untyped=6)
    assert first["items"] == again["items"]           # the input order does not matter: titles are sorted
    assert first["frame"] == {"A": 30, "B": 3, "untyped": 40}
    assert [i["sample"] for i in first["items"]] == ["typed"] * 8 + ["untyped"] * 6
    assert all(i["judged"] == UNJUDGED for i in first["items"])
    seen = first["items"][0]["title"]
    earlier = _checks([("", "A", "B")], {"A": 30, "untyped": 40})
    earlier.items.loc[0, "title"], earlier.items.loc[0, "note"] = seen, "judged before"
    carried = draw_checks(typed, untyped, "toy", "snapshot:x", "fp", 7, per_type=5, n_untyped=6, previous=[earlier])
    assert (carried["items"][0]["judged"], carried["items"][0]["note"]) == ("B", "judged before")
    assert sum(i["judged"] == UNJUDGED for i in carried["items"]) == 13


def test_draw_checks_writes_a_file_that_show_refuses_until_judged(tmp_path: Path, warehouse_path: Path) -> None:
    """`kb draw-checks` samples a real build's typing in the warehouse; the file it writes is refused by
    `load_checks` with the first unjudged title until each '?' is replaced."""
    import json

    from typeprior.kb.entities import extract_entities
    from typeprior.kb.harvest import harvest
    from typeprior.kb.schemes import load_scheme
    from typeprior.kb.settings import load_settings
    from typeprior.kb.sources import SnapshotSource

    pages = {"Paris": ("Capital and largest city of France", "Geography"), "Lyon": ("City in France", "Geography"),
             "Marie Curie": ("Polish-French physicist (1867–1934)", "People"), "Desert": ("Dry area", "Geography"),
             "World War II": ("Global conflict (1939–1945)", "History")}
    data = {t: {"title": t, "extract": f"{t} is mentioned here.", "description": d, "topic": topic}
            for t, (d, topic) in pages.items()}
    data["Desert"]["extract"] = "A desert is a dry area."   # a common noun: the one untyped page
    snapshot = tmp_path / "summaries.json"
    snapshot.write_text(json.dumps(data), encoding="utf-8")
    source, scheme = SnapshotSource(snapshot), load_scheme("conll2003")
    with KBStore.open(warehouse_path) as store:
        harvest(store, source, scheme, None, progress=False)
        extract_entities(store, source.key, scheme, load_settings())
        build_id = store.start_build("conll2003", [source.key], "m", "h", "{}")
        store.finish_build(build_id, "c")
    out = tmp_path / "checks.yaml"
    args = ["kb", "draw-checks", "--scheme", "conll2003", "--seed", "3", "--out", str(out), "--per-type", "1",
            "--untyped", "5", "--no-keep-judgements", "--warehouse", str(warehouse_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 items, 4 to judge" in result.output
    with pytest.raises(SchemeError, match="4 check items are not judged yet"):
        load_checks(out)
    text = out.read_text(encoding="utf-8")
    assert "scheme_fingerprint: " + scheme.fingerprint() in text and "untyped: 1" in text
    load_checks_after = out.with_name("judged.yaml")
    load_checks_after.write_text(text.replace("judged: '?'", "judged: null"), encoding="utf-8")
    judged = load_checks(load_checks_after)
    assert judged.seed == 3 and judged.frame == {"PER": 1, "LOC": 2, "ORG": 0, "MISC": 1, "untyped": 1}
