#!/usr/bin/env python3
"""Summarise what bench/run.sh recorded: wrk outputs, paced-stream runs, memory samples.

The wrk manifest is a tab-separated file, one line per wrk run:

    scenario <TAB> target <TAB> round <TAB> path-to-raw-wrk-output

`round` is a number for measured runs, "warmup" for warm-up runs and "soak" for the soak
run (both ignored by the table, counted by `requests`). The paced manifest has one line
per paced_client.py run: target <TAB> round <TAB> path-to-JSON. The memory file has
label <TAB> VmRSS kB <TAB> VmHWM kB; the soak file seconds <TAB> VmRSS kB.

Usage:
    report.py summary --wrk MANIFEST [--paced MANIFEST] [--memory FILE] [--soak FILE]
                      [--delay-seconds S]    every section + the targets (markdown)
    report.py table MANIFEST                 wrk table + ratios only
    report.py requests MANIFEST TARGET       total completed requests wrk saw for TARGET
    report.py paced-requests MANIFEST TARGET total requests paced_client.py completed
    report.py brief FILE                     one wrk output as a one-line summary
    report.py paced-brief FILE               one paced_client.py JSON as a one-line summary
    report.py parse FILE                     one wrk output as JSON (debugging)
"""

import argparse
import json
import os
import re
import sys

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
TARGETS = ["direct", "nginx-proxy", "orchestratord"]

# The performance targets (docs/performance.md). Throughput: orchestratord ÷ nginx-proxy
# req/s per scenario kind at many connections; "delay" also needs zero errors.
THROUGHPUT_GOAL = {"chat": 0.50, "stream": 0.50, "delay": 0.98}
C1_P50_DELTA_MS = 0.1  # c=1: orchestratord p50 ≤ direct p50 + 0.1 ms
C1_P99_DELTA_MS = 0.3  # c=1: orchestratord p99 ≤ direct p99 + 0.3 ms
PACED_FIRST_DELTA_MS = 1.0  # first event ≤ 1 ms later than direct
BATCH_GAP_MS = 2.0  # events < 2 ms apart count as batched (the upstream spaces them 10 ms)
IDLE_RSS_MIB = 40
AFTER_RSS_MIB = 120
SOAK_BAND = 0.10  # ±10 % after the first minute
SOAK_SETTLE_S = 60


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


def read_lines(path, fields):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t", fields - 1) for line in f if line.strip()]


def read_manifest(path):
    runs = []
    for scenario, target, rnd, raw in read_lines(path, 4):
        with open(raw, errors="replace") as r:
            runs.append({"scenario": scenario, "target": target, "round": rnd, "raw": raw, **parse(r.read())})
    return runs


def scenario_kind(scenario):
    """("chat", 50) for "chat c=50"."""
    m = re.fullmatch(r"(\w+) c=(\d+)", scenario)
    return (m.group(1), int(m.group(2))) if m else (scenario, None)


def fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v * 1000:.0f}us" if abs(v) < 1 else f"{v:.2f}ms"


def fmt_delta(v):
    if v is None:
        return "n/a"
    return ("+" if v >= 0 else "−") + fmt_ms(abs(v))


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def fmt_exact(ratio):
    return f"{ratio:.3f}" if ratio is not None else "n/a"


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))]


def mib(kib):
    return int(kib) / 1024 if str(kib).isdigit() else None


# ---------------------------------------------------------------------------
# wrk scenarios
# ---------------------------------------------------------------------------
def best_runs(runs):
    """{scenario: {target: best run + "errors_all" + "rounds"}} over measured rounds, in order."""
    measured = [r for r in runs if r["round"].isdigit()]
    out = {}
    for scenario in dict.fromkeys(r["scenario"] for r in measured):
        out[scenario] = {}
        for target in TARGETS:
            mine = [r for r in measured if r["scenario"] == scenario and r["target"] == target]
            if not mine:
                continue
            # Best of rounds = the run with the highest throughput; its latencies go with it.
            top = dict(max(mine, key=lambda r: r["rps"] or 0.0))
            top["errors_all"] = sum(r["errors"] for r in mine)  # every round, not only the best
            top["failed"] = any(r["rps"] is None for r in mine)
            top["rounds"] = [r["rps"] for r in mine]
            out[scenario][target] = top
    return out


