from django.core.management.base import BaseCommand

from gallery.standin.server import FAULTS, OPENAI_PATH, PATH, StandinServer


class Command(BaseCommand):
    help = (
        f"Run the offline stand-in SDXL endpoint (POST {PATH}, and POST {OPENAI_PATH} "
        "answering b64_json; it draws, it is not SDXL)"
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--latency",
            type=float,
            default=1.5,
            help="seconds to wait before answering, like a real model (1.5)",
        )
        parser.add_argument(
            "--fail-rate",
            type=float,
            default=0.0,
            help="share of requests answered with a transient error (0..1)",
        )
        parser.add_argument(
            "--token",
            default="",
            help="require this Bearer token (default: accept anonymous calls)",
        )
        parser.add_argument(
            "--fault",
            action="append",
            default=[],
            choices=FAULTS,
            help="play this fault on the next request (repeatable)",
        )

    def handle(self, *args, host, port, latency, fail_rate, token, fault, **options):
        server = StandinServer((host, port), latency=latency, fail_rate=fail_rate, token=token)
        server.script(*fault)
        self.stdout.write(
            f"Offline stand-in endpoint on {server.url} and {server.openai_url} "
            f"(latency {latency} s)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
