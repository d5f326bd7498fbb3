"""Pages in, decomposition out: segment every page, then cluster all instances together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from service.decompose.cluster import Clustering, ClusterParams, cluster_templates
from service.decompose.describe import dihedral_views, template
from service.decompose.segment import (
    SegmentParams,
    binarize,
    find_instances,
    group_ornaments,
    ink_map,
)
from service.decomposition import Decomposition, Instance, Motif, Ornament, Page

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


@dataclass(frozen=True)
class PageImage:
    name: str
    pixels: np.ndarray  # grayscale uint8, H x W


@dataclass(frozen=True)
class BaselineParams:
    segment: SegmentParams = field(default_factory=SegmentParams)
    cluster: ClusterParams = field(default_factory=ClusterParams)


@dataclass
class _PageFindings:
    page: PageImage
    boxes: list[tuple[int, int, int, int]]
    ornaments: list[tuple[int, int, int, int]]
    ornament_of: list[int]
    templates: np.ndarray


def read_page(path: Path) -> PageImage:
    """Load an image file as a grayscale page (Pillow's decompression-bomb guard applies)."""
    with Image.open(path) as image:
        return PageImage(name=str(path), pixels=np.asarray(image.convert("L")))


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Image files among ``paths``, folders searched recursively, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    return found


def decompose_paths(paths: Sequence[Path], params: BaselineParams | None = None) -> Decomposition:
    """Decompose image files and folders of images (read one at a time to bound memory)."""
    findings = [_analyse(read_page(p), params or BaselineParams()) for p in expand_paths(paths)]
    return _assemble(findings, params or BaselineParams())


def decompose_images(
    pages: Sequence[PageImage], params: BaselineParams | None = None
) -> Decomposition:
    """Discover motifs across all ``pages`` and place their instances, without labels."""
    params = params or BaselineParams()
    return _assemble([_analyse(page, params) for page in pages], params)


def _analyse(page: PageImage, params: BaselineParams) -> _PageFindings:
    ink = ink_map(page.pixels)
    boxes = find_instances(binarize(ink), params.segment)
    ornaments, ornament_of = group_ornaments(boxes, params.segment)
    templates = (
        np.stack([template(ink, box) for box in boxes])
        if boxes
        else np.zeros((0, 32, 32), np.float32)
    )
    return _PageFindings(page, boxes, ornaments, ornament_of, templates)


def _assemble(findings: list[_PageFindings], params: BaselineParams) -> Decomposition:
    templates = (
        np.concatenate([f.templates for f in findings]) if findings else np.zeros((0, 32, 32))
    )
    clustering = cluster_templates(templates, dihedral_views(templates), params.cluster)
    motif_ids = [f"m{k + 1:04d}" for k in range(len(clustering.prototypes))]
    pages, start = [], 0
    for found in findings:
        pages.append(_page(found, clustering, motif_ids, start))
        start += len(found.boxes)
    return Decomposition(pages=pages, motifs=_motifs(findings, clustering, motif_ids))


def _page(found: _PageFindings, clustering: Clustering, motif_ids: list[str], start: int) -> Page:
    height, width = found.page.pixels.shape[:2]
    ornaments = [Ornament(id=f"o{i + 1}", bbox=box) for i, box in enumerate(found.ornaments)]
    instances = []
    for offset, box in enumerate(found.boxes):
        index = start + offset
        orientation = clustering.orientations[index]
        instances.append(
            Instance(
                bbox=box,
                motif=motif_ids[clustering.labels[index]],
                score=round(float(np.clip(clustering.similarity[index], 0.0, 1.0)), 4),
                rotation=orientation.rotation,
                mirror=orientation.mirror,
                ornament=ornaments[found.ornament_of[offset]].id,
            )
        )
    return Page(found.page.name, width, height, ornaments, instances)


def _motifs(
    findings: list[_PageFindings], clustering: Clustering, motif_ids: list[str]
) -> list[Motif]:
    boxes = [box for f in findings for box in f.boxes]
    motifs = []
    for k, motif_id in enumerate(motif_ids):
        members = np.flatnonzero(clustering.labels == k)
        # Sizes in the prototype frame: a quarter turn swaps width and height.
        sizes = [
            (boxes[i][3], boxes[i][2])
            if clustering.orientations[i].rotation % 180
            else (boxes[i][2], boxes[i][3])
            for i in members
        ]
        width, height = np.median(np.array(sizes), axis=0).astype(int)
        motifs.append(
            Motif(
                id=motif_id,
                width=int(width),
                height=int(height),
                instances=len(members),
                parent=f"g{clustering.parents[k] + 1:04d}",
            )
        )
    return motifs
