"""The pipeline's defaults (kb/settings.yaml), overridable by a user's YAML file."""
from __future__ import annotations

import copy
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any


from typeprior.yaml_files import read_mapping

from .errors import KBError


@lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    return read_mapping(Path(str(resources.files("typeprior.kb") / "settings.yaml")), KBError, "kb settings file")


def _merge(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key not in out:
            raise KBError(f"{where}: unknown setting {key!r} (known: {sorted(out)})")
        out[key] = _merge(out[key], value, f"{where}:{key}") if isinstance(out[key], dict) else value
    return out


def load_settings(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the file at `path`, then `overrides` (nested dicts)."""
    settings = copy.deepcopy(_defaults())
    if path is not None:
        settings = _merge(settings, read_mapping(path, KBError, "kb settings file"), str(path))
    if overrides:
        settings = _merge(settings, overrides, "overrides")
    return settings
