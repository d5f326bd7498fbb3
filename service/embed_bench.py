"""``florilege bench embed``: crops per second a model bundle embeds, on the providers asked for.

With a bundle, the one step of the decomposition that runs a model is its forward pass over
every instance crop in the eight orientations (``Bundle.embed_views``). This times that step
alone, on random crops of the bundle's input contract, after a warm-up batch (CUDA's first run
loads its kernels and chooses convolution algorithms). The report names the providers
onnxruntime actually ran, so a CUDA figure can never silently be a CPU one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.machine import describe as describe_machine

if TYPE_CHECKING:  # onnxruntime is imported by the command, not by `florilege --help`
    from service.bundle import Bundle


def measure_embedding(bundle: Bundle, crops: int, batch: int, repeats: int) -> dict[str, Any]:
    """Time ``repeats`` passes of ``bundle.embed_views`` over ``crops`` random crops."""
    import numpy as np

    from service.dihedral import ALL_ORIENTATIONS

    side = bundle.contract.size
    images = np.random.default_rng(0).random((crops, side, side), dtype=np.float32)
    bundle.embed_views(images[: max(1, batch // len(ALL_ORIENTATIONS))], batch=batch)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        bundle.embed_views(images, batch=batch)
        seconds.append(time.perf_counter() - started)
    best = min(seconds)
    return {
        "bundle": bundle.name,
        "digest": bundle.digest,
        "providers": bundle.providers,
        "crops": crops,
        "orientations_per_crop": len(ALL_ORIENTATIONS),
        "batch": batch,
        "repeats": repeats,
        "best_seconds": round(best, 4),
        "median_seconds": round(statistics.median(seconds), 4),
        "crops_per_second": round(crops / best, 1),
        "machine": describe_machine(gpus="CUDAExecutionProvider" in bundle.providers),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", type=Path, required=True, help="model bundle folder")
    parser.add_argument(
        "--providers",
        help="onnxruntime providers in order, comma-separated (default: FLORILEGE_PROVIDERS); "
        "one that cannot run is an error, never dropped",
    )
    parser.add_argument("--crops", type=int, default=4096, help="crops embedded per pass")
    parser.add_argument(
        "--batch", type=int, help="images per onnxruntime run, 8 per crop (default: the service's)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the best is kept")
    parser.add_argument("--json", type=Path, help="also write the report here")


def run(args: argparse.Namespace) -> int:
    from service.bundle import BATCH, load_bundle
    from service.config import load_config

    batch = BATCH if args.batch is None else args.batch
    if min(args.crops, batch, args.repeats) < 1:
        raise ValueError("--crops, --batch and --repeats must be at least 1")
    providers = load_config({"PROVIDERS": args.providers} if args.providers else {})["PROVIDERS"]
    bundle = load_bundle(args.bundle, providers=providers)
    report = measure_embedding(bundle, args.crops, batch, args.repeats)
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0
