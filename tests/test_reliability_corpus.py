"""Reliability of the corpus readers under malformed input: mutations of real and fixture files, and hypothesis.

Every input must end in a CorpusError that names the file and a line inside it, or in a parse equal to an
independent reading (the oracle below): never another exception, a hang, or a silently shortened corpus.
The oracle reads a file the simplest way its format allows (blank-line blocks, a generic lenient tag decoder,
`json.loads`) and never decides validity: the reader does. When the reader accepts a file its sentences must
equal the oracle's, so a reader that drops a sentence, a token or an entity cannot pass.
"""
from __future__ import annotations

import codecs
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typeprior.model.corpus import CorpusError, read_corpus, write_corpus

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reliability"
# fixture file -> (format, reader options)
FIXTURE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "conll2003.txt": ("conll2003", {}),
    "bio.tsv": ("bio", {}),
    "bioes.tsv": ("bio", {}),
    "layered.tsv": ("layered-bio", {"index_column": False}),
    "w2ner.json": ("w2ner", {}),
    "genia.jsonl": ("genia", {}),
    "bartner.txt": ("bartner", {}),
    "corpus.jsonl": ("jsonl", {}),
}
MUTATIONS_PER_FIXTURE = 80
SECONDS_PER_CASE = 5.0

OracleSentence = tuple[tuple[str, ...], frozenset[tuple[tuple[int, ...], str]]]


class OracleCannotRead(Exception):
    """The oracle cannot read this text (for example invalid JSON): a reader that accepts it is wrong."""


def decode(raw: bytes) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[3:]
    return raw.decode("utf-8")


def _lines(text: str) -> list[str]:
    end = "\r" if "\n" not in text and "\r" in text else "\n"  # an old Mac file ends its lines in CR alone
    return [line.rstrip(" \t\r") for line in text.split(end)]


def _fields(line: str, tabbed: bool) -> list[str]:
    return [f.strip(" ") for f in line.split("\t")] if tabbed else [f for f in line.split(" ") if f]


def _row_blocks(text: str) -> list[list[list[str]]]:
    lines = _lines(text)
    data = [line for line in lines if line.strip()]
    tabbed = bool(data) and "\t" in data[0]
    out: list[list[list[str]]] = []
    block: list[list[str]] = []
    for line in lines + [""]:
        if line.strip():
            block.append(_fields(line, tabbed))
        elif block:
            out.append(block)
            block = []
    return out


def tag_spans(tags: list[str]) -> set[tuple[tuple[int, ...], str]]:
    """Generic lenient decoding: B-/S- open, I-/E- continue a same-typed open entity (else open one), E-/S- close."""
    spans: set[tuple[tuple[int, ...], str]] = set()
    start, kind = None, None

    def close(end: int) -> None:
        nonlocal start, kind
        if start is not None:
            spans.add((tuple(range(start, end)), kind))
        start, kind = None, None

    for i, tag in enumerate(tags):
        prefix, type_ = (tag[0], tag[2:]) if tag != "O" else ("O", None)
        if prefix == "O":
            close(i)
        elif prefix in "BS" or kind != type_:
            close(i)
            start, kind = i, type_
        if prefix in "ES":
            close(i + 1)
    close(len(tags))
    return spans


def _tagged(rows: list[list[str]], columns: list[int]) -> OracleSentence:
    entities: set = set()
    for c in columns:
        entities |= tag_spans([r[c] for r in rows])
    return tuple(r[0] for r in rows), frozenset(entities)


def read_columns(text: str, docstart: bool = False) -> list[OracleSentence]:
    sentences: list[list[list[str]]] = []
    for block in _row_blocks(text):
        current: list[list[str]] = []
        for row in block:
            if docstart and row[0] == "-DOCSTART-":
                if current:
                    sentences.append(current)
                current = []
            else:
                current.append(row)
        if current:
            sentences.append(current)
    if not sentences:
        return []
    width = len(sentences[0][0])
    columns = [width - 1] if docstart else list(range(1, width))
    return [_tagged(rows, columns) for rows in sentences]


