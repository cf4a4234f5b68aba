#!/usr/bin/env python3
"""Summarise bench/sidebyside.sh's results.jsonl as markdown tables.

usage: table.py RESULTS.jsonl MACHINE.txt SERVERS

Every figure is the median over the runs, with the runs' minimum and maximum in
brackets when there was more than one run; ratios are the server's median over
Parley's median (for CPU and memory, above 1 means the server costs more than
Parley; for rates, above 1 means it sustains more).
"""
import json
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    if x is None:
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def cell(xs, digits=2, scale=1.0):
    xs = [x * scale for x in xs if x is not None]
    if not xs:
        return "–"
    m = statistics.median(xs)
    if len(xs) == 1:
        return fmt(m, digits)
    return f"{fmt(m, digits)} ({fmt(min(xs), digits)}–{fmt(max(xs), digits)})"


def ratio(x, base):
    if x is None or base in (None, 0):
        return "–"
    return f"{x / base:.2f}×"


def main():
    rows = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        machine = f.read().strip()
    servers = sys.argv[3].split(",")

    by = {s: {"conns": [], "msgs": [], "provision": [], "skipped": False, "cmd": {}} for s in servers}
    for r in rows:
        s = r["server"]
        if s not in by:
            continue
        if "skipped" in r:
            by[s]["skipped"] = True
            continue
        c = r["report"]["command"]
        by[s][c].append(r["report"])
        by[s]["cmd"].setdefault(c, r["command"])
    present = [s for s in servers if by[s]["msgs"] or by[s]["conns"]]

    out = []
    out.append("```")
    out.append(machine)
    out.append("```")
    out.append("")
    for s in servers:
        if by[s]["skipped"] and not present.count(s):
            out.append(f"**{s}: SKIPPED — it did not start; no figures.**")
            out.append("")

    # Per-run figures.
    def conns_vals(s, f):
        return [f(r) for r in by[s]["conns"]]

    def rss(r):
        m = r.get("server_memory") or {}
        return m.get("rss_per_session_bytes")

    def msgs_vals(s, f):
        return [f(r) for r in by[s]["msgs"]]

    def step(r, rate):
        for st in r["steps"]:
            if st["target_rate"] == rate:
                return st
        return None

    rates = []
    for s in present:
        for r in by[s]["msgs"]:
            for st in r["steps"]:
                if st["target_rate"] not in rates:
                    rates.append(st["target_rate"])
    rates.sort()

    # Headline CPU step: the highest rate at which every server, in every run,
    # lost nothing, had no send error and kept below 0.9 of its core. A
    # saturated server finishes its backlog in the drain after the step, whose
    # CPU the step does not count, so its CPU per message would read too low.
    # Else the lowest rate.
    def clean(s, rate):
        sts = [step(r, rate) for r in by[s]["msgs"]]
        return sts and all(
            st is not None and st["lost"] == 0 and st["send_errors"] == 0
            and (st["cores"].get("server") or 0) < 0.9
            for st in sts)

    common = [rate for rate in rates if all(clean(s, rate) for s in present)]
    head_rate = common[-1] if common else (rates[0] if rates else None)

    def cpu_at(s, rate):
        return msgs_vals(s, lambda r: (step(r, rate) or {}).get("server_cpu_seconds_per_1000"))

    base = "parley" if "parley" in present else None
    out.append("| | " + " | ".join(present) + " |")
    out.append("| --- |" + " ---: |" * len(present))

    def row(label, vals_of, digits=2, with_ratio=True):
        cells = []
        for s in present:
            v = vals_of(s)
            c = cell(v, digits)
            if with_ratio and base and s != base:
                c += f" · {ratio(med(v), med(vals_of(base)))}"
            cells.append(c)
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    if head_rate is not None:
        row(f"**server CPU-s per 1,000 msgs** at {head_rate:,.0f} msg/s", lambda s: cpu_at(s, head_rate), 3)
    row("max sustainable rate, msg/s (p99 ≤ 10 ms, none lost; indicative)",
        lambda s: msgs_vals(s, lambda r: r["max_sustainable_rate"]), 0)
    row("server RSS per session, KiB (conns)", lambda s: conns_vals(s, lambda r: (rss(r) or 0) / 1024 or None), 1)
    row("login p50, ms", lambda s: conns_vals(s, lambda r: r["login"]["p50_ms"]), 2)
    row("login p99, ms", lambda s: conns_vals(s, lambda r: r["login"]["p99_ms"]), 2)
    row("logins per second (conns ramp)", lambda s: conns_vals(s, lambda r: r["logins_per_second"]), 0)
    row("sessions up / failed (conns)", lambda s: conns_vals(s, lambda r: r["sessions_up"]), 0, with_ratio=False)
    kx = []
    for s in present:
        seen = sorted({k for r in by[s]["conns"] for k in (r.get("tls_key_exchange") or {})})
        kx.append(", ".join(seen) or "–")
    out.append("| TLS key exchange (conns) | " + " | ".join(kx) + " |")
    out.append("")
    top = rates[-1] if rates else None
    for s in present:
        ms = med(msgs_vals(s, lambda r: r["max_sustainable_rate"]))
        if ms == 0:
            out.append(f"- {s}: max sustainable rate 0 = no step met p99 ≤ 10 ms with nothing lost, not even {rates[0]:,.0f} msg/s.")
        elif ms is not None and ms == top:
            out.append(f"- {s}: sustained the top step ({top:,.0f} msg/s); its limit is higher, so rate ratios to it are upper bounds.")
    out.append("")
    out.append("Cells: median (min–max over runs) · ratio of medians to Parley. The CPU row is at the highest step "
               "where every server, in every run, lost nothing and used under 0.9 of its core.")
    out.append("")

    # Per step.
    out.append("| msg/s | server | CPU-s per 1k | × Parley | server cores | delivered/s | p50 ms | p99 ms | lost | tool cores | other cores |")
    out.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rate in rates:
        for s in present:
            g = lambda f: msgs_vals(s, lambda r: f(step(r, rate)) if step(r, rate) else None)
            cpu = cpu_at(s, rate)
            rt = ratio(med(cpu), med(cpu_at(base, rate))) if base and s != base else ""
            out.append(
                f"| {rate:,.0f} | {s} | {cell(cpu, 3)} | {rt} | {cell(g(lambda st: st['cores'].get('server')), 2)}"
                f" | {cell(g(lambda st: st['delivered_per_second']), 0)} | {cell(g(lambda st: st['latency']['p50_ms']), 2)}"
                f" | {cell(g(lambda st: st['latency']['p99_ms']), 2)} | {cell(g(lambda st: st['lost']), 0)}"
                f" | {cell(g(lambda st: st['cores'].get('generator')), 2)} | {cell(g(lambda st: st['cores'].get('other')), 2)} |"
            )
    out.append("")

    # Failures worth a look.
    for s in present:
        for r in by[s]["conns"]:
            if r.get("failed") or r.get("dropped_during_hold"):
                out.append(f"- {s} conns: failed {r.get('failed')}, dropped {r.get('dropped_during_hold')}, failures {json.dumps(r.get('failures'))}")
        for r in by[s]["provision"]:
            out.append(f"- {s} provision: created {r['created']}, existing {r['existing']}, failed {r['failed']}, "
                       f"roster items {r['roster_items']}, {r['seconds']:.1f} s")
    out.append("")
    out.append("Commands (per server; `--server`, `--server-pid` differ):")
    out.append("")
    out.append("```sh")
    for s in present:
        for c in ("provision", "conns", "msgs"):
            if c in by[s]["cmd"]:
                out.append(f"# {s}\n{by[s]['cmd'][c]}")
    out.append("```")
    print("\n".join(out))


if __name__ == "__main__":
    main()
