"""Type schemes: for each corpus label set, how Wikipedia evidence maps to each entity type.

Schemes are YAML files: the packaged ones in kb/schemes/, and any in a folder named by `--schemes-dir` or the
TYPEPRIOR_SCHEMES environment variable (a user's file of the same name wins). `extends: NAME` takes the types of
another scheme and overrides the keys given.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from typeprior.yaml_files import read_mapping

from ..errors import SchemeError

SCHEMES_ENV = "TYPEPRIOR_SCHEMES"
_TYPE_KEYS = {"description", "categories", "category_patterns", "infoboxes", "descriptions", "description_patterns",
              "topics", "title_heads"}
_LIMIT_KEYS = {"category_depth", "max_members_per_category", "max_entities_per_type"}


@dataclass(frozen=True)
class TypeSpec:
    """The evidence that makes a page an entity of one type."""

    name: str
    description: str = ""
    categories: tuple[str, ...] = ()
    category_patterns: tuple[str, ...] = ()
    infoboxes: tuple[str, ...] = ()
    descriptions: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    title_heads: tuple[str, ...] = ()
    description_patterns: tuple[str, ...] = ()  # regular expressions searched in the whole short description,
                                                # ignoring case

    def as_dict(self) -> dict[str, Any]:
        """The evidence as data; no `description_patterns` key when there are none, so the fingerprints of
        schemes without them stay as they were."""
        data = {k: v for k, v in vars(self).items() if k != "name"}
        if not self.description_patterns:
            del data["description_patterns"]
        return data


@dataclass(frozen=True)
class Limits:
    """Caps on a live harvest (category depth, members per category) and on the entities kept per type."""

    category_depth: int = 1
    max_members_per_category: int = 200
    max_entities_per_type: int | None = 2000


@dataclass(frozen=True)
class Scheme:
    name: str
    types: tuple[TypeSpec, ...]
    description: str = ""
    language: str = "en"
    limits: Limits = field(default_factory=Limits)
    exclude_descriptions: tuple[str, ...] = ()
    common_nouns: bool = False
    concept_heads: tuple[str, ...] = ()
    name_nouns: tuple[str, ...] = ()
    origin: str = ""

    @property
    def type_names(self) -> list[str]:
        return [t.name for t in self.types]

    def type(self, name: str) -> TypeSpec:
        for t in self.types:
            if t.name == name:
                return t
        raise SchemeError(f"scheme {self.name!r} has no type {name!r} (types: {self.type_names})", self.origin)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "language": self.language,
            "limits": vars(self.limits),
            "exclude_descriptions": list(self.exclude_descriptions),
            "types": {t.name: t.as_dict() for t in self.types},
        }
        if self.common_nouns:  # only when set, so the fingerprints of proper-name schemes stay as they were
            data["common_nouns"] = True
        if self.concept_heads:
            data["concept_heads"] = list(self.concept_heads)
        if self.name_nouns:
            data["name_nouns"] = list(self.name_nouns)
        return data

    def fingerprint(self) -> str:
        """A hash of everything that decides what the scheme harvests and types."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=list).encode()).hexdigest()[:16]


def _packaged_dir() -> Path:
    return Path(__file__).resolve().parent


def scheme_dirs(extra: str | Path | None = None) -> list[Path]:
    """Folders searched for scheme files, highest priority first."""
    dirs: list[Path] = []
    if extra is not None:
        dirs.append(Path(extra))
    env = os.environ.get(SCHEMES_ENV)
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(_packaged_dir())
    return dirs


def available_schemes(extra: str | Path | None = None) -> dict[str, Path]:
    """Scheme name → file, the first folder that has a name winning."""
    found: dict[str, Path] = {}
    for d in reversed(scheme_dirs(extra)):
        if d.is_dir():
            for f in sorted(d.glob("*.y*ml")):
                found[f.stem] = f
    return found


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SchemeError(f"{key!r} must be a list of non-empty strings", where)
    return tuple(v.strip() for v in value)


