"""Hand-checked samples of a scheme's typing: the judged pages of kb/checks/<scheme>.yaml, loaded into the warehouse
(kb_check_frames, kb_check_items) and turned into precision and recall per type by kb/sql/check_figures.sql.

The samples are data, not code: a person judged each page, so they are committed once and reread, never redrawn by
a build. They say how well the rules typed the pages they were drawn from (`scheme_fingerprint`); after a change
of the rules they are stale until someone draws and judges new ones.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pandas as pd

from typeprior.yaml_files import read_mapping

from ..errors import SchemeError

_ITEM_COLUMNS = ["sample", "title", "assigned", "judged", "evidence", "note"]
UNJUDGED = "?"  # what `draw_checks` writes where a person has still to judge
PROTOCOL = ("random.Random(seed).sample over the pages sorted by title: {per_type} typed entities per type (in the "
            "order {order}), then {untyped} untyped pages. Each judged by hand from title, short description and "
            "extract for the {scheme} type it should have (null: no named entity of the scheme's types).")


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
    unjudged = items.loc[items["judged"] == UNJUDGED, "title"].tolist()
    if unjudged:
        raise SchemeError(f"{len(unjudged)} check items are not judged yet (judged: '{UNJUDGED}'), "
                          f"the first {unjudged[0]!r}", where)
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


def draw_checks(typed: dict[str, dict[str, str]], untyped: list[str], scheme: str, source_key: str,
                fingerprint: str, seed: int, per_type: int = 50, n_untyped: int = 200,
                previous: Sequence[CheckSet] = ()) -> dict[str, Any]:
    """A new check file to judge: `per_type` typed pages of each type (`typed`: type → title → evidence, in the
    scheme's order) and `n_untyped` untyped pages, drawn with one seeded generator over titles sorted.

    A page's right type does not depend on the rules, so a page that a `previous` check set already judged keeps
    its judgement and note (the first set to judge it wins); every other item is written `judged: '?'`, which
    `load_checks` refuses until a person replaces it.
    """
    rng = random.Random(seed)
    known: dict[str, tuple[str | None, str]] = {}
    for checks in previous:
        for r in checks.items.itertuples():
            judged = r.judged if isinstance(r.judged, str) else None  # pandas reads a YAML null as NaN
            known.setdefault(str(r.title), (judged, r.note if isinstance(r.note, str) else ""))
    items: list[dict[str, Any]] = []

    def item(sample: str, title: str, assigned: str | None, evidence: str | None) -> dict[str, Any]:
        judged, note = known.get(title, (UNJUDGED, ""))
        return {"sample": sample, "title": title, "assigned": assigned, "judged": judged,
                "evidence": evidence or "", "note": note or ""}

    for entity_type, pages in typed.items():
        for title in rng.sample(sorted(pages), min(per_type, len(pages))):
            items.append(item("typed", title, entity_type, pages[title]))
    for title in rng.sample(sorted(untyped), min(n_untyped, len(untyped))):
        items.append(item("untyped", title, None, None))
    return {
        "scheme": scheme, "source": source_key,
        "scheme_fingerprint": fingerprint, "seed": seed,
        "protocol": PROTOCOL.format(per_type=per_type, order=", ".join(typed), untyped=n_untyped, scheme=scheme),
        "frame": {**{t: len(p) for t, p in typed.items()}, "untyped": len(untyped)},
        "items": items,
    }
