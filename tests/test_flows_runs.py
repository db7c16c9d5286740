"""The plain functions under the flows, without Prefect: training and evaluation recorded in a real DuckDB file,
resume after an interruption, the content-hash decision of a rebuild, a locked warehouse, and failed steps."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from typeprior.flows.config import FlowConfigError, load_deployments
from typeprior.flows.evaluation import evaluate_run
from typeprior.flows.inputs import resolve_corpus, resolve_priors
from typeprior.flows.training import TrainSpec, train_run
from typeprior.model.corpus import CorpusError
from typeprior.model.metrics import error_breakdown
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import load_corpus
from typeprior.warehouse.errors import WarehouseLockedError

SENTENCES = [
    (["Marie", "Curie", "visited", "Paris", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Alan", "Turing", "left", "Oslo", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Ada", "Lovelace", "praised", "North", "and", "South", "Dakota", "."],
     [([0, 1], "PER"), ([3, 6], "LOC"), ([5, 6], "LOC")]),
    (["Kenya", "welcomed", "Marie", "Curie", "."], [([0], "LOC"), ([2, 3], "PER")]),
]
FAST = {"lr_new": 3e-3, "warmup": 0.05}


def write_jsonl(path: Path, sentences: list) -> Path:
    path.write_text("".join(json.dumps({"tokens": t, "entities": [{"indices": i, "type": y} for i, y in e]}) + "\n"
                            for t, e in sentences))
    return path


@pytest.fixture
def corpus_files(tmp_path: Path) -> tuple[Path, Path]:
    return write_jsonl(tmp_path / "train.jsonl", SENTENCES), write_jsonl(tmp_path / "dev.jsonl", SENTENCES[:2])


def spec(out: Path, **over) -> TrainSpec:
    settings = dict(corpus="tiny", variant="baseline", backbone="tiny-random", out_dir=str(out), epochs=2,
                    batch_size=2, device="cpu", training=FAST)
    settings.update(over)
    return TrainSpec(**settings)


def test_train_and_evaluate_record_everything(tmp_path: Path, warehouse_path: Path, corpus_files) -> None:
    train, dev = corpus_files
    data = resolve_corpus(warehouse_path, "tiny", train, dev, import_files=True)
    trained = train_run(warehouse_path, spec(tmp_path / "m"), data, None, progress=False)
    assert Path(trained.learning_curve).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (Path(trained.model_dir) / "config.json").is_file()

    gold = data.split("dev")
    evaluated = evaluate_run(warehouse_path, trained.model_dir, "tiny", "dev", gold, tmp_path / "report.md",
                             parent_run_id=trained.run_id, progress=False)
    with open_warehouse(warehouse_path, read_only=True) as wh:
        runs = {r["run_id"]: r for r in wh.query("SELECT * FROM runs")}
        epochs = wh.query("SELECT epoch, train_loss, dev_f1, seconds FROM epochs WHERE run_id = ? ORDER BY epoch",
                          [trained.run_id])
        overall = wh.query("SELECT f1 FROM metrics WHERE run_id = ? AND scope = 'overall'", [evaluated.run_id])
        errors = {r["key"]: int(r["value"]) for r in
                  wh.query("SELECT key, value FROM metrics WHERE run_id = ? AND scope = 'error'", [evaluated.run_id])}
        stored = wh.query("SELECT sentence, pred FROM predictions WHERE run_id = ? ORDER BY sentence", [evaluated.run_id])
        imported = load_corpus(wh, "tiny", "train").sentences
    train_row, eval_row = runs[trained.run_id], runs[evaluated.run_id]
    config = json.loads(train_row["config"])
    assert (train_row["status"], train_row["variant"], train_row["backbone"]) == ("completed", "baseline", "tiny-random")
    assert config["training"]["epochs"] == 2 and config["entity_types"] == ["LOC", "PER"]
    assert config["data"]["train"] == str(train)
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["train_loss"] > 0 and e["seconds"] > 0 for e in epochs)
    assert (eval_row["parent_run_id"], eval_row["status"]) == (trained.run_id, "completed")
    assert overall[0]["f1"] == pytest.approx(evaluated.scores["f1"])
    predicted = [[(tuple(e["indices"]), e["type"]) for e in row["pred"]] for row in stored]
    assert len(predicted) == len(gold)
    assert errors == evaluated.errors
    from typeprior.model.corpus import Entity

    assert error_breakdown(gold, [[Entity(i, t) for i, t in p] for p in predicted]) == evaluated.errors
    assert [s.tokens for s in imported] == [t for t, _ in SENTENCES]
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Per type", "## Per kind", "## Errors", "boundary", "right span, wrong type"):
        assert heading in report
    assert f"{100 * evaluated.scores['f1']:.2f}" in report


class Interrupt(KeyboardInterrupt):
    pass


def test_interrupted_training_resumes_its_run(tmp_path: Path, warehouse_path: Path, corpus_files) -> None:
    data = resolve_corpus(warehouse_path, "tiny", *corpus_files)

    def stop_after_first(record: dict) -> None:
        raise Interrupt()

    with pytest.raises(Interrupt):
        train_run(warehouse_path, spec(tmp_path / "m", epochs=3), data, None, progress=False, on_epoch=stop_after_first)
    with open_warehouse(warehouse_path, read_only=True) as wh:
        (failed,) = wh.query("SELECT run_id, status, message FROM runs")
        assert wh.query("SELECT epoch FROM epochs") == [{"epoch": 1}]
    assert failed["status"] == "cancelled" and "interrupted" in failed["message"]

    resumed = train_run(warehouse_path, spec(tmp_path / "m", epochs=3, resume=True), data, None, progress=False)
    assert resumed.run_id == failed["run_id"] and resumed.epochs == 3
    with open_warehouse(warehouse_path, read_only=True) as wh:
        assert wh.query("SELECT status FROM runs") == [{"status": "completed"}]
        assert [r["epoch"] for r in wh.query("SELECT epoch FROM epochs ORDER BY epoch")] == [1, 2, 3]
    from typeprior.model.predict import Tagger

    assert Tagger.load(resumed.model_dir, device="cpu").model.config.entity_types == data.entity_types()
    assert not (tmp_path / "m" / "checkpoint").exists()  # removed once the run finished


def test_rebuild_decision_compares_content_hashes(tmp_path: Path, warehouse_path: Path) -> None:
    from typeprior.kb.build import plan_build, run_build
    from typeprior.kb.sources.snapshot import snapshot_file

    from typeprior.flows.rebuild_priors import compare_with_previous

    pages = json.loads(snapshot_file().read_text(encoding="utf-8"))
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({t: pages[t] for t in ("Paris", "Oslo", "Marie Curie", "Alan Turing")}))
    first = run_build(warehouse_path, plan_build("demo", [f"snapshot:{snap}"]), progress=False).build_id
    same = run_build(warehouse_path, plan_build("demo", [f"snapshot:{snap}"]), progress=False).build_id
    snap.write_text(json.dumps({t: pages[t] for t in ("Paris", "Oslo", "Kenya", "Marie Curie", "Alan Turing")}))
    grown = run_build(warehouse_path, plan_build("demo", [f"snapshot:{snap}"]), progress=False).build_id

    decisions = [compare_with_previous(str(warehouse_path), b) for b in (first, same, grown)]
    assert [d["changed"] for d in decisions] == [True, False, True]
    assert [d["previous_build_id"] for d in decisions] == [None, first, same]
    assert decisions[2]["content_hash"] != decisions[1]["content_hash"] == decisions[0]["content_hash"]

    priors = resolve_priors(warehouse_path, "full", "demo", ["LOC", "PER"])
    assert priors.build_id == grown and priors.vectors.shape == (2, 384)
    assert resolve_priors(warehouse_path, "baseline", "demo", ["LOC", "PER"]) is None


def test_a_locked_warehouse_fails_after_the_bounded_wait(tmp_path: Path, warehouse_path: Path, corpus_files,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    open_warehouse(warehouse_path).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(warehouse_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("TYPEPRIOR_LOCK_TIMEOUT_S", "1")
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as err:
            resolve_corpus(warehouse_path, "tiny", *corpus_files, import_files=True)
        assert 1 <= time.monotonic() - started < 10
        assert f"process {holder.pid}" in str(err.value)
    finally:
        holder.kill()
        holder.wait()


def test_failed_steps_leave_the_warehouse_as_it_was(tmp_path: Path, warehouse_path: Path, corpus_files) -> None:
    train, dev = corpus_files
    resolve_corpus(warehouse_path, "tiny", train, dev, import_files=True)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"tokens": ["a"], "entities": [{"indices": [5], "type": "PER"}]}\n')
    with pytest.raises(CorpusError):
        resolve_corpus(warehouse_path, "tiny", write_jsonl(tmp_path / "other.jsonl", SENTENCES[:1]), broken,
                       import_files=True)
    with open_warehouse(warehouse_path, read_only=True) as wh:
        assert len(load_corpus(wh, "tiny", "train").sentences) == len(SENTENCES)
        assert len(load_corpus(wh, "tiny", "dev").sentences) == 2

    data = resolve_corpus(warehouse_path, "tiny")
    trained = train_run(warehouse_path, spec(tmp_path / "m", epochs=1), data, None, progress=False)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the report folder should be")
    with pytest.raises(OSError):
        evaluate_run(warehouse_path, trained.model_dir, "tiny", "dev", data.split("dev"), blocked / "report.md",
                     progress=False)
    with open_warehouse(warehouse_path, read_only=True) as wh:
        failed = wh.query("SELECT run_id, status FROM runs WHERE kind = 'evaluate'")
        assert [r["status"] for r in failed] == ["failed"]
        assert wh.query("SELECT count(*) AS n FROM predictions")[0]["n"] == 0
        assert wh.query("SELECT count(*) AS n FROM metrics WHERE run_id = ?", [failed[0]["run_id"]])[0]["n"] == 0


def test_configuration_errors_name_the_place(tmp_path: Path, warehouse_path: Path) -> None:
    bad = tmp_path / "deployments.yaml"
    bad.write_text("rebuild: {cron: 'weekly', schemes: [demo], sources: [snapshot]}\n")
    with pytest.raises(FlowConfigError, match="rebuild.cron"):
        load_deployments(bad)
    bad.write_text("rebuild: {cron: '0 3 * * 1', schemes: [demo], sources: [snapshot]}\n"
                   "triggers: {demo: [{corpus: demo, variant: fancy}]}\n")
    with pytest.raises(FlowConfigError, match="unknown variant 'fancy'"):
        load_deployments(bad)
    bad.write_text("rebuild: {cron: '0 3 * * 1', schemes: [demo], sources: [snapshot]}\n"
                   "triggers: {demo: [{corpus: demo, variant: full, epochs: many}]}\n")
    with pytest.raises(FlowConfigError, match=r"triggers.demo\[0\]: run setting epochs: .*integer"):
        load_deployments(bad)
    with pytest.raises(FlowConfigError, match="no --train file given and no nothing/train split"):
        resolve_corpus(warehouse_path, "nothing")
    assert [j.variant for j in load_deployments().jobs_for("demo")] == ["full"]


def test_train_recorded_is_one_call_for_the_cli(tmp_path: Path, warehouse_path: Path, corpus_files) -> None:
    from typeprior.flows.settings import RunSettings
    from typeprior.flows.training import train_recorded

    train, dev = corpus_files
    recipe = RunSettings(backbone="tiny-random", epochs=1, batch_size=2, device="cpu",
                         training={"lr_new": 3e-3, "keep_checkpoint": True})
    first = train_recorded(warehouse_path, "tiny", tmp_path / "out", recipe, train_file=train, dev_file=dev,
                           variant="baseline", progress=False)
    again = train_recorded(warehouse_path, "tiny", tmp_path / "out", recipe.but(epochs=2, training={"lr_new": 3e-3}),
                           train_file=train, dev_file=dev, variant="baseline", resume=True, progress=False)
    with open_warehouse(warehouse_path, read_only=True) as wh:
        runs = wh.query("SELECT run_id, status, config FROM runs ORDER BY run_id")
    assert [r["status"] for r in runs] == ["completed"] and again.run_id == first.run_id
    assert json.loads(runs[0]["config"])["training"]["lr_new"] == 3e-3
    assert again.epochs == 2  # resumed from the first run's kept checkpoint: epoch 1 kept, epoch 2 trained
    same = train_recorded(warehouse_path, "tiny", tmp_path / "out",
                          RunSettings(backbone="tiny-random", epochs=2, batch_size=2, device="cpu"), train_file=train,
                          dev_file=dev, variant="baseline", resume=True, progress=False)
    assert (same.run_id, same.epochs, same.best_epoch) == (again.run_id, 2, again.best_epoch)  # finished: as it is
    with open_warehouse(warehouse_path, read_only=True) as wh:
        assert wh.query("SELECT count(*) AS n FROM runs")[0]["n"] == 1
    assert not (tmp_path / "out" / "checkpoint").exists()  # the second call did not keep it


def test_model_setting_overrides_reach_the_saved_model(tmp_path: Path, warehouse_path: Path, corpus_files) -> None:
    from typeprior.model.config import TypePriorConfig

    data = resolve_corpus(warehouse_path, "tiny", *corpus_files)
    trained = train_run(warehouse_path, spec(tmp_path / "m", variant="rp-tra", epochs=1,
                                             model={"focal_alpha": [1.0, 20.0, 20.0]}), data, None, progress=False)
    assert TypePriorConfig.from_pretrained(trained.model_dir).focal_alpha == [1.0, 20.0, 20.0]
    with open_warehouse(warehouse_path, read_only=True) as wh:
        config = json.loads(wh.query("SELECT config FROM runs WHERE run_id = ?", [trained.run_id])[0]["config"])
    assert config["model"] == {"focal_alpha": [1.0, 20.0, 20.0]}
    with pytest.raises(FlowConfigError, match="focal_alfa"):
        spec(tmp_path / "n", model={"focal_alfa": 1.0})