def read_bartner(text: str) -> list[OracleSentence]:
    out: list[OracleSentence] = []
    groups: list[list[str]] = []
    current: list[str] = []
    for line in _lines(text) + [""]:
        if line.strip():
            current.append(line)
        elif current:
            groups.append(current)
            current = []
    for group in groups:
        tokens = tuple(group[0].split(" "))
        entities = set()
        if len(group) > 1:
            for item in group[1].split("|"):
                bounds, type_ = item.split(" ")
                numbers = [int(x) for x in bounds.split(",")]
                indices = [i for s, e in zip(numbers[::2], numbers[1::2]) for i in range(s, e + 1)]
                entities.add((tuple(sorted(indices)), type_))
        out.append((tokens, frozenset(entities)))
    return out


def _json_values(text: str) -> list[Any]:
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            values = json.loads(stripped)
            if not isinstance(values, list):
                raise OracleCannotRead("not a list")
            return values
        values, decoder, i = [], json.JSONDecoder(), 0
        while True:
            while i < len(text) and text[i] in " \t\r\n":
                i += 1
            if i >= len(text):
                return values
            value, i = decoder.raw_decode(text, i)
            values.append(value)
    except ValueError as exc:
        raise OracleCannotRead(str(exc)) from exc


def read_json(text: str, tokens_key: str, entities_key: str, entity: Callable[[dict], tuple]) -> list[OracleSentence]:
    out = []
    for record in _json_values(text):
        try:
            entities = frozenset(entity(e) for e in record.get(entities_key, []))
            out.append((tuple(record[tokens_key]), entities))
        except (KeyError, TypeError, AttributeError) as exc:
            raise OracleCannotRead(repr(exc)) from exc
    return out


ORACLES: dict[str, Callable[[str], list[OracleSentence]]] = {
    "conll2003": lambda t: read_columns(t, docstart=True),
    "bio": read_columns,
    "layered-bio": read_columns,
    "bartner": read_bartner,
    "w2ner": lambda t: read_json(t, "sentence", "ner", lambda e: (tuple(e["index"]), e["type"])),
    "genia": lambda t: read_json(
        t, "tokens", "entity_mentions", lambda e: (tuple(range(e["start"], e["end"])), e["entity_type"])
    ),
    "jsonl": lambda t: read_json(t, "tokens", "entities", lambda e: (tuple(e["indices"]), e["type"])),
}


def sentences_of(corpus: Any) -> list[OracleSentence]:
    """The reader's result in the oracle's shape."""
    return [(tuple(s.tokens), frozenset((e.indices, e.type) for e in s.entities)) for s in corpus]


# ---- byte-level mutations ------------------------------------------------------------------------------------

INTERESTING = [b"\n", b"\t", b" ", b"-", b"B", b"I", b"O", b"E", b"S", b"{", b"}", b"[", b"]", b'"', b",", b":",
               b"0", b"9", b"|", b"\r", b"\x00", b"\xff", b"\xc3", b"\xe2\x80\xa8", b"\xef\xbb\xbf", b"\\"]


@dataclass(frozen=True)
class Mutation:
    name: str
    data: bytes


def _line_spans(raw: bytes) -> list[tuple[int, int]]:
    spans, start = [], 0
    for i, b in enumerate(raw):
        if b == 10:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(raw):
        spans.append((start, len(raw)))
    return spans


