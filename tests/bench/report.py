#!/usr/bin/python3
"""Turn tests/bench/run.sh's results.json into results.md and a gnuplot PNG.

  report.py RESULTS.json OUTDIR                 OUTDIR/results.md, throughput.png
  report.py --docs RESULTS.json OUTDIR DOCSDIR  also: the block between the
        bench markers of DOCSDIR/performance.md, DOCSDIR/bench-throughput.png
"""
import json, os, shutil, subprocess, sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def load(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def pick(rs, **kw):
    return [r for r in rs if all(r.get(k) == v for k, v in kw.items())]


def one(rs, **kw):
    m = pick(rs, **kw)
    return m[-1] if m else None


def f(x, nd=1):
    return "-" if x is None else ("{:,.%df}" % nd).format(x)


def verdict(ok):
    return "met" if ok else "**MISSED**"


def report(rs, outdir):
    mach = one(rs, kind="machine") or {}
    keys = []
    for r in rs:
        if r.get("kind") == "sign" and r["key"] not in keys:
            keys.append(r["key"])
    L = []
    L.append("Machine: %s, %s cores, %.1f GiB RAM, Linux %s, OpenSSL %s, %s. Commit %s, %s%s." % (
        mach.get("cpu", "?"), mach.get("nproc", "?"), mach.get("mem_kib", 0) / 1048576,
        mach.get("kernel", "?"), mach.get("openssl", "?"), "SoftHSM " + str(mach.get("softhsm", "?")),
        mach.get("commit", "?"), mach.get("date", "?"), " (`--quick`)" if mach.get("quick") else ""))
    L.append("")
    L.append("### Signing throughput (certificates per second, one run)")
    L.append("")
    L.append("| CA key | requests | raw token, 1 session | `airlock-station sign` | ms / cert (wall, CPU) | peak RSS | airlock / raw | `openssl ca -infiles` | airlock / openssl ca | import | export |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    plot = {}
    for k in keys:
        raw = one(rs, kind="raw", key=k, sessions=1)
        for s in pick(rs, kind="sign", key=k):
            n = s["n"]
            o = one(rs, kind="openssl_ca", key=k, n=n)
            im = one(rs, kind="import", key=k, n=n)
            ex = one(rs, kind="export", key=k, n=n)
            rate = s["rate"] if s.get("issued") == n else None
            if ex and ex.get("ok") == -1:
                exs = "not run"
            elif ex and ex.get("ok"):
                exs = "%s s, %s MiB" % (f(ex["wall"], 2), f(ex["rss_kib"] / 1024, 1))
            else:
                exs = "fails: " + ex.get("error", "?")[:90] if ex else "-"
            L.append("| %s | %s | %s | %s | %s | %s MiB | %s | %s | %s | %s s | %s |" % (
                k, f(n, 0), f(raw and raw["rate"], 0), f(rate, 0) if rate else "failed (%s issued)" % s.get("issued"),
                f(1000 * s["wall"] / n, 3) + ", " + f(1000 * (s["user"] + s["sys"]) / n, 3),
                f(s["rss_kib"] / 1024, 1),
                f(rate / raw["rate"], 2) + "x" if rate and raw else "-",
                f(o and o["rate"], 0), f(rate / o["rate"], 2) + "x" if rate and o else "-",
                f(im and im["wall"], 2), exs))
            plot.setdefault(k, []).append((n, rate or 0, o["rate"] if o else None, raw["rate"] if raw else None))
    L.append("")
    L.append("Raw token rate with 2 sessions (the station uses 1): " + ", ".join(
        "%s %s/s" % (k, f(one(rs, kind="raw", key=k, sessions=2)["rate"], 0))
        for k in keys if one(rs, kind="raw", key=k, sessions=2)) + ".")
    x = [r for r in rs if r.get("kind") == "openssl_x509"]
    if x:
        L.append("One `openssl x509 -req -engine pkcs11` process per certificate: " + ", ".join(
            "%s %s/s (%d certificates)" % (r["key"], f(r["rate"], 1), r["n"]) for r in x) + ".")
    L.append("")
    sc = pick(rs, kind="smartcard")
    if sc:
        L.append("### Smartcard speed (p11fault: `delay C_Sign 200`, EC P-256 key)")
        L.append("")
        L.append("| requests | C_Sign calls | wall | wall - 200 ms x C_Sign | CPU (user+sys) | CPU / cert | station wall / cert |")
        L.append("|---:|---:|---:|---:|---:|---:|---:|")
        for r in sc:
            own = r["wall"] - r["delay_ms"] / 1000 * r["c_sign"]
            cpu = r["user"] + r["sys"]
            L.append("| %d | %d | %s s | %s s | %s s | %s ms | %s ms |" % (
                r["n"], r["c_sign"], f(r["wall"], 2), f(own, 2), f(cpu, 2),
                f(1000 * cpu / r["n"], 2), f(1000 * own / r["n"], 2)))
        if len(sc) >= 2:
            a, b = sc[0], sc[-1]
            d = b["n"] - a["n"]
            m_own = ((b["wall"] - 0.2 * b["c_sign"]) - (a["wall"] - 0.2 * a["c_sign"])) / d * 1000
            m_cpu = ((b["user"] + b["sys"]) - (a["user"] + a["sys"])) / d * 1000
            L.append("")
            L.append("Marginal cost of one more certificate (%d -> %d requests): %s ms of wall time beyond "
                     "the token's 200 ms, %s ms of CPU. (GNU time reports CPU in 10 ms ticks: "
                     "the marginal CPU figure is +-%s ms.)" % (a["n"], b["n"], f(m_own, 2), f(m_cpu, 2), f(20 / d, 2)))
        L.append("")
    kv = pick(rs, kind="kv_merge")
    if kv:
        L.append("### Merges into Key Vault (emulator on 127.0.0.1)")
        L.append("")
        L.append("| client | concurrency | merges | wall | merges / s |")
        L.append("|---|---:|---:|---:|---:|")
        for r in kv:
            L.append("| %s | %d | %s | %s s | %s |" % (r["client"], r["concurrency"], r.get("merged"),
                                                    f(r.get("wall"), 2), f(r.get("rate"), 1)))
        t = one(rs, kind="kv_merge_429")
        if t:
            L.append("")
            L.append("airlock-kv under injected 429s (%s faults applied, Retry-After 1 s): %s of %s merged, "
                     "%s failed, %s double merges, exit %s, %s s." % (
                         t["throttled"], t["merged"], t["n"], t["failed"], t["double_merges"], t["exit"],
                         f(t["wall"], 1)))
        L.append("")
    # targets
    L.append("### Targets (DESIGN.md, issue 10)")
    L.append("")
    L.append("| target | figure | |")
    L.append("|---|---|---|")
    signs = [s for s in rs if s.get("kind") == "sign" and s.get("issued") == s.get("n")]
    worst_raw = None
    for s in signs:
        raw = one(rs, kind="raw", key=s["key"], sessions=1)
        if raw:
            q = s["rate"] / raw["rate"]
            if worst_raw is None or q < worst_raw[0]:
                worst_raw = (q, s)
    if worst_raw:
        q, s = worst_raw
        best = max(s2["rate"] / one(rs, kind="raw", key=s2["key"], sessions=1)["rate"] for s2 in signs)
        L.append("| >= 0.9 x raw token rate | %sx to %sx (worst: %s, %s requests) | %s |" % (
            f(q, 2), f(best, 2), s["key"], f(s["n"], 0), verdict(q >= 0.9)))
    worst = None
    for s in signs:
        o = one(rs, kind="openssl_ca", key=s["key"], n=s["n"])
        if o:
            q = s["rate"] / o["rate"]
            if worst is None or q < worst[0]:
                worst = (q, s)
    if worst:
        q, s = worst
        L.append("| >= 1.5 x `openssl ca -infiles` | worst %sx (%s, %s requests) | %s |" % (
            f(q, 2), s["key"], f(s["n"], 0), verdict(q >= 1.5)))
    big = [s for s in rs if s.get("kind") == "sign" and s.get("n") == 100000]
    if big:
        s = big[0]
        ex = one(rs, kind="export", key=s["key"], n=100000)
        im = one(rs, kind="import", key=s["key"], n=100000)
        mx = max(s["rss_kib"], im["rss_kib"] if im else 0)
        L.append("| 100,000 requests within 64 MiB RSS | sign %s MiB, import %s MiB, export %s | %s |" % (
            f(s["rss_kib"] / 1024, 1), f(im["rss_kib"] / 1024 if im else None, 1),
            ("%s MiB" % f(ex["rss_kib"] / 1024, 1)) if ex and ex.get("ok") == 1 else
            ("not run" if ex and ex.get("ok") == -1 else "fails"),
            verdict(mx <= 65536 and s.get("issued") == 100000 and not (ex and ex.get("ok") == 0))))
        small = one(rs, kind="sign", key=s["key"], n=1000)
        if small:
            a, b = small["wall"] / 1000, s["wall"] / 100000
            ca, cb = (small["user"] + small["sys"]) / 1000, (s["user"] + s["sys"]) / 100000
            L.append("| time per certificate flat within 10%% from 1,000 to 100,000 | wall %s ms -> %s ms (%+.1f%%); CPU %s ms -> %s ms (%+.1f%%); %s | %s |" % (
                f(a * 1000, 3), f(b * 1000, 3), 100 * (b / a - 1), f(ca * 1000, 3), f(cb * 1000, 3),
                100 * (cb / ca - 1), s["key"], verdict(abs(b / a - 1) <= 0.10)))
    else:
        L.append("| 100,000 requests within 64 MiB RSS | not measured (`--quick`) | - |")
        L.append("| time per certificate flat within 10% from 1,000 to 100,000 | not measured (`--quick`) | - |")
    if len(sc) >= 2:
        L.append("| < 1 ms station time per certificate at smartcard speed | marginal %s ms wall, %s ms CPU | %s |" % (
            f(m_own, 2), f(m_cpu, 2), verdict(m_own < 1 and m_cpu < 1)))
    t = one(rs, kind="kv_merge_429")
    if t:
        L.append("| merges: zero failures through 429s | %s failed, %s double merges | %s |" % (
            t["failed"], t["double_merges"], verdict(t["failed"] == 0 and t["double_merges"] == 0 and t["exit"] == 0)))
    tot = one(rs, kind="total")
    L.append("")
    L.append("Bench run time: %s s." % (tot["seconds"] if tot else "?"))
    md = "\n".join(L) + "\n"
    open(os.path.join(outdir, "results.md"), "w").write(md)
    # the plot
    dat = os.path.join(outdir, "throughput.dat")
    with open(dat, "w") as fh:
        for i, k in enumerate(plot):
            fh.write("# %s\n" % k)
            for n, rate, o, raw in plot[k]:
                fh.write("%d %s %s %s\n" % (n, rate, o if o else "NaN", raw if raw else "NaN"))
            fh.write("\n\n")
    png = os.path.join(outdir, "throughput.png")
    cmds = ['set terminal png size 900,540', 'set output "%s"' % png,
            'set title "airlock-station sign vs bundle size (SoftHSM2, 1 session)"',
            'set logscale x', 'set logscale y', 'set xlabel "requests in the batch"',
            'set ylabel "certificates per second"', 'set key below', 'set grid',
            'set xrange [500:200000]', 'set format x "%.0f"']
    series = []
    colors = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]
    for i, k in enumerate(plot):
        c = colors[i % len(colors)]
        series.append('"%s" index %d using 1:2 with linespoints lw 2 pt 7 lc rgb "%s" title "airlock %s"' % (dat, i, c, k))
        series.append('"%s" index %d using 1:3 with linespoints lw 1 pt 6 dt 2 lc rgb "%s" title "openssl ca %s"' % (dat, i, c, k))
        raw = next((x[3] for x in plot[k] if x[3]), None)
        if raw:
            series.append('%s with lines lw 1 dt 3 lc rgb "%s" title "raw token %s (1 session)"' % (raw, c, k))
    cmds.append("plot " + ", ".join(series))
    subprocess.run(["gnuplot"], input="\n".join(cmds).encode(), check=False)
    return md, png


def main():
    a = sys.argv[1:]
    docs = a and a[0] == "--docs"
    if docs:
        a = a[1:]
    rs = load(a[0])
    md, png = report(rs, a[1])
    if docs:
        d = a[2]
        p = os.path.join(d, "performance.md")
        text = open(p).read() if os.path.exists(p) else "# Performance\n\n%s\n%s\n" % (BEGIN, END)
        if BEGIN not in text or END not in text:
            text += "\n%s\n%s\n" % (BEGIN, END)
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        open(p, "w").write(head + BEGIN + "\n" + md + "\n![throughput against bundle size](bench-throughput.png)\n" + END + tail)
        if os.path.exists(png):
            shutil.copy(png, os.path.join(d, "bench-throughput.png"))


if __name__ == "__main__":
    main()
