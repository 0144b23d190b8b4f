#!/usr/bin/env python3
"""Summarises bench/run.sh: medians, ratios against Trivy, and the package-set diff.

usage: report.py RESULTS_TXT SHIPSHAPE_JSON TRIVY_JSON
"""
import json
import statistics
import sys
from collections import defaultdict

TRIVY_TYPES = {
    "debian": "deb", "ubuntu": "deb", "alpine": "apk", "wolfi": "apk", "chainguard": "apk",
    "redhat": "rpm", "centos": "rpm", "rocky": "rpm", "alma": "rpm", "amazon": "rpm",
    "oracle": "rpm", "fedora": "rpm", "suse linux enterprise server": "rpm", "opensuse": "rpm",
    "python-pkg": "python", "node-pkg": "npm", "gobinary": "go-module", "rustbinary": "cargo",
    "jar": "maven", "gemspec": "gem",
}


def medians(path):
    rows = defaultdict(list)
    with open(path) as f:
        for line in f:
            name, secs, kib = line.split()
            rows[name].append((float(secs), int(kib)))
    return {k: (statistics.median(s for s, _ in v), statistics.median(m for _, m in v), len(v))
            for k, v in rows.items()}


def trivy_version(p, os_type):
    version = p.get("Version", "")
    if p.get("Release"):
        version = f"{version}-{p['Release']}"
    if p.get("Epoch"):
        version = f"{p['Epoch']}:{version}"
    return version


def trivy_packages(doc):
    out = set()
    for result in doc.get("Results", []):
        kind = TRIVY_TYPES.get(result.get("Type", ""), result.get("Type", ""))
        for p in result.get("Packages") or []:
            out.add((kind, p["Name"], trivy_version(p, kind)))
    return out


def shipshape_packages(doc):
    return {(p["type"], p["name"], p["version"]) for p in doc["packages"]}


def main():
    results, ship_path, trivy_path = sys.argv[1:4]
    m = medians(results)
    print("\n## Timing (median of runs; peak RSS)\n")
    print(f"| run | n | wall s | peak RSS MiB |")
    print(f"|---|---|---|---|")
    for name, (secs, kib, n) in m.items():
        print(f"| {name} | {n} | {secs:.3f} | {kib / 1024:.1f} |")
    if "trivy" in m and "shipshape" in m:
        t, s = m["trivy"], m["shipshape"]
        print(f"\nshipshape/trivy wall time: {s[0] / t[0]:.2f}x   peak RSS: {s[1] / t[1]:.2f}x")
    if "shipshape-warm" in m:
        print(f"warm rescan (cache hit for every layer): {m['shipshape-warm'][0] * 1000:.0f} ms wall, process included")
    if "big-layer" in m:
        print(f"1 GiB layer: {m['big-layer'][1] / 1024:.1f} MiB peak RSS, {m['big-layer'][0]:.1f} s")

    with open(ship_path) as f:
        ship = shipshape_packages(json.load(f))
    with open(trivy_path) as f:
        trivy = trivy_packages(json.load(f))
    print("\n## Package sets (type, name, version)\n")
    by_kind = defaultdict(lambda: [0, 0, 0])
    for k in ship | trivy:
        row = by_kind[k[0]]
        row[0] += k in ship
        row[1] += k in trivy
        row[2] += k in ship and k in trivy
    print("| type | shipshape | trivy | both |")
    print("|---|---|---|---|")
    for kind, (a, b, both) in sorted(by_kind.items()):
        print(f"| {kind} | {a} | {b} | {both} |")
    only_ship = sorted(ship - trivy)
    only_trivy = sorted(trivy - ship)
    print(f"\nonly in shipshape: {len(only_ship)}")
    for k in only_ship:
        print("  +", *k)
    print(f"only in trivy: {len(only_trivy)}")
    for k in only_trivy:
        print("  -", *k)


if __name__ == "__main__":
    main()
