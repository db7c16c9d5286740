"""The flows under Prefect (one session-wide test harness): `typeprior pipeline`, the ablation table and the weight
sweep, each with its results read back as artifacts through the Prefect API."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.testing.utilities import prefect_test_harness
from typeprior.flows.cli import app
from typeprior.flows.settings import RunSettings
from typeprior.model.corpus import read_corpus
from typeprior.warehouse import open_warehouse
from typer.testing import CliRunner

SENTENCES = [
    (["Marie", "Curie", "visited", "Paris", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Alan", "Turing", "left", "Oslo", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Ada", "Lovelace", "praised", "Peru", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Kenya", "welcomed", "Marie", "Curie", "."], [([0], "LOC"), ([2, 3], "PER")]),
]
PAGES = ("Paris", "Oslo", "Peru", "Kenya", "Marie Curie", "Alan Turing", "Ada Lovelace")
FAST = {"lr_new": 3e-3}


@pytest.fixture(scope="module", autouse=True)
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=60):
        yield


def write_jsonl(path: Path, sentences: list) -> Path:
    path.write_text("".join(json.dumps({"tokens": t, "entities": [{"indices": i, "type": y} for i, y in e]}) + "\n"
                            for t, e in sentences))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from typeprior.kb.sources.snapshot import snapshot_file

    root = tmp_path_factory.mktemp("flows")
    pages = json.loads(snapshot_file().read_text(encoding="utf-8"))
    (root / "snap.json").write_text(json.dumps({t: pages[t] for t in PAGES}))
    return {"root": root, "snapshot": root / "snap.json", "train": write_jsonl(root / "train.jsonl", SENTENCES),
            "dev": write_jsonl(root / "dev.jsonl", SENTENCES[:2]), "test": write_jsonl(root / "test.jsonl", SENTENCES[2:])}


@pytest.fixture(scope="module")
def built_warehouse(files: dict[str, Path]) -> Path:
    """A warehouse holding one finished priors build of the demo scheme (for rp-eta and full)."""
    from typeprior.kb.build import plan_build, run_build

    path = files["root"] / "grid.duckdb"
    run_build(path, plan_build("demo", [f"snapshot:{files['snapshot']}"]), progress=False)
    return path


def artifact(key: str) -> object:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert len(found) == 1, f"artifact {key}: found {len(found)}"
    assert found[0].flow_run_id is not None
    return found[0]


def test_pipeline_command_runs_the_whole_path(files: dict[str, Path]) -> None:
    warehouse = files["root"] / "pipeline.duckdb"
    result = CliRunner().invoke(app, [
        "pipeline", "--corpus", "tiny", "--train", str(files["train"]), "--dev", str(files["dev"]),
        "--test", str(files["test"]), "--scheme", "demo", "--kb-source", f"snapshot:{files['snapshot']}",
        "--backbone", "tiny-random", "--epochs", "2", "--batch-size", "2", "--lr-new", "3e-3",
        "--warehouse", str(warehouse), "--models-dir", str(files["root"] / "models"),
        "--reports-dir", str(files["root"] / "reports"), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    shown = dict(re.findall(r"^(model|report|learning curve|warehouse):\s+(\S+)", result.output, re.M))
    assert (Path(shown["model"]) / "config.json").is_file()
    assert Path(shown["learning curve"]).is_file() and Path(shown["warehouse"]) == warehouse.resolve()
    query = re.search(r'typeprior sql --warehouse \S+ "(.+)"', result.output).group(1)
    answered = CliRunner().invoke(app, ["sql", "--warehouse", str(warehouse), "--format", "json", query])
    assert answered.exit_code == 0, answered.output

    with open_warehouse(warehouse, read_only=True) as wh:
        runs = wh.query("SELECT run_id, kind, status, priors_build, parent_run_id FROM runs ORDER BY run_id")
        splits = {r["split"] for r in wh.query("SELECT split FROM splits WHERE corpus = 'tiny'")}
        build = wh.query("SELECT build_id FROM kb_builds WHERE status = 'done'")
        outcomes = sum(r["n"] for r in json.loads(answered.output))
        errors = wh.query("SELECT sum(value) AS n FROM metrics WHERE run_id = ? AND scope = 'error'", [runs[1]["run_id"]])
    assert splits == {"train", "dev", "test"}
    assert [(r["kind"], r["status"]) for r in runs] == [("train", "completed"), ("evaluate", "completed")]
    assert runs[0]["priors_build"] == build[0]["build_id"] and runs[1]["parent_run_id"] == runs[0]["run_id"]
    assert outcomes == errors[0]["n"]

    report = artifact(f"evaluation-report-run-{runs[1]['run_id']}")
    assert report.type == "markdown" and report.data == Path(shown["report"]).read_text()
    assert "## Errors" in report.data and "test" in report.data
    scores = json.loads(artifact(f"evaluation-scores-run-{runs[1]['run_id']}").data)
    assert {r["key"] for r in scores if r["scope"] == "type"} <= {"LOC", "PER"}
    curve = artifact(f"learning-curve-run-{runs[0]['run_id']}")
    assert curve.type == "image"
    assert_loads_everywhere(Path(shown["model"]), files["dev"])


def assert_loads_everywhere(model: Path, data: Path) -> None:
    """A saved model folder loads the ways a user loads it: predict, evaluate, Tagger.load and AutoModel."""
    from transformers import AutoModel
    from typeprior.model.predict import Tagger

    predicted = CliRunner().invoke(app, ["predict", "--model", str(model)], input="Alan Turing visited Oslo .\n")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout.splitlines()[0])["text"] == "Alan Turing visited Oslo ."
    evaluated = CliRunner().invoke(app, ["evaluate", "--model", str(model), "--data", str(data)])
    assert evaluated.exit_code == 0, evaluated.output
    tagger = Tagger.load(model, device="cpu")
    assert json.loads(evaluated.stdout)["f1"] == tagger.evaluate(read_corpus(data).sentences)["f1"]
    assert type(AutoModel.from_pretrained(model)) is type(tagger.model)
    assert (model / "README.md").is_file() and not (model.parent / "checkpoint").exists()


def test_ablation_is_one_table(files: dict[str, Path], built_warehouse: Path) -> None:
    from typeprior.flows.ablation import ablation_flow

    result = ablation_flow(corpus="tiny", train_file=str(files["train"]), dev_file=str(files["dev"]),
                           test_file=str(files["test"]), seeds=[3],
                           settings=RunSettings(scheme="demo", backbone="tiny-random", epochs=1, batch_size=2,
                                                training=FAST), warehouse=str(built_warehouse),
                           models_dir=str(files["root"] / "models"), reports_dir=str(files["root"] / "reports"),
                           progress=False)
    with open_warehouse(built_warehouse, read_only=True) as wh:
        table = wh.query("SELECT variant, seed, split, f1, train_run_id FROM ablation_results "
                         "WHERE ablation_run_id = ? ORDER BY train_run_id", [result["run_id"]])
        priors = wh.query("SELECT variant, priors_build FROM runs WHERE parent_run_id = ? ORDER BY run_id",
                          [result["run_id"]])
    assert [r["variant"] for r in table] == ["baseline", "rp-tra", "rp-eta", "full"]
    assert {(r["seed"], r["split"]) for r in table} == {(3, "test")}
    assert [p["priors_build"] is not None for p in priors] == [False, False, True, True]
    published = json.loads(artifact(f"ablation-run-{result['run_id']}").data)
    assert [r["variant"] for r in published] == [r["variant"] for r in table]
    assert [r["f1"] for r in published] == [f"{100 * r['f1']:.2f}" for r in table]
    assert "| full |" in Path(result["report"]).read_text()
    with open_warehouse(built_warehouse, read_only=True) as wh:
        folders = [r["model_dir"] for r in wh.query("SELECT model_dir FROM runs WHERE parent_run_id = ? "
                                                    "ORDER BY run_id", [result["run_id"]])]
    for folder in folders:
        assert_loads_everywhere(Path(folder) / "model", files["dev"])


def test_weight_sweep_plots_f1_against_w(files: dict[str, Path], built_warehouse: Path) -> None:
    from typeprior.flows.weight_sweep import weight_sweep_flow

    result = weight_sweep_flow(corpus="tiny", train_file=str(files["train"]), dev_file=str(files["dev"]),
                               weights=[0.2, 0.8],
                               settings=RunSettings(scheme="demo", backbone="tiny-random", epochs=1, batch_size=2,
                                                    training=FAST), warehouse=str(built_warehouse),
                               models_dir=str(files["root"] / "models"), reports_dir=str(files["root"] / "reports"),
                               progress=False)
    with open_warehouse(built_warehouse, read_only=True) as wh:
        rows = wh.query("SELECT w, variant, split FROM sweep_results WHERE sweep_run_id = ? ORDER BY w",
                        [result["run_id"]])
    assert [(r["w"], r["variant"], r["split"]) for r in rows] == [(0.2, "full", "dev"), (0.8, "full", "dev")]
    plot = Path(result["plot"]).read_bytes()
    image = artifact(f"sweep-plot-run-{result['run_id']}")
    assert image.data == "data:image/png;base64," + base64.b64encode(plot).decode()
    assert [r["w"] for r in json.loads(artifact(f"sweep-run-{result['run_id']}").data)] == [0.2, 0.8]
    with open_warehouse(built_warehouse, read_only=True) as wh:
        cells = wh.query("SELECT model_dir, w FROM runs WHERE parent_run_id = ? ORDER BY run_id", [result["run_id"]])
    assert [c["w"] for c in cells] == [0.2, 0.8]
    for cell in cells:
        assert_loads_everywhere(Path(cell["model_dir"]) / "model", files["dev"])


def test_readme_queries_run_on_a_filled_warehouse(built_warehouse: Path) -> None:
    """Every SQL statement in README.md runs on the warehouse the ablation and sweep filled."""
    from typeprior.warehouse.sql import run_readonly

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, re.DOTALL)
    statements = [s for block in blocks for s in block.split(";\n") if s.strip()]
    assert len(statements) >= 6
    for statement in statements:
        body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip().rstrip(";")
        columns, _ = run_readonly(built_warehouse, body)
        assert columns, body
    with open_warehouse(built_warehouse, read_only=True) as wh:
        assert wh.query("SELECT count(*) AS n FROM ablation_results")[0]["n"] == 4


def test_a_corpus_is_named_after_its_training_file() -> None:
    from typeprior.flows.commands.model import corpus_name

    assert corpus_name(Path("data/cadec/train.json")) == "cadec"
    assert corpus_name(Path("data/conll2003/eng.train")) == "conll2003"
    assert corpus_name(Path("mine.jsonl")) == "mine"
