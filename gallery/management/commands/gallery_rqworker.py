"""`manage.py gallery_rqworker`: django-rq's `rqworker` for the Redis queue
(GALLERY_TASK_BACKEND=rq), plus our recovery sweep.

It defaults to what django-tasks-rq needs (`--job-class django_tasks_rq.Job`) and to the
"default" queue. RQ forks a fresh process per job (a crash or leak dies with it); the sweep
runs in the parent as a thread, as in `gallery_worker`, and re-enqueues lost work through
the same backend.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django_rq.management.commands.rqworker import Command as RQWorkerCommand
from rq.worker import Worker

from gallery.management.commands.gallery_worker import SWEEP_LOCK, lower_priority, start_sweeper


class SweepSafeWorker(Worker):
    """RQ's worker, forking each job's work horse only while no sweep is running (see
    SWEEP_LOCK: a fork in the middle of the sweep's write left the job's database locked)."""

    def fork_work_horse(self, job, queue):
        with SWEEP_LOCK:
            return super().fork_work_horse(job, queue)


class Command(RQWorkerCommand):
    help = "Run a background worker for generations on the Redis queue (rqworker plus recovery)"

    def handle(self, *args, **options):
        if getattr(settings, "GALLERY_TASK_BACKEND", "database") != "rq":
            raise CommandError(
                "GALLERY_TASK_BACKEND is not 'rq': run `manage.py gallery_worker` instead."
            )
        lower_priority()
        options["job_class"] = options.get("job_class") or "django_tasks_rq.Job"
        options["worker_class"] = options.get("worker_class") or (
            "gallery.management.commands.gallery_rqworker.SweepSafeWorker"
        )
        start_sweeper(prune=False)
        return super().handle(*(args or ("default",)), **options)
