"""What a job stores: its decomposition placed on the canvases, and its motifs.

Boxes found in the analysed page images are placed in canvas coordinates; each motif gets a
record and a prototype image, in a corpus of the job's own or in the collection catalogue the
job adds to (``service/store/catalogues.py``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from service.decomposition import Decomposition, Instance
from service.dihedral import Orientation, inverse, orient
from service.iiif.image import PageRaster
from service.iiif.manifest import CanvasRef, ImageRef, Manifest
from service.iiif.placement import Placement, place
from service.store import CanvasRecord, MotifRecord, RunResult


@dataclass(frozen=True)
class Source:
    url: str
    version: int
    doc: dict[str, Any]
    manifest: Manifest


@dataclass(frozen=True)
class LoadedImage:
    canvas: CanvasRef
    image: ImageRef
    raster: PageRaster


def corpus_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:8]


def prototype_png(raster: np.ndarray, instance: Instance) -> bytes:
    """The instance's pixels turned back into the motif's own orientation, as PNG.

    The decomposition has no prototype images yet, so the best-scoring instance stands in.
    """
    x, y, w, h = instance.bbox
    crop = raster[y : y + h, x : x + w]
    upright = orient(crop, inverse(Orientation(instance.rotation, instance.mirror)))
    buffer = io.BytesIO()
    Image.fromarray(upright).save(buffer, format="PNG")
    return buffer.getvalue()


def build_result(
    url: str,
    sources: Sequence[Source],
    loaded: dict[str, LoadedImage],
    decomposition: Decomposition,
    catalogue: str | None = None,
    catalogued: Collection[str] = (),
) -> RunResult:
    """The job's results. Its motifs form a corpus of their own, or with ``catalogue`` belong
    to that collection catalogue, where those already ``catalogued`` are not written again."""
    corpus = corpus_key(url)
    namespace = catalogue or corpus

    def global_id(local: str) -> str:
        return f"{namespace}-{local}"

    placements: list[Placement] = []
    best: dict[str, tuple[np.ndarray, Instance]] = {}
    pages = []
    for page in decomposition.pages:
        item = loaded[page.image]
        raster = item.raster
        size = (raster.pixels.shape[1], raster.pixels.shape[0])
        for instance in page.instances:
            placed = place(
                instance, item.canvas, item.image, size, (raster.full_width, raster.full_height)
            )
            placements.append(replace(placed, motif=global_id(instance.motif)))
            if instance.motif not in best or instance.score > best[instance.motif][1].score:
                best[instance.motif] = (raster.pixels, instance)
        pages.append(replace(page, image=item.image.url))
    counts: dict[str, int] = {}
    for placement in placements:
        counts[placement.motif] = counts.get(placement.motif, 0) + 1
    motifs = []
    for motif in decomposition.motifs:
        if motif.id in catalogued:
            continue
        png = prototype_png(*best[motif.id]) if motif.id in best else None
        # Groups come from one clustering; a catalogue grown book by book has none of its own.
        parent = global_id(motif.parent) if motif.parent and catalogue is None else None
        record = MotifRecord(
            id=global_id(motif.id),
            corpus=namespace,
            width=motif.width,
            height=motif.height,
            parent=parent,
            instances=counts.get(global_id(motif.id), 0),
            has_prototype=png is not None,
        )
        motifs.append((record, png))
    canvases = [
        CanvasRecord(c.key, c.id, s.url, c.label, c.width, c.height)
        for s in sources
        for c in s.manifest.canvases
    ]
    doc = replace(decomposition, pages=pages).to_json()
    doc["corpus"] = {"key": corpus, "url": url}
    return RunResult(
        corpus=corpus,
        url=url,
        manifests=[(s.url, s.version, s.doc) for s in sources],
        canvases=canvases,
        motifs=motifs,
        placements=placements,
        decomposition=doc,
    )
