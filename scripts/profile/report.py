#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Where the instructions of a `vm-run.sh profile` boot went.

    report.py RESULTS [TOP]
    report.py RESULTS --blocks WORKLOAD FUNCTION


RESULTS holds profile.csv (the benchmark's --profile list: workload, method,
unit, units, snapshot before, snapshot after), kallsyms.txt (the guest's
symbols, the module's included) and snap.N (tbcount.c's snapshots: block
address, instructions, executions). For each workload, the instructions per
unit of each function, the module's ioctl beside C's, the TOP (30) largest
differences first; then the totals. Everything that ran between the two
markers counts (interrupts, the benchmark's own loop in user space).
With --blocks: the blocks of FUNCTION (a prefix of its name) in WORKLOAD,
by offset, with their instructions per unit of each method: read beside
`objdump -d` of the function.
"""
import bisect
import collections
import sys


def snapshot(path):
    counts = {}
    with open(path) as f:
        for line in f:
            vaddr, insns, n = line.split()
            counts[(int(vaddr, 16), int(insns, 16))] = int(n)
    return counts


def symbols(path):
    table = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] not in "tTwW":
                continue
            name = parts[2] + (" " + parts[3] if len(parts) > 3 else "")
            table.append((int(parts[0], 16), name))
    table.sort()
    return [a for a, _ in table], [n for _, n in table]


def where(vaddr, addrs, names):
    if vaddr < 1 << 63:
        return "[user space]", 0
    i = bisect.bisect_right(addrs, vaddr) - 1
    if i < 0:
        return "[unknown kernel]", 0
    return names[i], vaddr - addrs[i]


def per_block(before, after):
    for key, n in after.items():
        delta = n - before.get(key, 0)
        if delta > 0:
            yield key, delta


def per_function(before, after, addrs, names):
    out = collections.Counter()
    for (vaddr, insns), delta in per_block(before, after):
        out[where(vaddr, addrs, names)[0]] += insns * delta
    return out


def blocks(res, workload, function, addrs, names):
    rows = collections.defaultdict(dict)
    with open(f"{res}/profile.csv") as f:
        for line in f:
            key, method, unit, n, before, after = line.strip().split(",")
            if key != workload:
                continue
            snaps = snapshot(f"{res}/snap.{before}"), snapshot(f"{res}/snap.{after}")
            for (vaddr, insns), delta in per_block(*snaps):
                name, offset = where(vaddr, addrs, names)
                if name.startswith(function):
                    rows[(name, offset, insns)][method] = insns * delta / int(n)
    print(f"| function | offset | block instructions | module per {workload} unit | C |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for (name, offset, insns), m in sorted(rows.items()):
        print(f"| {name} | {offset:#x} | {insns} | {m.get('rust', 0):.1f} | {m.get('c', 0):.1f} |")


def main():
    res = sys.argv[1]
    addrs, names = symbols(f"{res}/kallsyms.txt")
    if len(sys.argv) == 5 and sys.argv[2] == "--blocks":
        return blocks(res, sys.argv[3], sys.argv[4], addrs, names)
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    runs = collections.defaultdict(dict)
    units = {}
    with open(f"{res}/profile.csv") as f:
        for line in f:
            key, method, unit, n, before, after = line.strip().split(",")
            funcs = per_function(
                snapshot(f"{res}/snap.{before}"), snapshot(f"{res}/snap.{after}"), addrs, names
            )
            runs[key][method] = funcs
            units[key] = (unit, int(n))
    for key, methods in runs.items():
        unit, n = units[key]
        rust, c = methods.get("rust", collections.Counter()), methods.get("c", collections.Counter())
        print(f"## {key}: guest instructions per {unit} ({n} {unit}s a run)\n")
        print(f"| function | module | C | module - C |")
        print("| --- | ---: | ---: | ---: |")
        every = set(rust) | set(c)
        rows = sorted(every, key=lambda s: -abs(rust[s] - c[s]))
        rt, ct = sum(rust.values()) / n, sum(c.values()) / n
        d = 3 if max(rt, ct) < 10 else 1  # decimals: a THP's page costs less than one
        for name in rows[:top]:
            r, cc = rust[name] / n, c[name] / n
            print(f"| {name} | {r:.{d}f} | {cc:.{d}f} | {r - cc:+.{d}f} |")
        rest_r = sum(rust[s] for s in rows[top:]) / n
        rest_c = sum(c[s] for s in rows[top:]) / n
        print(f"| (the other {max(len(rows) - top, 0)} functions) | {rest_r:.{d}f} | {rest_c:.{d}f} | {rest_r - rest_c:+.{d}f} |")
        print(f"| **total** | **{rt:.{d}f}** | **{ct:.{d}f}** | **{rt - ct:+.{d}f}** (module/C {rt / ct if ct else 0:.3f}) |\n")


if __name__ == "__main__":
    main()
