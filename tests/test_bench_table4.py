"""The Table 4 harness's own logic: protocol diagnostics, peer recipes, the summary table and superseded cells."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import peer  # noqa: E402
import table4  # noqa: E402


@pytest.fixture(scope="module")
def protocol() -> dict:
    return table4.load_protocol()


def test_diagnostics_name_real_model_settings(protocol: dict) -> None:
    from typeprior.model.config import MODEL_KEYS

    for name in protocol["diagnostics"]:
        assert set(table4.diagnostic_settings(protocol, name)) <= set(MODEL_KEYS)
    assert len(table4.diagnostic_settings(protocol, "balanced-focal")["focal_alpha"]) == 3
    assert set(protocol["model"]) <= set(MODEL_KEYS)
    with pytest.raises(table4.ProtocolError, match="no diagnostic 'nope'"):
        table4.diagnostic_settings(protocol, "nope")


def test_peer_recipes_override_the_standard_settings(protocol: dict) -> None:
    standard = peer.recipe_config(protocol, "standard")
    two_rate = peer.recipe_config(protocol, "two-rate")
    assert "lr_head" not in standard and "recipes" not in standard
    assert two_rate["lr"] == standard["lr"] and two_rate["lr_head"] > two_rate["lr"]
    assert peer.variant_name("standard") == "peer-tokcls" and peer.variant_name("two-rate") == "peer-tokcls/two-rate"
    with pytest.raises(typer.BadParameter, match="unknown peer recipe"):
        peer.recipe_config(protocol, "nope")


def test_summary_table_means_spreads_and_gap() -> None:
    cells = [{"corpus": "c", "variant": v, "seed": k, "f1": f} for v, k, f in
             [("baseline", 42, 0.50), ("baseline", 43, 0.52), ("baseline", 44, 0.90), ("full", 42, 0.53),
              ("full", 43, 0.55), ("full/no-kb", 42, 0.99)]]
    peers = [{"corpus": "c", "recipe": "standard", "f1": 0.40}, {"corpus": "c", "recipe": "two-rate", "f1": 0.60},
             {"corpus": "c", "recipe": "two-rate", "f1": 0.62}]
    text = table4.markdown_table(cells, ["baseline", "rp-tra", "rp-eta", "full"], peers)
    header, _, row = text.splitlines()
    assert "(standard)" in header and "(two-rate)" in header
    cols = [c.strip() for c in row.strip("|").split("|")]
    assert cols[0] == "c" and cols[1] == "64.00 ± 22.54 (n=3)" and cols[2] == "—" and cols[4] == "54.00 ± 1.41 (n=2)"
    assert cols[5] == "40.00 (n=1)" and cols[6] == "61.00 ± 1.41 (n=2)"
    assert cols[7] == "+3.00 (n=2)"  # seed 44 has no full cell, so it stays out of the gap
    diagnostics = table4.diagnostic_table(cells, ["baseline", "rp-tra", "rp-eta", "full"]).splitlines()
    assert len(diagnostics) == 3 and diagnostics[2].split("|")[6].strip() == "+46.00 (n=1)"


def test_superseded_runs_come_from_the_protocol(protocol: dict) -> None:
    dropped = table4.superseded_runs(protocol)
    assert {5, 6, 14, 15, 36, 38} <= set(dropped) and all(dropped.values())


def test_the_long_protocol_restates_only_what_differs(protocol: dict) -> None:
    long = table4.load_protocol(table4.BENCH / "table4-long.yaml")
    assert long["protocol"] != protocol["protocol"] and long["epochs"] > protocol["epochs"]
    for same in ("backbone", "seeds", "batch_size", "training", "split_seed", "corpora", "diagnostics"):
        assert long[same] == protocol[same], same
    assert long["peer"]["lr"] == protocol["peer"]["lr"] and long["peer"]["recipes"] == protocol["peer"]["recipes"]
    assert long["peer"]["corpora"] == ["conll2003"]  # a mapping is merged key by key, a list replaced
    assert "superseded" not in long  # run ids listed there belong to reduced-v1
    assert table4.markers(long["protocol"]) == ("<!-- TABLE4 reduced-v2-long -->", "<!-- /TABLE4 reduced-v2-long -->")
    assert table4.markers(protocol["protocol"]) == ("<!-- TABLE4 -->", "<!-- /TABLE4 -->")


def test_protocol_files_that_cannot_be_read_name_themselves(tmp_path: Path) -> None:
    looped = tmp_path / "loop.yaml"
    looped.write_text("extends: loop.yaml\n")
    with pytest.raises(table4.ProtocolError, match="a loop"):
        table4.load_protocol(looped)
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(table4.ProtocolError, match="a loop"):
        table4.load_protocol(tmp_path / "a.yaml")
    (tmp_path / "orphan.yaml").write_text("extends: gone.yaml\n")
    with pytest.raises(table4.ProtocolError, match="no protocol file .*gone.yaml"):
        table4.load_protocol(tmp_path / "orphan.yaml")
    partial = tmp_path / "partial.yaml"
    partial.write_text("protocol: p\nepochs: 2\n")
    with pytest.raises(table4.ProtocolError, match="missing key 'backbone'"):
        table4.load_protocol(partial)
    with pytest.raises(table4.ProtocolError, match="no protocol file"):
        table4.use_protocol_file(tmp_path / "absent.yaml")


def test_the_protocol_option_switches_what_every_command_reads() -> None:
    try:
        table4.protocol_option(table4.BENCH / "table4-long.yaml")
        assert table4.load_protocol()["protocol"] == "reduced-v2-long"
        assert table4.table_command() == "python bench/table4.py --protocol bench/table4-long.yaml table"
        with pytest.raises(typer.BadParameter, match="no protocol file"):
            table4.protocol_option(Path("nowhere.yaml"))
    finally:
        table4.use_protocol_file(table4.PROTOCOL_FILE)
    assert table4.load_protocol()["protocol"] == "reduced-v1"
    assert table4.table_command() == "python bench/table4.py table"


def test_a_diagnostic_may_override_training_settings(protocol: dict, tmp_path: Path) -> None:
    from typeprior.model.training import TrainingConfig

    assert table4.diagnostic_settings(protocol, "decoder-lr", "training") == {"lr_decoder": 5.0e-4}
    assert table4.diagnostic_settings(protocol, "decoder-lr") == {}
    TrainingConfig.load(**table4.diagnostic_settings(protocol, "decoder-lr", "training"))  # real training.yaml keys
    broken = {**protocol, "diagnostics": {"x": {"modle": {"focal_alpha": 1.0}}}}
    with pytest.raises(table4.ProtocolError, match="unknown sections"):
        table4.diagnostic_settings(broken, "x")


def test_the_table_reads_each_cells_latest_evaluation(tmp_path: Path) -> None:
    import json

    from typeprior.warehouse import open_warehouse
    from typeprior.warehouse.runs import finish_run, record_epoch, record_metrics, start_run

    path = tmp_path / "results.duckdb"
    with open_warehouse(path) as wh:
        config = {"seed": 42, "data": {"protocol": "p", "code": json.dumps({"commit": "abc", "dirty": False})}}
        train = start_run(wh, "train", config, corpus="conll2003", variant="full")
        record_epoch(wh, train, 1, dev_f1=0.5)
        finish_run(wh, train, "completed")
        for f1 in (0.50, 0.70):  # the first evaluation, then one after a decoding change
            ev = start_run(wh, "evaluate", {}, corpus="conll2003", variant="full", parent_run_id=train)
            record_metrics(wh, ev, "dev", {"p": f1, "r": f1, "f1": f1, "tp": 7, "fp": 3, "fn": 3,
                                           "per_kind": {"flat": {"p": f1, "r": f1, "f1": f1, "tp": 7, "fp": 3, "fn": 3}}})
            finish_run(wh, ev, "completed")
        other = start_run(wh, "train", {"seed": 42, "data": {"protocol": "q"}}, corpus="conll2003", variant="full")
        finish_run(wh, other, "completed")
    cells = table4.collect(path, "p")
    assert [(c["train_run"], c["eval_run"], c["f1"]) for c in cells] == [(train, ev, 0.70)]
    assert cells[0]["per_kind"] == {"flat": 0.70} and cells[0]["dev_f1_by_epoch"] == [0.5]


def test_subset_writes_a_cells_dev_sentences_as_a_corpus_file(protocol: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from typeprior.model.corpus import read_corpus

    if not table4.data_path(protocol, "conll2003").is_dir():
        pytest.skip("../shared/data is not here (a fresh clone)")
    out = tmp_path / "dev.jsonl"
    result = CliRunner().invoke(table4.app, ["subset", "conll2003", "dev", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = read_corpus(out).sentences
    expected = table4.subset(protocol, "conll2003", "dev")
    assert len(written) == protocol["corpora"]["conll2003"]["dev_n"]
    assert [(s.tokens, sorted(s.entities)) for s in written] == [(s.tokens, sorted(s.entities)) for s in expected]
    bad = CliRunner().invoke(table4.app, ["subset", "conll2003", "test", "--out", str(out)])
    assert bad.exit_code == 2


def test_the_table_has_a_column_for_every_variant_that_ran(protocol: dict) -> None:
    long = table4.load_protocol(table4.BENCH / "table4-long.yaml")
    assert table4.table_variants(long, []) == ["baseline", "full"]
    extra = [{"variant": "rp-eta"}, {"variant": "full/decoder-lr"}]
    assert table4.table_variants(long, extra) == ["baseline", "rp-eta", "full"]
    assert table4.table_variants(protocol, []) == ["baseline", "rp-tra", "rp-eta", "full"]


def test_smaller_training_sets_are_nested_and_get_their_own_epochs() -> None:
    """bench/priors-value.yaml: 100 within 300 within 1,000 sentences, the same for every arm and seed."""
    value = table4.load_protocol(table4.BENCH / "priors-value.yaml")
    assert table4.epochs_for(value, 100) == 20 and table4.epochs_for(value, 1000) == value["epochs"] == 5
    if not table4.data_path(value, "conll2003").is_dir():
        pytest.skip("../shared/data is not here (a fresh clone)")
    small, mid = table4.subset(value, "conll2003", "train", 100), table4.subset(value, "conll2003", "train", 300)
    assert [s.tokens for s in small] == [s.tokens for s in mid[:100]]
    assert [s.tokens for s in mid] == [s.tokens for s in table4.subset(value, "conll2003", "train", 300)]
    assert {tuple(s.tokens) for s in mid} <= {tuple(s.tokens) for s in table4.subset(value, "conll2003", "train")}
    with pytest.raises(table4.ProtocolError, match="only train subsets shrink"):
        table4.subset(value, "conll2003", "dev", 100)
    assert table4.Cell("priors-value", "conll2003", "full", 42, "no-kb", 100).name == "conll2003-full-s42-n100-no-kb"


def test_priors_value_pairs_the_arms_by_seed() -> None:
    import priors_value

    def row(n: int, arm: str, seed: int, f1: float) -> dict:
        return {"corpus": "conll2003", "train_n": n, "arm": arm, "seed": seed, "f1": f1}

    record = [row(100, "kb", 42, 0.50), row(100, "no-kb", 42, 0.45), row(100, "kb", 43, 0.40),
              row(100, "no-kb", 43, 0.42), row(100, "kb", 44, 0.9)]  # seed 44 has no pair: not in the gap
    (gap,) = priors_value.gaps(record)
    assert gap["pairs"] == 2 and gap["gap"] == pytest.approx((0.05 - 0.02) / 2)
    table = priors_value.markdown([gap])
    assert "| conll2003 | 100 |" in table and "+1.50" in table and "(n=2)" in table


def test_the_whole_corpus_protocol_reads_every_sentence() -> None:
    """bench/table4-full.yaml names no train_n: a cell trains on the whole split and is scored on the whole dev."""
    full = table4.load_protocol(table4.BENCH / "table4-full.yaml")
    assert all(spec["train_n"] is None and spec["dev_n"] is None for spec in full["corpora"].values())
    assert full["protocol"] == "whole-v1-3ep" and full["training"]["keep_checkpoint"] is True
    block = table4.record_protocol(full)["corpora"]
    assert all("train_n" not in spec and "dev_n" not in spec for spec in block.values())
    assert table4.record_protocol(table4.load_protocol(table4.BENCH / "table4.yaml"))["corpora"]["conll2003"]["train_n"]
    if not table4.data_path(full, "conll2003").is_dir():
        pytest.skip("../shared/data is not here (a fresh clone)")
    assert len(table4.subset(full, "conll2003", "train")) == len(table4.source_sentences(full, "conll2003", "train"))
    sources = table4.subset_sources(full, "conll2003")
    assert "#" not in sources["train"] and sources["train"].endswith("eng.train")
    genia = table4.subset(full, "genia", "train") + table4.subset(full, "genia", "dev")
    assert len(genia) == len(table4.source_sentences(full, "genia", "train"))  # the two document halves
    with pytest.raises(table4.ProtocolError, match="needs the protocol's train_n list"):
        table4.subset(full, "conll2003", "train", 100)


def test_the_longer_whole_corpus_protocol_changes_only_its_name_seeds_and_epochs() -> None:
    """whole-v2 restates only what differs from whole-v1-3ep, so its cells differ from those in schedule alone."""
    v1 = table4.load_protocol(table4.BENCH / "table4-full.yaml")
    v2 = table4.load_protocol(table4.BENCH / "table4-whole-v2.yaml")
    assert (v2["protocol"], v2["epochs"], v2["seeds"]) == ("whole-v2-6ep", 6, [42])
    assert {k: v for k, v in v2.items() if k not in {"protocol", "epochs", "seeds"}} == {
        k: v for k, v in v1.items() if k not in {"protocol", "epochs", "seeds"}}


def test_whole_v3_is_whole_v2_with_the_one_layer_decoder_default() -> None:
    """whole-v3 differs from whole-v2 in its name and decoder depth alone, so whole-v2's peer cell is its peer too."""
    v2 = table4.load_protocol(table4.BENCH / "table4-whole-v2.yaml")
    v3 = table4.load_protocol(table4.BENCH / "table4-whole-v3.yaml")
    assert (v3["protocol"], v3["epochs"], v3["model"]["decoder_layers"]) == ("whole-v3-6ep", 6, 1)
    assert v2["model"]["decoder_layers"] == 6
    assert {k: v for k, v in v3.items() if k not in {"protocol", "model"}} == {
        k: v for k, v in v2.items() if k not in {"protocol", "model"}}
    assert {k: v for k, v in v3["model"].items() if k != "decoder_layers"} == {
        k: v for k, v in v2["model"].items() if k != "decoder_layers"}


