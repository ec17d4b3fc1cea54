"""Load evidence: 50 concurrent users browse and submit while the endpoint takes 5 s per
image. Reports the gallery page's p50/p95 idle and under load (goal: loaded p95 <= 2x idle)
and generation throughput against what the endpoint allows (goal: within 10%).

Throughput bound: the stand-in serves any number of requests at once, each taking LATENCY
seconds, so W workers can finish at most W / LATENCY generations a second; the queue is kept
full (pre-submitted) so the workers are never idle for lack of work.

    .venv/bin/python bench/load.py                      # 50 users, 60 s, 4 workers
    .venv/bin/python bench/load.py --users 20 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import random
import re
import threading
import time

import requests
from harness import MACHINE_NOTE, Install, StandinServer, percentile, wait_until

LATENCY = 5.0


def _browse(url: str, seconds: float) -> list[float]:
    session = requests.Session()
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        session.get(url + "/", timeout=30).raise_for_status()
        times.append(time.perf_counter() - t)
        time.sleep(0.1)
    return times


def _user(url: str, name: str, until: float, page_times: list[float], stats: dict) -> None:
    session = requests.Session()
    login = session.get(url + "/accounts/login/", timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    session.post(url + "/accounts/login/", timeout=30, data={
        "username": name, "password": "bench-password-1", "csrfmiddlewaretoken": token,
    })  # fmt: skip
    rng = random.Random(name)
    while time.monotonic() < until:
        t = time.perf_counter()
        page = session.get(url + "/", timeout=30)
        page_times.append(time.perf_counter() - t)
        thumbs = re.findall(r'src="(/media/[^"]+)"', page.text)[:4]
        for thumb in thumbs:
            session.get(url + thumb, timeout=30)
            stats["thumbs"] += 1
        if rng.random() < 0.1:  # one visit in ten also asks for an image
            csrf = session.cookies.get("csrftoken")
            form = {"prompt": f"{name} wants a picture", "csrfmiddlewaretoken": csrf}
            session.post(url + "/generate", timeout=30, data=form)
            stats["submits"] += 1
        time.sleep(rng.uniform(0.5, 1.5))  # think time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(MACHINE_NOTE)
    standin = StandinServer(("127.0.0.1", 0), latency=LATENCY).start()
    inst = Install(standin.url)
    try:
        inst.manage("migrate", "--verbosity", "0")
        inst.manage("shell", "-c", (
            "from django.contrib.auth.models import User\n"
            f"for i in range({args.users}): User.objects.create_user(f'user{{i}}', "
            "password='bench-password-1')\n"
            "from gallery.models import Generation\n"
            "from gallery.services.intake import submit\n"
            # A gallery with something in it: 60 done images, made quickly in-process.
        ))  # fmt: skip
        _, url = inst.web()
        # Seed the gallery with finished images, using the stand-in at full speed.
        standin.latency = 0.0
        inst.submit(48, "seed")
        seeders = [inst.worker() for _ in range(args.workers)]
        wait_until(lambda: inst.counts().get("succeeded", 0) == 48, 300)
        standin.latency = LATENCY

        idle = _browse(url, 10)
        # Keep the queue full for the whole window.
        inst.submit(int(args.workers * args.seconds / LATENCY * 1.5) + 10, "queued")
        time.sleep(LATENCY + 1)  # every worker is busy before the window opens
        done_before = inst.counts().get("succeeded", 0)
        page_times: list[float] = []
        stats = {"thumbs": 0, "submits": 0}
        start = time.monotonic()
        until = start + args.seconds
        users = [
            threading.Thread(target=_user, args=(url, f"user{i}", until, page_times, stats))
            for i in range(args.users)
        ]
        for u in users:
            u.start()
        for u in users:
            u.join()
        window = time.monotonic() - start
        done = inst.counts().get("succeeded", 0) - done_before
        bound = args.workers / LATENCY
        print(f"\n== {args.users} users for {window:.0f} s, {args.workers} workers, "
              f"endpoint {LATENCY:.0f} s per image")  # fmt: skip
        print(f"  gallery page idle:   p50 {percentile(idle, 50) * 1000:.0f} ms, "
              f"p95 {percentile(idle, 95) * 1000:.0f} ms ({len(idle)} requests)")  # fmt: skip
        p95 = percentile(page_times, 95)
        print(f"  gallery page loaded: p50 {percentile(page_times, 50) * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms ({len(page_times)} requests, {stats['thumbs']} "
              f"thumbnails, {stats['submits']} submissions)")  # fmt: skip
        print(f"  p95 loaded / idle = {p95 / percentile(idle, 95):.2f} (goal <= 2)")
        rate = done / window
        print(f"  throughput {done} generations in {window:.0f} s = {rate:.3f}/s; bound "
              f"{args.workers}/{LATENCY:.0f} s = {bound:.3f}/s; ratio {rate / bound:.2f} "
              "(goal >= 0.90)")  # fmt: skip
        del seeders
    finally:
        inst.stop()
        standin.stop()


if __name__ == "__main__":
    os.environ.setdefault("GALLERY_ENV_FILE", "")
    main()
