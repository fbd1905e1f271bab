"""The housekeeping loop runs each job on its own interval: ledger checkpoints
each minute, the rest every five, and a failing job does not stop the others."""

from __future__ import annotations

import asyncio
import datetime as dt

from workers import housekeeping


def test_checkpoints_have_their_own_shorter_interval():
    jobs = {name: every for name, _, every in housekeeping.scheduled_jobs(300.0, 60.0)}
    assert jobs.pop("publish ledger checkpoints") == 60.0
    assert set(jobs.values()) == {300.0} and len(jobs) == len(housekeeping.housekeeping_jobs())


async def test_each_job_runs_when_it_is_due():
    runs: dict[str, int] = {"often": 0, "rarely": 0, "failing": 0}

    def job(name: str):
        async def run(now: dt.datetime) -> int:
            runs[name] += 1
            if name == "failing":
                raise RuntimeError("this job fails every time")
            return 0
        return run

    stop = asyncio.Event()
    loop = asyncio.create_task(housekeeping.run_periodic(stop, jobs=[
        ("often", job("often"), 0.05), ("rarely", job("rarely"), 3600.0),
        ("failing", job("failing"), 0.05)]))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(loop, timeout=5)
    assert runs["rarely"] == 1
    assert 5 <= runs["often"] <= 11 and 5 <= runs["failing"] <= 11, runs