def _type_spec(name: str, body: Any, where: str) -> TypeSpec:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise SchemeError(f"type {name!r} must be a mapping", where)
    unknown = set(body) - _TYPE_KEYS
    if unknown:
        raise SchemeError(f"type {name!r} has unknown keys {sorted(unknown)} (known: {sorted(_TYPE_KEYS)})", where)
    categories = _strings(body.get("categories"), f"{name}.categories", where)
    bad = [c for c in categories if not c.startswith("Category:")]
    if bad:
        raise SchemeError(f"type {name!r}: categories must start with 'Category:', not {bad}", where)
    patterns = _strings(body.get("description_patterns"), f"{name}.description_patterns", where)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise SchemeError(f"type {name!r}: description pattern {pattern!r} is no regular expression ({err})",
                              where) from None
    return TypeSpec(
        name=name,
        description=str(body.get("description", "")),
        categories=categories,
        category_patterns=tuple(p.lower() for p in _strings(body.get("category_patterns"), name, where)),
        infoboxes=tuple(p.lower() for p in _strings(body.get("infoboxes"), f"{name}.infoboxes", where)),
        descriptions=tuple(p.lower() for p in _strings(body.get("descriptions"), f"{name}.descriptions", where)),
        topics=_strings(body.get("topics"), f"{name}.topics", where),
        title_heads=_strings(body.get("title_heads"), f"{name}.title_heads", where),
        description_patterns=patterns,
    )


def _limits(body: Any, base: Limits, where: str) -> Limits:
    if body is None:
        return base
    if not isinstance(body, dict) or set(body) - _LIMIT_KEYS:
        raise SchemeError(f"'limits' must be a mapping with keys among {sorted(_LIMIT_KEYS)}", where)
    merged = {**vars(base), **body}
    for k, v in merged.items():
        if v is not None and (not isinstance(v, int) or v < 0):
            raise SchemeError(f"limits.{k} must be a non-negative integer, not {v!r}", where)
    return Limits(**merged)


def parse_scheme(data: Any, where: str, resolve: Any = None) -> Scheme:
    """Build a Scheme from the YAML mapping `data`; `resolve(name)` loads a scheme named by `extends`."""
    if not isinstance(data, dict):
        raise SchemeError("a scheme file must hold a mapping", where)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise SchemeError("'name' is missing", where)
    base: Scheme | None = None
    if "extends" in data:
        if resolve is None:
            raise SchemeError("'extends' needs a scheme folder to resolve from", where)
        base = resolve(data["extends"])
    types_body = data.get("types")
    if types_body is None and base is None:
        raise SchemeError("'types' is missing", where)
    if types_body is not None and (not isinstance(types_body, dict) or not types_body):
        raise SchemeError("'types' must be a non-empty mapping of type name to evidence", where)
    types = {t.name: t for t in base.types} if base else {}
    for tname, body in (types_body or {}).items():
        types[str(tname)] = _type_spec(str(tname), body, where)
    return Scheme(
        name=name,
        types=tuple(types.values()),
        description=str(data.get("description", base.description if base else "")),
        language=str(data.get("language", base.language if base else "en")),
        limits=_limits(data.get("limits"), base.limits if base else Limits(), where),
        exclude_descriptions=tuple(p.lower() for p in _strings(
            data.get("exclude_descriptions", list(base.exclude_descriptions) if base else None),
            "exclude_descriptions", where)),
        concept_heads=tuple(p.lower() for p in _strings(
            data.get("concept_heads", list(base.concept_heads) if base else None), "concept_heads", where)),
        name_nouns=tuple(p.lower() for p in _strings(
            data.get("name_nouns", list(base.name_nouns) if base else None), "name_nouns", where)),
        common_nouns=_flag(data.get("common_nouns", base.common_nouns if base else False), "common_nouns", where),
        origin=where,
    )


def _flag(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise SchemeError(f"{key!r} must be true or false, not {value!r}", where)
    return value


def load_scheme(name_or_path: str | Path, schemes_dir: str | Path | None = None) -> Scheme:
    """Load a scheme by name (searching the scheme folders) or from a YAML file path."""
    found = available_schemes(schemes_dir)
    seen: list[str] = []

    def resolve(name: str) -> Scheme:
        if name in seen:
            raise SchemeError(f"'extends' cycle: {' -> '.join(seen + [name])}")
        seen.append(name)
        if name not in found:
            raise SchemeError(f"unknown scheme {name!r}; available: {sorted(found)}")
        return _load_file(found[name], resolve)

    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise SchemeError("scheme file does not exist", str(path))
        return _load_file(path, resolve)
    return resolve(str(name_or_path))


def _load_file(path: Path, resolve: Any) -> Scheme:
    return parse_scheme(read_mapping(path, SchemeError, "scheme file"), str(path), resolve)
