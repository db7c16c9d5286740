"""Crashes: the harvest killed at 5 points and training at 3, with a real SIGKILL, then run again.

Each run is a real subprocess. The kill points are deterministic: the child wraps one product function (a
spy that changes nothing else) and sends itself SIGKILL when it reaches the chosen call, e.g. inside the
transaction that stores the second batch of pages, or after a checkpoint's model files are written but before its
optimizer state. A re-run must then end with the warehouse of an uninterrupted harvest, or continue training from
the last complete checkpoint and end with the weights of an uninterrupted run; a half-written folder is never used.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fake_mediawiki import FakeMediaWiki
from typeprior.model.corpus import Entity, Sentence
from typeprior.model.persistence import check_folder
from typeprior.model.predict import Tagger
from typeprior.model.training import TrainingConfig, train
from test_reliability_wiki import SCHEME, contents, fixture_wiki, harvest_all

ROOT = Path(__file__).resolve().parent.parent
KILL_ENV = "TYPEPRIOR_TEST_KILL_AT"

HARVESTER = r"""
import os, signal, sys
sys.path.insert(0, os.environ["TYPEPRIOR_ROOT"])
from typeprior.kb.entities import extract_entities
from typeprior.kb.harvest import harvest
from typeprior.kb.schemes import load_scheme
from typeprior.kb.settings import load_settings
from typeprior.kb.sources import LiveSource, MediaWikiClient
from typeprior.kb.store import KBStore

path, url, scheme_path = sys.argv[1:4]
kill_at = os.environ.get("TYPEPRIOR_TEST_KILL_AT", "")
calls = {}

