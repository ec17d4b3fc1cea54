"""What every log line should say about where it comes from: the request id and, inside the
pipeline, the generation's public id. Context variables, so threads and requests never mix
them up; a logging filter copies them onto each record (JSON logs show them as fields)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
generation: ContextVar[str] = ContextVar("generation", default="")


@contextmanager
def bound(var: ContextVar[str], value: str) -> Iterator[None]:
    """Set `var` for the duration of the block."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.generation = generation.get()
        return True
