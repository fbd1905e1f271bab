"""Prints the benchmark table from the JSON files in a results directory and
writes summary.json and latest.md beside them.

Every OURS figure stands beside its anchors measured in the same run:
(b) raw asyncpg under RLS, and (a) bare Litestar JSON.
Exit status: 0; with --strict, 2 when ours/(b) < 0.50 (the defect line) or the
cached key authentication costs more than 50 us.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

RATIO_GOAL, RATIO_DEFECT, KEY_AUTH_GOAL_US = 0.85, 0.50, 50.0  # requests/s goal: issue 14
P99_GOAL = 2.0  # ours' p99 under load / (b)'s, at most (issue 14)
BATCH_GOAL = 1.5  # batch check / hand-written = ANY($1) query (issue 14)
TARGETS = {
    "ours": "OURS  GET /v1/consent-check (key auth, Piccolo tx, RLS)",
    "raw": "(b)   Litestar + raw asyncpg, RLS, same SQL, no auth",
    "bare": "(a)   Litestar + msgspec JSON, no DB",
}
# Stack-facts anchors: other programs, other server options; context only.
REFERENCE = {
    "bare": "stack-facts: 11.7–13.0k req/s, p99 ~9.5 ms @64 conns (uvicorn 1w)",
    "raw": "stack-facts: 6.4k req/s, p99 20.8 ms @32 conns (granian 1w, HMAC key);"
           " unloaded p50 0.46 ms",
    "ours": "stack-facts: same check through Piccolo (2 queries) 1.5k req/s",
}


def load(results: Path) -> dict:
    runs: dict[str, list[dict]] = {}
    unloaded: dict[str, dict] = {}
    for path in sorted(results.glob("load-*.json")):
        data = json.loads(path.read_text())
        target = data["target"]
        if target.endswith("-c1"):
            unloaded[target[:-3]] = data
        else:
            runs.setdefault(target, []).append(data)
    read = lambda name: json.loads((results / name).read_text()) if (results / name).exists() else {}
    return {"runs": runs, "unloaded": unloaded, "seed": read("seed.json"),
            "keyauth": read("keyauth.json"), "env": read("env.json"),
            "batch": read("batch_check.json")}


def median(runs: list[dict], field: str) -> float:
    return statistics.median(r[field] for r in runs) if runs else float("nan")


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}, {os.cpu_count()} cores{', ' + model if model else ''}"


def verdict_ratio(ratio: float) -> str:
    if ratio != ratio:
        return "n/a"
    if ratio < RATIO_DEFECT:
        return f"DEFECT (< {RATIO_DEFECT:.2f})"
    if ratio < RATIO_GOAL:
        return f"below goal (< {RATIO_GOAL:.2f})"
    return "meets goal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    data = load(args.results)
    runs, unloaded, seed, keyauth, env = (data[k] for k in
                                          ("runs", "unloaded", "seed", "keyauth", "env"))
    m = {t: {f: median(runs.get(t, []), f) for f in
             ("rps", "p50_us", "p99_us", "server_cpu_us_per_req", "postgres_cpu_us_per_req",
              "machine_busy_pct", "others_pct")} for t in TARGETS}
    for t in TARGETS:
        m[t]["c1_p50_us"] = unloaded.get(t, {}).get("p50_us", float("nan"))
        m[t]["c1_rps"] = unloaded.get(t, {}).get("rps", float("nan"))
    ratio_b = m["ours"]["rps"] / m["raw"]["rps"] if runs.get("raw") else float("nan")
    round_ratios = [
        o["rps"] / r["rps"]
        for o in runs.get("ours", []) for r in runs.get("raw", []) if o["round"] == r["round"]
    ]
    ratio_a = m["ours"]["rps"] / m["bare"]["rps"] if runs.get("bare") else float("nan")
    p99_b = m["ours"]["p99_us"] / m["raw"]["p99_us"] if runs.get("raw") else float("nan")
    round_p99 = [
        o["p99_us"] / r["p99_us"]
        for o in runs.get("ours", []) for r in runs.get("raw", []) if o["round"] == r["round"]
    ]

    first = next(iter(runs.values()), [{}])[0]
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Consent check benchmark, {when}; machine: {machine()}",
        f"{seed.get('contacts', '?')} contacts seeded; wrk {first.get('threads', '?')} threads,"
        f" {first.get('connections', '?')} connections, {first.get('duration_s', '?')} s per"
        f" target after a warm-up; rounds: {max((len(v) for v in runs.values()), default=0)}"
        f" (medians); uvicorn 1 worker, uvloop, httptools, no access log;"
        f" server, PostgreSQL and wrk share the cores.",
        "",
        "| figure | OURS | (b) raw asyncpg | ours/(b) | (a) bare | ours/(a) |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, field: str, scale: float, fmt: str, ratio: bool = True,
            ratio_a: bool = True) -> None:
        o, b, a = (m[t][field] / scale for t in ("ours", "raw", "bare"))
        rb = f"{o / b:.2f}" if ratio and b == b and b > 0 else ""
        ra = f"{o / a:.2f}" if ratio and ratio_a and a == a and a > 0 else ""
        lines.append(f"| {label} | {o:{fmt}} | {b:{fmt}} | {rb} | {a:{fmt}} | {ra} |")

    row("requests/s", "rps", 1, ",.0f")
    row("p50 latency, ms", "p50_us", 1000, ".2f")
    row("p99 latency, ms", "p99_us", 1000, ".2f")
    row("p50 at 1 connection, ms", "c1_p50_us", 1000, ".2f")
    row("server CPU per request, µs", "server_cpu_us_per_req", 1, ".0f")
    row("PostgreSQL CPU per request, µs", "postgres_cpu_us_per_req", 1, ".0f", ratio_a=False)
    row("machine busy during run, % of 2 cores", "machine_busy_pct", 1, ".0f", ratio=False)
    row("  of which other processes, %", "others_pct", 1, ".0f", ratio=False)
    lines += [
        "",
        f"ours/(b) requests/s = {ratio_b:.2f}: {verdict_ratio(ratio_b)}"
        f" (goal >= {RATIO_GOAL:.2f}; below {RATIO_DEFECT:.2f} is a defect);"
        f" per round: {', '.join(f'{x:.2f}' for x in round_ratios) or 'n/a'}",
        f"ours/(b) p99 under load = {p99_b:.2f}: "
        + ("meets goal" if p99_b <= P99_GOAL else "ABOVE GOAL" if p99_b == p99_b else "n/a")
        + f" (goal <= {P99_GOAL:.1f}); per round: {', '.join(f'{x:.2f}' for x in round_p99) or 'n/a'}",
        f"ours/(a) requests/s = {ratio_a:.2f}",
    ]
    key_us = keyauth.get("cached_us", float("nan"))
    if keyauth:
        lines.append(
            f"key authentication, cached path: KeyAuthenticator.cached {key_us:.1f} µs,"
            f" authenticate(full key) {keyauth['authenticate_us']:.1f} µs, whole auth wall"
            f" (api.auth.resolve_api_key) {keyauth['auth_wall_us']:.1f} µs"
            f" per call (median of {keyauth['repeats']} x {keyauth['calls']:,});"
            f" goal <= {KEY_AUTH_GOAL_US:.0f} µs: "
            + ("meets goal" if keyauth["auth_wall_us"] <= KEY_AUTH_GOAL_US else "ABOVE GOAL")
        )
    batch = data.get("batch") or {}
    if batch:
        lines.append(
            f"batch consent check, {batch['items']:,} items in one statement: {batch['ours_ms']:.1f} ms"
            f" beside a hand-written = ANY($1) query {batch['anchor_ms']:.1f} ms:"
            f" ratio {batch['ratio']:.2f} (goal <= {BATCH_GOAL:.1f}: "
            + ("meets goal)" if batch["ratio"] <= BATCH_GOAL else "ABOVE GOAL)")
        )
    if seed:
        s = seed.get("seconds", {})
        lines.append(
            f"seed: {seed['contacts']:,} contacts, {seed['events']:,} ledger events"
            f" ({seed['real_path_events']} through consents.record_consent), {s.get('total')} s;"
            f" ledger verify: {env.get('ledger_verify', 'not run')}"
        )
    lines += ["", "Per round:"]
    for t in TARGETS:
        for r in runs.get(t, []):
            lines.append(
                f"  {t:>4} r{r['round']}: {r['rps']:,.0f} req/s, p50 {r['p50_us'] / 1000:.2f} ms,"
                f" p99 {r['p99_us'] / 1000:.2f} ms, server CPU {r['server_cpu_us_per_req']:.0f}"
                f" µs/req ({r['server_cpu_pct']:.0f}% of a core), machine busy"
                f" {r['machine_busy_pct']:.0f}% (other processes {r.get('others_pct', 0):.0f}%),"
                f" wrk {r.get('wrk_cpu_pct', 0):.0f}% of a core"
            )
    lines += ["", "For context only (stack-facts.md, other programs and options):"]
    lines += [f"  {t}: {REFERENCE[t]}" for t in TARGETS]
    text = "\n".join(lines)
    print(text)
    (args.results / "latest.md").write_text(text + "\n")
    (args.results / "summary.json").write_text(json.dumps(
        {"when": when, "machine": machine(), "medians": m, "ratio_ours_b": ratio_b,
         "ratio_ours_b_per_round": round_ratios, "p99_ratio_ours_b": p99_b,
         "ratio_ours_a": ratio_a, "keyauth": keyauth, "seed": seed, "env": env}, indent=1))
    if args.strict and (ratio_b < RATIO_DEFECT or key_us > KEY_AUTH_GOAL_US):
        sys.exit(2)


if __name__ == "__main__":
    main()
