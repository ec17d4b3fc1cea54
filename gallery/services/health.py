"""What /healthz reports: can this process reach the database and the media storage, and how
long is the queue. Cheap enough for a load balancer to ask every few seconds: one `SELECT 1`,
one tiny file written, read back and deleted, one aggregate over the queued rows (the
status index).

Health is about *this web process*: a long queue is reported, not failed on, since taking web
servers out of rotation does not make workers appear."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from gallery.services import queue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    database: bool
    storage: bool
    queued: int | None
    oldest_queued_seconds: float | None
    elapsed_ms: float

    @property
    def healthy(self) -> bool:
        return self.database and self.storage

    def as_dict(self) -> dict:
        return {"status": "ok" if self.healthy else "unavailable", **asdict(self)}


def check() -> Health:
    started = time.perf_counter()
    database = _database_ok()
    queued, oldest = _queue() if database else (None, None)
    storage = _storage_ok()
    return Health(
        database=database,
        storage=storage,
        queued=queued,
        oldest_queued_seconds=oldest,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        # The reason goes to the log (never to the anonymous caller: it may name hosts).
        logger.exception("Health check: the database is unreachable")
        return False


def _queue() -> tuple[int | None, float | None]:
    try:
        now = queue.depth()
    except Exception:
        logger.exception("Health check: could not read the queue")
        return None, None
    return now.queued, now.oldest_queued_seconds


def _storage_ok() -> bool:
    # A name of its own per probe, so concurrent probes on many hosts never collide.
    name = f"healthz/{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.txt"
    payload = b"ok"
    try:
        saved = default_storage.save(name, ContentFile(payload))
        try:
            with default_storage.open(saved, "rb") as handle:
                return handle.read() == payload
        finally:
            default_storage.delete(saved)
    except Exception:
        logger.exception("Health check: the media storage is not writable or readable")
        return False
