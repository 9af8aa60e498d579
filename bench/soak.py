"""Soak test: the real api and worker under a steady load, watching their memory.

Starts ``ga4clone migrate``, ``ga4clone api`` and ``ga4clone worker`` with the
configuration of the environment (as the processes themselves would read it),
creates a project, posts batches at a steady rate over loopback for
``--minutes``, and compares the resident memory (RSS) of both processes after
a warm-up with their RSS at the end. Exits 1 if either grew by more than
``--max-growth-mb`` (10 by default; allocator noise and caches filling up
stayed under 1 MB in ten minutes here), 2 if too few events were acknowledged.
Refused requests (status 0 for a broken connection) are counted by status.

    python bench/soak.py --minutes 10 --events-per-second 500
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil

from ga4clone.projects import ProjectStore
from ga4clone.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
_BATCH_EVENTS = 10
_WARM_UP_S = 30.0
_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"


@dataclass
class _Counts:
    acked: int = 0
    refused: dict[int, int] = field(default_factory=dict)


def _start(command: str, env: dict[str, str], log: IO[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ga4clone", command],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(base: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the API did not become ready")


def _drive(
    base: str, key: str, project: uuid.UUID, rate: float, stop: threading.Event
) -> _Counts:
    """Post batches at ``rate`` events per second until ``stop`` is set."""
    counts = _Counts()
    interval_s = _BATCH_EVENTS / rate
    headers = {"X-Api-Key": key, "User-Agent": _BROWSER}
    next_at = time.monotonic()
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        while not stop.is_set():
            now_ms = int(time.time() * 1000)
            batch = [
                {
                    "projectId": str(project),
                    "eventName": "page_view",
                    "timestamp": now_ms,
                    "clientId": f"c{index}",
                    "sessionId": "s1",
                    "params": {"page_title": "Soak"},
                }
                for index in range(_BATCH_EVENTS)
            ]
            try:
                status = http.post("/events/batch", json=batch).status_code
            except httpx.TransportError:
                status = 0  # counted as refused; the soak goes on
            if status == 202:
                counts.acked += _BATCH_EVENTS
            else:
                counts.refused[status] = counts.refused.get(status, 0) + 1
            next_at += interval_s
            time.sleep(max(0.0, next_at - time.monotonic()))
    return counts


def _rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--events-per-second", type=float, default=500)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--max-growth-mb", type=float, default=10)
    args = parser.parse_args(argv)

    settings = Settings()
    env = {**os.environ, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(args.port)}
    env.setdefault("WORKER_METRICS_PORT", "0")
    subprocess.run([sys.executable, "-m", "ga4clone", "migrate"], env=env, check=True)
    store = ProjectStore(settings.postgres_dsn, max_connections=1)
    project = store.create(f"soak {time.strftime('%Y-%m-%d %H:%M')}")
    store.close()

    with tempfile.TemporaryFile(mode="w+") as log:
        api, worker = _start("api", env, log), _start("worker", env, log)
        try:
            return _soak(args, project, api, worker)
        finally:
            for process in (api, worker):
                process.terminate()
                process.wait(timeout=40)


def _soak(args: argparse.Namespace, project: Any, api: Any, worker: Any) -> int:
    base = f"http://127.0.0.1:{args.port}"
    _wait_ready(base)
    stop = threading.Event()
    result: list[_Counts] = []
    driver = threading.Thread(
        target=lambda: result.append(
            _drive(base, project.write_key, project.id, args.events_per_second, stop)
        )
    )
    driver.start()
    processes = {"api": psutil.Process(api.pid), "worker": psutil.Process(worker.pid)}
    warm_up_s = min(_WARM_UP_S, args.minutes * 60 / 4)
    time.sleep(warm_up_s)
    start = {name: _rss_mb(p) for name, p in processes.items()}
    time.sleep(args.minutes * 60 - warm_up_s)
    end = {name: _rss_mb(p) for name, p in processes.items()}
    stop.set()
    driver.join()
    return _report(args, start, end, result[0])


def _report(
    args: argparse.Namespace,
    start: dict[str, float],
    end: dict[str, float],
    counts: _Counts,
) -> int:
    expected = args.events_per_second * args.minutes * 60
    print(f"acknowledged {counts.acked} events of ~{expected:.0f}")
    print(f"refused requests by status: {counts.refused}")
    grown = False
    for name in start:
        growth = end[name] - start[name]
        print(
            f"{name:<7} RSS {start[name]:.1f} MB -> {end[name]:.1f} MB ({growth:+.1f})"
        )
        grown = grown or growth > args.max_growth_mb
    if grown:
        print(f"FAIL: RSS grew by more than {args.max_growth_mb} MB")
        return 1
    return 0 if counts.acked >= 0.9 * expected else 2


if __name__ == "__main__":
    sys.exit(main())
