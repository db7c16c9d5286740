"""A user's journey through an interruption: `typeprior train` stopped by SIGTERM ends its run `cancelled`,
`--resume` finishes it in the same run row, and the model folder loads."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typeprior.model.predict import Tagger
from typeprior.warehouse import open_warehouse

ROOT = Path(__file__).resolve().parent.parent


def test_sigterm_cancels_and_resume_finishes(tmp_path: Path) -> None:
    out, warehouse = tmp_path / "run", tmp_path / "wh.duckdb"
    args = [sys.executable, "-m", "typeprior.flows.cli", "train", "--train", str(ROOT / "flows/demo/train.jsonl"),
            "--dev", str(ROOT / "flows/demo/dev.jsonl"), "--corpus", "demo", "--backbone", "tiny-random",
            "--variant", "baseline", "--warehouse", str(warehouse), "--out", str(out), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*args, "--epochs", "40"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 600
    while not (out / "checkpoint" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].startswith("error: "), err
    with open_warehouse(warehouse, read_only=True) as wh:
        (run,) = wh.query("SELECT run_id, status FROM runs")
    assert run["status"] == "cancelled"

    done = subprocess.run([*args, "--epochs", "3", "--resume"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["run_id"] == run["run_id"] and result["epochs"] == 3
    with open_warehouse(warehouse, read_only=True) as wh:
        assert wh.query("SELECT status FROM runs") == [{"status": "completed"}]
    assert Tagger.load(result["model"], device="cpu").predict("Ada Lovelace visited Oslo .")["text"]