def test_the_decoder_depth_ab_on_whole_corpora_differs_from_whole_v1_in_depth_and_schedule_only() -> None:
    """decoder-depth-whole: 1 epoch of whole-v1-3ep's cells, the diagnostics changing the decoder's depth alone."""
    v1 = table4.load_protocol(table4.BENCH / "table4-full.yaml")
    ab = table4.load_protocol(table4.BENCH / "decoder-depth-whole.yaml")
    assert (ab["protocol"], ab["epochs"], ab["seeds"], ab["variants"]) == ("decoder-depth-whole-1ep", 1, [42, 43], ["full"])
    assert table4.diagnostic_settings(ab, "decoder-2") == {"decoder_layers": 2}
    assert table4.diagnostic_settings(ab, "decoder-1") == {"decoder_layers": 1}
    assert table4.diagnostic_settings(ab, "decoder-2", "training") == {}
    same = {"protocol", "epochs", "seeds", "variants", "diagnostics"}
    assert {k: v for k, v in ab.items() if k not in same} == {k: v for k, v in v1.items() if k not in same}


def test_priors_value_gives_a_diagnostic_arm_its_own_paired_gap() -> None:
    import priors_value

    cells = [{"corpus": "conll2003", "train_n": 100, "variant": v, "seed": s, "f1": f, "p": f, "r": f, "per_type": {},
              "dev_f1_by_epoch": [], "epochs": 1, "train_seconds": 1.0, "train_run": 1, "eval_run": 2,
              "priors_build": 1, "code": {}}
             for v, s, f in [("full", 42, 0.40), ("full/kb-match", 42, 0.46), ("full", 43, 0.50),
                             ("full/kb-match", 43, 0.52), ("full/no-kb", 42, 0.41)]]
    record = priors_value.rows(cells, "priors-value")
    assert sorted({r["arm"] for r in record}) == ["kb", "kb/kb-match", "no-kb"]
    plain, match = priors_value.gaps(record)
    assert plain["pairs"] == 1 and plain["gap"] == pytest.approx(-0.01)  # kb − no-kb leaves the diagnostic out
    assert (match["arm"], match["against"], match["pairs"]) == ("kb/kb-match", "kb", 2)
    assert match["gap"] == pytest.approx(0.04)
    table = priors_value.markdown([plain, match])
    assert "| conll2003 | 100 | kb/kb-match |" in table and "+4.00" in table


