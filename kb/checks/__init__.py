"""Hand-checked samples of a scheme's typing: the judged pages of kb/checks/<scheme>.yaml, loaded into the warehouse
(kb_check_frames, kb_check_items) and turned into precision and recall per type by kb/sql/check_figures.sql.

The samples are data, not code: a person judged each page, so they are committed once and reread, never redrawn by
a build. They say how well the rules typed the pages they were drawn from (`scheme_fingerprint`); after a change
of the rules they are stale until someone draws and judges new ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from typeprior.yaml_files import read_mapping

from ..errors import SchemeError

_ITEM_COLUMNS = ["sample", "title", "assigned", "judged", "evidence", "note"]


@dataclass(frozen=True)
class CheckSet:
    """The samples of one scheme and the sizes of the strata they were drawn from."""

    scheme: str
    source_key: str
    scheme_fingerprint: str
    seed: int
    frame: dict[str, int]
    items: pd.DataFrame

    def frame_rows(self) -> pd.DataFrame:
        return pd.DataFrame({"scheme": self.scheme, "stratum": list(self.frame), "pages": list(self.frame.values()),
                             "source_key": self.source_key, "scheme_fingerprint": self.scheme_fingerprint})

    def item_rows(self) -> pd.DataFrame:
        return self.items.assign(scheme=self.scheme)


def check_file(scheme: str) -> Path | None:
    """The packaged check file of a scheme, if it has one."""
    path = Path(str(resources.files("typeprior.kb.checks") / f"{scheme}.yaml"))
    return path if path.is_file() else None


def load_checks(path: str | Path) -> CheckSet:
    """Read and validate a check file."""
    where = str(path)
    data = read_mapping(path, SchemeError, "check file")
    if not isinstance(data.get("items"), list) or not isinstance(data.get("frame"), dict):
        raise SchemeError("a check file needs 'scheme', 'frame' and 'items'", where)
    items = pd.DataFrame([{k: item.get(k) for k in _ITEM_COLUMNS} for item in data["items"]], columns=_ITEM_COLUMNS)
    bad = sorted(set(items["sample"]) - {"typed", "untyped"})
    strata = set(items["assigned"].dropna())
    if bad or not strata <= set(data["frame"]) or items.duplicated(["sample", "title"]).any():
        raise SchemeError(f"check items need sample typed|untyped, a type of the frame, unique titles ({bad})", where)
    return CheckSet(str(data["scheme"]), str(data.get("source", "")), str(data.get("scheme_fingerprint", "")),
                    int(data.get("seed", 0)), {str(k): int(v) for k, v in data["frame"].items()}, items)


def figures_sql() -> str:
    return (resources.files("typeprior.kb") / "sql" / "check_figures.sql").read_text(encoding="utf-8")


def compute_figures(checks: CheckSet) -> list[dict[str, Any]]:
    """Precision and recall per type from one check set, by the same SQL the warehouse runs (in memory here)."""
    con = duckdb.connect(":memory:")
    try:
        schema = (resources.files("typeprior.warehouse") / "schema" / "005_kb_checks.sql").read_text(encoding="utf-8")
        con.execute(schema)
        frames, items = checks.frame_rows(), checks.item_rows()
        con.register("frames_in", frames)
        con.register("items_in", items)
        con.execute(f"INSERT INTO kb_check_frames ({', '.join(frames.columns)}) SELECT * FROM frames_in")
        con.execute(f"INSERT INTO kb_check_items ({', '.join(items.columns)}) SELECT * FROM items_in")
        cursor = con.execute(figures_sql())
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        con.close()
