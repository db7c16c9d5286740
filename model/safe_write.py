"""One way to write an output file: aside, synced, then renamed over the destination.

A reader never sees half a file and a failed write leaves the old one in place. The destination must be a
regular file or not exist yet: a directory, FIFO, device or socket is refused, since renaming over it would
replace a pipe a reader waits on, or a device node, with a plain file. A symlink is followed when it ends at a
regular file (or at a name that does not exist yet, in an existing folder): the link stays and its target gets
the new content. A symlink loop is refused. A new file gets the mode the umask allows (0666 less the umask); a
replaced file keeps its mode.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterable

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class OutputError(OSError):
    """The destination cannot safely receive an output file; `strerror` says why, `filename` names it."""

    def __init__(self, reason: str, path: str | Path) -> None:
        super().__init__(reason)
        self.strerror = reason
        self.filename = str(path)

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def destination(path: str | Path) -> tuple[Path, int]:
    """The file to rename over (a symlink followed) and the mode to give it; OutputError when unsafe."""
    given = Path(path)
    target = given
    if given.is_symlink():
        try:
            target = given.resolve(strict=False)
        except (OSError, RuntimeError) as exc:
            raise OutputError("is a symlink that loops; give a file name to write", given) from exc
        if not target.parent.is_dir():
            raise OutputError(f"is a symlink to {target}, whose folder does not exist", given)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, 0o666 & ~_umask()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError("is a symlink that loops; give a file name to write", given) from exc
        raise OutputError(f"cannot inspect: {exc.strerror or exc}", given) from exc
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise OutputError(f"is {kind}, not a regular file; give a file name to write", given)
    return target, stat.S_IMODE(st.st_mode)


def write_file(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write` with a binary file aside from `path`, then rename it over `path`'s destination."""
    target, mode = destination(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
        raise
    return Path(path)


def write_text(path: str | Path, chunks: Iterable[str] | str) -> Path:
    """Write UTF-8 text (one string or chunks of it) through `write_file`."""
    parts = [chunks] if isinstance(chunks, str) else chunks

    def write(f: IO[bytes]) -> None:
        for chunk in parts:
            f.write(chunk.encode("utf-8"))

    return write_file(path, write)
