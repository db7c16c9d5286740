"""`typeprior train --variant full --priors ID` against a real warehouse holding a real (small) priors build."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.kb.priors import load_type_priors
from typeprior.model.predict import Tagger
from typeprior.warehouse import open_warehouse

SENTENCES = [
    (["Marie", "Curie", "visited", "Paris", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Alan", "Turing", "left", "Oslo", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Ada", "Lovelace", "praised", "North", "and", "South", "Dakota", "."],
     [([0, 1], "PER"), ([3, 6], "LOC"), ([5, 6], "LOC")]),
    (["Kenya", "welcomed", "Marie", "Curie", "."], [([0], "LOC"), ([2, 3], "PER")]),
]
FAST = ["--backbone", "tiny-random", "--batch-size", "2", "--lr-new", "3e-3", "--device", "cpu", "--quiet"]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"tokens": t, "entities": [{"indices": i, "type": y} for i, y in e]}) + "\n"
                             for t, e in SENTENCES))
    return train, train


@pytest.fixture
def build(tmp_path: Path, warehouse_path: Path) -> int:
    """A real demo-scheme build over four snapshot pages (MiniLM embeddings, θ, E_t)."""
    from typeprior.kb.build import plan_build, run_build
    from typeprior.kb.sources.snapshot import snapshot_file

    pages = json.loads(snapshot_file().read_text(encoding="utf-8"))
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({t: pages[t] for t in ("Paris", "Oslo", "Marie Curie", "Alan Turing")}))
    return run_build(warehouse_path, plan_build("demo", [f"snapshot:{snap}"]), progress=False).build_id


def test_train_full_with_a_priors_build_records_variant_w_and_build(tmp_path: Path, warehouse_path: Path, files,
                                                                     build: int) -> None:
    train, dev = files
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["train", "--train", str(train), "--dev", str(dev), "--corpus", "demo", "--warehouse", str(warehouse_path),
            "--variant", "full", "--priors", str(build), "--w", "0.4", "--out", str(out), *FAST]
    r = runner.invoke(app, [*args, "--epochs", "1", "--keep-checkpoint"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["priors_build"] == build and summary["variant"] == "full" and summary["epochs"] == 1

    tagger = Tagger.load(out / "model", device="cpu")
    cfg = tagger.model.config
    assert (cfg.variant, cfg.w, cfg.priors_build["build_id"], cfg.type_priors_from_kb) == ("full", 0.4, build, True)
    expected = load_type_priors(warehouse_path, build, "demo", types=["LOC", "PER"])
    assert torch.allclose(tagger.model.type_embeddings.vectors(), torch.as_tensor(expected.vectors))

    r = runner.invoke(app, [*args, "--epochs", "2", "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["epochs"] == 2
    with open_warehouse(warehouse_path, read_only=True) as wh:
        runs = wh.query("SELECT run_id, status, variant, w, priors_build FROM runs WHERE kind = 'train'")
        epochs = wh.query("SELECT epoch, relation_loss FROM epochs ORDER BY epoch")
    # a finished run asked for more epochs continues its kept checkpoint in the same run row (epoch 2 only)
    assert [(r["status"], r["variant"], r["w"], r["priors_build"]) for r in runs] == [
        ("completed", "full", 0.4, build)]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["relation_loss"] > 0 for e in epochs)

    r = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(dev), "--corpus", "demo",
                            "--warehouse", str(warehouse_path)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert {"p", "r", "f1", "run_id"} <= set(result) and Path(result["report"]).is_file()
    with open_warehouse(warehouse_path, read_only=True) as wh:
        evals = wh.query("SELECT variant, priors_build FROM runs WHERE kind = 'evaluate'")
    assert evals == [{"variant": "full", "priors_build": build}]


def test_unrecorded_training_reads_priors_and_bad_choices_fail_clearly(tmp_path: Path, warehouse_path: Path, files,
                                                                       build: int) -> None:
    train, _ = files
    runner = CliRunner(env={"TYPEPRIOR_WAREHOUSE": str(warehouse_path)})
    r = runner.invoke(app, ["train", "--train", str(train), "--variant", "rp-eta", "--priors", "latest",
                            "--out", str(tmp_path / "a"), "--epochs", "1", *FAST])
    assert r.exit_code == 2 and "--scheme" in r.output  # a corpus named after the file has no build of its own
    r = runner.invoke(app, ["train", "--train", str(train), "--variant", "rp-eta", "--priors", "latest",
                            "--scheme", "demo", "--out", str(tmp_path / "a"), "--epochs", "1", *FAST])
    assert r.exit_code == 0, r.output
    cfg = Tagger.load(tmp_path / "a" / "model", device="cpu").model.config
    assert (cfg.variant, cfg.priors_build["build_id"], cfg.w) == ("rp-eta", build, 0.3)

    r = runner.invoke(app, ["train", "--train", str(train), "--variant", "full", "--priors", "99",
                            "--out", str(tmp_path / "b"), "--epochs", "1", *FAST])
    assert r.exit_code == 2 and "no knowledge-base build 99" in r.output
    r = runner.invoke(app, ["train", "--train", str(train), "--variant", "fancy", "--out", str(tmp_path / "c"), *FAST])
    assert r.exit_code == 2 and "unknown variant 'fancy'" in r.output


def test_set_overrides_an_additions_setting_in_the_saved_model_and_the_run_record(
        tmp_path: Path, warehouse_path: Path, files) -> None:
    train, dev = files
    runner = CliRunner()
    unrecorded = tmp_path / "plain"
    r = runner.invoke(app, ["train", "--train", str(train), "--out", str(unrecorded), "--variant", "rp-tra",
                            "--epochs", "1", "--set", "focal_alpha=5.0", "--set", "grid_dim=16", *FAST])
    assert r.exit_code == 0, r.output
    cfg = Tagger.load(unrecorded / "model", device="cpu").model.config
    assert (cfg.focal_alpha, cfg.grid_dim) == (5.0, 16)

    recorded = tmp_path / "recorded"
    r = runner.invoke(app, ["train", "--train", str(train), "--dev", str(dev), "--corpus", "demo", "--warehouse",
                            str(warehouse_path), "--out", str(recorded), "--variant", "rp-tra", "--epochs", "1",
                            "--set", "focal_alpha=[1, 2, 3]", *FAST])
    assert r.exit_code == 0, r.output
    assert Tagger.load(recorded / "model", device="cpu").model.config.focal_alpha == [1, 2, 3]
    with open_warehouse(warehouse_path, read_only=True) as wh:
        config = json.loads(wh.query("SELECT config FROM runs WHERE kind = 'train'")[0]["config"])
    assert config["model"] == {"focal_alpha": [1, 2, 3]}


@pytest.mark.parametrize("item, message", [
    ("focal_alpa=5", "'focal_alpa' is not a model setting"),
    ("focal_alpha", "expected KEY=VALUE"),
    ("focal_alpha=[5, 50", "the value is not YAML"),
])
def test_set_rejects_an_unknown_key_or_a_malformed_item(tmp_path: Path, files, item: str, message: str) -> None:
    train, _ = files
    r = CliRunner().invoke(app, ["train", "--train", str(train), "--out", str(tmp_path / "x"), "--set", item, *FAST])
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "x").exists()


def test_a_rebuilt_priors_build_is_compared_with_the_previous_builds_model(tmp_path: Path, warehouse_path: Path,
                                                                            files, build: int) -> None:
    """Issue 16: after a rebuild, the training summary, the evaluation report and the warehouse say which build a
    model read and how its F1 compares with the earlier build's model on the same data."""
    from typeprior.kb.build import plan_build, run_build
    from typeprior.kb.sources.snapshot import snapshot_file

    pages = json.loads(snapshot_file().read_text(encoding="utf-8"))
    snap = tmp_path / "snap2.json"
    snap.write_text(json.dumps({t: pages[t] for t in ("Paris", "Oslo", "Marie Curie")}))
    rebuilt = run_build(warehouse_path, plan_build("demo", [f"snapshot:{snap}"]), progress=False).build_id
    assert rebuilt > build
    train, dev = files
    runner = CliRunner()
    summaries, reports = [], []
    for b in (build, rebuilt):
        r = runner.invoke(app, ["train", "--train", str(train), "--dev", str(dev), "--corpus", "demo", "--warehouse",
                                str(warehouse_path), "--variant", "rp-eta", "--priors", str(b), "--epochs", "2",
                                "--out", str(tmp_path / f"m{b}"), *FAST])
        assert r.exit_code == 0, r.output
        summaries.append(json.loads(r.stdout.strip().splitlines()[-1]))
        report = tmp_path / f"report{b}.md"
        r = runner.invoke(app, ["evaluate", "--model", str(tmp_path / f"m{b}"), "--data", str(dev), "--corpus", "demo",
                                "--warehouse", str(warehouse_path), "--report", str(report)])
        assert r.exit_code == 0, r.output
        reports.append(report.read_text())
    first, second = summaries
    assert first["previous_build"] is None and "no run of an earlier build" in reports[0]
    assert second["previous_build"]["previous_build"] == build
    assert second["previous_build"]["previous_run_id"] == first["run_id"]
    assert second["previous_build"]["f1_change"] == pytest.approx(second["best_f1"] - first["best_f1"])
    assert f"build {rebuilt}: F1 " in reports[1] and f"for build {build} (run " in reports[1]
    with open_warehouse(warehouse_path, read_only=True) as wh:
        rows = wh.query("SELECT kind, priors_build, previous_build, f1_change FROM priors_comparison "
                        "WHERE previous_build IS NOT NULL ORDER BY run_id")
    assert [(r["kind"], r["priors_build"], r["previous_build"]) for r in rows] == [
        ("train", rebuilt, build), ("evaluate", rebuilt, build)]