def mutate(raw: bytes, rng: random.Random) -> Mutation:
    """One random damaging mutation: flip, delete, insert, truncate, or a line deleted, doubled, swapped or split."""
    op = rng.choice(["flip", "delete", "insert", "truncate", "drop_line", "dup_line", "swap_lines", "blank_line",
                     "digit", "splice"])
    n = len(raw)
    p = rng.randrange(max(n, 1))
    lines = _line_spans(raw)
    if op == "flip":
        return Mutation(f"flip@{p}", raw[:p] + bytes([rng.randrange(256)]) + raw[p + 1:])
    if op == "delete":
        k = rng.choice([1, 1, 2, 5])
        return Mutation(f"delete{k}@{p}", raw[:p] + raw[p + k:])
    if op == "insert":
        b = rng.choice(INTERESTING)
        return Mutation(f"insert{b!r}@{p}", raw[:p] + b + raw[p:])
    if op == "truncate":
        return Mutation(f"truncate@{p}", raw[:p])
    if op == "digit":
        digits = [i for i, b in enumerate(raw) if 48 <= b <= 57]
        if digits:
            q = rng.choice(digits)
            return Mutation(f"digit@{q}", raw[:q] + str(rng.randrange(10)).encode() + raw[q + 1:])
        return Mutation(f"truncate@{p}", raw[:p])
    if op == "splice":
        q = rng.randrange(max(n, 1))
        k = rng.randrange(1, 12)
        return Mutation(f"splice{q}+{k}@{p}", raw[:p] + raw[q:q + k] + raw[p:])
    if not lines:
        return Mutation("empty", b"")
    k = rng.randrange(len(lines))
    s, e = lines[k]
    if op == "drop_line":
        return Mutation(f"drop_line{k + 1}", raw[:s] + raw[e:])
    if op == "dup_line":
        return Mutation(f"dup_line{k + 1}", raw[:e] + raw[s:e] + raw[e:])
    if op == "blank_line":
        return Mutation(f"blank_line@{k + 1}", raw[:s] + b"\n" + raw[s:])
    if k + 1 < len(lines):
        s2, e2 = lines[k + 1]
        return Mutation(f"swap_lines{k + 1}", raw[:s] + raw[s2:e2] + raw[s:e] + raw[e2:])
    return Mutation(f"drop_line{k + 1}", raw[:s])


def mutations(raw: bytes, count: int, seed: int) -> Iterator[Mutation]:
    rng = random.Random(seed)
    for _ in range(count):
        yield mutate(raw, rng)


# ---- the check every case goes through ---------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    parsed: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return f"{self.cases} cases: {self.parsed} parsed equal to the oracle, {self.errors} typed errors"


def _line_count(raw: bytes) -> int:
    try:
        return decode(raw).count("\n") + 1
    except UnicodeDecodeError:
        return raw.count(b"\n") + 1


def check_case(path: Path, raw: bytes, fmt: str | None, options: dict[str, Any], what: str, tally: Tally) -> None:
    """Read `raw` from `path`: a CorpusError naming the file and a line in it, or sentences equal to the oracle's."""
    path.write_bytes(raw)
    tally.cases += 1
    started = time.monotonic()
    try:
        corpus = read_corpus(path, fmt, **options)
    except CorpusError as exc:
        assert time.monotonic() - started < SECONDS_PER_CASE, f"{what}: took too long to fail"
        assert exc.path == str(path), f"{what}: the error does not name the file: {exc}"
        lines = _line_count(raw)
        assert exc.line is not None and 1 <= exc.line <= lines, f"{what}: line {exc.line} not in 1..{lines}: {exc}"
        tally.errors += 1
        return
    except Exception as exc:  # noqa: BLE001 - the point is to catch anything that is not a CorpusError
        pytest.fail(f"{what}: {type(exc).__name__} instead of a CorpusError: {exc}")
    assert time.monotonic() - started < SECONDS_PER_CASE, f"{what}: took too long to parse"
    detected = corpus.format
    if detected is None:  # an empty file read with detection
        assert not decode(raw).strip() or decode(raw).strip() == "[]", f"{what}: empty corpus from a non-empty file"
        tally.parsed += 1
        return
    try:
        expected = ORACLES[detected](decode(raw))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{what}: read as {detected} with {len(corpus)} sentences, but the oracle cannot read it: {exc!r}")
    got = sentences_of(corpus)
    assert len(got) == len(expected), f"{what}: {len(got)} sentences read, the oracle counts {len(expected)}"
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"{what}: sentence {k} differs from the oracle:\n read   {g}\n oracle {e}"
    copy = path.with_name(path.name + ".copy.jsonl")
    try:  # what was read can be stored: written out as canonical JSON lines and read back unchanged
        write_corpus(corpus, copy, "jsonl")
        assert sentences_of(read_corpus(copy, "jsonl")) == got, f"{what}: the JSON lines copy differs"
    except CorpusError as exc:
        pytest.fail(f"{what}: read, but cannot be written back: {exc}")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{what}: read, but writing it back raised {type(exc).__name__}: {exc}")
    tally.parsed += 1


