"""`GET /metrics` scraped from a server of two processes (prometheus-client's
multi-process mode): whichever process answers, the request counters hold every
process's requests; labels are route templates and classes, never a raw path,
an address or a tenant."""

from __future__ import annotations

import json
import re
import time

import httpx

from tests import processes
from tests.factories import unique_slug


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _health_pids(installation) -> set[int]:
    """The processes that have answered /health, from the server's request log."""
    log = (installation.workdir / "server.log").read_text()
    return {json.loads(line)["pid"] for line in log.splitlines()
            if line.startswith("{") and json.loads(line).get("route") == "/health"}


def test_scrape_a_two_process_server(installation, engine):
    # Two processes each build the app: on a busy 2-core machine that takes a while.
    with installation.serving("--workers", "2", startup_seconds=120,
                              METRICS_TOKEN="s3cret-scrape-token") as server:
        http = processes.http(server.base_url, timeout=10)
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret-scrape-token"}
        before = _value(http.get("/metrics", headers=auth).text, "optinbase_http_requests_total",
                        route="/health")
        # New connections, until the kernel has given some to each process
        # (both accept on one socket: on a busy machine one of them took 400
        # in a row once).
        sent = 0
        while sent == 0 or (len(_health_pids(installation)) < 2 and sent < 2000):
            for _ in range(40):
                with processes.http(server.base_url, timeout=10) as one:
                    assert one.get("/health").status_code == 200
            sent += 40
        with processes.http(server.base_url, timeout=10) as one:
            assert one.get(f"/nowhere/{unique_slug('x')}@example.org").status_code == 404
        time.sleep(0.2)
        scrapes = []
        for _ in range(6):
            with processes.http(server.base_url, timeout=10) as one:
                answer = one.get("/metrics", headers=auth)
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/plain")
                scrapes.append(answer.text)
        time.sleep(0.3)
        pids = _health_pids(installation)
    assert len(pids) == 2, pids  # both processes answered
    for text in scrapes:  # every scrape, from either process, counts them all
        assert _value(text, "optinbase_http_requests_total", route="/health",
                      status_class="2xx") - before == sent
        assert _value(text, "optinbase_http_request_duration_seconds_count",
                      route="/health") - before == sent
        assert _value(text, "optinbase_http_requests_total", route="unmatched") >= 1
        assert "@example.org" not in text and "/nowhere" not in text
        assert "optinbase_outbox_messages" in text and "optinbase_requests_open" in text
    routes = set(re.findall(r'route="([^"]*)"', scrapes[-1]))
    assert routes <= {"/health", "/metrics", "unmatched"}, routes


def test_metrics_endpoint_absent_without_token(installation, engine):
    with installation.serving() as server:
        answer = httpx.get(f"{server.base_url}/metrics",
                           headers={"Authorization": "Bearer anything"})
        unknown = httpx.get(f"{server.base_url}/no-such-path")
    assert answer.status_code == unknown.status_code == 404
    assert answer.json() == unknown.json()
