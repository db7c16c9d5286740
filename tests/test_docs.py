"""The journeys a user reads: every shell block of README.md and the docs runs, in document order, in a fresh
folder holding `train.jsonl` and `dev.jsonl` (copies of the demo corpus), so a stale example fails CI.

A block is skipped only when the line before it says why: `<!-- docs-test: skip REASON -->`, where the reason is
one of needing ../shared/data, a GPU, a network, a server that runs until stopped, or a long run.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "docs/SCALING.md", "warehouse/SCHEMA.md", "kb/README.md", "model/corpus/FORMATS.md"]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(.+?)\s*-->")
REASONS = ("../shared/data", "GPU", "network", "server", "long run", "installs")
FENCE = re.compile(r"^```(bash|sh|shell)\s*$")


def shell_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, script, skip reason or None) for each shell block of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            before = next((lines[k] for k in range(start - 2, -1, -1) if lines[k].strip()), "")
            found = SKIP.search(before)
            out.append((start, "\n".join(body), found.group(1) if found else None))
        i += 1
    return out


def test_every_skip_names_an_allowed_reason() -> None:
    for doc in DOCS:
        for line, _, reason in shell_blocks(ROOT / doc):
            if reason is not None:
                assert any(r in reason for r in REASONS), f"{doc}:{line}: skip reason {reason!r}"


@pytest.mark.parametrize("doc", DOCS)
def test_the_shell_blocks_run(doc: str, tmp_path: Path) -> None:
    for name in ("train.jsonl", "dev.jsonl"):
        shutil.copy(ROOT / "flows" / "demo" / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TYPEPRIOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PREFECT_HOME"] = str(tmp_path / ".prefect")
    env.pop("PREFECT_API_URL", None)
    ran = 0
    for line, script, reason in shell_blocks(ROOT / doc):
        if reason is not None:
            continue
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{doc}:{line} exited {done.returncode}:\n{script}\n{done.stderr[-3000:]}"
        ran += 1
    if not shell_blocks(ROOT / doc):
        pytest.skip(f"{doc} has no shell blocks")