def test_the_curves_plot_one_line_per_run_and_refuses_an_empty_one(tmp_path: Path) -> None:
    cells = [{"corpus": "conll2003", "variant": "full", "seed": 42, "dev_f1_by_epoch": [0.8, 0.85, None]},
             {"corpus": "cadec", "variant": "baseline", "seed": 42, "dev_f1_by_epoch": [0.4]}]
    peers = [{"corpus": "conll2003", "recipe": "two-rate", "seed": 42, "dev_f1_by_epoch": [0.87, 0.9]}]
    png = tmp_path / "curves.png"
    table4.plot_curves(cells, peers, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob(".*"))
    with pytest.raises(table4.ProtocolError, match="no cell or peer run has a dev F1"):
        table4.plot_curves([{"corpus": "c", "variant": "full", "seed": 1, "dev_f1_by_epoch": []}], [], png)


def test_priors_value_merge_keeps_other_cells_and_takes_fresh_rows() -> None:
    """`record --merge`: rows of cells the warehouse lacks stay; a cell in both takes the warehouse's row."""
    import priors_value

    def row(corpus: str, n: int, arm: str, seed: int, f1: float) -> dict:
        return {"corpus": corpus, "train_n": n, "arm": arm, "seed": seed, "f1": f1}

    kept = [row("conll2003", 100, "kb", 42, 0.5), row("wnut17", 300, "kb", 42, 0.1)]
    new = [row("wnut17", 300, "kb", 42, 0.3), row("wnut17", 300, "no-kb", 42, 0.2)]
    out = priors_value.merged(kept, new)
    assert [(r["corpus"], r["arm"], r["f1"]) for r in out] == [
        ("conll2003", "kb", 0.5), ("wnut17", "kb", 0.3), ("wnut17", "no-kb", 0.2)]