def wrk_table(best):
    lines = [
        "| scenario | target | req/s | p50 | p99 | errors | rounds (req/s) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for scenario, per_target in best.items():
        for target, top in per_target.items():
            errors = f"{top['errors_all']} + wrk failed" if top["failed"] else str(top["errors_all"])
            per_round = ", ".join(f"{v:.0f}" if v is not None else "n/a" for v in top["rounds"])
            rps = f"{top['rps']:.0f}" if top["rps"] is not None else "n/a"
            lines.append(
                f"| {scenario} | {target} | {rps} | {fmt_ms(top['p50'])} | {fmt_ms(top['p99'])} | {errors} | {per_round} |")
    return lines


def ratio_rows(best):
    """Per scenario: ratios and the throughput target check. Returns (lines, targets)."""
    lines = [
        "| scenario | orchestratord ÷ nginx-proxy | orchestratord ÷ direct | nginx-proxy ÷ direct | target | status |",
        "|---|---:|---:|---:|---|---|",
    ]
    targets = []
    for scenario, t in best.items():
        rps = {k: v["rps"] for k, v in t.items()}
        o_n = fmt_ratio(rps.get("orchestratord"), rps.get("nginx-proxy"))
        o_d = fmt_ratio(rps.get("orchestratord"), rps.get("direct"))
        n_d = fmt_ratio(rps.get("nginx-proxy"), rps.get("direct"))
        kind, conns = scenario_kind(scenario)
        goal_text, met = "", None
        if conns == 1:
            goal_text = "latency (next table)"
        elif kind in THROUGHPUT_GOAL and "orchestratord" in t:
            goal = THROUGHPUT_GOAL[kind]
            errors = t["orchestratord"]["errors_all"] + (1 if t["orchestratord"]["failed"] else 0)
            exact = None
            if rps.get("orchestratord") and rps.get("nginx-proxy"):
                # Judged on the unrounded ratio: 0.497 shows as 0.50 but does not meet 0.50.
                exact = rps["orchestratord"] / rps["nginx-proxy"]
                met = exact >= goal
            if kind == "delay":
                goal_text = f"≥ {goal:.2f}, 0 errors"
                if met is not None:
                    met = met and errors == 0
                targets.append(f"- {scenario}: orchestratord ÷ nginx-proxy {fmt_exact(exact)} (≥ {goal:.2f}), "
                               f"errors {errors} (0): {verdict(met)}")
            else:
                goal_text = f"≥ {goal:.2f}"
                targets.append(f"- {scenario}: orchestratord ÷ nginx-proxy {fmt_exact(exact)} (≥ {goal:.2f}): {verdict(met)}")
        o_n_cell = f"**{o_n}**" if o_n != "n/a" else o_n
        met_cell = verdict(met) if kind in THROUGHPUT_GOAL and conns != 1 else ""
        lines.append(f"| {scenario} | {o_n_cell} | {o_d} | {n_d} | {goal_text} | {met_cell} |")
    return lines, targets


def latency_rows(best):
    """p50/p99 of nginx-proxy and orchestratord against direct, per scenario."""
    lines = [
        "| scenario | target | p50 | Δ p50 vs direct | p99 | Δ p99 vs direct | goal | status |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    targets = []
    for scenario, t in best.items():
        direct = t.get("direct")
        kind, conns = scenario_kind(scenario)
        for target in ("nginx-proxy", "orchestratord"):
            run = t.get(target)
            if not run:
                continue
            d50 = run["p50"] - direct["p50"] if direct and run["p50"] is not None and direct["p50"] is not None else None
            d99 = run["p99"] - direct["p99"] if direct and run["p99"] is not None and direct["p99"] is not None else None
            goal, met = "", None
            if conns == 1 and target == "orchestratord":
                goal = f"Δ p50 ≤ {fmt_ms(C1_P50_DELTA_MS)}, Δ p99 ≤ {fmt_ms(C1_P99_DELTA_MS)}"
                if d50 is not None and d99 is not None:
                    met = d50 <= C1_P50_DELTA_MS + 1e-9 and d99 <= C1_P99_DELTA_MS + 1e-9
                targets.append(f"- {scenario}: orchestratord p50 {fmt_delta(d50)} (≤ +{fmt_ms(C1_P50_DELTA_MS)}), "
                               f"p99 {fmt_delta(d99)} (≤ +{fmt_ms(C1_P99_DELTA_MS)}) vs direct: {verdict(met)}")
            lines.append(f"| {scenario} | {target} | {fmt_ms(run['p50'])} | {fmt_delta(d50)} | {fmt_ms(run['p99'])} | "
                         f"{fmt_delta(d99)} | {goal} | {verdict(met) if goal else ''} |")
    return lines, targets


def delay_lines(best, delay_seconds):
    """How close each target gets to the ideal connections ÷ delay (is the mock keeping up?)."""
    lines = []
    for scenario, t in best.items():
        kind, conns = scenario_kind(scenario)
        if kind != "delay" or not conns:
            continue
        ideal = conns / delay_seconds
        parts = [f"{target} {run['rps']:.0f} ({run['rps'] / ideal:.2f})" for target, run in t.items() if run["rps"]]
        lines.append(f"- {scenario}: ideal {ideal:.0f} req/s (connections ÷ {delay_seconds * 1000:.0f} ms); "
                     + ", ".join(parts))
    return lines


# ---------------------------------------------------------------------------
# Paced stream
# ---------------------------------------------------------------------------
def load_paced(path):
    with open(path) as f:
        return json.load(f)


def paced_stats(datas):
    streams = [s for d in datas for s in d["streams"] if s["ok"]]
    errors = sum(len(d["errors"]) for d in datas)
    first = [s["first_event_ms"] for s in streams]
    gaps = [g for s in streams for g in s["gaps_ms"]]
    return {
        "streams": len(streams),
        "errors": errors,
        "events": (sum(s["events"] for s in streams) / len(streams)) if streams else None,
        "first_p50": pct(first, 50),
        "first_p99": pct(first, 99),
        "gap_p50": pct(gaps, 50),
        "gap_min": min(gaps) if gaps else None,
        "gap_max": max(gaps) if gaps else None,
        "gaps_total": len(gaps),
        "batched_gaps": sum(1 for g in gaps if g < BATCH_GAP_MS),
        "multi_reads": sum(1 for s in streams for n in s["reads_with_events"] if n > 1),
        "requests": sum(d["requests"] for d in datas),
    }


def paced_brief(path):
    s = paced_stats([load_paced(path)])
    if not s["streams"]:
        return f"no successful stream, errors {s['errors']}"
    return (f"{s['streams']} streams, {s['events']:.0f} events each, first event p50 {fmt_ms(s['first_p50'])} "
            f"p99 {fmt_ms(s['first_p99'])}, gap p50 {fmt_ms(s['gap_p50'])} min {fmt_ms(s['gap_min'])}, "
            f"gaps < {BATCH_GAP_MS:g} ms: {s['batched_gaps']}, reads with >1 event: {s['multi_reads']}, "
            f"errors {s['errors']}")


def paced_section(manifest):
    rows = read_lines(manifest, 3)
    if not rows:
        return [], []
    per_target = {t: paced_stats([load_paced(p) for tt, _, p in rows if tt == t]) for t in TARGETS
                  if any(tt == t for tt, _, _ in rows)}
    direct = per_target.get("direct")
    lines = [
        "| target | streams | events/stream | first event p50 | p99 | Δ p50 vs direct | Δ p99 vs direct | gap p50 | gap min | "
        f"gaps < {BATCH_GAP_MS:g} ms | reads with >1 event | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    targets = []
    for target, s in per_target.items():
        d50 = s["first_p50"] - direct["first_p50"] if direct and s["first_p50"] is not None and direct["first_p50"] is not None else None
        d99 = s["first_p99"] - direct["first_p99"] if direct and s["first_p99"] is not None and direct["first_p99"] is not None else None
        events = f"{s['events']:.0f}" if s["events"] is not None else "n/a"
        lines.append(
            f"| {target} | {s['streams']} | {events} | {fmt_ms(s['first_p50'])} | {fmt_ms(s['first_p99'])} | "
            f"{fmt_delta(d50) if target != 'direct' else ''} | {fmt_delta(d99) if target != 'direct' else ''} | "
            f"{fmt_ms(s['gap_p50'])} | {fmt_ms(s['gap_min'])} | {s['batched_gaps']} of {s['gaps_total']} | "
            f"{s['multi_reads']} | {s['errors']} |")
        if target == "orchestratord":
            met = None
            if s["errors"] or not s["streams"]:
                met = False
            elif d50 is not None:
                met = d50 <= PACED_FIRST_DELTA_MS and s["batched_gaps"] == 0 and s["multi_reads"] == 0
            targets.append(
                f"- paced stream: orchestratord first event {fmt_delta(d50)} vs direct (p50; ≤ +{fmt_ms(PACED_FIRST_DELTA_MS)}), "
                f"{s['batched_gaps']} gaps < {BATCH_GAP_MS:g} ms and {s['multi_reads']} reads with >1 event (0), "
                f"errors {s['errors']}: {verdict(met)}")
    return lines, targets


# ---------------------------------------------------------------------------
# Memory and soak
# ---------------------------------------------------------------------------
def fmt_mib(v):
    return f"{v:.1f} MiB" if v is not None else "n/a"


def memory_section(path):
    rows = read_lines(path, 3)
    if not rows:
        return [], []
    lines = ["| when | VmRSS | peak so far (VmHWM) | target | status |", "|---|---:|---:|---|---|"]
    targets = []
    for label, rss, hwm in rows:
        r = mib(rss)
        goal = IDLE_RSS_MIB if label.startswith("idle") else AFTER_RSS_MIB if label == "after the runs" else None
        met = (r <= goal) if goal is not None and r is not None else None
        lines.append(f"| {label} | {fmt_mib(r)} | {fmt_mib(mib(hwm))} | {f'≤ {goal} MiB' if goal else ''} | "
                     f"{verdict(met) if goal else ''} |")
        if goal:
            targets.append(f"- memory {label}: VmRSS {fmt_mib(r)} (≤ {goal} MiB): {verdict(met)}")
    return lines, targets


def fmt_pct(fraction):
    return f"{round(fraction * 100, 1) + 0.0:+.1f} %"  # + 0.0 turns -0.0 into 0.0


def soak_section(path, wrk_runs):
    rows = [(int(t), int(k)) for t, k in read_lines(path, 2)]
    if not rows:
        return [], []
    soak = [r for r in wrk_runs if r["round"] == "soak"]
    lines = []
    if soak:
        w = soak[0]
        rps = f"{w['rps']:.0f}" if w["rps"] is not None else "n/a"
        lines.append(f"- load: {w['scenario']} against orchestratord: {rps} req/s, p50 {fmt_ms(w['p50'])}, "
                     f"p99 {fmt_ms(w['p99'])}, errors {w['errors']}, {w['requests']} requests")
    values = [k / 1024 for _, k in rows]
    last_t = rows[-1][0]
    settle = SOAK_SETTLE_S if last_t >= 2 * SOAK_SETTLE_S else last_t / 2
    window = [(t, k / 1024) for t, k in rows if t >= settle]
    ref_t, ref = window[0]
    devs = [v / ref - 1 for _, v in window]
    flat = all(abs(d) <= SOAK_BAND + 1e-9 for d in devs)
    lines.append(f"- VmRSS over {last_t} s ({len(rows)} samples): first {values[0]:.1f} MiB, min {min(values):.1f}, "
                 f"max {max(values):.1f}, last {values[-1]:.1f} MiB")
    lines.append(f"- from {ref_t} s on (reference {ref:.1f} MiB at {ref_t} s): {fmt_pct(min(devs))} … "
                 f"{fmt_pct(max(devs))}, last {fmt_pct(devs[-1])} → "
                 f"{'flat (within' if flat else '**not flat** (outside'} ±{SOAK_BAND * 100:.0f} %)")
    # Samples as a grid: one row per minute.
    step = rows[1][0] - rows[0][0] if len(rows) > 1 else rows[0][0]
    per_row = max(1, 60 // step) if step else 6
    lines.append("")
    lines.append("| from | " + " | ".join(f"+{i * step}s" for i in range(per_row)) + " |")
    lines.append("|---|" + "---:|" * per_row)
    for i in range(0, len(rows), per_row):
        chunk = rows[i:i + per_row]
        cells = [f"{k / 1024:.1f}" for _, k in chunk] + [""] * (per_row - len(chunk))
        lines.append(f"| {chunk[0][0]} s | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("(VmRSS in MiB.)")
    target = (f"- soak: VmRSS {fmt_pct(min(devs))} … {fmt_pct(max(devs))} of {ref:.1f} MiB after the first "
              f"{ref_t} s (±{SOAK_BAND * 100:.0f} %): {verdict(flat)}")
    if last_t < 600:
        target += f" (soak was {last_t} s; the target is for 600 s)"
    return lines, [target]


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
def warnings(runs):
    out = []
    if any(r["rps"] is None for r in runs):
        out.append("WARNING: some wrk runs produced no result (could not connect?); see the raw wrk outputs.")
    total_errors = sum(r["errors"] for r in runs)
    if total_errors:
        out.append(f"WARNING: {total_errors} non-2xx responses / socket errors in total; see the raw wrk outputs.")
    return out


def table(manifest):
    runs = read_manifest(manifest)
    best = best_runs(runs)
    print("\n".join(wrk_table(best)))
    print()
    print("Ratios (best round each):")
    for scenario, t in best.items():
        o, n = t.get("orchestratord"), t.get("nginx-proxy")
        print(f"- {scenario}: orchestratord ÷ nginx-proxy req/s = "
              + (f"**{fmt_ratio(o['rps'], n['rps'])}**" if o and n and o["rps"] and n["rps"] else "n/a"))
    for w in warnings(runs):
        print()
        print(w)


def summary(args):
    runs = read_manifest(args.wrk)
    best = best_runs(runs)
    out, targets = [], []

    def section(title, lines, intro=None):
        if lines:
            out.extend([f"## {title}", ""] + ([intro, ""] if intro else []) + lines + [""])

    section("Throughput and latency (wrk)", wrk_table(best) if best else [],
            "Best round per target (highest req/s, with that run's p50/p99); errors summed over all rounds.")
    if best:
        lines, t = ratio_rows(best)
        section("Ratios (best round each)", lines)
        targets += t
        dl = delay_lines(best, args.delay_seconds)
        section("Delayed upstream: share of the ideal", dl,
                "Each target's req/s and, in brackets, its share of connections ÷ upstream delay (what a hop "
                "that adds nothing would reach). `direct` far below 1.00 means the mock or the client is the limit.")
        lines, t = latency_rows(best)
        section("Latency against direct (best round each)", lines,
                "Δ = target − direct. At c=1 this is the latency one hop adds; at c=N it includes queueing.")
        targets += t
    lines, t = paced_section(args.paced)
    section("Paced stream (an event every 10 ms)", lines,
            "All rounds together. First event = time from sending the request to the first complete `data:` event. "
            f"Gaps are between consecutive events of a stream; gaps < {BATCH_GAP_MS:g} ms and reads that completed "
            "more than one event mean events were held back and delivered together (batched).")
    targets += t
    lines, t = memory_section(args.memory)
    section("Memory (orchestratord, /proc/PID/status)", lines)
    targets += t
    lines, t = soak_section(args.soak, runs)
    section("Soak", lines)
    targets += t
    section("Against the targets", targets)
    w = warnings(runs)
    if w:
        out.extend(w + [""])
    print("\n".join(out).rstrip("\n"))


def main(argv):
    if len(argv) >= 2 and argv[1] == "summary":
        ap = argparse.ArgumentParser(prog="report.py summary")
        ap.add_argument("--wrk", required=True)
        ap.add_argument("--paced")
        ap.add_argument("--memory")
        ap.add_argument("--soak")
        ap.add_argument("--delay-seconds", type=float, default=0.05)
        summary(ap.parse_args(argv[2:]))
    elif len(argv) == 3 and argv[1] == "table":
        table(argv[2])
    elif len(argv) == 4 and argv[1] == "requests":
        print(sum(r["requests"] for r in read_manifest(argv[2]) if r["target"] == argv[3]))
    elif len(argv) == 4 and argv[1] == "paced-requests":
        print(sum(load_paced(p)["requests"] for t, _, p in read_lines(argv[2], 3) if t == argv[3]))
    elif len(argv) == 3 and argv[1] == "brief":
        with open(argv[2]) as f:
            text = f.read()
        r = parse(text)
        rps = f"{r['rps']:.0f}" if r["rps"] is not None else "n/a"
        failed = "  (wrk failed: " + text.strip().splitlines()[-1][:80] + ")" if r["rps"] is None and text.strip() else ""
        print(f"{rps:>7} req/s  p50 {fmt_ms(r['p50']):>8}  p99 {fmt_ms(r['p99']):>8}  errors {r['errors']}{failed}")
    elif len(argv) == 3 and argv[1] == "paced-brief":
        print(paced_brief(argv[2]))
    elif len(argv) == 3 and argv[1] == "parse":
        with open(argv[2]) as f:
            print(json.dumps(parse(f.read())))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
