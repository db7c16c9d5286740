"""Corpus data model, readers and writers."""
from .document import Corpus, Entity, Kind, Sentence, entity_order
from .errors import CorpusError, EntityError, UnknownFormatError

__all__ = ["Corpus", "Entity", "Kind", "Sentence", "entity_order", "CorpusError", "EntityError", "UnknownFormatError"]
