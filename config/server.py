"""The web server: uvicorn serving config.asgi (`make run`, `make serve-prod`, the systemd
unit in docs/deploy.md). `python -m config.server`; settings from the environment:

  HOST, PORT                 where to listen (127.0.0.1:8000)
  WEB_WORKERS                processes (default: one per CPU, at most 8)
  WEB_MAX_CONNECTIONS        open connections per process before answering 503 (1000)
  WEB_MAX_REQUESTS           requests before a process is replaced, staggered (0: never)
  WEB_GRACEFUL_TIMEOUT       seconds a stopping process gives requests in flight (30)
  WEB_ACCESS_LOG             "true" logs every request (off: Django logs 4xx and 5xx)

Why ASGI and uvicorn rather than gunicorn's threads: docs/decisions.md, "The web server".
"""

from __future__ import annotations

import os
import sys


def options(environ: os._Environ | dict[str, str] = os.environ) -> dict:
    """uvicorn.run's keyword arguments for this environment."""
    workers = int(environ.get("WEB_WORKERS", min(os.cpu_count() or 1, 8)))
    # Off by default: uvicorn counts every request, and a page view is the HTML and 48
    # thumbnails, so 2,000 meant a process replaced every 40 page views (docs/decisions.md).
    max_requests = int(environ.get("WEB_MAX_REQUESTS", "0"))
    if max_requests and workers == 1:
        # uvicorn replaces a stopped process only when it supervises two or more: a lone
        # one would stop the server for good.
        print("WEB_MAX_REQUESTS needs WEB_WORKERS of 2 or more; not recycling", file=sys.stderr)
        max_requests = 0
    return {
        "host": environ.get("HOST", "127.0.0.1"),
        "port": int(environ.get("PORT", "8000")),
        "workers": workers,
        "limit_concurrency": int(environ.get("WEB_MAX_CONNECTIONS", "1000")),
        "limit_max_requests": max_requests or None,
        "limit_max_requests_jitter": max_requests // 10,
        "timeout_graceful_shutdown": int(environ.get("WEB_GRACEFUL_TIMEOUT", "30")),
        "timeout_keep_alive": 5,
        # The client's address is core.http.client_ip's business (GALLERY_TRUSTED_PROXY_HEADER).
        "proxy_headers": False,
        "server_header": False,
        "lifespan": "off",  # Django has no startup or shutdown hooks to run
        # A line per thumbnail buries everything else in `make run`'s terminal, and costs a
        # quarter of the thumbnail rate; nginx keeps its own access log in front.
        "access_log": environ.get("WEB_ACCESS_LOG", "false").lower() == "true",
    }


def main() -> None:
    # Each request runs in a thread of its own under ASGI: a connection kept open in one
    # would never be reused, so the web processes close theirs after each request (the
    # PostgreSQL pool, GALLERY_DB_POOL, reuses them instead).
    os.environ.setdefault("CONN_MAX_AGE", "0")
    # The processes uvicorn starts stop when this one is gone (config/asgi.py).
    os.environ["WEB_SERVER_PID"] = str(os.getpid())
    import uvicorn

    uvicorn.run("config.asgi:application", **options())


if __name__ == "__main__":
    main()
