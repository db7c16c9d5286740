"""A model bundled with its tokenizer: built or loaded (one way each); predict, evaluate, save."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model
from transformers import PreTrainedTokenizerBase

from . import persistence, precision
from .backbone import load_backbone, load_tokenizer
from .config import OFF_BEFORE_THEY_EXISTED, TypePriorConfig, addition_defaults
from .recovery import recover
from .generator import model_class
from .persistence import ModelFolderError
from .tokenizer_files import tokenizer_problem
from .batching import encode_sentences
from .corpus.document import Entity, Sentence, entity_order
from .decoding import decode
from .gazetteer import Gazetteer
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
    """The pointer model plus its tokenizer and target vocabulary: the one way to build a model
    (`from_backbone`) and the one way to load one (`load`).

    `mixed_precision` (model/precision.py: auto, bf16, fp16, off) is the autocast decoding runs under; the trainer
    sets it to its own setting. `auto` decodes in bf16 where the device computes it natively."""

    def __init__(
        self,
        model: PointerNER,
        tokenizer: PreTrainedTokenizerBase,
        mixed_precision: str | bool = "auto",
    ) -> None:
        self.model = model
        self.mixed_precision = mixed_precision
        self.tokenizer = tokenizer
        self.vocab = TargetVocab(tuple(model.config.entity_types))
        cfg = model.config
        gazetteer = Gazetteer(cfg.kb_match_names or {}, cfg.entity_types) if cfg.kb_match else None
        self.encoder = WordEncoder(tokenizer, max_length=cfg.max_source_length, gazetteer=gazetteer)

    @classmethod
    def from_backbone(
        cls,
        backbone: str | Path,
        entity_types: Sequence[str],
        seed: int = 0,
        type_vectors: torch.Tensor | None = None,
        **config: object,
    ) -> "Tagger":
        """A fresh model on a backbone (`minilm`, `tiny-random`, or a BART/BERT checkpoint).

        Every part not read from a checkpoint (the new parts; cross-attention of a converted BERT) is initialised
        from `seed`, whatever the global random state. `config` takes TypePriorConfig fields (`variant`, `w` or
        `relation_weight`, `priors_build`, ...). `type_vectors` ([C, 384], knowledge-base E_T, rows in
        entity_types order) become E_T of a variant with entity type attention (saved in its weights); other
        variants ignore them."""
        if "decoder_layers" not in config:  # the backbone's default depth (model/additions.yaml `backbones:`)
            config["decoder_layers"] = addition_defaults(str(backbone)).get("decoder_layers")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            bb = load_backbone(backbone, config["decoder_layers"])  # type: ignore[arg-type]
        cfg = TypePriorConfig(
            bart=bb.model.config,
            backbone=str(backbone),
            backbone_kind=bb.kind,
            entity_types=list(entity_types),
            layer_norm_eps=bb.layer_norm_eps,
            max_source_length=min(int(bb.model.config.max_position_embeddings), 512),
            **config,
        )
        cfg.type_priors_from_kb = bool(cfg.type_attention and type_vectors is not None)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = model_class(cfg.variant)(cfg)
        model.bart.load_state_dict(bb.model.state_dict())
        model.init_type_embeddings_from_names(bb.tokenizer)
        if cfg.type_priors_from_kb:
            model.set_type_priors(type_vectors)
        return cls(model, bb.tokenizer)

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = None) -> "Tagger":
        """A model folder written by `save` (or a training output folder holding `model/`): safetensors only,
        the class of the saved variant, every weight checked against the config."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        folder = persistence.check_folder(resolve_model_dir(folder))
        if (problem := tokenizer_problem(folder)) is not None:
            raise ModelFolderError(problem)
        try:
            saved = json.loads((folder / persistence.CONFIG).read_text(encoding="utf-8"))
            older = {k: False for k in OFF_BEFORE_THEY_EXISTED if isinstance(saved, dict) and k not in saved}
            config = TypePriorConfig.from_pretrained(str(folder), **older)
        except (ValueError, TypeError, KeyError, AttributeError, OSError) as err:
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelFolderError(f"{folder / persistence.CONFIG} is not a valid typeprior model config: {detail}") from None
        if config.model_type != TypePriorConfig.model_type:
            raise ModelFolderError(
                f"model folder {folder} is a {config.model_type!r} model, not {TypePriorConfig.model_type!r}")
        model = model_class(config.variant)(config)
        weights = folder / persistence.WEIGHTS
        try:
            missing, unexpected = load_model(model, str(weights), strict=False, device=str(device))
        except (SafetensorError, OSError, RuntimeError, ValueError) as err:
            raise ModelFolderError(f"{weights} is not a readable safetensors file for this model ({err})") from err
        if missing or unexpected:
            raise ModelFolderError(
                f"model folder {folder}: weights do not match its config (missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(unexpected)[:5]})"
            )
        model.to(device)
        model.eval()
        return cls(model, load_tokenizer(folder))

    def set_entity_structure(self, structure: str) -> None:
        """Decode as if trained on `flat`, `nested` or `discontinuous` data (the trainer records what it saw;
        a model saved before that decodes unconstrained)."""
        from .config import ENTITY_STRUCTURES

        if structure not in ENTITY_STRUCTURES:
            raise ValueError(f"entity structure {structure!r}: expected one of {', '.join(ENTITY_STRUCTURES)}")
        self.model.config.entity_structure = structure

    def save(self, folder: str | Path) -> Path:
        return persistence.save(self.model, self.tokenizer, folder)

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
                    state = self.model.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids,
                                              w.match_ids)
                    seqs = decode(self.model, state, num_beams)
                decoded = [delinearize(seq, self.vocab, num_words=len(words)) for (_, _, words), seq in zip(chunk, seqs)]
                found = [d.entities for d in decoded]
                if self.model.config.begin_end_recovery:
                    with precision.autocast(self.device, dtype):
                        extra = recover(self.model, state, found, self.vocab)
                    found = [es + more for es, more in zip(found, extra)]
                for (i, first, _), d, entities in zip(chunk, decoded, found):
                    out[i].extend(Entity(tuple(first + j for j in e.indices), e.type) for e in entities)
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