def _fixture_cases() -> list[tuple[str, bytes, str, dict[str, Any]]]:
    return [(name, (FIXTURES / name).read_bytes(), fmt, opts) for name, (fmt, opts) in FIXTURE_FORMATS.items()]


def test_fixtures_read_equal_to_the_oracle(tmp_path: Path) -> None:
    tally = Tally()
    for name, raw, fmt, opts in _fixture_cases():
        check_case(tmp_path / name, raw, fmt, opts, name, tally)
        assert sum(len(e) for _, e in ORACLES[fmt](decode(raw))) > 0, f"{name} holds no entity: a weak fixture"
    assert tally.parsed == len(FIXTURE_FORMATS)


def test_mutated_fixture_files(tmp_path: Path) -> None:
    """Byte-level mutations of the project's own small fixtures (the CI runs these with or without ../shared/data)."""
    tally = Tally()
    for seed, (name, raw, fmt, opts) in enumerate(_fixture_cases()):
        for m in mutations(raw, MUTATIONS_PER_FIXTURE, seed):
            what = f"{name} {m.name} (seed {seed})"
            check_case(tmp_path / name, m.data, fmt, opts, what + " as " + fmt, tally)
            if fmt != "layered-bio":  # detection may take a mutated first column for a token-number column
                check_case(tmp_path / name, m.data, None, {}, what + " detected", tally)
    print(f"\nmutated fixtures: {tally}")
    assert tally.cases >= 500
    assert tally.parsed > 0 and tally.errors > 0


def _real_slices(data: Path, sentences: int) -> list[tuple[str, bytes, str]]:
    """The first `sentences` sentences of real corpus files, cut at a record boundary, bytes unchanged."""
    out = []
    for rel, fmt in [("conll2003/eng.testa", "conll2003"), ("wnut17/emerging.dev.conll", "bio")]:
        raw = (data / rel).read_bytes()
        cut = [m.end() for m in re.finditer(rb"\n[ \t\r]*\n", raw)][sentences]
        out.append((rel, raw[:cut], fmt))
    raw = (data / "genia/dev.jsonlines").read_bytes()
    out.append(("genia/dev.jsonlines", b"".join(raw.splitlines(keepends=True)[:sentences]), "genia"))
    text = (data / "cadec/dev.json").read_text(encoding="utf-8")
    decoder, i = json.JSONDecoder(), text.index("[") + 1
    for _ in range(sentences):
        while text[i] in " ,\n":
            i += 1
        _, i = decoder.raw_decode(text, i)
    out.append(("cadec/dev.json", (text[:i] + "]").encode("utf-8"), "w2ner"))
    return out


@pytest.mark.data
def test_mutated_real_files(shared_data: Path, tmp_path: Path) -> None:
    """Byte-level mutations of slices of the real corpora in ../shared/data."""
    tally = Tally()
    for seed, (rel, raw, fmt) in enumerate(_real_slices(shared_data, 40)):
        name = Path(rel).name
        check_case(tmp_path / name, raw, fmt, {}, rel + " unchanged", tally)
        for m in mutations(raw, 60, 100 + seed):
            check_case(tmp_path / name, m.data, fmt, {}, f"{rel} {m.name} (seed {100 + seed})", tally)
    print(f"\nmutated real slices: {tally}")
    assert tally.cases >= 240 and tally.parsed > 0 and tally.errors > 0


