"""Prefect's orchestration overhead in the `pipeline` flow: the flow's wall time minus the time spent inside its
tasks (import, load, priors, fit, predict-and-score, ...), as read back from Prefect's own task-run records.

Runs the demo pipeline (flows/demo, MiniLM) in a private PREFECT_HOME with the ephemeral server, so the only
task runs in its database are this run's. Goal (issue 7): overhead < 10 % of the pipeline's wall time.

    OMP_NUM_THREADS=1 python bench/prefect_overhead.py --variant baseline --epochs 2 --json bench/results/prefect_overhead.json
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import pkgutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="baseline")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def task_names() -> set[str]:
    """Names of every Prefect task defined in the flows package (subflow calls are not tasks of their own)."""
    from prefect import Task

    from typeprior import flows

    names = set()
    for info in pkgutil.iter_modules(flows.__path__):
        module = importlib.import_module(f"typeprior.flows.{info.name}")
        names |= {v.name for v in vars(module).values() if isinstance(v, Task)}
    return names


async def run_seconds(names: set[str]) -> tuple[dict[str, float], float]:
    """Seconds inside each task (summed by task name), and the top-level flow run's own start-to-end seconds."""
    from prefect.client.orchestration import get_client

    out: dict[str, float] = {}
    async with get_client() as client:
        top = [r for r in await client.read_flow_runs(limit=200) if r.parent_task_run_id is None]
        if len(top) != 1 or top[0].start_time is None or top[0].end_time is None:
            raise RuntimeError(f"expected one finished top-level flow run, found {len(top)}")
        flow_run = (top[0].end_time - top[0].start_time).total_seconds()
        for run in await client.read_task_runs(limit=200):
            if run.start_time is None or run.end_time is None:
                continue
            base = run.name.rsplit("-", 1)[0]
            if base in names:
                out[base] = out.get(base, 0.0) + (run.end_time - run.start_time).total_seconds()
    return out, flow_run


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    home = tempfile.mkdtemp(prefix="prefect-overhead-")
    os.environ.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false", HF_HUB_OFFLINE="1",
                      TOKENIZERS_PARALLELISM="false")
    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    from typeprior.flows.pipeline import pipeline_flow
    from typeprior.flows.settings import RunSettings

    imported = time.monotonic()
    with tempfile.TemporaryDirectory() as out:
        result = pipeline_flow(variant=args.variant, settings=RunSettings(epochs=args.epochs),
                               warehouse=str(Path(out) / "w.duckdb"),
                               models_dir=str(Path(out) / "models"), reports_dir=str(Path(out) / "reports"),
                               progress=False)
        flow_wall = time.monotonic() - imported
    tasks, flow_run = asyncio.run(run_seconds(task_names()))
    inside = sum(tasks.values())
    report = {
        "variant": args.variant, "epochs": args.epochs, "threads": args.threads, "f1": result["f1"],
        "import_seconds": imported - started,
        "call_wall_seconds": flow_wall,          # the pipeline_flow() call, ephemeral server start included
        "flow_run_seconds": flow_run,            # the flow run's own start to end, as Prefect recorded it
        "server_start_seconds": flow_wall - flow_run,
        "task_seconds": tasks, "inside_tasks_seconds": inside,
        "overhead_in_run_seconds": flow_run - inside, "overhead_in_run_share": (flow_run - inside) / flow_run,
        "overhead_with_start_seconds": flow_wall - inside, "overhead_with_start_share": (flow_wall - inside) / flow_wall,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=1))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
