"""``florilege bench harvest``: pages per second of a whole harvest, and where the time goes.

A synthetic collection is served on 127.0.0.1 by a separate process: ``--pages`` page images
(the sample pages of ``manifests/images`` under as many distinct URLs, so that nothing is
cached), in manifests of ``--per-manifest`` canvases, in one IIIF collection. Three figures:

- end to end: ``harvest()`` exactly as ``florilege harvest`` runs it, into a fresh store;
- the breakdown: the same manifests run again one stage at a time, one thread, timing fetch
  (manifest and image bytes), decode (JPEG, reduce-on-decode), infer (the decomposition) and
  write (building the result and saving it to the store);
- the JPEG-decode limit: the same page bytes only decoded, on ``--threads`` threads: no harvest
  on this machine can go faster than that.
"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import os
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.machine import describe as describe_machine
from service.waiting import wait_for_url

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "images"
V3 = "http://iiif.io/api/presentation/3/context.json"


def synthetic_site(
    base: str, pages: int, per_manifest: int, sizes: list[tuple[int, int]]
) -> dict[str, bytes]:
    """Path -> JSON body of the collection and its manifests; page ``i`` is ``/img/i.jpg``."""
    docs: dict[str, Any] = {}
    manifests = []
    for start in range(0, pages, per_manifest):
        name = f"/m/{start // per_manifest:05d}.json"
        canvases = []
        for index in range(start, min(start + per_manifest, pages)):
            width, height = sizes[index % len(sizes)]
            canvas = f"{base}{name}/canvas/{index}"
            body = {
                "id": f"{base}/img/{index}.jpg",
                "type": "Image",
                "format": "image/jpeg",
                "width": width,
                "height": height,
            }
            annotation = {
                "id": f"{canvas}/a",
                "type": "Annotation",
                "motivation": "painting",
                "target": canvas,
                "body": body,
            }
            canvases.append(
                {
                    "id": canvas,
                    "type": "Canvas",
                    "width": width,
                    "height": height,
                    "items": [
                        {"id": f"{canvas}/p", "type": "AnnotationPage", "items": [annotation]}
                    ],
                }
            )
        docs[name] = {
            "@context": V3,
            "id": base + name,
            "type": "Manifest",
            "label": {"en": [name]},
            "items": canvases,
        }
        manifests.append({"id": base + name, "type": "Manifest", "label": {"en": [name]}})
    docs["/collection.json"] = {
        "@context": V3,
        "id": f"{base}/collection.json",
        "type": "Collection",
        "label": {"en": ["bench"]},
        "items": manifests,
    }
    return {path: json.dumps(doc).encode() for path, doc in docs.items()}


def _serve(port: int, pages: int, per_manifest: int, parent: int) -> None:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    samples = [p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))]
    sizes = [_jpeg_size(data) for data in samples]
    site = synthetic_site(f"http://127.0.0.1:{port}", pages, per_manifest, sizes)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.startswith("/img/"):
                index = int(self.path.removeprefix("/img/").removesuffix(".jpg"))
                body, kind = samples[index % len(samples)], "image/jpeg"
            elif self.path in site:
                body, kind = site[self.path], "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _exit_with(parent: int) -> None:
    """End this server when the benchmark that started it is gone, however it ended."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def end_to_end(
    collection: str, overrides: dict[str, Any], concurrency: int, processes: int
) -> dict[str, Any]:
    from service.harvest.driver import HarvestOptions, harvest

    options = HarvestOptions(concurrency=concurrency, processes=processes)
    started = time.perf_counter()
    summary = harvest(collection, options, overrides)
    seconds = time.perf_counter() - started
    pages = summary["progress"]["pages"]
    if summary["errors"] or summary["progress"]["by_status"] != {
        "done": summary["progress"]["total"]
    }:
        raise RuntimeError(f"the benchmark harvest did not finish cleanly: {summary}")
    return {
        "pages": pages,
        "seconds": seconds,
        "pages_per_s": pages / seconds,
        "concurrency": concurrency,
        "processes": processes,
    }


def staged(
    collection: str, overrides: dict[str, Any], limit: int
) -> tuple[dict[str, float], list[bytes]]:
    """Seconds spent in each stage, one stage at a time, over the manifests that hold the first
    ``limit`` pages; and those pages' bytes."""
    from service.config import load_config
    from service.decompose import PageImage, decompose_images, describer_for
    from service.harvest.walk import walk_collection
    from service.iiif.fetch import Fetcher, FetchPolicy
    from service.iiif.image import PageRaster, decode
    from service.jobs import fetch_sources
    from service.results import LoadedImage, build_result
    from service.store import Store

    config = load_config(overrides)
    fetcher = Fetcher(FetchPolicy.from_config(config))
    store = Store.from_config(config)
    describer = describer_for(config["BUNDLE"], config["PROVIDERS"])
    width, budget = config["ANALYSIS_WIDTH"], config["MAX_IMAGE_PIXELS"]
    times = dict.fromkeys(("fetch", "decode", "infer", "write"), 0.0)
    datas: list[bytes] = []
    try:
        for url in walk_collection(fetcher, collection, lambda error: None):
            clock = time.perf_counter()
            sources = fetch_sources(fetcher, "manifest", url, config["MAX_CANVASES"])
            raw = [
                (c, c.images[0], fetcher.get(c.images[0].url).content)
                for c in sources[0].manifest.canvases
            ]
            times["fetch"] += time.perf_counter() - clock
            clock = time.perf_counter()
            loaded = {}
            for canvas, image, data in raw:
                pixels, (w, h) = decode(data, width, budget, image.url)
                raster = PageRaster(pixels, image.width or w, image.height or h)
                loaded[f"{canvas.key}/0"] = LoadedImage(canvas, image, raster)
            times["decode"] += time.perf_counter() - clock
            clock = time.perf_counter()
            pages = [PageImage(name, item.raster.pixels) for name, item in loaded.items()]
            decomposition = decompose_images(pages, describer=describer)
            times["infer"] += time.perf_counter() - clock
            clock = time.perf_counter()
            store.save_result(build_result(url, sources, loaded, decomposition))
            times["write"] += time.perf_counter() - clock
            datas += [data for _, _, data in raw]
            if len(datas) >= limit:
                break
    finally:
        store.close()
    return times, datas