_TOKEN_LISTS = re.compile(rb'"(?:sentence|tokens)": \[([^\]]*)\]')


def _token_letter_positions(raw: bytes, fmt: str) -> list[int]:
    """Byte positions of ASCII letters inside tokens: changing one changes a token and nothing structural."""
    if fmt in ("w2ner", "genia", "jsonl"):
        return [m.start(1) + i for m in _TOKEN_LISTS.finditer(raw) for i, b in enumerate(m.group(1))
                if chr(b).isascii() and chr(b).isalpha()]
    positions = []
    for s, e in _line_spans(raw):
        line = raw[s:e]
        if fmt == "bartner" and re.match(rb"^\d+,\d+", line):
            continue
        first = line.split(b"\n")[0] if fmt == "bartner" else re.split(rb"[ \t]", line)[0]
        if first == b"-DOCSTART-":
            continue
        positions += [s + i for i, b in enumerate(first) if chr(b).isascii() and chr(b).isalpha()]
    return positions


def test_letter_changes_inside_tokens_keep_every_count(tmp_path: Path) -> None:
    """A mutation that touches no structural byte must parse, with the same sentences and entities."""
    tally = Tally()
    rng = random.Random(7)
    for name, raw, fmt, opts in _fixture_cases():
        opts = {**opts, "check_text": False} if fmt == "genia" else opts
        original = sentences_of(read_corpus(FIXTURES / name, fmt, **opts))
        positions = _token_letter_positions(raw, fmt)
        assert positions, name
        for _ in range(15):
            p = rng.choice(positions)
            letter = rng.choice([c for c in b"abcdefghijklmnopqrstuvwxyzXYZ" if c != raw[p]])
            data = raw[:p] + bytes([letter]) + raw[p + 1:]
            what = f"{name} letter@{p}"
            target = tmp_path / name
            target.write_bytes(data)
            got = sentences_of(read_corpus(target, fmt, **opts))
            assert [len(t) for t, _ in got] == [len(t) for t, _ in original], what
            assert [e for _, e in got] == [e for _, e in original], what
            assert sum(a != b for (x, _), (y, _) in zip(got, original) for a, b in zip(x, y)) == 1, what
            check_case(target, data, fmt, opts, what, tally)
    print(f"\ntoken letter changes: {tally}")


# ---- hypothesis: arbitrary text built from the pieces corpus files are made of ------------------------------

PIECES = ["EU", "Peter", "-DOCSTART-", "O", "B-ORG", "I-ORG", "E-ORG", "S-ORG", "B-PER", "I-PER", "B-", "I-", "X-Y",
          " ", "  ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u2028", "\x00", "é", "😀", "#", "1", "2", "0,1 PER",
          "1,1 ORG|0,0 PER", "|", ",", "{", "}", "[", "]", '"', ":", '"tokens"', '"entities"', '"indices"',
          '"type"', '"sentence"', '"ner"', '"index"', '"entity_mentions"', '"start"', '"end"', '"entity_type"',
          '"X"', "[0]", "[0, 1]", "[1, 0]", "-1", "null", "true", "3.5", '"\\ud800"', '"\\ud83d\\ude00"', "[" * 3000]
VALID_RECORDS = {
    "jsonl": '{"tokens": ["a", "b"], "entities": [{"indices": [0, 1], "type": "X"}]}',
    "w2ner": '{"sentence": ["a", "b"], "ner": [{"index": [1], "type": "X"}]}',
    "genia": '{"tokens": ["a", "b"], "entity_mentions": [{"start": 0, "end": 2, "entity_type": "X"}]}',
}
ALL_FORMATS = sorted(ORACLES)


@st.composite
def corpus_like_text(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.sampled_from(PIECES + list(VALID_RECORDS.values())), max_size=40))
    return "".join(pieces)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=corpus_like_text(), fmt=st.sampled_from(ALL_FORMATS + [None]))