def test_kb_match_reads_the_builds_names_travels_with_the_model_and_needs_priors(tmp_path: Path, warehouse_path: Path,
                                                                                  files, build: int) -> None:
    train, dev = files
    out = tmp_path / "match"
    runner = CliRunner()
    r = runner.invoke(app, ["train", "--train", str(train), "--dev", str(dev), "--corpus", "demo", "--warehouse",
                            str(warehouse_path), "--variant", "full", "--priors", str(build), "--set", "kb_match=true",
                            "--epochs", "2", "--out", str(out), *FAST])
    assert r.exit_code == 0, r.output
    tagger = Tagger.load(out / "model", device="cpu")
    names = load_type_priors(warehouse_path, build, "demo", types=["LOC", "PER"]).names
    assert tagger.model.config.kb_match and tagger.model.config.kb_match_names == names
    assert "Paris" in names["LOC"] and "Marie Curie" in names["PER"]
    # the loaded model's encoder flags the build's names: Marie Curie as PER, Paris as LOC (types in label order)
    loc, per = tagger.model.config.entity_types.index("LOC"), tagger.model.config.entity_types.index("PER")
    flags = tagger.encoder.gazetteer.flags(["Marie", "Curie", "visited", "Paris"])
    assert [f[per] for f in flags] == [1, 2, 0, 0] and [f[loc] for f in flags] == [0, 0, 0, 1]
    assert float(tagger.model.kb_match_embeddings.weight.detach().abs().sum()) > 0  # trained away from its zero start
    r = runner.invoke(app, ["predict", "--model", str(out)], input="Marie Curie visited Paris .\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["text"] == "Marie Curie visited Paris ."
    r = runner.invoke(app, ["train", "--train", str(train), "--variant", "full", "--priors", "none", "--set",
                            "kb_match=true", "--epochs", "1", "--out", str(tmp_path / "none"), *FAST])
    assert r.exit_code != 0
    assert "kb_match" in r.output and "Traceback" not in r.output
