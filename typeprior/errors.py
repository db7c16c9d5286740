"""The one error base class of typeprior and the CLI's exit-code table.

Every error a user can cause (a bad file, setting, model folder, warehouse or knowledge-base input) derives from
TypePriorError, so the command line ends each in one line, `error: ...`, with the exit code of its class:

| code | meaning |
|---|---|
| 0 | done |
| 1 | an internal error (a bug: rerun with --debug for the traceback) |
| 2 | bad input: a file, an option, a setting, a model folder, a corpus or a build that is not what it should be |
| 75 | the warehouse is held by another process (EX_TEMPFAIL: try again later) |
| 130, 143 | interrupted by Ctrl-C (SIGINT) or SIGTERM; a training run ends `cancelled` and resumes with --resume |
"""
from __future__ import annotations

from typing import ClassVar

DEBUG_ENV = "TYPEPRIOR_DEBUG"  # set by `typeprior --debug`: errors keep their tracebacks
BAD_INPUT = 2
LOCKED = 75
INTERNAL = 1
INTERRUPTED = 130


class TypePriorError(Exception):
    """A user error: its message names what and where, and `exit_code` says how the command line ends."""

    exit_code: ClassVar[int] = BAD_INPUT


def exit_code(error: BaseException) -> int:
    """The exit code of an error that ends a command."""
    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        return 128 + int(getattr(error, "signum", 2))
    if isinstance(error, TypePriorError):
        return error.exit_code
    if isinstance(error, KeyError):  # a missing key is our bug, not the user's input
        return INTERNAL
    if isinstance(error, (ValueError, LookupError, OSError, UnicodeError)):
        return BAD_INPUT
    return INTERNAL


def one_line(error: BaseException) -> str:
    """The line a failed command prints: the message of a user error, or the type of a bug with a hint."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    text = " ".join(str(error).split()) or type(error).__name__
    if exit_code(error) != INTERNAL:
        return text
    return f"internal error: {type(error).__name__}: {text} (rerun with --debug for the traceback)"
