"""KB-match features (issue 16, priors beyond the paper): which words a knowledge-base entity name covers, per type.

The paper's prior is one vector per type, an average that says little about any one word. A gazetteer feature
says it directly: each word learns, per entity type, whether a name the knowledge base holds for that type starts
there, continues there, or does not cover it (soft gazetteers have helped low-resource NER). The model adds a
learned embedding of these flags to each sub-word's input (model/generator.py), starting at zero.

Names are the priors build's entity names (kb_weights.name), matched over words without regard to case, the
longest name first at each word, per type, left to right. A match whose words are all lower case while the name
has a capital is skipped: "bush" in running text is not "Bush".
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from .tokenization import split_words

NONE, BEGIN, INSIDE = 0, 1, 2
FLAGS = 3  # flag values per type
MAX_NAME_WORDS = 8


def name_words(name: str) -> tuple[str, ...]:
    """A name split the way raw text is (model/tokenization.split_words)."""
    return tuple(w.text for w in split_words(name))


class Gazetteer:
    """Entity names per type, matched over a sentence's words."""

    def __init__(self, names: Mapping[str, Iterable[str]], types: Sequence[str]) -> None:
        self.types = list(types)
        index = {t: i for i, t in enumerate(self.types)}
        self._types: dict[tuple[str, ...], set[int]] = {}
        self._capital: set[tuple[str, ...]] = set()
        for entity_type, entries in names.items():
            if entity_type not in index:
                continue
            for name in entries:
                words = name_words(str(name))
                if not words or len(words) > MAX_NAME_WORDS:
                    continue
                key = tuple(w.lower() for w in words)
                self._types.setdefault(key, set()).add(index[entity_type])
                if any(c.isupper() for c in str(name)):
                    self._capital.add(key)
        self.longest = max((len(k) for k in self._types), default=0)

    def __len__(self) -> int:
        return len(self._types)

    def _matches(self, key: tuple[str, ...], words: Sequence[str]) -> set[int]:
        found = self._types.get(key)
        if not found:
            return set()
        if key in self._capital and not any(c.isupper() for w in words for c in w):
            return set()
        return found

    def flags(self, words: Sequence[str]) -> list[list[int]]:
        """[words][types] of NONE, BEGIN or INSIDE."""
        n, c = len(words), len(self.types)
        lower = [str(w).lower() for w in words]
        out = [[NONE] * c for _ in range(n)]
        for t in range(c):
            i = 0
            while i < n:
                for length in range(min(self.longest, n - i), 0, -1):
                    if t in self._matches(tuple(lower[i : i + length]), words[i : i + length]):
                        out[i][t] = BEGIN
                        for j in range(i + 1, i + length):
                            out[j][t] = INSIDE
                        i += length
                        break
                else:
                    i += 1
        return out
