"""A trained model bundled with its tokenizer: predict on raw text or token lists, evaluate, save, load."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from . import persistence, precision
from .batching import encode_sentences
from .corpus.document import Entity, Sentence, entity_order
from .decoding import decode
from .generator import PointerNER
from .metrics import score
from .targets import TargetVocab, delinearize
from .tokenization import Word, WordEncoder, split_words

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    """Entities per sentence, and how many ill-formed generated pieces were dropped in total."""

    entities: list[list[Entity]]
    dropped: int


class Tagger:
    """The pointer model plus its tokenizer, target vocabulary and (optional) type priors.

    `mixed_precision` (model/precision.py: auto, bf16, fp16, off) is the autocast decoding runs under; the trainer
    sets it to its own setting. `auto` decodes in bf16 where the device computes it natively."""

    def __init__(
        self,
        model: PointerNER,
        tokenizer: PreTrainedTokenizerBase,
        priors: Mapping[str, torch.Tensor] | None = None,
        mixed_precision: str | bool = "auto",
    ) -> None:
        self.model = model
        self.mixed_precision = mixed_precision
        self.tokenizer = tokenizer
        self.priors = dict(priors or {})
        self.vocab = TargetVocab(tuple(model.config.entity_types))
        self.encoder = WordEncoder(tokenizer, max_length=model.config.max_source_length)

    @classmethod
    def from_backbone(
        cls,
        backbone: str | Path,
        entity_types: Sequence[str],
        seed: int = 0,
        type_vectors: torch.Tensor | None = None,
        **config: object,
    ) -> "Tagger":
        """A fresh model: `config` takes TypePriorConfig fields (variant, w, priors_build, ...); `type_vectors`
        ([C, 384], knowledge-base E_T) are used by the variants with entity type attention and saved with it."""
        model, tokenizer = persistence.build_model(backbone, entity_types, seed, type_vectors, **config)
        priors = None if type_vectors is None else {"type_vectors": torch.as_tensor(type_vectors, dtype=torch.float32)}
        return cls(model, tokenizer, priors)

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = None) -> "Tagger":
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, tokenizer, priors = persistence.load(resolve_model_dir(folder), device=device)
        return cls(model, tokenizer, priors)

    def set_entity_structure(self, structure: str) -> None:
        """Decode as if trained on `flat`, `nested` or `discontinuous` data (the trainer records what it saw;
        a model saved before that decodes unconstrained)."""
        from .config import ENTITY_STRUCTURES

        if structure not in ENTITY_STRUCTURES:
            raise ValueError(f"entity structure {structure!r}: expected one of {', '.join(ENTITY_STRUCTURES)}")
        self.model.config.entity_structure = structure

    def save(self, folder: str | Path) -> Path:
        return persistence.save(self.model, self.tokenizer, folder, self.priors)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- prediction ---------------------------------------------------------------------------------

    @torch.no_grad()
    def predict_tokens(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 32, num_beams: int | None = None
    ) -> Predictions:
        """Entities for pre-split sentences (in their order), decoded in length-sorted batches under the
        tagger's mixed precision."""
        was_training = self.model.training
        self.model.eval()
        out: list[list[Entity]] = [[] for _ in sentences]
        dropped = 0
        pieces: list[tuple[int, int, list[str]]] = []  # (sentence, first word, words)
        for i, s in enumerate(sentences):
            if not len(s):
                continue
            parts = self.encoder.chunks(s)
            if len(parts) > 1:
                log.warning(
                    "sentence %d is too long for the encoder (%d words): tagged in %d chunks; "
                    "entities across chunk edges are lost",
                    i, len(s), len(parts),
                )
            pieces.extend((i, first, words) for first, words in parts)
        pieces.sort(key=lambda p: len(p[2]))
        dtype = precision.amp_dtype(self.mixed_precision, self.device)
        try:
            for k in range(0, len(pieces), batch_size):
                chunk = pieces[k : k + batch_size]
                batch = encode_sentences(
                    [Sentence(list(words)) for _, _, words in chunk], self.encoder, self.vocab, with_labels=False
                ).to(self.device)
                w = batch.words
                with precision.autocast(self.device, dtype):
                    state = self.model.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
                    seqs = decode(self.model, state, num_beams)
                for (i, first, words), seq in zip(chunk, seqs):
                    d = delinearize(seq, self.vocab, num_words=len(words))
                    out[i].extend(Entity(tuple(first + j for j in e.indices), e.type) for e in d.entities)
                    dropped += d.dropped
        finally:
            self.model.train(was_training)
        return Predictions([sorted(set(es), key=entity_order) for es in out], dropped)

    def predict(
        self, inputs: str | Sequence[str] | Sequence[Sequence[str]], batch_size: int = 32, num_beams: int | None = None
    ) -> dict | list[dict]:
        """Raw text (one string or a list: entities get character offsets) or token lists (a list of lists)."""
        if isinstance(inputs, str):
            return self.predict([inputs], batch_size, num_beams)[0]
        items = list(inputs)
        if all(isinstance(x, str) for x in items):
            words = [split_words(t) for t in items]
            preds = self.predict_tokens([[w.text for w in ws] for ws in words], batch_size, num_beams)
            return [text_result(t, ws, es) for t, ws, es in zip(items, words, preds.entities)]
        if all(isinstance(x, (list, tuple)) for x in items):
            preds = self.predict_tokens(items, batch_size, num_beams)
            return [tokens_result(list(s), es) for s, es in zip(items, preds.entities)]
        raise TypeError("predict() takes a string, a list of strings, or a list of token lists")

    def evaluate(
        self, sentences: Sequence[Sentence], batch_size: int = 32, num_beams: int | None = None
    ) -> dict[str, Any]:
        """Scores against gold sentences, plus the count of dropped ill-formed pieces."""
        preds = self.predict_tokens([s.tokens for s in sentences], batch_size, num_beams)
        result = score(sentences, preds.entities).to_dict()
        result["dropped"] = preds.dropped
        return result


def tokens_result(tokens: list[str], entities: Sequence[Entity]) -> dict:
    return {
        "tokens": tokens,
        "entities": [
            {"type": e.type, "indices": list(e.indices), "text": e.text(tokens)}
            for e in sorted(entities, key=entity_order)
        ],
    }


def text_result(text: str, words: Sequence[Word], entities: Sequence[Entity]) -> dict:
    """Entities with character offsets: start/end of the whole mention and one span per fragment."""
    ents = []
    for e in sorted(entities, key=entity_order):
        spans = [[words[a].start, words[b].end] for a, b in e.fragments()]
        ents.append(
            {
                "type": e.type,
                "start": spans[0][0],
                "end": spans[-1][1],
                "text": " ".join(text[s:t] for s, t in spans),
                "spans": spans,
                "indices": list(e.indices),
            }
        )
    return {"text": text, "tokens": [w.text for w in words], "entities": ents}


def resolve_model_dir(path: str | Path) -> Path:
    """A model folder, or a training output folder holding the best model in `model/`."""
    path = Path(path)
    if (path / persistence.CONFIG).is_file() or not (path / "model" / persistence.CONFIG).is_file():
        return path
    return path / "model"
