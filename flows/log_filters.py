"""Prefect logs a failed task or flow with its traceback. For the project's typed errors (each already one line that
names what failed and where, and printed as the command's `error:` line) the traceback is noise that reads like a
crash, so this filter keeps the log line and drops the traceback; any other exception keeps it."""
from __future__ import annotations

import logging

from typeprior.errors import TypePriorError

TYPED_ERRORS = (TypePriorError,)
PREFECT_RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


class TypedErrorsWithoutTraceback(logging.Filter):
    """Strip the traceback from log records whose exception is one of the typed errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, TYPED_ERRORS):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_typed_errors() -> None:
    """Install the filter on Prefect's run loggers, once."""
    for name in PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TypedErrorsWithoutTraceback) for f in logger.filters):
            logger.addFilter(TypedErrorsWithoutTraceback())
