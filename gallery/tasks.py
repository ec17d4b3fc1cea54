"""Background tasks: thin wrappers that call the services. Arguments are ids (JSON)."""

from django_tasks import task

from gallery.services import worker


@task()
def run_generation(generation_id: int) -> None:
    worker.run(generation_id)
