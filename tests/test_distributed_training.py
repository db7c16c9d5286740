"""Training under torchrun: 2 CPU processes with gloo on 127.0.0.1 against one process with the same global batch.

DDP averages the two halves' gradients; with equal-length targets and dropout off that is exactly the one-process
gradient, so the loss curves agree to float precision and the saved models predict the same.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from typeprior.model.corpus import Entity, Sentence
from typeprior.model.distributed import DataParallel, DistributedSetupError, EpochSampler
from typeprior.model.predict import Tagger
from typeprior.model.training import TrainingConfig, train

S, E = Sentence, Entity
# Every sentence has five words and one one-word entity, so every target has the same length: the per-token mean
# loss of a batch of 4 is then exactly the mean of its halves' losses, which is what DDP's gradient average computes.
# (With sentences of different lengths the runs differ by that normalisation; see docs/SCALING.md.)
CORPUS = [
    S("John lives in a town".split(), [E.span(0, 1, "PER")]),
    S("we went to Paris yesterday".split(), [E.span(3, 4, "LOC")]),
    S("the Bank raised rates again".split(), [E.span(1, 2, "ORG")]),
    S("Mary likes green tea leaves".split(), [E.span(0, 1, "PER")]),
    S("rain fell over Berlin today".split(), [E.span(3, 4, "LOC")]),
    S("shares of Acme fell sharply".split(), [E.span(2, 3, "ORG")]),
    S("ask Peter about the plan".split(), [E.span(1, 2, "PER")]),
    S("flights to Rome are late".split(), [E.span(2, 3, "LOC")]),
]
TRAIN = ["--backbone", "tiny-random", "--epochs", "12", "--batch-size", "4", "--lr-new", "3e-3", "--seed", "7",
         "--device", "cpu", "--quiet"]


def test_the_ranks_global_batches_are_the_single_process_batches() -> None:
    items = list(range(10))
    one = DataParallel().batches(items, 4, seed=3, epoch=2)
    ranks = [DataParallel(rank=r, world_size=2).batches(items, 4, seed=3, epoch=2) for r in (0, 1)]
    assert [sorted(a + b) for a, b in zip(*ranks)] == [sorted(batch) for batch in one]
    assert len(list(EpochSampler(9, 2, 1, seed=3))) == 5      # padded like DistributedSampler: equal steps per rank
    with pytest.raises(DistributedSetupError, match="batch_size 5 .* 2 processes"):
        DataParallel(rank=0, world_size=2).batches(items, 5, seed=3, epoch=0)


MODEL = dict(variant="full", pointer_dropout=0.0, grid_dropout=0.0)
SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_distributed_training import CORPUS, MODEL, training
from typeprior.model.training import train
train(CORPUS, None, "tiny-random", sys.argv[1], training(), resume=False, **MODEL)
"""


def training() -> TrainingConfig:
    # float32: the comparison is of DDP's gradient average, which bf16 rounding of the two halves would blur
    return TrainingConfig.load(epochs=12, batch_size=4, lr_new=3e-3, seed=7, device="cpu", progress=False,
                               mixed_precision="off")


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """2 CPU processes on 127.0.0.1 (gloo), one thread each; only rank 0's output is shown."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
         "--local-ranks-filter", "0", "--rdzv-backend", "c10d", "--rdzv-endpoint", "127.0.0.1:0", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def loss_curve(out: Path) -> np.ndarray:
    return np.array([r["loss"] for r in json.loads((out / "history.json").read_text())["history"]])


def test_two_gloo_processes_train_like_one_with_the_same_global_batch(tmp_path: Path) -> None:
    """Dropout off (its masks depend on the batch's shape): the curves then agree to float precision."""
    one, two = tmp_path / "one", tmp_path / "two"
    train(CORPUS, None, "tiny-random", one, training(), resume=False, **MODEL)
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)), encoding="utf-8")
    torchrun(str(script), str(two))

    curves = [loss_curve(one), loss_curve(two)]
    assert len(curves[0]) == len(curves[1]) == 12
    assert curves[0][-1] < 0.2 * curves[0][0]                 # it learns, so the comparison means something
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-3)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())

    tokens = [s.tokens for s in CORPUS]
    single_model, ddp_model = Tagger.load(one / "model"), Tagger.load(two / "model")
    single_model.mixed_precision = ddp_model.mixed_precision = "off"
    assert ddp_model.predict(tokens) == single_model.predict(tokens)
    assert any(ddp_model.predict(tokens))


@pytest.mark.slow
def test_typeprior_train_runs_under_torchrun(tmp_path: Path) -> None:
    """The command as a user launches it: rank 0 alone reports and writes; the model loads and predicts."""
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(s.to_json()) for s in CORPUS) + "\n")
    out = tmp_path / "out"
    run = torchrun(str(Path(sys.executable).with_name("typeprior")), "train", "--train", str(data), "--out", str(out),
                   "--backbone", "tiny-random", "--epochs", "4", "--batch-size", "4", "--device", "cpu", "--quiet")
    reports = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1 and reports[0]["epochs"] == 4, run.stdout
    assert len(loss_curve(out)) == 4
    assert len(Tagger.load(out / "model").predict([s.tokens for s in CORPUS])) == len(CORPUS)
