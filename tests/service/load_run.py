"""A bounded load run against a running service on loopback (not collected by pytest).

    python3 tests/service/load_run.py http://127.0.0.1:8000 \\
        --manifest http://127.0.0.1:8183/sample-v3.json --seconds 20 --clients 16

It mixes the read paths a viewer uses (augmented manifest, annotation pages, motif list, motif
detail, motif manifest, prototype) from ``--clients`` threads for ``--seconds`` seconds, then
prints requests per second, latency percentiles and every non-200 answer. Only loopback URLs
are accepted, and the run stops by itself.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import requests


def paths(base: str, manifest: str) -> list[str]:
    session = requests.Session()
    doc = session.get(f"{base}/iiif/manifest", params={"url": manifest}, timeout=30).json()
    pages = [c["annotations"][0]["id"] for c in doc["items"]]
    motifs = [m["id"] for m in session.get(f"{base}/motifs", timeout=30).json()["motifs"]]
    out = [f"{base}/iiif/manifest?url={manifest}", f"{base}/motifs", f"{base}/healthz", *pages]
    for motif in motifs[:10]:
        out += [
            f"{base}/motifs/{motif}",
            f"{base}/motifs/{motif}/manifest",
            f"{base}/motifs/{motif}/prototype.png",
        ]
    return out


def client(urls: list[str], deadline: float, seed: int, results: list, lock: threading.Lock):
    rng, session, mine = random.Random(seed), requests.Session(), []
    while time.monotonic() < deadline:
        url = rng.choice(urls)
        start = time.perf_counter()
        try:
            status = session.get(url, timeout=30).status_code
        except requests.RequestException as err:
            status = type(err).__name__
        mine.append((time.perf_counter() - start, status, url))
    with lock:
        results.extend(mine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    for url in (args.base, args.manifest):
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"{url}: load runs only target loopback")
    urls = paths(args.base.rstrip("/"), args.manifest)
    results: list = []
    lock = threading.Lock()
    deadline = time.monotonic() + min(args.seconds, 120.0)
    threads = [
        threading.Thread(target=client, args=(urls, deadline, i, results, lock))
        for i in range(args.clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies = sorted(r[0] for r in results)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{len(results)} requests in {elapsed:.1f}s from {args.clients} clients: "
        f"{len(results) / elapsed:.0f} req/s"
    )
    print(
        f"latency ms: p50 {q[49] * 1000:.1f}  p95 {q[94] * 1000:.1f}  p99 {q[98] * 1000:.1f}  "
        f"max {latencies[-1] * 1000:.1f}"
    )
    failures = Counter((r[1], r[2]) for r in results if r[1] != 200)
    print("non-200:", dict(failures) or "none")


if __name__ == "__main__":
    main()
