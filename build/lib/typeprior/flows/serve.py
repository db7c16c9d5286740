"""`typeprior serve`: the deployments of flows/deployments.yaml, served by one Prefect runner process.

- `rebuild-priors/<name>` on the cron schedule (weekly by default) rebuilds the type priors and starts training
  for the schemes whose content changed;
- `train/<name>` trains on demand, and is what a changed rebuild starts.

Runs execute in subprocesses of the runner, importing the flows by module path (the installed package), so a served
run behaves like one started from the command line. Stop the runner with SIGTERM (Ctrl-C) before the Prefect server.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import serve
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron

from .config import Deployments, load_deployments
from .rebuild_priors import rebuild_priors_flow
from .train import train_flow
from .warehouse_path import warehouse_path


def build_deployments(conf: Deployments, warehouse: str | None = None) -> list[Any]:
    """The two runner deployments, with the warehouse (and models folder) fixed as parameter defaults."""
    wh = warehouse_path(warehouse or conf.warehouse)
    train_params: dict[str, Any] = {"warehouse": wh, "progress": False}
    if conf.models_dir:
        train_params["models_dir"] = str(Path(conf.models_dir).resolve())
    rebuild = rebuild_priors_flow.to_deployment(
        name=conf.rebuild_name,
        schedules=[Cron(conf.cron, timezone=conf.timezone)],
        parameters={"warehouse": wh, "deployments": str(conf.path.resolve()), "progress": False},
        description=f"Rebuild the type priors of {', '.join(conf.schemes)} from {', '.join(conf.kb_sources)}; "
                    "train where they changed.",
        tags=["typeprior", "priors"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    train = train_flow.to_deployment(
        name=conf.train_name,
        parameters=train_params,
        description="Train a variant on a corpus with a priors build (started on demand or by a changed rebuild).",
        tags=["typeprior", "train"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return [rebuild, train]


def serve_deployments(config: str | Path | None = None, warehouse: str | None = None, limit: int | None = 1) -> None:
    """Serve until SIGTERM/SIGINT. `limit` caps concurrent runs (1: DuckDB has one writer, torch wants the cores)."""
    conf = load_deployments(config)
    serve(*build_deployments(conf, warehouse), limit=limit)
