"""`manage.py up` (what `make run` runs): the whole app in one terminal.

Migrates, collects static files, then starts and supervises:
  * the offline stand-in endpoint, when neither OVH_AI_ENDPOINTS_ACCESS_TOKEN nor
    SDXL_ENDPOINT_URL is set;
  * GALLERY_WORKERS generation workers (`manage.py gallery_worker`);
  * the web server: uvicorn (config/server.py; with --dev, runserver with auto-reload and
    DEBUG on).
A child that dies is started again (gallery/management/supervisor.py). Ctrl-C (or SIGTERM)
stops them all: the web server and workers first, the stand-in once they have finished.
"""

import os
import signal
import socket
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from accounts.services import needs_setup
from gallery.management.supervisor import Child, Supervisor
from gallery.standin.server import OPENAI_PATH, PATH


class Command(BaseCommand):
    help = "Run the gallery: web server, workers and (offline) the stand-in endpoint"

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("GALLERY_WORKERS", "2")),
            help="generation worker processes (GALLERY_WORKERS, default 2)",
        )
        parser.add_argument(
            "--dev",
            action="store_true",
            help="DEBUG on, runserver and workers that reload on code changes",
        )

    def handle(self, *args, host, port, workers, dev, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

        env = dict(os.environ)
        # The queue's estimate counts on this many workers (gallery.services.queue).
        env["GALLERY_WORKERS"] = str(max(1, workers))
        if dev:
            env["DEBUG"] = "true"
        python = sys.executable
        children: list[Child] = []

        if not settings.GALLERY_ENDPOINT_CONFIGURED:
            standin_port = _free_port()
            # The stand-in speaks both protocols: point at the one the workers will speak.
            path = OPENAI_PATH if settings.SDXL_ENDPOINT_PROTOCOL == "openai" else PATH
            env["SDXL_ENDPOINT_URL"] = f"http://127.0.0.1:{standin_port}{path}"
            env["GALLERY_STANDIN"] = "true"
            # Stopped last: the workers finish their jobs against it first.
            children.append(
                Child(
                    "stand-in",
                    [python, "manage.py", "standin", "--port", str(standin_port)],
                    last=True,
                )
            )
        reload_flag = "--reload" if dev else "--no-reload"
        for n in range(1, max(1, workers) + 1):
            children.append(
                Child(f"worker {n}", [python, "manage.py", "gallery_worker", reload_flag])
            )
        if dev:
            web = [python, "manage.py", "runserver", f"{host}:{port}"]
        else:
            # uvicorn serving config.asgi (config/server.py), two processes.
            env.update(HOST=host, PORT=str(port), WEB_GRACEFUL_TIMEOUT="5")
            env.setdefault("WEB_WORKERS", "2")
            web = [python, "-m", "config.server"]
        children.append(Child("web server", web))

        # Install the handlers before starting anything, so no signal is missed.
        received: list[int] = []
        signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
        signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))

        supervisor = Supervisor(
            children, env=env, cwd=settings.BASE_DIR, say=lambda line: self.stderr.write(line)
        )
        supervisor.start()

        endpoint = (
            "the offline stand-in (not SDXL)"
            if "GALLERY_STANDIN" in env
            else (env.get("SDXL_ENDPOINT_URL") or settings.SDXL_ENDPOINT_URL)
        )
        self.stdout.write(self.style.SUCCESS(f"\n  SDXL Gallery: http://{host}:{port}/\n"))
        first_run = needs_setup()
        connection.close()  # the supervisor needs no connection of its own from here on
        if first_run:
            self.stdout.write(
                self.style.WARNING(
                    f"  First run: create the administrator at http://{host}:{port}/setup/\n"
                )
            )
        self.stdout.write(f"  Images come from {endpoint}; {workers} worker(s). Ctrl-C stops.\n\n")

        failure = supervisor.watch(lambda: bool(received))
        if failure:
            self.stderr.write(failure)
        self.stdout.write(
            "\nStopping: letting running generations finish (Ctrl-C again to force)..."
        )
        # A Ctrl-C in the terminal has reached the web server and the workers already (one
        # process group), and a second signal would tell the workers to abandon their job:
        # do not add one.
        told = received[:1] == [signal.SIGINT]
        signals_seen = len(received)
        supervisor.stop(already_told=told, asked_again=lambda: len(received) > max(1, signals_seen))
        self.stdout.write("Stopped.")
        if failure:
            sys.exit(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
