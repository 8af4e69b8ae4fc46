#!/usr/bin/env python3
"""Parse wrk outputs recorded by bench/run.sh and summarise them.

The manifest is a tab-separated file, one line per wrk run:

    scenario <TAB> target <TAB> round <TAB> path-to-raw-wrk-output

`round` is a number for measured runs and "warmup" for warm-up runs (warm-up runs
are ignored by the table but counted by `requests`).

Usage:
    report.py table MANIFEST              markdown table + orchestratord/nginx-proxy ratios
    report.py requests MANIFEST TARGET    total completed requests wrk saw for TARGET
    report.py brief FILE                  one wrk output as a one-line summary
    report.py parse FILE                  one wrk output as JSON (debugging)
"""

import json
import re
import sys

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
TARGETS = ["direct", "nginx-proxy", "orchestratord"]


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    return float(m.group(1)) * UNIT_MS[m.group(2)] if m else None


def parse(text):
    """The numbers we need from one `wrk --latency` output."""
    out = {"rps": None, "p50": None, "p99": None, "requests": 0, "non2xx": 0, "socket_errors": 0}
    if m := re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M):
        out["rps"] = float(m.group(1))
    if m := re.search(r"^\s*(\d+) requests in ", text, re.M):
        out["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        out["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        out["socket_errors"] = sum(int(g) for g in m.groups())
    # The "Latency Distribution" block (only with --latency): "     50%  812.00us"
    if (start := text.find("Latency Distribution")) >= 0:
        for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)", text[start:], re.M):
            if pct == "50":
                out["p50"] = to_ms(value)
            elif pct == "99":
                out["p99"] = to_ms(value)
    out["errors"] = out["non2xx"] + out["socket_errors"]
    return out


def read_manifest(path):
    runs = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            scenario, target, rnd, raw = line.rstrip("\n").split("\t")
            with open(raw, errors="replace") as r:
                runs.append({"scenario": scenario, "target": target, "round": rnd, "raw": raw, **parse(r.read())})
    return runs


def fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v * 1000:.0f}us" if v < 1 else f"{v:.2f}ms"


def table(manifest):
    runs = read_manifest(manifest)
    measured = [r for r in runs if r["round"] != "warmup"]
    scenarios = list(dict.fromkeys(r["scenario"] for r in measured))
    lines = [
        "| scenario | target | req/s | p50 | p99 | errors | rounds (req/s) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    ratios = []
    for scenario in scenarios:
        best = {}
        for target in TARGETS:
            mine = [r for r in measured if r["scenario"] == scenario and r["target"] == target]
            if not mine:
                continue
            # Best of rounds = the run with the highest throughput; its latencies go with it.
            top = max(mine, key=lambda r: r["rps"] or 0.0)
            best[target] = top
            errors = sum(r["errors"] for r in mine)  # errors from every round, not only the best
            if any(r["rps"] is None for r in mine):
                errors = f"{errors} + wrk failed"
            per_round = ", ".join(f"{r['rps']:.0f}" if r["rps"] is not None else "n/a" for r in mine)
            rps = f"{top['rps']:.0f}" if top["rps"] is not None else "n/a"
            lines.append(
                f"| {scenario} | {target} | {rps} | {fmt_ms(top['p50'])} | {fmt_ms(top['p99'])} | {errors} | {per_round} |"
            )
        orch, proxy = best.get("orchestratord"), best.get("nginx-proxy")
        if orch and proxy and orch["rps"] and proxy["rps"]:
            ratios.append(f"- {scenario}: orchestratord ÷ nginx-proxy req/s = **{orch['rps'] / proxy['rps']:.2f}**")
        else:
            ratios.append(f"- {scenario}: orchestratord ÷ nginx-proxy req/s = n/a")
    print("\n".join(lines))
    print()
    print("Ratios (best round each):")
    print("\n".join(ratios))
    total_errors = sum(r["errors"] for r in runs)
    if any(r["rps"] is None for r in runs):
        print()
        print("WARNING: some wrk runs produced no result (could not connect?); see the raw wrk outputs.")
    if total_errors:
        print()
        print(f"WARNING: {total_errors} non-2xx responses / socket errors in total; see the raw wrk outputs.")


def requests(manifest, target):
    print(sum(r["requests"] for r in read_manifest(manifest) if r["target"] == target))


def main(argv):
    if len(argv) == 3 and argv[1] == "table":
        table(argv[2])
    elif len(argv) == 4 and argv[1] == "requests":
        requests(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "brief":
        with open(argv[2]) as f:
            text = f.read()
        r = parse(text)
        rps = f"{r['rps']:.0f}" if r["rps"] is not None else "n/a"
        failed = "  (wrk failed: " + text.strip().splitlines()[-1][:80] + ")" if r["rps"] is None and text.strip() else ""
        print(f"{rps:>7} req/s  p50 {fmt_ms(r['p50']):>8}  p99 {fmt_ms(r['p99']):>8}  errors {r['errors']}{failed}")
    elif len(argv) == 3 and argv[1] == "parse":
        with open(argv[2]) as f:
            print(json.dumps(parse(f.read())))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
