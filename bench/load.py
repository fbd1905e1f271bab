"""Loads one running server with wrk and records what it costs.

A warm-up run (discarded), then the measured run. Around the measured run it
reads CPU time from /proc: the server process, the PostgreSQL backends of the
benchmark database, and the whole machine (to see how busy the 2 cores were,
including by anything else running). Writes one JSON file; exits non-zero when
wrk saw non-2xx answers or socket errors (a fast 401 is not a result).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def backends_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to `database`."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"postgres: ") and f" {database} ".encode() in cmdline:
            total += proc_cpu(int(entry.name))
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / TICK, total / TICK


def snapshot(pid: int, database: str) -> dict[str, float]:
    busy, total = machine_cpu()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished wrk runs
    return {"server": proc_cpu(pid), "postgres": backends_cpu(database), "busy": busy,
            "total": total, "wrk": children.ru_utime + children.ru_stime,
            "wall": time.monotonic()}


def wrk(url: str, seconds: int, connections: int, threads: int) -> dict:
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
        "--latency", "-s", str(HERE / "check.lua"), url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    match = re.search(r"^BENCH_JSON (\{.*\})$", done.stdout, re.M)
    if not match:
        raise SystemExit(f"no BENCH_JSON line in wrk output:\n{done.stdout}")
    result = json.loads(match.group(1))
    result["wrk_output"] = done.stdout
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server process")
    parser.add_argument("--database", default="optinbase_bench")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    if args.warmup > 0:
        wrk(args.url, args.warmup, args.connections, args.threads)
    before = snapshot(args.pid, args.database)
    result = wrk(args.url, args.duration, args.connections, args.threads)
    after = snapshot(args.pid, args.database)
    delta = {name: after[name] - before[name] for name in before}
    requests = max(result["requests"], 1)
    result.update(
        target=args.target, round=args.round, connections=args.connections,
        threads=args.threads, duration_s=args.duration,
        server_cpu_us_per_req=round(delta["server"] / requests * 1e6, 1),
        server_cpu_pct=round(delta["server"] / delta["wall"] * 100, 1),
        postgres_cpu_us_per_req=round(delta["postgres"] / requests * 1e6, 1),
        machine_busy_pct=round(delta["busy"] / delta["total"] * 100, 1),
        wrk_cpu_pct=round(delta["wrk"] / delta["wall"] * 100, 1),
        # CPU used by everything else on the machine (other jobs), % of all cores.
        others_pct=round(max(0.0, delta["busy"] - delta["server"] - delta["postgres"]
                             - delta["wrk"]) / delta["total"] * 100, 1),
        loadavg=Path("/proc/loadavg").read_text().split()[:3],
    )
    Path(args.out).write_text(json.dumps(result, indent=1))
    errors = sum(result[k] for k in ("errors_connect", "errors_read", "errors_write",
                                     "errors_timeout"))
    print(f"{args.target:>5} r{args.round}: {result['rps']:8.1f} req/s  p50 "
          f"{result['p50_us'] / 1000:6.2f} ms  p99 {result['p99_us'] / 1000:7.2f} ms  "
          f"server CPU {result['server_cpu_us_per_req']:6.0f} us/req "
          f"({result['server_cpu_pct']:.0f}%)  machine busy {result['machine_busy_pct']:.0f}%"
          f" (others {result['others_pct']:.0f}%)",
          file=sys.stderr)
    if result["errors_status"] or errors > result["requests"] * 0.001 or result["requests"] == 0:
        raise SystemExit(
            f"{args.target}: {result['errors_status']} non-2xx answers, {errors} socket errors"
            f" in {result['requests']} requests: not a valid measurement"
        )


if __name__ == "__main__":
    main()
