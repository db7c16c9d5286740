"""Reading the project's YAML settings files, with one wording for what can go wrong with them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_mapping(path: str | Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The mapping a YAML file holds (empty for an empty file); `error` names the file and what is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"{what} {path}: cannot read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise error(f"{what} {path}: not YAML ({str(err).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {path}: expected a mapping at the top level")
    return data