def test_arbitrary_corpus_like_text(tmp_path: Path, text: str, fmt: str | None) -> None:
    opts = {"index_column": False} if fmt == "layered-bio" else {}
    check_case(tmp_path / "hyp.txt", text.encode("utf-8"), fmt, opts, f"{text!r} as {fmt}", Tally())


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200), fmt=st.sampled_from(ALL_FORMATS + [None]))
def test_arbitrary_bytes(tmp_path: Path, raw: bytes, fmt: str | None) -> None:
    opts = {"index_column": False} if fmt == "layered-bio" else {}
    check_case(tmp_path / "hyp.bin", raw, fmt, opts, f"{raw!r} as {fmt}", Tally())


# ---- slow: mutations of the whole real files ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("rel,fmt", [("conll2003/eng.testa", "conll2003"), ("wnut17/wnut17train.conll", "bio"),
                                     ("cadec/dev.json", "w2ner"), ("genia/dev.jsonlines", "genia")])
def test_mutated_whole_real_files(shared_data: Path, tmp_path: Path, rel: str, fmt: str) -> None:
    tally = Tally()
    raw = (shared_data / rel).read_bytes()
    for m in mutations(raw, 150, 1000 + len(rel)):
        check_case(tmp_path / Path(rel).name, m.data, fmt, {}, f"{rel} {m.name}", tally)
    print(f"\n{rel}: {tally}")
    assert tally.parsed > 0 and tally.errors > 0


@pytest.mark.parametrize("damage", ["drop_sentence", "drop_entity", "drop_token"])
def test_the_oracle_catches_a_reader_that_shortens_the_corpus(tmp_path: Path, monkeypatch, damage: str) -> None:
    """The harness itself can fail: a reader that loses a sentence, an entity or a token is caught."""
    from typeprior.model.corpus import readers
    from typeprior.model.corpus.document import Sentence

    honest = readers.READERS["w2ner"]

    def lossy(text: str, path: Any = None) -> list[Sentence]:
        sentences = honest(text, path)
        if damage == "drop_sentence":
            return sentences[:-1]
        s = sentences[0]
        if damage == "drop_entity":
            return [Sentence(s.tokens, s.entities[:-1], s.id)] + sentences[1:]
        return [Sentence(s.tokens[:-1] if not s.entities or s.entities[-1].last < len(s.tokens) - 1 else s.tokens + ["x"],
                         s.entities, s.id)] + sentences[1:]

    monkeypatch.setitem(readers.READERS, "w2ner", lossy)
    raw = (FIXTURES / "w2ner.json").read_bytes()
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        check_case(tmp_path / "w2ner.json", raw, "w2ner", {}, "lossy reader", Tally())


# ---- inputs found to escape as other exceptions (fixed in model/corpus/text.py) ------------------------------

DEEP = {
    "arrays": "[" * 100_000,
    "objects": '{"a": ' * 50_000,
    "inside a record": '[{"sentence": ["a"], "ner": ' + "[" * 5_000 + "]" * 5_000 + "}]",
    "second line": '{"tokens": ["a"], "entities": []}\n' + "[" * 100_000,
}


@pytest.mark.parametrize("fmt", ["w2ner", "genia", "jsonl", None])
@pytest.mark.parametrize("name", sorted(DEEP))
def test_deeply_nested_json_is_a_corpus_error_not_a_recursion_error(tmp_path: Path, name: str, fmt: str | None) -> None:
    check_case(tmp_path / "deep.json", DEEP[name].encode(), fmt, {}, f"deep {name} as {fmt}", Tally())
    with pytest.raises(CorpusError) as info:
        read_corpus(tmp_path / "deep.json", fmt)
    # Read as w2ner or genia, the canonical first line of "second line" is another format's record (issue 17).
    assert info.value.line == (2 if name == "second line" and fmt in ("jsonl", None) else 1)


