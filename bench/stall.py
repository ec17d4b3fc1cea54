"""Stalled clients: can slow or stuck connections take the site down?

With STALLED sockets that announce a body and never send it, and SYNC synchronous
`/api/text2image` calls in flight against an endpoint that takes 5 s per image, how fast do
the gallery page and /healthz answer? Side by side in one run: the server `make run` used
before (gunicorn, 2 processes x 4 threads, WSGI) and the one it uses now (uvicorn, 2
processes, ASGI: config/server.py). Goal: p95 <= 500 ms for both pages. Prints figures;
asserts nothing.

    .venv/bin/python bench/stall.py                  # 50 stalled sockets, 50 API calls
    .venv/bin/python bench/stall.py --stalled 10 --sync 9
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

import requests
from harness import MACHINE_NOTE, Install, StandinServer, percentile

LATENCY = 5.0
PROBES = 40


def _stall(port: int, n: int) -> list[socket.socket]:
    """Open n connections that send a request's head announcing a body, then nothing."""
    held = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000\r\n\r\nusername=")  # fmt: skip
        held.append(sock)
    return held


def _sync_calls(url: str, token: str, n: int, results: list[int]) -> list[threading.Thread]:
    def call(i: int) -> None:
        try:
            auth = {"Authorization": f"Bearer {token}"}
            r = requests.post(url + "/api/text2image", json={"prompt": f"stall {i}"},
                              headers=auth, timeout=120)  # fmt: skip
            results.append(r.status_code)
        except requests.RequestException as exc:
            results.append(0)
            if not i:
                print("  a synchronous call failed:", exc)

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads


def _probe(url: str, path: str) -> tuple[list[float], int]:
    times, errors = [], 0
    for _ in range(PROBES):
        t = time.perf_counter()
        try:
            ok = requests.get(url + path, timeout=10).ok
        except requests.RequestException:
            ok = False
        times.append(time.perf_counter() - t if ok else 10.0)
        errors += not ok
        time.sleep(0.05)
    return times, errors


def scenario(server: str, stalled: int, sync: int) -> None:
    standin = StandinServer(("127.0.0.1", 0), latency=LATENCY).start()
    inst = Install(standin.url, GALLERY_DAILY_QUOTA="0", GALLERY_MAX_WAITING="0",
                   GALLERY_SUBMIT_RATE="0", GALLERY_BODY_DEADLINE="60")  # fmt: skip
    try:
        inst.manage("migrate", "--verbosity", "0")
        token = inst.manage(
            "shell", "-c",
            "from django.contrib.auth.models import User\nfrom accounts import tokens\n"
            "u = User.objects.create_user('api', password='bench-password-1')\n"
            "print(tokens.issue(u, 'bench')[1])",
        ).split()[-1]  # fmt: skip
        _, url = inst.web(workers=2, server=server)
        port = int(url.rsplit(":", 1)[1])
        idle = {path: _probe(url, path) for path in ("/", "/healthz")}
        held = _stall(port, stalled)
        results: list[int] = []
        threads = _sync_calls(url, token, sync, results)
        time.sleep(1.0)  # every call is in flight
        loaded = {path: _probe(url, path) for path in ("/", "/healthz")}
        for t in threads:
            t.join(180)
        for sock in held:
            sock.close()
        print(f"\n== {server}: {stalled} stalled sockets + {sync} synchronous API calls "
              f"against a {LATENCY:.0f} s endpoint")  # fmt: skip
        for path in ("/", "/healthz"):
            (t0, _), (t1, e1) = idle[path], loaded[path]
            print(f"  {path:9} idle p50 {percentile(t0, 50) * 1000:7.0f} ms  "
                  f"p95 {percentile(t0, 95) * 1000:7.0f} ms | loaded p50 "
                  f"{percentile(t1, 50) * 1000:7.0f} ms  p95 {percentile(t1, 95) * 1000:7.0f} ms"
                  f"  failed {e1}/{PROBES}")  # fmt: skip
        ok = sum(1 for s in results if s == 200)
        print(f"  synchronous calls: {ok} of {sync} answered 200 "
              f"(others: {sorted(s for s in results if s != 200)})")  # fmt: skip
    finally:
        inst.stop()
        standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stalled", type=int, default=50)
    parser.add_argument("--sync", type=int, default=50)
    parser.add_argument("--only", choices=("gunicorn", "uvicorn"))
    args = parser.parse_args()
    print(MACHINE_NOTE)
    for server in ("gunicorn", "uvicorn"):
        if args.only in (None, server):
            scenario(server, args.stalled, args.sync)


if __name__ == "__main__":
    main()
