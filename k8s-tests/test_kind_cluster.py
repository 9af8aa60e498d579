"""The chart on a real cluster: events reach both stores, and KEDA scales the worker.

The tests run in file order: the chart's own `helm test` hook first, then the
pipeline on a quiet queue, then the flood that makes the worker scale out and
back in. Each test posts to a
project of its own (the ``project`` fixture), with its write key.

TODO: the suite has not yet run on a real cluster (kind cannot run on the
machine it was written on); the flood size and the worker throttle in
values-kind.yaml are estimates to tune after the first run of the kind job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from clickhouse_driver import Client as ClickHouseClient

if TYPE_CHECKING:
    from conftest import Cluster, PortForward, Project

pytestmark = pytest.mark.kind

WORKER = "deployment/ga4clone-worker"
FLOOD_THREADS = 8
FLOOD_BATCH_EVENTS = 50


def _event(project_id: str) -> dict[str, Any]:
    return {
        "projectId": project_id,
        "eventName": "page_view",
        "timestamp": int(time.time() * 1000),
        "clientId": "k8s-tests",
        "sessionId": "s1",
    }


def _client(url: str, project: Project, timeout_s: float) -> httpx.Client:
    """An HTTP client of the API that sends the project's write key."""
    return httpx.Client(
        base_url=url,
        headers={"X-Api-Key": project.write_key},
        timeout=timeout_s,
    )


def _wait_for(
    what: str, probe: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float
) -> Any:
    """Call probe until done(value) holds; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not done(value):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {value!r} after {timeout_s:.0f} s")
        time.sleep(2)
        value = probe()
    return value


def _clickhouse_count(clickhouse: ClickHouseClient, project_id: str) -> int:
    rows = clickhouse.execute(
        "SELECT count() FROM ga4clone.events FINAL WHERE project_id = toUUID(%(p)s)",
        {"p": project_id},
    )
    return int(rows[0][0])


def _worker_replicas(cluster: Cluster) -> int:
    result = cluster.kubectl("get", WORKER, "-o", "jsonpath={.spec.replicas}")
    return int(result.stdout or 0)


def test_helm_test_posts_an_event_to_a_throwaway_project(release: Cluster) -> None:
    result = release.helm(
        "test", "ga4clone", "--namespace", "ga4clone", "--logs", "--timeout", "5m"
    )

    assert "Created the throwaway project" in result.stdout
    assert "POST /events answered 202" in result.stdout


def test_posted_events_land_in_clickhouse(
    api: PortForward, clickhouse: ClickHouseClient, project: Project
) -> None:
    project_id = project.id
    url = f"http://127.0.0.1:{api.ensure()}"

    with _client(url, project, timeout_s=10) as client:
        for _ in range(3):
            assert client.post("/events", json=_event(project_id)).status_code == 202
        batch = [_event(project_id) for _ in range(7)]
        assert client.post("/events/batch", json=batch).status_code == 202

    _wait_for(
        "events in ClickHouse",
        lambda: _clickhouse_count(clickhouse, project_id),
        lambda count: count == 10,
        timeout_s=120,
    )


def test_posted_events_are_counted_in_daily_metrics(
    api: PortForward, postgres: Any, project: Project
) -> None:
    project_id = project.id
    url = f"http://127.0.0.1:{api.ensure()}"

    with _client(url, project, timeout_s=10) as client:
        batch = [_event(project_id) for _ in range(5)]
        assert client.post("/events/batch", json=batch).status_code == 202

    def _events_counted() -> int:
        with postgres.cursor() as cursor:
            # Summed over days, so a run across midnight (UTC) still adds up.
            cursor.execute(
                "SELECT coalesce(sum(metric_value), 0) FROM daily_metrics "
                "WHERE project_id = %s AND metric_name = 'events'",
                (project_id,),
            )
            return int(cursor.fetchone()[0])

    _wait_for(
        "events in daily_metrics", _events_counted, lambda n: n == 5, timeout_s=120
    )


def test_worker_scales_out_under_a_flood_and_back_in_after_it(
    release: Cluster, api: PortForward, clickhouse: ClickHouseClient, project: Project
) -> None:
    project_id = project.id
    _wait_for(
        "worker replicas", lambda: _worker_replicas(release), lambda n: n == 1, 300
    )

    accepted, peak = _flood(release, api, project, timeout_s=240)

    assert peak > 1, f"the worker never scaled out ({accepted} events accepted)"
    _wait_for(
        "flood events in ClickHouse",
        lambda: _clickhouse_count(clickhouse, project_id),
        lambda count: count == accepted,
        timeout_s=900,
    )
    _wait_for(
        "worker replicas", lambda: _worker_replicas(release), lambda n: n == 1, 600
    )


def _flood(
    cluster: Cluster, api: PortForward, project: Project, timeout_s: float
) -> tuple[int, int]:
    """Post batches from several threads until the worker scales out.

    Returns the number of events accepted and the most worker replicas seen.
    """
    url = f"http://127.0.0.1:{api.ensure()}"
    stop = threading.Event()
    lock = threading.Lock()
    accepted = 0

    def post_batches() -> None:
        nonlocal accepted
        with _client(url, project, timeout_s=30) as client:
            while not stop.is_set():
                batch = [_event(project.id) for _ in range(FLOOD_BATCH_EVENTS)]
                try:
                    response = client.post("/events/batch", json=batch)
                except httpx.TransportError:
                    # The port-forward dropped; the loop below restarts it.
                    time.sleep(1)
                    continue
                if response.status_code == 202:
                    with lock:
                        accepted += len(response.json()["eventIds"])

    peak = 1
    deadline = time.monotonic() + timeout_s
    with ThreadPoolExecutor(max_workers=FLOOD_THREADS) as pool:
        futures = [pool.submit(post_batches) for _ in range(FLOOD_THREADS)]
        try:
            while peak <= 1 and time.monotonic() < deadline:
                time.sleep(5)
                api.ensure()
                peak = max(peak, _worker_replicas(cluster))
        finally:
            stop.set()
        for future in futures:
            future.result()
    return accepted, peak
