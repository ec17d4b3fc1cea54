"""Memory evidence: resident size (VmRSS from /proc) of the web server (uvicorn, one
process) and of each worker, sampled as 2,000 generations go through with a fast
stand-in, while a client keeps browsing. Goal: flat (within ±10%) after warm-up.

    .venv/bin/python bench/memory.py                    # 2,000 generations, 2 workers
    .venv/bin/python bench/memory.py --generations 500
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import requests
from harness import MACHINE_NOTE, Install, StandinServer, rss_kib, tree_pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--generations", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(MACHINE_NOTE)
    standin = StandinServer(("127.0.0.1", 0), latency=0.0).start()
    inst = Install(standin.url)
    stop = threading.Event()
    try:
        inst.manage("migrate", "--verbosity", "0")
        web, url = inst.web(workers=1)
        inst.submit(args.generations, "memory")
        workers = [inst.worker() for _ in range(args.workers)]

        def browse() -> None:
            session = requests.Session()
            while not stop.is_set():
                try:
                    page = session.get(url + "/", timeout=30).text
                    for part in page.split('src="')[1:5]:
                        if part.startswith("/media/"):
                            session.get(url + part.split('"')[0], timeout=30)
                except requests.RequestException:
                    pass  # the web server stopping at the end
                time.sleep(0.2)

        browser = threading.Thread(target=browse, daemon=True)
        browser.start()
        marks = sorted({100, 250, 500, 1000, 1500, args.generations} & set(
            range(1, args.generations + 1)))  # fmt: skip
        samples = []
        started = time.monotonic()
        for mark in marks:
            while inst.counts().get("succeeded", 0) < mark:
                time.sleep(1)
            web_kib = sum(rss_kib(p) for p in tree_pids(web.pid))
            worker_kib = [rss_kib(w.pid) for w in workers]
            samples.append((mark, web_kib, worker_kib))
            print(
                f"  {mark:5d} done ({time.monotonic() - started:6.0f} s): web "
                f"{web_kib / 1024:6.1f} MiB, workers "
                + ", ".join(f"{k / 1024:.1f}" for k in worker_kib)
                + " MiB",
                flush=True,
            )
        stop.set()
        base = samples[0]
        last = samples[-1]
        print(
            f"\n== {args.generations} generations, {args.workers} workers, 1 web process (uvicorn)"
        )
        print(f"  web: {base[1] / 1024:.1f} -> {last[1] / 1024:.1f} MiB "
              f"({(last[1] / base[1] - 1) * 100:+.1f}% from the {base[0]}th)")  # fmt: skip
        for i in range(args.workers):
            b, e = base[2][i], last[2][i]
            print(
                f"  worker {i + 1}: {b / 1024:.1f} -> {e / 1024:.1f} MiB "
                f"({(e / b - 1) * 100:+.1f}%)"
            )
    finally:
        stop.set()
        inst.stop()
        standin.stop()


if __name__ == "__main__":
    os.environ.setdefault("GALLERY_ENV_FILE", "")
    main()
