"""The CLI boundary (typeprior.flows.cli.main): every bad input ends in one line and the exit code of its class,
before a model is built or a run row is written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from typeprior.errors import BAD_INPUT, INTERNAL, exit_code, one_line
from typeprior.flows.cli import main
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.errors import WarehouseLockedError

LINE = json.dumps({"tokens": ["Ada", "visited", "Oslo"], "entities": [{"type": "PER", "indices": [0]}]})


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(args)
    return int(ended.value.code or 0), capsys.readouterr().err


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_text(LINE + "\n")
    return path


@pytest.mark.parametrize("extra, named", [
    (["--relation-weight", "nan"], "relation weight"),
    (["--w", "-1"], "relation weight"),
    (["--lr-new", "nan"], "lr_new"),
    (["--lr-backbone", "-0.1"], "lr_backbone"),
    (["--batch-size", "-1"], "batch_size"),
    (["--batch-size", "0"], "batch_size"),
    (["--epochs", "0"], "epochs"),
    (["--beams", "0"], "num_beams"),
    (["--device", "tpu"], "device"),
    (["--variant", "fancy"], "unknown variant 'fancy'"),
    (["--set", "grid_dim=-4"], "grid_dim"),
    (["--set", "grid_dropout=1.5"], "grid_dropout"),
])
def test_bad_training_values_end_in_one_line(extra: list[str], named: str, corpus: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = tmp_path / "wh.duckdb"
    code, err = run(["train", "--train", str(corpus), "--backbone", "tiny-random", "--warehouse", str(warehouse),
                     "--out", str(tmp_path / "out"), "--quiet", *extra], capsys)
    assert code == BAD_INPUT and named in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert not (tmp_path / "out" / "model").exists()
    if warehouse.exists():
        with open_warehouse(warehouse, read_only=True) as wh:
            assert wh.query("SELECT count(*) AS n FROM runs")[0]["n"] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["train", "--train", str(corpus), "--backbone", "tiny-random", "--device", "cuda", "--warehouse",
                     str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out")], capsys)
    assert code == BAD_INPUT and "no CUDA" in err and len(err.strip().splitlines()) == 1, err


def test_a_training_config_file_that_is_missing_or_not_yaml(corpus: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--train", str(corpus), "--backbone", "tiny-random", "--warehouse", str(tmp_path / "wh.duckdb"),
            "--out", str(tmp_path / "out")]
    code, err = run([*base, "--config", str(tmp_path / "absent.yaml")], capsys)
    assert code == BAD_INPUT and "absent.yaml" in err and "cannot read" in err, err
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1\n")
    code, err = run([*base, "--config", str(bad)], capsys)
    assert code == BAD_INPUT and "bad.yaml" in err and "not YAML" in err, err


def test_the_short_w_is_no_longer_the_warehouse(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["train", "--train", str(corpus), "-w", "0.5"], capsys)
    assert code == 2 and "No such option: -w" in err


def test_exit_codes_and_lines_by_class(tmp_path: Path) -> None:
    locked = WarehouseLockedError(tmp_path / "wh.duckdb", 123, "typeprior train", 30.0, "held")
    assert exit_code(locked) == 75
    assert exit_code(ValueError("bad")) == BAD_INPUT and one_line(ValueError("a\n  b")) == "a b"
    assert exit_code(KeyError("x")) == INTERNAL and "internal error: KeyError" in one_line(KeyError("x"))
    assert exit_code(KeyboardInterrupt()) == 130


def test_debug_shows_the_traceback(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typeprior.errors import DEBUG_ENV
    from typeprior.model.training import TrainingError

    monkeypatch.setenv(DEBUG_ENV, "")  # main() sets it for the process; monkeypatch restores it afterwards
    with pytest.raises(TrainingError):
        main(["--debug", "train", "--train", str(corpus), "--backbone", "tiny-random", "--epochs", "0",
              "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out")])


def test_kb_build_with_a_missing_embedding_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["kb", "build", "--scheme", "demo", "--model", str(tmp_path / "nonexistent"), "--warehouse",
                     str(tmp_path / "wh.duckdb")], capsys)
    assert code == BAD_INPUT and "nonexistent: no such folder" in err and len(err.strip().splitlines()) == 1, err


def test_a_model_config_of_wrong_types_names_config_json(tmp_path: Path) -> None:
    from typeprior.model.persistence import ModelFolderError
    from typeprior.model.predict import Tagger

    folder = Tagger.from_backbone("tiny-random", ["PER"], variant="baseline").save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    for bad in ({"max_len": -3}, {"entity_types": [1, 2]}, {"num_beams": "four"}, {"variant": "fancy"}):
        (folder / "config.json").write_text(json.dumps({**config, **bad}))
        with pytest.raises(ModelFolderError, match="config.json"):
            Tagger.load(folder, device="cpu")


def test_an_eof_at_a_prompt_is_bad_input_not_an_interruption(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """click turns both Ctrl-C and an EOF at a prompt into Abort; only the first is an interruption."""
    import io

    import typer

    from typeprior.flows.cli import app

    app.command("ask")(lambda: typer.echo(typer.prompt("name")))
    monkeypatch.setattr(app, "registered_commands", app.registered_commands)  # restored after the test
    try:
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        code, err = run(["ask"], capsys)
    finally:
        app.registered_commands.pop()
    assert code == BAD_INPUT and err.strip().splitlines()[-1] == (
        "error: standard input ended where the command expected an answer"), err