def _finished_cell(wh, protocol: str, variant: str, seed: int, f1: float, kb: str = "yes") -> tuple[int, int]:
    import json

    from typeprior.warehouse.runs import finish_run, record_epoch, record_metrics, start_run

    config = {"seed": seed, "data": {"protocol": protocol, "kb_priors": kb, "train_n": "14041",
                                     "code": json.dumps({"commit": "abc", "dirty": False})}}
    train = start_run(wh, "train", config, corpus="conll2003", variant=variant)
    record_epoch(wh, train, 1, dev_f1=f1, seconds=60.0)
    finish_run(wh, train, "completed")
    ev = start_run(wh, "evaluate", {}, corpus="conll2003", variant=variant, parent_run_id=train)
    record_metrics(wh, ev, "dev", {"p": f1, "r": f1, "f1": f1, "tp": 7, "fp": 3, "fn": 3})
    finish_run(wh, ev, "completed")
    return train, ev


def test_table_merge_keeps_the_records_other_cells_and_takes_the_warehouses(tmp_path: Path) -> None:
    """`table --merge`: cells of another warehouse stay in the record; a cell in both takes this warehouse's row;
    a record of another protocol is refused."""
    import json

    from typer.testing import CliRunner

    from typeprior.warehouse import open_warehouse

    path = tmp_path / "results.duckdb"
    with open_warehouse(path) as wh:
        _finished_cell(wh, "whole-v1-3ep", "full", 42, 0.91, kb="no")
        _finished_cell(wh, "whole-v1-3ep", "full", 43, 0.88)
    kept = {"corpus": "conll2003", "variant": "full", "seed": 42, "f1": 0.90, "train_n": 14041, "epochs": 3,
            "train_seconds": 3.0, "dev_f1_by_epoch": [0.9], "per_kind": {}, "p": 0.9, "r": 0.9, "train_run": 7,
            "eval_run": 8, "code": {"commit": "old"}, "priors_build": None, "per_type": {}, "tag": ""}
    stale = {**kept, "seed": 43, "f1": 0.10}
    peer_run = {"corpus": "conll2003", "recipe": "two-rate", "seed": 42, "f1": 0.907, "p": 0.9, "r": 0.9,
                "seqeval_f1": 0.9, "best_epoch": 3, "train_sents_per_s": 9.0, "inference_sents_per_s": 90.0,
                "run_id": 3, "code": {}, "dev_f1_by_epoch": [0.9]}
    out = tmp_path / "table4-full.json"
    out.write_text(json.dumps({"protocol": {"protocol": "whole-v1-3ep"}, "cells": [kept, stale], "superseded": [],
                               "peer": [peer_run]}))
    args = ["--protocol", str(table4.BENCH / "table4-full.yaml"), "table", "--warehouse", str(path),
            "--json-out", str(out), "--merge"]
    try:
        result = CliRunner().invoke(table4.app, args)
        assert result.exit_code == 0, result.output
        record = json.loads(out.read_text())
        assert sorted((c["variant"], c["seed"], c["f1"]) for c in record["cells"]) == [
            ("full", 42, 0.90), ("full", 43, 0.88), ("full/no-kb", 42, 0.91)]
        assert [p["recipe"] for p in record["peer"]] == ["two-rate"]
        assert all(c.get("eval_sents_per_s") is not None for c in record["cells"] if c["code"] != {"commit": "old"})
        out.write_text(json.dumps({**record, "protocol": {"protocol": "reduced-v1"}}))
        refused = CliRunner().invoke(table4.app, args)
        assert refused.exit_code != 0 and "records protocol 'reduced-v1'" in str(refused.exception)
    finally:
        table4.use_protocol_file(table4.PROTOCOL_FILE)


