"""The quality benchmark: generate both splits, decompose each as an unlabeled collection, score.

Each split is decomposed on its own, as a library would run Florilege on one collection; the
labels are read only by the scorer afterwards.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.decomposition import Decomposition
from training.evaluate import evaluate
from training.synth import generate

SPLITS = ("seen", "unseen")


def run_benchmark(
    out_dir: Path,
    *,
    pages: int,
    seed: int,
    decompose: Callable[[list[Path]], Decomposition],
    layout: str = "page",
    workers: int = 1,
) -> dict[str, Any]:
    """Generate (or reuse) each split under ``out_dir``, decompose it, and score it."""
    report: dict[str, Any] = {
        "pages": pages,
        "seed": seed,
        "layout": layout,
        "iou_threshold": 0.5,
        "splits": {},
        "warnings": [],
    }
    for split in SPLITS:
        data = out_dir / f"{split}-{layout}-{pages}-s{seed}"
        if not (data / "annotations.json").exists():
            generate(data, pages=pages, split=split, seed=seed, layout=layout, workers=workers)
        started = time.perf_counter()
        decomposition = decompose([data / "images"])
        seconds = time.perf_counter() - started
        decomposition.write(out_dir / f"{data.name}.decomposition.json")
        scored = evaluate(decomposition, [data])
        report["warnings"] += scored["warnings"]
        scores = scored["splits"][split]
        scores["seconds"] = round(seconds, 1)
        scores["pages_per_second"] = round(pages / seconds, 3)
        report["splits"][split] = scores
    report["machine"] = f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores"
    return report
