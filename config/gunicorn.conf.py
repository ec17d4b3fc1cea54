"""gunicorn settings for production (`make serve-prod`, the systemd unit in docs/deploy.md).

The app is I/O-bound (database, storage, and file streaming; the endpoint is called by
workers, never by a request), so each process runs threads: GUNICORN_WORKERS processes
(default: 2 per CPU, at most 8) x GUNICORN_THREADS threads (default 4). Every setting can
be overridden with gunicorn's own GUNICORN_CMD_ARGS too.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:"
                      f"{os.environ.get('PORT', '8000')}")  # fmt: skip
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count(), 8)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Requests are short (pages, one image); a slow client is the proxy's problem, not ours.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle a process now and then, staggered, so slow leaks in any library cannot grow.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# The proxy in front (nginx, a load balancer) sets X-Forwarded-*; trust it only from here.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
# Its control socket lives in $HOME: two galleries on one machine would clash.
control_socket_disable = True
