"""`manage.py generate "prompt"`: submit a generation from the command line, through the
same service as the web form (validation, blocklist, quotas), optionally waiting for it.

Exit status: 0 done (or queued, without --wait); 1 the generation failed or did not finish;
2 bad input (an empty or too long prompt, a blocked prompt, an unknown user); 3 refused by a
limit (daily quota, images in progress).
"""

import contextlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from gallery.models import Generation
from gallery.services import intake, worker
from gallery.services.quotas import SubmissionRefused

FAILED, BAD_INPUT, REFUSED = 1, 2, 3


class Command(BaseCommand):
    help = "Generate an image from a prompt (as --user, or as the site's only superuser)"

    def add_arguments(self, parser):
        parser.add_argument("prompt")
        parser.add_argument("--negative", default="", help="the negative prompt")
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="the owner; may be left out when the site has exactly one superuser",
        )
        parser.add_argument(
            "--visibility",
            choices=Generation.Visibility.values,
            default="",
            help="default: the owner's preference, else the site's",
        )
        parser.add_argument(
            "--wait", action="store_true", help="make the image now and report the outcome"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=300.0,
            help="with --wait and the offline stand-in: seconds to wait for a worker",
        )

    def handle(self, *args, prompt, negative, user, visibility, wait, timeout, **options):
        owner = _owner(user)
        try:
            item = intake.submit(
                prompt=prompt, negative_prompt=negative, owner=owner, visibility=visibility
            )
        except SubmissionRefused as exc:
            raise CommandError(
                f"Refused: {' '.join(exc.messages)} (retry after {exc.retry_after} s)",
                returncode=REFUSED,
            ) from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages), returncode=BAD_INPUT) from exc
        self.stdout.write(f"id: {item.public_id}")
        self.stdout.write(f"page: {item.get_absolute_url()}")
        self.stdout.write(f"owner: {owner.get_username()}")
        if not wait:
            self.stdout.write("status: queued (a worker will make it)")
            return
        if settings.GALLERY_ENDPOINT_CONFIGURED or settings.GALLERY_STANDIN:
            item = worker.generate_now(item.pk)
        else:
            # No endpoint configured: the offline stand-in is the one `make run` started on a
            # port only its own processes know. Its workers make the image; wait for them.
            self.stderr.write("Waiting for a worker of `make run` to make it...")
            item = worker.wait_for(item.pk, timeout=timeout)
        self.stdout.write(f"status: {item.status}")
        if item.status == Generation.Status.SUCCEEDED:
            self.stdout.write(f"file: {item.original.name}")
            # Remote storage (S3) has no local path: the name is all there is.
            with contextlib.suppress(NotImplementedError):
                self.stdout.write(f"path: {default_storage.path(item.original.name)}")
        elif item.status == Generation.Status.FAILED:
            raise CommandError(
                f"The generation failed: {item.failure_reason} ({item.failure_code})",
                returncode=FAILED,
            )
        else:
            raise CommandError(
                "The generation is not finished yet; a worker will finish it (is `make run` "
                "or `manage.py gallery_worker` running?).",
                returncode=FAILED,
            )


def _owner(username: str | None):
    """The named user, or the only superuser when no name is given. Never "nobody": images
    made from the command line belong to someone who can see and manage them."""
    User = get_user_model()
    if username:
        owner = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if owner is None or not owner.is_active:
            raise CommandError(f"No active user named {username!r}.", returncode=BAD_INPUT)
        return owner
    superusers = list(User.objects.filter(is_superuser=True, is_active=True)[:2])
    if len(superusers) != 1:
        raise CommandError(
            "Say whose image this is with --user USERNAME (it can be left out only when "
            "the site has exactly one superuser).",
            returncode=BAD_INPUT,
        )
    return superusers[0]
