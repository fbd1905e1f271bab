"""Before loading anything: the three targets answer what they should.

OURS and (b) must say allowed/granted for seeded contacts, with the same
event_id, and allowed:false/none for an unknown e-mail; (a) must answer 200.
Exits non-zero with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import urllib.request

from seed import EMAIL_FORMAT


def get(base: str, path: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"body": exc.read().decode(errors="replace")[:300]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", required=True)
    parser.add_argument("--bare", required=True)
    parser.add_argument("--raw", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--purpose", default="newsletter")
    args = parser.parse_args()

    def path(email: str) -> str:
        return (f"/v1/consent-check?channel=email&purpose={args.purpose}"
                f"&email={email.replace('@', '%40')}")

    problems = []
    picks = [0, args.contacts - 1] + random.sample(range(args.contacts), 8)
    for i in picks:
        email = EMAIL_FORMAT.format(i)
        answers = {name: get(base, path(email), args.key)
                   for name, base in (("ours", args.ours), ("raw", args.raw))}
        for name, (status, body) in answers.items():
            if status != 200 or body.get("allowed") is not True or body.get("status") != "granted":
                problems.append(f"{name} {email}: {status} {body}")
        if answers["ours"][1].get("event_id") != answers["raw"][1].get("event_id"):
            problems.append(f"{email}: ours and (b) disagree: {answers}")
    for name, base in (("ours", args.ours), ("raw", args.raw)):
        status, body = get(base, path("nobody@unknown.example.com"), args.key)
        if status != 200 or body.get("allowed") is not False or body.get("status") != "none":
            problems.append(f"{name} unknown e-mail: {status} {body}")
    status, body = get(args.bare, path(EMAIL_FORMAT.format(0)), args.key)
    if status != 200:
        problems.append(f"bare: {status} {body}")
    status, body = get(args.ours, path(EMAIL_FORMAT.format(0)), "obk_0000000000000000_" + "x" * 43)
    if status != 401:
        problems.append(f"ours accepted a wrong key: {status} {body}")
    if problems:
        print("smoke check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"smoke check ok: {len(picks)} seeded contacts granted on ours and (b), same event ids")


if __name__ == "__main__":
    main()