def test_priors_value_takes_whole_corpus_rows_from_a_table4_record() -> None:
    """`record --whole`: the whole-corpus cells of the variant, both arms, at the training split's size, named by
    their own protocol; the baseline is left out and a record without such cells is refused."""
    import priors_value

    def cell(variant: str, seed: int, f1: float) -> dict:
        return {"corpus": "conll2003", "train_n": 14041, "variant": variant, "seed": seed, "f1": f1, "p": f1,
                "r": f1, "per_type": {}, "dev_f1_by_epoch": [f1], "epochs": 3, "train_seconds": 1.0,
                "train_run": 1, "eval_run": 2, "priors_build": 1, "code": {}}

    record = {"protocol": {"protocol": "whole-v1-3ep"},
              "cells": [cell("full", 42, 0.905), cell("full/no-kb", 42, 0.900), cell("baseline", 42, 0.903),
                        {**cell("full", 42, 0.64), "corpus": "cadec"}]}
    out = priors_value.whole_rows(record, ["full"])
    assert [(r["arm"], r["train_n"], r["protocol"]) for r in out] == [
        ("kb", 14041, "whole-v1-3ep"), ("no-kb", 14041, "whole-v1-3ep")]
    (gap,) = priors_value.gaps(out)
    assert gap["train_n"] == 14041 and gap["gap"] == pytest.approx(0.005)
    with pytest.raises(typer.BadParameter, match="no KB and no-KB cells of the variants"):
        priors_value.whole_rows({**record, "cells": [cell("baseline", 42, 0.9)]}, ["full"])


def test_the_priors_record_names_how_it_was_made() -> None:
    """A merged record says so, since its rows come from more than one warehouse."""
    import priors_value

    assert priors_value.record_command(False, None) == "python bench/priors_value.py record"
    assert priors_value.record_command(False, None, priors_value.PROTOCOL_FILE, table4.WAREHOUSE,
                                       priors_value.RECORD) == "python bench/priors_value.py record"
    assert priors_value.record_command(False, None, table4.BENCH / "kb-match.yaml", Path("/tmp/pv.duckdb"),
                                       table4.BENCH / "records" / "kb-match-v2.json") == (
        "python bench/priors_value.py --protocol bench/kb-match.yaml record --warehouse /tmp/pv.duckdb "
        "--out bench/records/kb-match-v2.json")
    assert priors_value.record_command(True, Path("bench/records/table4-full.json")) == (
        "python bench/priors_value.py record --merge --whole bench/records/table4-full.json")