def decode_limit(datas: list[bytes], width: int, threads: int) -> dict[str, Any]:
    from service.iiif.image import decode

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda data: decode(data, width, 10**9), datas))
    seconds = time.perf_counter() - started
    return {"threads": threads, "seconds": seconds, "pages_per_s": len(datas) / seconds}


@dataclass(frozen=True)
class BenchSettings:
    pages: int = 1000
    per_manifest: int = 20
    concurrency: int = 2  # manifest jobs in flight
    processes: int = 0  # worker processes running them (0: threads of the harvest process)
    threads: int = 2  # threads for the decode-only limit
    breakdown_pages: int = 200  # pages run stage by stage (they repeat the same sample pages)
    analysis_width: int = 1200


def run_benchmark(settings: BenchSettings, workdir: Path) -> dict[str, Any]:
    pages, per_manifest = settings.pages, settings.per_manifest
    analysis_width = settings.analysis_width
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, pages, per_manifest, os.getpid()), daemon=True
    )
    server.start()
    collection = f"http://127.0.0.1:{port}/collection.json"
    try:
        wait_for_url(collection)
        base = {"ALLOW_HOSTS": "127.0.0.1", "ANALYSIS_WIDTH": analysis_width, "DATA": str(workdir)}
        e2e = end_to_end(
            collection,
            {**base, "DB": f"sqlite:///{workdir / 'e2e.sqlite3'}"},
            settings.concurrency,
            settings.processes,
        )
        times, datas = staged(
            collection,
            {**base, "DB": f"sqlite:///{workdir / 'staged.sqlite3'}"},
            settings.breakdown_pages,
        )
        # Page i is sample i mod 6 everywhere, so cycling the fetched bytes gives every page.
        every_page = [datas[i % len(datas)] for i in range(e2e["pages"])]
        limit = decode_limit(every_page, analysis_width, settings.threads)
    finally:
        server.terminate()
        server.join(10)
    serial = sum(times.values())
    return {
        "pages": e2e["pages"],
        "manifests": -(-pages // per_manifest),
        "breakdown_pages": len(datas),
        "analysis_width": analysis_width,
        "machine": describe_machine(),
        "end_to_end": e2e,
        "stages_ms_per_page": {k: 1000 * v / len(datas) for k, v in times.items()},
        "serial_pages_per_s": len(datas) / serial,
        "decode_limit": limit,
    }


def markdown(report: dict[str, Any]) -> str:
    stages, sample = report["stages_ms_per_page"], report["breakdown_pages"]
    e2e, limit = report["end_to_end"], report["decode_limit"]
    serial = sum(stages.values())
    rows = [
        "| measure | pages/s | ms/page |",
        "|---|---|---|",
        f"| end to end, {e2e['pages']} pages: {e2e['concurrency']} jobs in flight, "
        f"{e2e['processes']} worker processes | {e2e['pages_per_s']:.2f} "
        f"| {1000 / e2e['pages_per_s']:.1f} |",
    ]
    for name, ms in stages.items():
        rows.append(f"| {name}, one thread (first {sample} pages) | {1000 / ms:.1f} | {ms:.1f} |")
    rows.append(f"| the four stages in turn, one thread | {1000 / serial:.2f} | {serial:.1f} |")
    rows.append(
        f"| JPEG decode only, {limit['threads']} threads (the limit) "
        f"| {limit['pages_per_s']:.1f} | {1000 / limit['pages_per_s']:.2f} |"
    )
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cores = os.cpu_count() or 1
    parser.add_argument("--pages", type=int, default=1000, help="pages in the collection")
    parser.add_argument("--per-manifest", type=int, default=20, help="canvases per manifest")
    parser.add_argument(
        "--processes", type=int, default=0, help="worker processes (0: threads of one process)"
    )
    parser.add_argument(
        "--concurrency", type=int, help="manifest jobs in flight (default: --processes, or 2)"
    )
    parser.add_argument(
        "--threads", type=int, default=cores, help="threads for the decode-only limit"
    )
    parser.add_argument("--analysis-width", type=int, default=1200)
    parser.add_argument(
        "--breakdown-pages", type=int, default=200, help="pages run again stage by stage"
    )
    parser.add_argument("--json", type=Path, help="also write the report here")


def run(args: argparse.Namespace) -> int:
    settings = BenchSettings(
        pages=args.pages,
        per_manifest=args.per_manifest,
        concurrency=args.concurrency or max(args.processes, 2),
        processes=args.processes,
        threads=args.threads,
        analysis_width=args.analysis_width,
        breakdown_pages=args.breakdown_pages,
    )
    if min(settings.pages, settings.per_manifest, settings.concurrency, settings.threads) < 1:
        raise ValueError("--pages, --per-manifest, --concurrency and --threads must be positive")
    if settings.processes < 0:
        raise ValueError("--processes must not be negative")
    with tempfile.TemporaryDirectory() as workdir:
        report = run_benchmark(settings, Path(workdir))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    print(markdown(report))
    return 0
