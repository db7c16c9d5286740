"""Issue 17, dumps: a fake or truncated .bz2/.gz, or a dump that is unreadable or not a file, is one typed error
naming the file (real files, real bz2 and gzip streams)."""
from __future__ import annotations

import bz2
import gzip
import os
from pathlib import Path

import pytest

from fake_mediawiki import FIXTURE_PAGES, FakeWiki, write_xml_export
from typeprior.kb.errors import DumpFormatError, SourceError
from typeprior.kb.sources.dump import DumpSource, iter_dump_pages


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("dump") / "plain.xml"
    return write_xml_export(FakeWiki.from_dirs(FIXTURE_PAGES), path).read_bytes()


def damaged(export: bytes) -> dict[str, bytes]:
    bz, gz = bz2.compress(export), gzip.compress(export)
    return {
        "fake bz2": b"BZh9" + os.urandom(2000),
        "bz2 magic only": b"BZh",
        "truncated bz2": bz[: len(bz) // 2],
        "bz2 with a flipped byte": bz[:100] + bytes([bz[100] ^ 0xFF]) + bz[101:],
        "fake gz": b"\x1f\x8b" + os.urandom(2000),
        "truncated gz": gz[: len(gz) // 2],
        "gz with a bad crc": gz[:-8] + b"\0\0\0\0" + gz[-4:],
        "plain xml cut in half": export[: len(export) // 2],
    }


@pytest.mark.parametrize("name", ["fake bz2", "bz2 magic only", "truncated bz2", "bz2 with a flipped byte", "fake gz",
                                  "truncated gz", "gz with a bad crc", "plain xml cut in half"])
def test_a_damaged_dump_is_one_typed_error(tmp_path: Path, export: bytes, name: str) -> None:
    path = tmp_path / "dump.xml.bz2"
    path.write_bytes(damaged(export)[name])
    with pytest.raises(SourceError) as err:
        list(iter_dump_pages(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, DumpFormatError)


def test_every_page_of_an_intact_dump_is_read(tmp_path: Path, export: bytes) -> None:
    for name, data in [("d.xml", export), ("d.xml.bz2", bz2.compress(export)), ("d.xml.gz", gzip.compress(export))]:
        (tmp_path / name).write_bytes(data)
    counts = {name: len(list(iter_dump_pages(tmp_path / name))) for name in ["d.xml", "d.xml.bz2", "d.xml.gz"]}
    assert len(set(counts.values())) == 1 and counts["d.xml"] > 5


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe")
    return tmp_path / "pipe"


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return tmp_path / "a"


@pytest.mark.parametrize(("make", "says"), [(lambda t: t, "is a directory"), (_fifo, "is a FIFO"),
                                            (_loop, "symlink loop"), (lambda t: t / "nope.xml", "does not exist")],
                         ids=["directory", "fifo", "symlink loop", "missing"])
def test_a_dump_that_is_not_a_file_says_what_it_is(tmp_path: Path, make, says: str) -> None:
    path = make(tmp_path)
    for attempt in (lambda: DumpSource(path), lambda: list(iter_dump_pages(path))):
        with pytest.raises(SourceError, match=says):
            attempt()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_dump_is_a_typed_error(tmp_path: Path, export: bytes) -> None:
    path = tmp_path / "d.xml"
    path.write_bytes(export)
    path.chmod(0)
    with pytest.raises(SourceError, match="permission denied"):
        DumpSource(path)