def spy(owner, name, when):
    # Wrap owner.name; SIGKILL this process after (or during) the n-th call that matches the kill point.
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        key = f"{name}:{when(args)}"
        calls[key] = calls.get(key, 0) + 1
        result = original(*args, **kwargs)
        if kill_at == f"{key}:{calls[key]}":
            print(f"killing at {kill_at}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, name, wrapper)

spy(MediaWikiClient, "category_members", lambda a: "")
spy(KBStore, "save_walk", lambda a: "")
spy(KBStore, "save_items", lambda a: "")
spy(KBStore, "_insert_frame", lambda a: a[1])

scheme = load_scheme(scheme_path)
client = MediaWikiClient(url, "typeprior-reliability/0.1 (tests@example.org)", min_interval_s=0.0, max_retries=3,
                         retry_wait_s=0.01, max_wait_s=0.05, timeout_s=5.0)
source = LiveSource(client, batch_size=2)
with KBStore.open(path) as store:
    for t in scheme.type_names:
        harvest(store, source, scheme, t, progress=False)
    extract_entities(store, source.key, scheme, load_settings())
print("done", flush=True)
"""

# (kill point, what is interrupted)
HARVEST_KILLS = [
    ("category_members::2", "the category walk of the first type"),
    ("save_walk::1", "after the walk is stored, before any page"),
    ("_insert_frame:kb_raw_pages:2", "inside the transaction storing the second batch of pages"),
    ("save_items::4", "after the fourth batch is committed"),
    ("_insert_frame:kb_entities:1", "inside the transaction replacing the typed entities"),
]


def run_child(script: str, args: list[str], kill_at: str | None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TYPEPRIOR_ROOT": str(ROOT)}
    env.pop(KILL_ENV, None)
    if kill_at:
        env[KILL_ENV] = kill_at
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def harvest_reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("harvest-reference") / "kb.duckdb"
    with FakeMediaWiki(fixture_wiki()) as server:
        harvest_all(path, server, batch_size=2)
    return contents(path)


def _harvest_killed_then_resumed(tmp_path: Path, reference: dict, kill_at: str) -> None:
    path = tmp_path / "kb.duckdb"
    with FakeMediaWiki(fixture_wiki()) as server:
        args = [str(path), server.url, str(SCHEME)]
        killed = run_child(HARVESTER, args, kill_at)
        assert killed.returncode == -signal.SIGKILL, f"not killed at {kill_at}: {killed.stdout} {killed.stderr}"
        assert f"killing at {kill_at}" in killed.stdout
        resumed = run_child(HARVESTER, args, None)
        assert resumed.returncode == 0, resumed.stderr
    assert contents(path) == reference


@pytest.mark.parametrize("kill_at", [k for k, _ in HARVEST_KILLS if k.startswith("_insert_frame:kb_raw")])
def test_a_harvest_killed_mid_transaction_resumes_to_the_same_warehouse(tmp_path: Path, harvest_reference: dict,
                                                                       kill_at: str) -> None:
    _harvest_killed_then_resumed(tmp_path, harvest_reference, kill_at)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [k for k, _ in HARVEST_KILLS], ids=[w for _, w in HARVEST_KILLS])
def test_a_harvest_killed_anywhere_resumes_to_the_same_warehouse(tmp_path: Path, harvest_reference: dict,
                                                                kill_at: str) -> None:
    _harvest_killed_then_resumed(tmp_path, harvest_reference, kill_at)


# ---- training ------------------------------------------------------------------------------------------------

TRAINER = r"""
import json, os, signal, sys
sys.path.insert(0, os.environ["TYPEPRIOR_ROOT"])
import torch
torch.set_num_threads(1)
from typeprior.model import persistence
from typeprior.model.corpus import Entity, Sentence
from typeprior.model.training import Trainer, TrainingConfig, train

out, data_file, config_json = sys.argv[1:4]
kill_at = os.environ.get("TYPEPRIOR_TEST_KILL_AT", "")
data = [Sentence(r["tokens"], [Entity(tuple(e["indices"]), e["type"]) for e in r["entities"]])
        for r in map(json.loads, open(data_file))]

saves = []
original_write = persistence.write_model_folder
def write_spy(folder, *args, **kwargs):
    # Kill after a folder's model files are written aside, before the rename (mid-write of the checkpoint or model).
    original_write(folder, *args, **kwargs)
    kind = "checkpoint" if folder.name.startswith(".checkpoint") else "model"
    saves.append(kind)
    if kill_at == f"write:{kind}:{saves.count(kind)}":
        print(f"killing at {kill_at}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
persistence.write_model_folder = write_spy

moved_aside = []
real_replace = os.replace
def replace_spy(src, dst):
    # Kill between atomic_dir's two renames: the old folder moved aside, the new one not yet in its place.
    real_replace(src, dst)
    name = os.path.basename(str(dst))
    if ".old-" in name:
        kind = name.split(".")[1]
        moved_aside.append(kind)
        if kill_at == f"between-renames:{kind}:{moved_aside.count(kind)}":
            print(f"killing at {kill_at}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace_spy

original_save = Trainer._save_checkpoint
def save_spy(self, opt, sched, state):
    original_save(self, opt, sched, state)
    print(f"checkpoint {state['epoch']}", flush=True)
    if kill_at == f"after-checkpoint:{state['epoch']}":
        print(f"killing at {kill_at}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
Trainer._save_checkpoint = save_spy

result = train(data, None, "tiny-random", out, TrainingConfig.load(**json.loads(config_json)), resume=True)
print("done", json.dumps([h["epoch"] for h in result.history]), flush=True)
"""

TRAIN_SETTINGS = dict(epochs=4, batch_size=4, lr_new=3e-3, warmup=0.05, progress=False, device="cpu",
                      keep_checkpoint=True)  # the checks compare the final checkpoints
TRAIN_KILLS = [
    ("after-checkpoint:0", 0, "after the first epoch's checkpoint, during the second epoch"),
    ("write:checkpoint:2", 0, "while the second epoch's checkpoint is half written"),
    ("write:model:3", 1, "while the third epoch's best model is half written"),
    ("between-renames:checkpoint:1", 0, "between moving the first checkpoint aside and renaming the second in"),
]
TRAIN_DATA = [
    Sentence("John Smith lives in New York".split(), [Entity.span(0, 2, "PER"), Entity.span(4, 6, "LOC")]),
    Sentence("Mary visited Paris last year".split(), [Entity.span(0, 1, "PER"), Entity.span(2, 3, "LOC")]),
    Sentence("the Bank of England raised rates".split(), [Entity.span(1, 4, "ORG"), Entity.span(3, 4, "LOC")]),
    Sentence("pain in left and right knee".split(), [Entity.of([0, 2, 5], "ADR"), Entity.of([0, 4, 5], "ADR")]),
    Sentence("nothing to see here".split(), []),
    Sentence("Berlin and Rome are cities".split(), [Entity.span(0, 1, "LOC"), Entity.span(2, 3, "LOC")]),
]


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train-reference")
    torch.set_num_threads(1)
    train(TRAIN_DATA, None, "tiny-random", out, TrainingConfig.load(**TRAIN_SETTINGS), resume=False)
    return out


def _no_half_written_folder_in_use(out: Path) -> int | None:
    """The folders a reader would use are complete; returns the epoch of the checkpoint in use (None: none).

    Readers go through check_folder, which puts back a folder a kill left moved aside between atomic_dir's renames.
    """
    for name in ("checkpoint", "model"):
        if (out / name).exists() or any(out.glob(f".{name}.old-*")):
            check_folder(out / name)
            Tagger.load(out / name, device="cpu")
    state = out / "checkpoint" / "trainer_state.json"
    return json.loads(state.read_text())["epoch"] if state.is_file() else None


def _train_killed_then_resumed(tmp_path: Path, reference: Path, kill_at: str, expected_epoch: int) -> None:
    out = tmp_path / "run"
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(s.to_json()) + "\n" for s in TRAIN_DATA), encoding="utf-8")
    args = [str(out), str(data), json.dumps(TRAIN_SETTINGS)]
    killed = run_child(TRAINER, args, kill_at)
    assert killed.returncode == -signal.SIGKILL, f"not killed at {kill_at}: {killed.stdout} {killed.stderr[-2000:]}"
    assert f"killing at {kill_at}" in killed.stdout
    if kill_at.startswith("write:"):
        kind = kill_at.split(":")[1]
        aside = [p for p in out.iterdir() if p.name.startswith(f".{kind}.") and p.name.endswith(".tmp")]
        assert aside, f"no half-written .{kind}.*.tmp folder: the kill did not land mid-write"
        assert not (aside[0] / "trainer_state.json").exists() or kind == "model"
    in_use = _no_half_written_folder_in_use(out)
    assert in_use == expected_epoch, f"the checkpoint in use is epoch {in_use}, expected {expected_epoch}"
    resumed = run_child(TRAINER, args, None)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trained = [int(line.split()[1]) for line in resumed.stdout.splitlines() if line.startswith("checkpoint ")]
    assert trained == list(range(expected_epoch + 1, TRAIN_SETTINGS["epochs"])), resumed.stdout
    assert resumed.stdout.strip().splitlines()[-1] == "done " + json.dumps(list(range(TRAIN_SETTINGS["epochs"])))
    got = Tagger.load(out / "checkpoint", device="cpu").model
    want = Tagger.load(reference / "checkpoint", device="cpu").model
    for (name, p), q in zip(got.state_dict().items(), want.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-5), f"{name} differs from the uninterrupted run"


@pytest.mark.parametrize("kill_at,epoch", [(k, e) for k, e, _ in TRAIN_KILLS if k.startswith(("write:checkpoint",
                                                                                              "between-renames"))])
def test_training_killed_mid_checkpoint_resumes_from_the_last_whole_one(tmp_path: Path, train_reference: Path,
                                                                         kill_at: str, epoch: int) -> None:
    _train_killed_then_resumed(tmp_path, train_reference, kill_at, epoch)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at,epoch", [(k, e) for k, e, _ in TRAIN_KILLS], ids=[w for _, _, w in TRAIN_KILLS])
def test_training_killed_anywhere_resumes_from_the_last_checkpoint(tmp_path: Path, train_reference: Path,
                                                                    kill_at: str, epoch: int) -> None:
    _train_killed_then_resumed(tmp_path, train_reference, kill_at, epoch)