@pytest.mark.parametrize("fmt", ["bio", "conll2003", None])
def test_broken_utf16_names_the_line(tmp_path: Path, fmt: str | None) -> None:
    raw = b"\xff\xfe" + "EU\tB-ORG\n\nrejects\tO\n".encode("utf-16-le") + b"x"
    check_case(tmp_path / "u16.tsv", raw, fmt, {}, f"odd-length UTF-16 as {fmt}", Tally())
    with pytest.raises(CorpusError, match="UTF-16") as info:
        read_corpus(tmp_path / "u16.tsv", fmt)
    assert info.value.line == 4


def test_utf16_and_bom_prefixed_fixtures_read_equal_to_the_oracle(tmp_path: Path) -> None:
    tally = Tally()
    for name, raw, fmt, opts in _fixture_cases():
        text = raw.decode("utf-8")
        for encoded in (codecs.BOM_UTF8 + raw, codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
                        codecs.BOM_UTF16_BE + text.encode("utf-16-be")):
            check_case(tmp_path / name, encoded, fmt, opts, f"{name} re-encoded", tally)
    assert tally.parsed == tally.cases == 3 * len(FIXTURE_FORMATS)


SURROGATES = {
    "jsonl token": '{"tokens": ["a\\ud800b"], "entities": []}',
    "jsonl type": '{"tokens": ["a"], "entities": [{"indices": [0], "type": "X\\udfff"}]}',
    "w2ner token": '[{"sentence": ["ok"], "ner": []},\n{"sentence": ["\\udc00"], "ner": []}]',
    "genia reversed pair": '{"tokens": ["\\ude00\\ud83d"], "entity_mentions": []}',
}


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_lone_surrogate_escapes_are_corpus_errors(tmp_path: Path, name: str) -> None:
    """JSON can escape half a UTF-16 pair; such text cannot be written as UTF-8 or stored, so it is refused."""
    fmt = {"jsonl": "jsonl", "w2ner": "w2ner", "genia": "genia"}[name.split()[0]]
    for f in (fmt, None):
        check_case(tmp_path / "s.json", SURROGATES[name].encode(), f, {}, f"{name} as {f}", Tally())
        with pytest.raises(CorpusError, match="surrogate") as info:
            read_corpus(tmp_path / "s.json", f)
        assert info.value.line == (2 if name.startswith("w2ner") else 1)


def test_an_escaped_surrogate_pair_is_one_character(tmp_path: Path) -> None:
    path = tmp_path / "pair.jsonl"
    path.write_text('{"tokens": ["\\ud83d\\ude00", "x"], "entities": [{"indices": [0], "type": "EMO\\u00e9"}]}\n')
    check_case(path, path.read_bytes(), "jsonl", {}, "escaped pair", Tally())
    assert read_corpus(path)[0].tokens == ["\U0001f600", "x"]


def test_whatever_is_read_is_stored_and_loaded_unchanged(tmp_path: Path) -> None:
    """Parsed mutants (NUL bytes, odd spaces, unusual tags and all) go through the warehouse and come back equal."""
    from typeprior.warehouse import open_warehouse
    from typeprior.warehouse.corpora import import_corpus, load_corpus

    parsed = []
    for seed, (name, raw, fmt, opts) in enumerate(_fixture_cases()):
        for m in mutations(raw, 40, 500 + seed):
            path = tmp_path / name
            path.write_bytes(m.data)
            try:
                parsed.append((f"{name} {m.name}", read_corpus(path, fmt, **opts)))
            except CorpusError:
                continue
    assert len(parsed) >= 100
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        for k, (what, corpus) in enumerate(parsed):
            import_corpus(wh, corpus, "mutants", f"m{k}")
        for k, (what, corpus) in enumerate(parsed):
            back = load_corpus(wh, "mutants", f"m{k}")
            assert [(s.tokens, s.entities, s.id) for s in back] == [(s.tokens, s.entities, s.id) for s in corpus], what
    print(f"\nstored and loaded back: {len(parsed)} parsed mutants")
