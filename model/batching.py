"""Sentences to padded model inputs: encoded words plus target ids."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from .corpus.document import Sentence
from .generator import PAD
from .targets import TargetVocab, linearize
from .tokenization import EncodedWords, WordEncoder


@dataclass
class Batch:
    """One padded batch: the model's keyword inputs plus the sentences they came from."""

    words: EncodedWords
    labels: torch.Tensor | None  # [B, T] target ids padded with PAD
    sentences: list[Sentence]

    def to(self, device: torch.device | str) -> "Batch":
        labels = self.labels.to(device) if self.labels is not None else None
        return Batch(self.words.to(device), labels, self.sentences)

    def model_inputs(self) -> dict[str, Any]:
        w = self.words
        inputs: dict[str, Any] = {
            "input_ids": w.input_ids,
            "attention_mask": w.attention_mask,
            "word_index": w.word_index,
            "word_mask": w.word_mask,
            "shape_ids": w.shape_ids,
            "sentences": self.sentences,
        }
        if w.match_ids is not None:
            inputs["match_ids"] = w.match_ids
        if self.labels is not None:
            inputs["labels"] = self.labels
        return inputs


def encode_sentences(
    sentences: Sequence[Sentence], encoder: WordEncoder, vocab: TargetVocab, with_labels: bool = True
) -> Batch:
    """Encode sentences; entities become target ids (entities on truncated words are left out)."""
    words = encoder.encode([s.tokens for s in sentences])
    labels = None
    if with_labels:
        seqs = []
        for i, s in enumerate(sentences):
            kept = int(words.word_mask[i].sum())
            ents = [e for e in s.entities if e.last < kept]
            seqs.append(linearize(ents, vocab, num_words=len(s.tokens)))
        t_max = max(len(q) for q in seqs)
        labels = torch.full((len(seqs), t_max), PAD, dtype=torch.long)
        for i, q in enumerate(seqs):
            labels[i, : len(q)] = torch.tensor(q, dtype=torch.long)
    return Batch(words, labels, list(sentences))
