"""End to end against a real Prefect server: `typeprior serve`, a prior rebuild run through `prefect deployment run`,
the training run it triggers, and the rows both leave in the warehouse; a second, unchanged rebuild starts nothing.

Tiny on purpose: an 11-page snapshot file as knowledge-base source, four sentences, the tiny-random backbone, 20
short epochs; the triggered model must be as good as the same training through `typeprior train` (the pipeline's path).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
import yaml
from typeprior.kb.sources.snapshot import snapshot_file
from typeprior.model.predict import Tagger
from typeprior.warehouse import open_warehouse

BIN = Path(sys.executable).parent
PAGES = ["Paris", "Kenya", "Oslo", "Peru", "Marie Curie", "Alan Turing", "Ada Lovelace", "UNESCO",
         "Renaissance", "Academy Awards", "2001: A Space Odyssey"]
SENTENCES = [
    (["Marie", "Curie", "visited", "Paris", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Alan", "Turing", "left", "Oslo", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Ada", "Lovelace", "praised", "Peru", "."], [([0, 1], "PER"), ([3], "LOC")]),
    (["Kenya", "welcomed", "Marie", "Curie", "."], [([0], "LOC"), ([2, 3], "PER")]),
]

EPOCHS = 20  # enough for tiny-random to fit the dev sentences with its recipe (F1 1.0 from about epoch 8)

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            print(f"{what}: {time.monotonic() - started:.1f} s")
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def write_jsonl(path: Path, sentences: list) -> Path:
    path.write_text("".join(json.dumps({"tokens": t, "entities": [{"indices": i, "type": y} for i, y in e]}) + "\n"
                            for t, e in sentences))
    return path


def stop(proc: subprocess.Popen, grace: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def healthy(self) -> bool:
        try:
            return self.http.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def deployment(self, name: str) -> dict | None:
        r = self.http.get(f"/deployments/name/{name}")
        return r.json() if r.status_code == 200 else None

    def runs_of(self, deployment_id: str) -> list[dict]:
        r = self.http.post("/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment_id]}},
                                                       "sort": "EXPECTED_START_TIME_ASC"})
        r.raise_for_status()
        return r.json()

    def run(self, flow_run_id: str) -> dict:
        r = self.http.get(f"/flow_runs/{flow_run_id}")
        r.raise_for_status()
        return r.json()


def finished(api: Api, flow_run_id: str) -> dict | None:
    run = api.run(flow_run_id)
    state = run["state"]["type"]
    if state in ("FAILED", "CRASHED", "CANCELLED"):
        raise AssertionError(f"flow run {run['name']} ended {state}: {run['state'].get('message')}")
    return run if state == "COMPLETED" else None


def test_serve_rebuild_triggers_training_once(tmp_path: Path) -> None:
    snapshot = json.loads(snapshot_file().read_text(encoding="utf-8"))
    (tmp_path / "snap.json").write_text(json.dumps({t: snapshot[t] for t in PAGES}), encoding="utf-8")
    train = write_jsonl(tmp_path / "train.jsonl", SENTENCES)
    dev = write_jsonl(tmp_path / "dev.jsonl", SENTENCES[:2])
    warehouse = tmp_path / "wh.duckdb"
    config = tmp_path / "deployments.yaml"
    config.write_text(yaml.safe_dump({
        "warehouse": str(warehouse),
        "models_dir": str(tmp_path / "models"),
        "rebuild": {"name": "weekly", "cron": "0 3 * * 1", "schemes": ["demo"],
                    "sources": [f"snapshot:{tmp_path / 'snap.json'}"]},
        "train": {"name": "on-demand"},
        "triggers": {"demo": [{"corpus": "tiny", "variant": "full", "train_file": str(train), "dev_file": str(dev),
                               "backbone": "tiny-random", "epochs": EPOCHS, "batch_size": 4}]},
    }))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api_url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PREFECT_LOGGING_LEVEL": "WARNING",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("server", "serve")}
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                               "--no-services", "--no-ui"],
                              env=env, cwd=tmp_path, stdout=logs["server"], stderr=subprocess.STDOUT)
    serve = None
    api = Api(api_url)
    try:
        wait_for("the Prefect server", api.healthy, 60)
        serve = subprocess.Popen([str(BIN / "typeprior"), "serve", "--config", str(config)], env=env, cwd=tmp_path,
                                 stdout=logs["serve"], stderr=subprocess.STDOUT)
        rebuild = wait_for("the rebuild deployment", lambda: api.deployment("rebuild-priors/weekly"), 30)
        training = wait_for("the train deployment", lambda: api.deployment("train/on-demand"), 30)
        assert rebuild["schedules"][0]["schedule"]["cron"] == "0 3 * * 1"

        def deployment_run() -> str:
            done = subprocess.run([str(BIN / "prefect"), "deployment", "run", "rebuild-priors/weekly"], env=env,
                                  cwd=tmp_path, check=True, capture_output=True, text=True, timeout=60)
            return re.search(r"UUID:\s*([0-9a-f-]{36})", done.stdout).group(1)

        first = deployment_run()
        wait_for("the first rebuild", lambda: finished(api, first), 90)
        triggered = wait_for("a triggered training run", lambda: api.runs_of(training["id"]), 10)
        assert len(triggered) == 1
        wait_for("the triggered training run", lambda: finished(api, triggered[0]["id"]), 90)

        second = deployment_run()
        wait_for("the second rebuild", lambda: finished(api, second), 90)
        assert len(api.runs_of(training["id"])) == 1, "an unchanged rebuild started training"
    finally:
        if serve is not None:
            stop(serve, 20)  # serve first: with the server gone it hangs on shutdown
        stop(server, 20)
        for f in logs.values():
            f.close()

    with open_warehouse(warehouse, read_only=True) as wh:
        decisions = wh.query("SELECT build_id, changed, previous_build_id, triggered FROM prior_rebuilds ORDER BY build_id")
        runs = wh.query("SELECT run_id, kind, status, corpus, variant, backbone, priors_build, config FROM runs")
        epochs = wh.query("SELECT epoch, train_loss, dev_f1 FROM epochs")
    assert [d["changed"] for d in decisions] == [True, False]
    assert decisions[1]["previous_build_id"] == decisions[0]["build_id"]
    assert json.loads(decisions[1]["triggered"]) == []
    (started,) = json.loads(decisions[0]["triggered"])
    assert started["flow_run_id"] == triggered[0]["id"]
    (run,) = runs
    assert (run["kind"], run["status"], run["corpus"], run["variant"], run["backbone"]) == \
        ("train", "completed", "tiny", "full", "tiny-random")
    assert run["priors_build"] == decisions[0]["build_id"]
    assert json.loads(run["config"])["priors"]["build_id"] == decisions[0]["build_id"]
    from typeprior.model.training import TrainingConfig

    recipe = TrainingConfig.load(backbone="tiny-random")  # the rates `typeprior pipeline` and `train` use too
    trained = json.loads(run["config"])["training"]
    assert (trained["lr_backbone"], trained["lr_new"]) == (recipe.lr_backbone, recipe.lr_new)
    model = Path(json.loads(run["config"])["out_dir"]) / "model"
    assert Tagger.load(model, device="cpu").model.config.variant == "full" and (model / "README.md").is_file()
    assert len(epochs) == EPOCHS and all(e["train_loss"] > 0 and e["dev_f1"] is not None for e in epochs)

    # the same job through the CLI's (and the pipeline's) path: train_recorded → make_spec → train_run
    import torch
    from typeprior.flows.settings import RunSettings
    from typeprior.flows.training import train_recorded

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the served run (OMP_NUM_THREADS=1)
    try:
        settings = RunSettings(backbone="tiny-random", priors=str(decisions[0]["build_id"]), scheme="demo",
                               epochs=EPOCHS, batch_size=4)
        direct = train_recorded(warehouse, "tiny", tmp_path / "direct", settings, train_file=train, dev_file=dev,
                                variant="full", progress=False)
    finally:
        torch.set_num_threads(threads)
    served = max(e["dev_f1"] for e in epochs)
    assert served >= 0.9, f"the served, triggered training learned too little: best dev F1 {served}"
    assert served == pytest.approx(direct.best_f1, abs=0.05), (served, direct.best_f1)
