"""Words to sub-words (and back), raw text to words with character offsets, word shapes.

The model points at words, through the first sub-word of each word; the map comes from the fast
tokenizer's `word_ids()`. A word the tokenizer drops entirely (a zero-width space, a control
character) is fed as the unknown token so that every word keeps a position.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

WORD_PATTERN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)

# Word shapes: case is a strong NER cue that an uncased vocabulary throws away.
SHAPE_NONE, SHAPE_LOWER, SHAPE_TITLE, SHAPE_UPPER, SHAPE_MIXED, SHAPE_DIGIT, SHAPE_OTHER = range(7)
NUM_SHAPES = 7


@dataclass(frozen=True)
class Word:
    """A word of raw text with its character span [start, end)."""

    text: str
    start: int
    end: int


def split_words(text: str) -> list[Word]:
    """Split raw text into words and punctuation marks (CoNLL-like), keeping character offsets."""
    return [Word(m.group(0), m.start(), m.end()) for m in WORD_PATTERN.finditer(text)]


def word_shape(word: str) -> int:
    """One of the SHAPE_* classes."""
    letters = [c for c in word if c.isalpha()]
    if any(c.isdigit() for c in word):
        return SHAPE_DIGIT
    if not letters:
        return SHAPE_OTHER
    if all(c.islower() for c in letters):
        return SHAPE_LOWER
    if all(c.isupper() for c in letters):
        return SHAPE_UPPER if len(letters) > 1 else SHAPE_TITLE
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPE_TITLE
    return SHAPE_MIXED


@dataclass
class EncodedWords:
    """A padded batch of sentences as sub-word ids plus the position of each word's first sub-word."""

    input_ids: torch.Tensor  # [B, S]
    attention_mask: torch.Tensor  # [B, S]
    word_index: torch.Tensor  # [B, W] sub-word position of each word's first sub-word (0 on padding)
    word_mask: torch.Tensor  # [B, W] bool: a real word that survived truncation
    shape_ids: torch.Tensor  # [B, S] shape class of the word each sub-word belongs to
    num_words: list[int]  # words per sentence (before truncation)
    match_ids: torch.Tensor | None = None  # [B, S, C] KB-match flags of the sub-word's word (model/gazetteer.py)

    def to(self, device: torch.device | str) -> "EncodedWords":
        return EncodedWords(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.word_index.to(device),
            self.word_mask.to(device),
            self.shape_ids.to(device),
            self.num_words,
            None if self.match_ids is None else self.match_ids.to(device),
        )


class WordEncoder:
    """Encodes pre-split sentences with a fast tokenizer, keeping the word → first sub-word map."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int = 512, gazetteer: Any = None) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError("WordEncoder needs a fast tokenizer (word_ids)")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.gazetteer = gazetteer  # a model/gazetteer.Gazetteer: the batch then carries KB-match flags

    def _clean(self, words: Sequence[str]) -> list[str]:
        unk = self.tokenizer.unk_token or "?"
        out = []
        for w in words:
            w = str(w)
            if not w.strip() or not self.tokenizer.tokenize(w):
                w = unk
            out.append(w)
        return out

    def chunks(self, words: Sequence[str]) -> list[tuple[int, list[str]]]:
        """Split a sentence longer than the encoder into (first word index, words) pieces that fit it.

        A sentence that fits comes back whole. Pieces break between words, never inside one.
        """
        words = list(words)
        room = self.max_length - self.tokenizer.num_special_tokens_to_add()
        if len(words) * 2 <= room:  # cheap test first: words rarely exceed two sub-words
            return [(0, words)]
        enc = self.tokenizer(self._clean(words), is_split_into_words=True, add_special_tokens=False)
        sizes = [0] * len(words)
        for wid in enc.word_ids():
            if wid is not None:
                sizes[wid] += 1
        if sum(sizes) <= room:
            return [(0, words)]
        out: list[tuple[int, list[str]]] = []
        start, used = 0, 0
        for i, size in enumerate(sizes):
            if used + size > room and i > start:
                out.append((start, words[start:i]))
                start, used = i, 0
            used += size
        out.append((start, words[start:]))
        return out

    def encode(self, sentences: Sequence[Sequence[str]]) -> EncodedWords:
        if not sentences:
            raise ValueError("encode() needs at least one sentence")
        cleaned = [self._clean(s) if s else [] for s in sentences]
        enc = self.tokenizer(
            cleaned,
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        b = len(cleaned)
        w_max = max(1, max(len(s) for s in cleaned))
        word_index = torch.zeros(b, w_max, dtype=torch.long)
        word_mask = torch.zeros(b, w_max, dtype=torch.bool)
        shape_ids = torch.zeros_like(enc["input_ids"])
        gaz = self.gazetteer
        match_ids = None if gaz is None else torch.zeros((*shape_ids.shape, len(gaz.types)), dtype=torch.long)
        for i, words in enumerate(sentences):
            shapes = [word_shape(str(w)) for w in words]
            flags = gaz.flags([str(w) for w in words]) if gaz is not None else None
            seen: set[int] = set()
            for pos, wid in enumerate(enc.word_ids(i)):
                if wid is None:
                    continue
                shape_ids[i, pos] = shapes[wid]
                if flags is not None:
                    match_ids[i, pos] = torch.tensor(flags[wid])
                if wid not in seen:
                    seen.add(wid)
                    word_index[i, wid] = pos
                    word_mask[i, wid] = True
        kept = word_mask.sum(-1).tolist()
        for i, words in enumerate(cleaned):
            if kept[i] < len(words):
                log.warning(
                    "sentence %d is too long for the encoder (%d sub-words): truncated to %d of its %d words",
                    i, self.max_length, kept[i], len(words),
                )
        return EncodedWords(
            enc["input_ids"], enc["attention_mask"], word_index, word_mask, shape_ids, [len(s) for s in cleaned],
            match_ids,
        )
