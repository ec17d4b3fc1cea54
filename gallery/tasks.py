"""Background tasks: thin wrappers that call the services. Arguments are ids (JSON).

The Generation row decides what runs; a task is only the wake-up, so a lost or duplicate
task does no harm (the sweep re-enqueues, and claims let one worker run a job once)."""

from django_tasks import task

from gallery.models import Generation
from gallery.services import worker


@task()
def run_generation(generation_id: int) -> None:
    # The wake-up of one job; the claim picks whose turn it is (fair between owners).
    worker.run(generation_id, on_release=enqueue, fair=True)


def enqueue(generation_id: int) -> None:
    """Wake a worker for this generation, and note the task on the row (the sweep checks
    that a queued row's task is still alive)."""
    result = run_generation.enqueue(generation_id)
    Generation.objects.filter(pk=generation_id).update(task_id=str(result.id))
