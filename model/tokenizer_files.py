"""The tokenizer file of a model folder, checked before transformers reads it.

Given a missing or garbage tokenizer.json, AutoTokenizer falls back to the slow tokenizer classes and says
"install sentencepiece" (or fails with no file named). Saved folders always hold the fast tokenizer's
tokenizer.json, so checking that one file first gives a message that names it.
"""
from __future__ import annotations

import json
import stat
from pathlib import Path

TOKENIZER_FILE = "tokenizer.json"


def tokenizer_problem(folder: Path) -> str | None:
    """Why `folder`'s tokenizer.json cannot be loaded, or None when it can."""
    path = folder / TOKENIZER_FILE
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{path} is missing: the model folder has no tokenizer (save it again with its tokenizer)"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        return f"{path} is not a tokenizer file: {str(exc).splitlines()[0][:200]}"
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        return f"{path} is not a tokenizer file: it has no 'model' object"
    from tokenizers import Tokenizer

    try:
        Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises its own Exception type for every malformed field
        return f"{path} is not a valid tokenizer file: {str(exc).splitlines()[0][:200]}"
    return None
