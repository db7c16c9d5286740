"""Corpora in the warehouse: import a split (replacing it atomically) and load it back exactly."""
from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator

from typeprior.model.corpus import Corpus, Entity, Sentence

from .connection import Warehouse
from .errors import SplitNotFoundError, WarehouseError

BATCH_SIZE = 5000


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise WarehouseError(f"{what} must be a non-empty name, got {value!r}")
    return value


def _batches(sentences: Iterable[Sentence], size: int) -> Iterator[list[Sentence]]:
    it = iter(sentences)
    while batch := list(islice(it, size)):
        yield batch


def _insert_batch(wh: Warehouse, corpus: str, split: str, start: int, batch: list[Sentence]) -> int:
    """Insert sentences [start, start+len(batch)) and their mentions as two bound, columnar inserts."""
    wh.execute(
        "INSERT INTO sentences (corpus, split, idx, id, tokens) "
        "SELECT ?, ?, unnest(?::INTEGER[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[][])",
        [corpus, split, list(range(start, start + len(batch))), [s.id for s in batch], [list(s.tokens) for s in batch]],
    )
    sent, n, indices, types, kinds, texts = [], [], [], [], [], []
    for offset, sentence in enumerate(batch):
        for position, (entity, kind) in enumerate(sentence.kinds()):
            sent.append(start + offset)
            n.append(position)
            indices.append(list(entity.indices))
            types.append(entity.type)
            kinds.append(kind.value)
            texts.append(entity.text(sentence.tokens))
    if sent:
        wh.execute(
            "INSERT INTO mentions (corpus, split, sentence, n, indices, type, kind, text) "
            "SELECT ?, ?, unnest(?::INTEGER[]), unnest(?::INTEGER[]), unnest(?::INTEGER[][]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [corpus, split, sent, n, indices, types, kinds, texts],
        )
    return len(sent)


def import_corpus(
    wh: Warehouse,
    corpus: Corpus | Iterable[Sentence],
    name: str,
    split: str,
    *,
    source: str | None = None,
    format: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Store `corpus` as split `split` of corpus `name`, replacing any earlier import of that split.

    Everything happens in one transaction: if reading the sentences or writing them fails, the previous
    import of the split is left as it was. Sentences may come from a lazy iterable. Returns the number of
    sentences stored.
    """
    _check_name("corpus name", name)
    _check_name("split", split)
    if isinstance(corpus, Corpus):
        source = source if source is not None else corpus.source
        format = format if format is not None else corpus.format
    with wh.transaction():
        wh.execute("DELETE FROM mentions WHERE corpus = ? AND split = ?", [name, split])
        wh.execute("DELETE FROM sentences WHERE corpus = ? AND split = ?", [name, split])
        wh.execute("INSERT INTO corpora (name) VALUES (?) ON CONFLICT DO NOTHING", [name])
        count = mentions = 0
        for batch in _batches(corpus, batch_size):
            mentions += _insert_batch(wh, name, split, count, batch)
            count += len(batch)
        wh.execute(
            "INSERT INTO splits (corpus, split, source, format, sentences, mentions) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET source = excluded.source, format = excluded.format, "
            "sentences = excluded.sentences, mentions = excluded.mentions, imported = now()",
            [name, split, source, format, count, mentions],
        )
    return count


def list_splits(wh: Warehouse) -> list[dict]:
    """Every imported split with its source, format and counts."""
    return wh.query(
        "SELECT corpus, split, source, format, sentences, mentions, imported FROM splits ORDER BY corpus, split"
    )


def load_corpus(wh: Warehouse, name: str, split: str) -> Corpus:
    """The split exactly as imported: same tokens, entities and ids, in file order."""
    meta = wh.query("SELECT source, format FROM splits WHERE corpus = ? AND split = ?", [name, split])
    if not meta:
        raise SplitNotFoundError(name, split, [(r["corpus"], r["split"]) for r in list_splits(wh)])
    rows = wh.execute(
        "SELECT s.idx, s.id, s.tokens, "
        "  coalesce(list(struct_pack(indices := m.indices, type := m.type) ORDER BY m.n) "
        "    FILTER (WHERE m.n IS NOT NULL), []) AS entities "
        "FROM sentences s LEFT JOIN mentions m "
        "  ON m.corpus = s.corpus AND m.split = s.split AND m.sentence = s.idx "
        "WHERE s.corpus = ? AND s.split = ? "
        "GROUP BY s.idx, s.id, s.tokens ORDER BY s.idx",
        [name, split],
    ).fetchall()
    sentences = [
        Sentence(list(tokens), [Entity(tuple(e["indices"]), e["type"]) for e in entities], id=sid)
        for _, sid, tokens, entities in rows
    ]
    return Corpus(sentences, source=meta[0]["source"], format=meta[0]["format"])
