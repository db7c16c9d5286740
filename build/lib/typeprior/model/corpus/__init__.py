"""Corpus data model, readers and writers."""
from .document import Corpus, Entity, Kind, Sentence, entity_order, kind_within
from .errors import CorpusError, EntityError, TagError, UnknownFormatError, UnwritableError
from .formats import FORMATS, WRITABLE_FORMATS, detect_format
from .readers import read_corpus
from .writers import write_corpus

__all__ = [
    "Corpus", "Entity", "Kind", "Sentence", "entity_order", "kind_within",
    "CorpusError", "EntityError", "TagError", "UnknownFormatError", "UnwritableError",
    "FORMATS", "WRITABLE_FORMATS", "detect_format", "read_corpus", "write_corpus",
]
