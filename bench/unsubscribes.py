"""One-click unsubscribes (RFC 8058 POST) against a real server, one at a time
at a steady rate, each timed: what a tenant's recipients do while its import
runs (bench/imports.py starts this in its own process, so the import's Python
does not slow the client down).

    python bench/unsubscribes.py --url URL --tokens FILE [--rate 10] [--count N]

Runs until `--count` unsubscribes are done, the tokens run out, or SIGTERM;
then writes one JSON document to --out: [[start (Unix time), seconds, HTTP status], ...].
"""

from __future__ import annotations

import argparse
import json
import signal
import time

import httpx


def main(args: argparse.Namespace) -> list[list[float]]:
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    with open(args.tokens) as source:
        links = [line.strip() for line in source if line.strip()]
    done: list[list[float]] = []
    interval = 1.0 / args.rate
    with httpx.Client(base_url=args.url, timeout=120) as client:
        tick = time.monotonic()
        for link in links[:args.count or None]:
            if stopping:
                break
            started, wall = time.monotonic(), time.time()
            answer = client.post(f"/p/unsubscribe/{link}",
                                 data={"List-Unsubscribe": "One-Click"})
            done.append([wall, time.monotonic() - started, answer.status_code])
            tick += interval
            time.sleep(max(0.0, tick - time.monotonic()))
    return done


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--out", required=True, help="where the JSON results go")
    arguments = parser.parse_args()
    results = main(arguments)
    with open(arguments.out, "w") as out:
        json.dump(results, out)
