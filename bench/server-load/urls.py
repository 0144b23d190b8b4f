#!/usr/bin/env python3
"""Writes the URL mixes of bench/server-load.sh, one file per endpoint, from
the fleet that `cargo run -p store --example fleet` generates (its names:
cluster-000…, ns-0…19, labels team/env/tier, repositories app-N, CVE-20YY-NNNNN).
Image digests are read from the store file (read-only). Seeded: every run
sends the same mix.

    urls.py DATA_DIR OUT_DIR
"""
import random
import sqlite3
import sys
from urllib.parse import urlencode

data_dir, out_dir = sys.argv[1], sys.argv[2]
rng = random.Random(0x5EED)
db = sqlite3.connect(f"file:{data_dir}/shipshape.sqlite?mode=ro", uri=True)
clusters = [r[0] for r in db.execute("SELECT name FROM cluster ORDER BY name")]
digests = [r[0] for r in db.execute("SELECT digest FROM image ORDER BY id")]
db.close()


def scope():
    """One report filter, as query pairs: the overview or a varied filter."""
    kind = rng.randrange(10)
    if kind == 0:
        return []
    if kind == 1:
        return [("cluster", rng.choice(clusters))]
    if kind == 2:
        return [("namespace", f"ns-{rng.randrange(20)}")]
    if kind == 3:
        return [("labels", f"team=team{rng.randrange(20)},env!=dev")]
    if kind == 4:
        return [("severity", rng.choice(["critical", "high", "critical,high"]))]
    if kind == 5:
        return [("fixable", "true"), ("status", "running")]
    if kind == 6:
        return [("q", f"app-{rng.randrange(2000)}")]
    if kind == 7:
        return [("q", f"CVE-20{15 + rng.randrange(10)}-{rng.randrange(30000):05}")]
    if kind == 8:
        return [("cluster", rng.choice(clusters)), ("severity", "critical")]
    return [("view", "excepted")]


def url(path, pairs):
    return f"{path}?{urlencode(pairs)}" if pairs else path


mixes = {
    "statistics": [url("/api/v1/statistics", scope()) for _ in range(400)],
    "repositories": [
        url(
            "/api/v1/repositories",
            scope()
            + [
                ("sort", rng.choice(["-severity", "repository", "-critical", "-clusters"])),
                ("limit", "50"),
                ("offset", str(50 * rng.randrange(3))),
            ],
        )
        for _ in range(400)
    ],
    "remediation": [
        url("/api/v1/remediation", scope() + [("limit", "20")]) for _ in range(400)
    ],
    "image": [f"/api/v1/images/{d}" for d in rng.sample(digests, min(1000, len(digests)))],
    "image_vulnerabilities": [
        url(
            f"/api/v1/images/{rng.choice(digests)}/vulnerabilities",
            [("sort", rng.choice(["-cvss", "-severity", "id", "-epss"])), ("limit", "50")]
            + ([("layers", "0,1,2")] if rng.randrange(4) == 0 else [])
            + ([("offset", "50")] if rng.randrange(4) == 0 else []),
        )
        for _ in range(1000)
    ],
    "image_packages": [
        url(
            f"/api/v1/images/{rng.choice(digests)}/packages",
            [("limit", "50")] + ([("layers", "0,1,2")] if rng.randrange(2) else []),
        )
        for _ in range(1000)
    ],
    "image_resources": [
        url(f"/api/v1/images/{rng.choice(digests)}/resources", [("limit", "50")])
        for _ in range(1000)
    ],
    # One answer: nothing to vary.
    "clusters": ["/api/v1/clusters"],
    "exceptions": [
        url("/api/v1/exceptions", [("state", s), ("limit", "50")])
        for s in ["active", "all", "cancelled", "expired"]
    ]
    + ["/api/v1/exceptions/history?limit=50", "/api/v1/exceptions/stale"],
}
for name, urls in mixes.items():
    with open(f"{out_dir}/{name}.txt", "w") as f:
        f.write("\n".join(urls) + "\n")
print(f"URL mixes: {', '.join(f'{k} {len(v)}' for k, v in mixes.items())}")
