#!/usr/bin/env python3
"""Reads the files the request-phases patch writes and says where the slow answers' time went.

usage: phases.py PHASES_FILE AUDIT_FILE [SETTLE_SECONDS]

Runs of requests separated by more than 1 s of silence are the harness's steps; for each of the
last two (the open loops of a run with --open-rate), leaving out its first SETTLE_SECONDS
(default 4, the open loop's settling time before its clock starts), it prints each phase's
percentiles and sorts the answers over 5 ms (server-side, from the route's first handler to the
answer's end) by what their wait for the audit record overlapped: a checkpoint, an fdatasync
over 1 ms, or neither.
"""
import bisect
import sys

PHASES = ["handler", "queue for a worker", "HSM work", "records durable", "back on the loop",
          "answer written"]


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]


def overlaps(intervals, starts, a, b, min_len=0):
    i = bisect.bisect_right(starts, b) - 1
    while i >= 0 and intervals[i][1] >= a - 100e6:
        s, e = intervals[i]
        if e >= a and s <= b and e - s > min_len:
            return True
        i -= 1
    return False


def main():
    rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
    rows = sorted((r for r in rows if r[1] > 0 and r[6] > 0), key=lambda r: r[0])
    audit = [list(map(int, l.split())) for l in open(sys.argv[2]) if l.strip()]
    settle = float(sys.argv[3]) if len(sys.argv) > 3 else 4.0
    cps = sorted((a[1], a[4]) for a in audit if a[0] == 1)
    syncs = sorted((a[2], a[3]) for a in audit if a[0] == 2)
    cp_starts = [c[0] for c in cps]
    sync_starts = [s[0] for s in syncs]
    steps, cur = [], [rows[0]]
    for r in rows[1:]:
        if r[0] - cur[-1][0] > 1e9:
            steps.append(cur)
            cur = []
        cur.append(r)
    steps.append(cur)
    for step in steps[-2:]:
        begin = step[0][0] + settle * 1e9
        sel = [r for r in step if r[0] >= begin]
        seconds = max(1e-9, (sel[-1][0] - begin) / 1e9)
        slow = [r for r in sel if r[6] - r[0] > 5e6]
        print("step: %d answers in %.1f s after its first %.0f s (%.0f/s); %d over 5 ms (%.1f%%)"
              % (len(sel), seconds, settle, len(sel) / seconds, len(slow),
                 100.0 * len(slow) / len(sel)))
        for i, name in enumerate(PHASES):
            d = [(r[i + 1] - r[i]) / 1e6 for r in sel]
            ds = [(r[i + 1] - r[i]) / 1e6 for r in slow] or [0]
            print("  %-18s p50 %.3f p99 %.3f max %.2f ms; in the slow ones: mean %.2f ms"
                  % (name, pct(d, .5), pct(d, .99), max(d), sum(ds) / len(ds)))
        cp = [r for r in slow if overlaps(cps, cp_starts, r[3], r[4])]
        fs = [r for r in slow if r not in cp and overlaps(syncs, sync_starts, r[3], r[4], 1e6)]
        print("  over 5 ms: %d waited for a checkpoint, %d for an fdatasync over 1 ms, %d neither"
              % (len(cp), len(fs), len(slow) - len(cp) - len(fs)))
    ck = [(c[1] - c[0]) / 1e6 for c in cps]
    fd = [(s[1] - s[0]) / 1e6 for s in syncs]
    print("checkpoints: %d, p50 %.2f p99 %.2f max %.2f ms" % (len(ck), pct(ck, .5), pct(ck, .99),
                                                            max(ck)))
    print("fdatasyncs: %d, p50 %.3f p99 %.3f p99.9 %.3f ms, %.1f%% over 1 ms"
          % (len(fd), pct(fd, .5), pct(fd, .99), pct(fd, .999),
             100.0 * sum(x > 1 for x in fd) / len(fd)))


if __name__ == "__main__":
    main()
