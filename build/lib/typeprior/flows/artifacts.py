"""Results published where Prefect users look: artifacts on the current flow run (no-ops outside a run)."""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Sequence

from prefect.artifacts import (
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

INLINE_IMAGE_LIMIT = 1 << 20  # images up to 1 MiB travel inside the artifact, so the UI shows them anywhere


def in_run() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _key(key: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() else "-" for c in key.lower()).strip("-")


def markdown(key: str, text: str, description: str) -> None:
    if in_run():
        create_markdown_artifact(markdown=text, key=_key(key), description=description)


def table(key: str, rows: Sequence[dict[str, Any]], description: str) -> None:
    if in_run():
        create_table_artifact(table=[dict(r) for r in rows], key=_key(key), description=description)


def image(key: str, path: str | Path, description: str) -> None:
    """The PNG as a data: URL when small (so it shows in the UI), else a file: URL; plus a link to the file."""
    if not in_run():
        return
    path = Path(path).resolve()
    data = path.read_bytes()
    url = f"data:image/png;base64,{base64.b64encode(data).decode()}" if len(data) <= INLINE_IMAGE_LIMIT else path.as_uri()
    create_image_artifact(image_url=url, key=_key(key), description=description)
    create_link_artifact(link=path.as_uri(), link_text=path.name, key=_key(f"{key}-file"), description=description)
