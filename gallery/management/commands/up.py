"""`manage.py up` (what `make run` runs): the whole app in one terminal.

Migrates, collects static files, then starts and supervises:
  * the offline stand-in endpoint, when neither OVH_AI_ENDPOINTS_ACCESS_TOKEN nor
    SDXL_ENDPOINT_URL is set;
  * GALLERY_WORKERS generation workers (`manage.py gallery_worker`);
  * the web server: gunicorn (or, with --dev, runserver with auto-reload and DEBUG on).
Ctrl-C (or SIGTERM) stops all of them; if one of them dies, the others are stopped too.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from accounts.services import needs_setup
from gallery.standin.server import OPENAI_PATH, PATH

STOP_GRACE = 30.0


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
        if dev:
            env["DEBUG"] = "true"
        python = sys.executable
        commands: list[tuple[str, list[str]]] = []

        if not settings.GALLERY_ENDPOINT_CONFIGURED:
            standin_port = _free_port()
            # The stand-in speaks both protocols: point at the one the workers will speak.
            path = OPENAI_PATH if settings.SDXL_ENDPOINT_PROTOCOL == "openai" else PATH
            env["SDXL_ENDPOINT_URL"] = f"http://127.0.0.1:{standin_port}{path}"
            env["GALLERY_STANDIN"] = "true"
            commands.append(
                ("stand-in", [python, "manage.py", "standin", "--port", str(standin_port)])
            )
        reload_flag = "--reload" if dev else "--no-reload"
        for n in range(1, max(1, workers) + 1):
            commands.append((f"worker {n}", [python, "manage.py", "gallery_worker", reload_flag]))
        if dev:
            web = [python, "manage.py", "runserver", f"{host}:{port}"]
        else:
            web = [
                python,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
                # Its control socket lives in $HOME: two galleries on one machine would clash.
                "--no-control-socket",
            ]
        commands.append(("web", web))

        # Install the handlers before starting anything, so no signal is missed.
        received: list[int] = []
        signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
        signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))

        children = []
        for name, argv in commands:
            # Our own interpreter and fixed arguments: no untrusted input.
            children.append((name, subprocess.Popen(argv, env=env, cwd=settings.BASE_DIR)))  # noqa: S603

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

        exit_code = 0
        while not received and not exit_code:
            for name, proc in children:
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with status {proc.returncode}; stopping.")
                    exit_code = proc.returncode or 1
                    break
            time.sleep(0.3)
        self.stdout.write(
            "\nStopping: letting running generations finish (Ctrl-C again to force)..."
        )
        # A Ctrl-C in the terminal has reached every child already (one process group), and
        # a second signal would tell the workers to abandon their job: do not add one.
        told = received[:1] == [signal.SIGINT]
        _stop_all([proc for _, proc in children], already_told=told, received=received)
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)


def _stop_all(procs: list[subprocess.Popen], *, already_told: bool, received: list[int]) -> None:
    """Ask every child to stop gracefully, force them after a second signal or STOP_GRACE."""
    if not already_told:
        _terminate(procs)
    signals_seen = len(received)
    deadline = time.monotonic() + STOP_GRACE
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        if len(received) > max(1, signals_seen):  # asked again: stop now
            _terminate(procs)
            signals_seen = len(received)
            deadline = min(deadline, time.monotonic() + 5)
        time.sleep(0.1)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _terminate(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
