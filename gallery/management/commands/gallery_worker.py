"""`manage.py gallery_worker`: django-tasks-db's db_worker, plus the recovery sweep.

The queue has no retries, timeouts or recovery of a job whose worker died, so each worker
also runs `recover_lost_work` every GALLERY_SWEEP_INTERVAL seconds in a background thread
(and, hourly, rolls up the dashboard's finished days and prunes task results older than a
week).
Run as many of these as you like; claims on the Generation row keep every job single-run.
"""

import logging
import os
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from gallery.services import dashboard
from gallery.services.recovery import recover_lost_work

logger = logging.getLogger("gallery.worker")
# Held while a sweep runs. A worker that forks (RQ's work horse) forks only outside it: a
# child forked while the sweep holds SQLite's write lock inherits that lock's bookkeeping
# and finds the database locked forever.
SWEEP_LOCK = threading.Lock()
PRUNE_EVERY = 3600.0
PRUNE_AFTER_DAYS = 7


class Command(DbWorkerCommand):
    help = "Run a background worker for generations (db_worker plus recovery of lost work)"

    def handle(self, *args, **options):
        lower_priority()
        # With --reload, only the reloaded child runs tasks, so only it sweeps.
        if not options.get("reload") or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            start_sweeper(prune=True)
        return super().handle(*args, **options)


def lower_priority() -> None:
    """Lower this worker's scheduling priority by GALLERY_WORKER_NICE (default 10): image
    work then waits while the web server on the same machine wants the CPU, and takes it
    when nobody else does (docs/decisions.md, "Workers yield the CPU")."""
    if settings.GALLERY_WORKER_NICE:
        os.nice(settings.GALLERY_WORKER_NICE)


def start_sweeper(*, prune: bool) -> None:
    """Run the recovery sweep in a daemon thread of this worker process."""
    threading.Thread(
        target=_sweep_forever, kwargs={"prune": prune}, name="gallery-sweeper", daemon=True
    ).start()


def _sweep_forever(*, prune: bool) -> None:
    stop = threading.Event()
    next_prune = 0.0
    while True:
        prune_now = prune and time.monotonic() >= next_prune
        try:
            with SWEEP_LOCK:
                _sweep_once(prune=prune_now)
            if prune_now:
                next_prune = time.monotonic() + PRUNE_EVERY
        except Exception:
            logger.exception("The recovery sweep failed; trying again later")
        stop.wait(settings.GALLERY_SWEEP_INTERVAL)


def _sweep_once(*, prune: bool) -> None:
    try:
        if count := recover_lost_work():
            logger.warning("Recovered %d generation(s) that nobody was working on", count)
        if prune:
            # The dashboard's finished days, rolled up once each (pages never write).
            dashboard.roll_up()
            # Finished task results are only bookkeeping: keep the table small.
            call_command("prune_db_task_results", min_age_days=PRUNE_AFTER_DAYS, verbosity=0)
    finally:
        connection.close()  # this thread's own connection
