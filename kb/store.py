"""The knowledge base's tables in the warehouse (warehouse/schema/002_kb.sql): reads and transactional writes.

Bulk rows go in through a registered pandas frame (one INSERT ... SELECT), not row by row. A process-wide lock
serialises writes, so harvest tasks running in threads of one process never race on a primary key.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from typeprior.warehouse import Warehouse, open_warehouse

from .sources.base import HarvestItem, RawPage, SkippedPage, utcnow

_WRITE_LOCK = threading.RLock()
_RAW_PAGE_COLUMNS = "title, content_kind, content, description, topic, redirect_to"


def sql_file(name: str) -> str:
    """A packaged SQL file of kb/sql/."""
    return (resources.files("typeprior.kb") / "sql" / name).read_text(encoding="utf-8")


class KBStore:
    """The knowledge-base tables of one open warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.wh = warehouse

    @classmethod
    @contextmanager
    def open(cls, path_or_warehouse: str | Path | Warehouse, read_only: bool = False) -> Iterator["KBStore"]:
        """A store over a path (opened and closed here) or over an already open Warehouse (left open)."""
        if isinstance(path_or_warehouse, Warehouse):
            yield cls(path_or_warehouse)
            return
        with open_warehouse(path_or_warehouse, read_only=read_only) as wh:
            yield cls(wh)

    @property
    def con(self) -> Any:
        return self.wh.con

    @contextmanager
    def write(self) -> Iterator["KBStore"]:
        """One transaction, serialised with every other writer of this process."""
        with _WRITE_LOCK, self.wh.transaction():
            yield self

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with _WRITE_LOCK:
            return self.wh.query(sql, params)

    def _insert_frame(self, table: str, frame: pd.DataFrame, conflict: str = "DO NOTHING",
                      select: str | None = None) -> None:
        if frame.empty:
            return
        name = f"_kb_frame_{threading.get_ident()}"
        self.con.register(name, frame)
        try:
            cols = ", ".join(frame.columns)
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {select or cols} FROM {name} ON CONFLICT {conflict}")
        finally:
            self.con.unregister(name)

    # ---- harvest ---------------------------------------------------------------------------------------------

    def held_titles(self, source_key: str) -> set[str]:
        """Titles a harvest of this source need not ask for again: pages held, their aliases, and pages skipped
        for a lasting reason (an 'error' skip is retried)."""
        rows = self.query(
            """SELECT title FROM kb_raw_pages WHERE source_key = $s
               UNION SELECT alias FROM kb_aliases WHERE source_key = $s
               UNION SELECT title FROM kb_skipped_pages WHERE source_key = $s AND reason <> 'error'""",
            {"s": source_key},
        )
        return {r["title"] for r in rows}

    def save_items(self, source_key: str, items: Sequence[HarvestItem]) -> tuple[int, int]:
        """Store a batch of harvested pages and skips in one transaction; returns (pages, skips) written."""
        pages = [i for i in items if isinstance(i, RawPage)]
        skips = [i for i in items if isinstance(i, SkippedPage)]
        with self.write():
            if pages:
                frame = pd.DataFrame({
                    "source_key": source_key,
                    "title": [p.title for p in pages],
                    "fetched_at": [p.fetched_at for p in pages],
                    "content_kind": [p.content_kind for p in pages],
                    "content": [p.content for p in pages],
                    "description": pd.Series([p.description for p in pages], dtype=object),
                    "topic": pd.Series([p.topic for p in pages], dtype=object),
                    "redirect_to": pd.Series([p.redirect_to for p in pages], dtype=object),
                    "pageviews": pd.Series([p.pageviews for p in pages], dtype="Int64"),
                    "langlinks": pd.Series([p.langlinks for p in pages], dtype="Int32"),
                    "page_length": pd.Series([p.page_length for p in pages], dtype="Int32"),
                    "harvested_for": pd.Series([p.harvested_for for p in pages], dtype=object),
                })
                self._insert_frame("kb_raw_pages", frame)
                aliases = [(p.title, a) for p in pages for a in p.aliases]
                if aliases:
                    self._insert_frame("kb_aliases", pd.DataFrame(
                        {"source_key": source_key, "title": [t for t, _ in aliases], "alias": [a for _, a in aliases]}))
                self.con.execute(
                    "DELETE FROM kb_skipped_pages WHERE source_key = $s AND list_contains($t, title)",
                    {"s": source_key, "t": [p.title for p in pages] + [a for _, a in aliases]},
                )
            if skips:
                frame = pd.DataFrame({
                    "source_key": source_key,
                    "title": [s.title for s in skips],
                    "reason": [s.reason for s in skips],
                    "detail": [s.detail for s in skips],
                    "skipped_at": utcnow(),
                })
                self._insert_frame("kb_skipped_pages", frame,
                                   "DO UPDATE SET reason = excluded.reason, detail = excluded.detail, "
                                   "skipped_at = excluded.skipped_at")
        return len(pages), len(skips)

    def walked(self, source_key: str, scheme: str, entity_type: str, config_hash: str) -> bool:
        return bool(self.query(
            "SELECT 1 FROM kb_harvest_walks WHERE source_key = $s AND scheme = $c AND entity_type = $t "
            "AND config_hash = $h", {"s": source_key, "c": scheme, "t": entity_type, "h": config_hash}))

    def candidates(self, source_key: str, scheme: str, entity_type: str) -> list[str]:
        rows = self.query(
            "SELECT title FROM kb_harvest_candidates WHERE source_key = $s AND scheme = $c AND entity_type = $t "
            "ORDER BY title", {"s": source_key, "c": scheme, "t": entity_type})
        return [r["title"] for r in rows]

    def save_walk(self, source_key: str, scheme: str, entity_type: str, config_hash: str, titles: list[str]) -> None:
        with self.write():
            self._insert_frame("kb_harvest_candidates", pd.DataFrame(
                {"source_key": source_key, "scheme": scheme, "entity_type": entity_type, "title": titles}))
            self.con.execute(
                "INSERT INTO kb_harvest_walks VALUES ($s, $c, $t, $h, $at, $n) ON CONFLICT DO NOTHING",
                {"s": source_key, "c": scheme, "t": entity_type, "h": config_hash, "at": utcnow(), "n": len(titles)})

    def skipped(self, source_key: str) -> list[dict[str, Any]]:
        return self.query("SELECT title, reason, detail FROM kb_skipped_pages WHERE source_key = $s ORDER BY title",
                          {"s": source_key})

    # ---- parse and type --------------------------------------------------------------------------------------

    def raw_pages(self, source_key: str) -> Iterator[dict[str, Any]]:
        """Pages of a source in title order, fetched in chunks (a dump's pages need not fit in memory at once)."""
        last = ""
        while True:
            rows = self.query(
                f"SELECT {_RAW_PAGE_COLUMNS} FROM kb_raw_pages WHERE source_key = $s AND title > $last "
                "ORDER BY title LIMIT 2000", {"s": source_key, "last": last})
            if not rows:
                return
            yield from rows
            last = rows[-1]["title"]

    def replace_derived(self, source_key: str, scheme: str, entities: pd.DataFrame, inlinks: pd.DataFrame,
                        aliases: pd.DataFrame) -> None:
        """Swap in the typed entities (of one scheme), in-link counts and redirect aliases of a source."""
        with self.write():
            self.con.execute("DELETE FROM kb_entities WHERE source_key = $s AND scheme = $c",
                             {"s": source_key, "c": scheme})
            self.con.execute("DELETE FROM kb_inlinks WHERE source_key = $s", {"s": source_key})
            self._insert_frame("kb_entities", entities.assign(source_key=source_key, scheme=scheme))
            self._insert_frame("kb_inlinks", inlinks.assign(source_key=source_key))
            self._insert_frame("kb_aliases", aliases.assign(source_key=source_key))

    def replace_checks(self, scheme: str, frames: pd.DataFrame, items: pd.DataFrame) -> None:
        """Swap in the hand-checked samples of a scheme (kb/checks/<scheme>.yaml)."""
        with self.write():
            self.con.execute("DELETE FROM kb_check_frames WHERE scheme = $c", {"c": scheme})
            self.con.execute("DELETE FROM kb_check_items WHERE scheme = $c", {"c": scheme})
            self._insert_frame("kb_check_frames", frames)
            self._insert_frame("kb_check_items", items)

    # ---- builds ----------------------------------------------------------------------------------------------

    def start_build(self, scheme: str, sources: list[str], model_id: str, config_hash: str, config_json: str,
                    max_entities: int | None = None) -> int:
        with self.write():
            row = self.con.execute(
                "INSERT INTO kb_builds (scheme, sources, model_id, config_hash, config_json, max_entities, started_at, "
                "status) VALUES ($c, $s, $m, $h, $j, $k, $at, 'running') RETURNING build_id",
                {"c": scheme, "s": sources, "m": model_id, "h": config_hash, "j": config_json, "k": max_entities,
                 "at": utcnow()},
            ).fetchone()
        return int(row[0])

    def build(self, build_id: int) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM kb_builds WHERE build_id = $b", {"b": build_id})
        return rows[0] if rows else None

    def finish_build(self, build_id: int, content_hash: str) -> None:
        with self.write():
            self.con.execute("UPDATE kb_builds SET status = 'done', finished_at = $at, content_hash = $h "
                             "WHERE build_id = $b", {"at": utcnow(), "h": content_hash, "b": build_id})

    def fail_build(self, build_id: int, error: str) -> None:
        with self.write():
            self.con.execute("UPDATE kb_builds SET status = 'failed', finished_at = $at, error = $e "
                             "WHERE build_id = $b", {"at": utcnow(), "e": error[:2000], "b": build_id})

    def compute_weights(self, build_id: int) -> int:
        """Store θ of the build from kb/sql/theta.sql (replacing earlier weights of it); returns the rows written."""
        with self.write():
            self.con.execute("DELETE FROM kb_weights WHERE build_id = $build_id", {"build_id": build_id})
            self.con.execute(
                "INSERT INTO kb_weights (build_id, entity_type, title, name, frequency, theta) "
                f"SELECT build_id, entity_type, title, name, frequency, theta FROM ({sql_file('theta.sql')}) "
                "WHERE build_id = $build_id", {"build_id": build_id})
            n = self.con.execute("SELECT count(*) FROM kb_weights WHERE build_id = $b", {"b": build_id}).fetchone()
        return int(n[0])

    def weights(self, build_id: int) -> pd.DataFrame:
        with _WRITE_LOCK:
            return self.con.execute(
                "SELECT entity_type, title, name, frequency, theta FROM kb_weights WHERE build_id = $b "
                "ORDER BY entity_type, theta DESC, title", {"b": build_id}).df()

    # ---- embeddings ------------------------------------------------------------------------------------------

    def missing_embeddings(self, model_id: str, names: Iterable[str]) -> list[str]:
        wanted = sorted(set(names))
        with _WRITE_LOCK:
            held = self.con.execute(
                "SELECT name FROM kb_embeddings WHERE model_id = $m AND list_contains($n, name)",
                {"m": model_id, "n": wanted}).fetchall()
        have = {r[0] for r in held}
        return [n for n in wanted if n not in have]

    def save_embeddings(self, model_id: str, names: list[str], vectors: np.ndarray) -> None:
        with self.write():
            self._insert_frame("kb_embeddings", pd.DataFrame(
                {"model_id": model_id, "name": names, "vector": list(np.asarray(vectors, dtype=np.float32))}),
                select="model_id, name, vector::FLOAT[]")

    def embeddings(self, model_id: str, names: list[str]) -> dict[str, np.ndarray]:
        with _WRITE_LOCK:
            rows = self.con.execute(
                "SELECT name, vector FROM kb_embeddings WHERE model_id = $m AND list_contains($n, name)",
                {"m": model_id, "n": sorted(set(names))}).fetchall()
        return {name: np.asarray(vec, dtype=np.float32) for name, vec in rows}

    def save_type_vectors(self, build_id: int, rows: list[tuple[str, np.ndarray, int]]) -> None:
        frame = pd.DataFrame({
            "build_id": build_id,
            "entity_type": [t for t, _, _ in rows],
            "vector": [np.asarray(v, dtype=np.float32) for _, v, _ in rows],
            "norm": [float(np.linalg.norm(v)) for _, v, _ in rows],
            "n_entities": [n for _, _, n in rows],
        })
        with self.write():
            self.con.execute("DELETE FROM kb_type_vectors WHERE build_id = $b", {"b": build_id})
            self._insert_frame("kb_type_vectors", frame,
                               select="build_id, entity_type, vector::FLOAT[384], norm, n_entities")

    def type_vectors(self, build_id: int) -> list[dict[str, Any]]:
        return self.query("SELECT entity_type, vector, norm, n_entities FROM kb_type_vectors WHERE build_id = $b "
                          "ORDER BY entity_type", {"b": build_id})

    def latest_build(self, scheme: str | None = None, status: str = "done") -> dict[str, Any] | None:
        rows = self.query(
            "SELECT * FROM kb_builds WHERE status = $st AND ($c IS NULL OR scheme = $c) "
            "ORDER BY build_id DESC LIMIT 1", {"st": status, "c": scheme})
        return rows[0] if rows else None

