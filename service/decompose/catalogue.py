"""The motif catalogue folder: prototypes, hierarchy and per-instance difference maps.

``florilege decompose --save-catalogue DIR`` writes it; ``--catalogue DIR`` reads it back so
that later pages are assigned to the same motifs, under the same ids. The difference maps show
how each impression departs from its motif's prototype: red where the prototype has ink and
the impression has none (wear, breaks, thin inking), blue where the impression has extra ink
(spread, heavy inking, dirt).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from service import __version__
from service.decompose.describe import Describer
from service.decompose.pipeline import (
    BaselineParams,
    Discovery,
    KnownMotifs,
    PageFindings,
    assemble,
    check_descriptor,
)
from service.dihedral import inverse, orient

FORMAT = 1
MANIFEST = "catalogue.json"
VIEWS = "views.npy"
DETAIL_SIZE = 96


class CatalogueError(ValueError):
    """A catalogue folder that cannot be written or read."""


def write_catalogue(folder: Path, discovery: Discovery) -> None:
    """Write the catalogue of ``discovery`` (made with ``detail_size=DETAIL_SIZE``) to ``folder``.

    A folder that already holds files is refused, so a catalogue is never overwritten.
    """
    if folder.exists() and any(folder.iterdir()):
        raise CatalogueError(f"{folder} is not empty: refusing to overwrite a catalogue")
    if any(f.details is None for f in discovery.findings):
        raise CatalogueError("the discovery kept no detail crops: run it with detail_size")
    (folder / "prototypes").mkdir(parents=True, exist_ok=True)
    members = _members(discovery)
    motifs = []
    for k, motif_id in discovery.motif_ids.items():
        entry = _write_motif(folder, motif_id, members[k])
        motifs.append(_motif_entry(discovery, motif_id) | entry)
    order = list(discovery.motif_ids)
    np.save(folder / VIEWS, discovery.clustering.views[order].astype(np.float32))
    manifest = {
        "format": FORMAT,
        "generator": {"name": "florilege", "version": __version__},
        "descriptor": discovery.decomposition.model,
        "detail_size": DETAIL_SIZE,
        "motifs": motifs,
        "groups": _groups(motifs),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def read_catalogue(folder: Path) -> KnownMotifs:
    """The known motifs of the catalogue in ``folder``, checked for consistency."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        views = np.load(folder / VIEWS)
    except FileNotFoundError as err:
        raise CatalogueError(f"{folder} is not a catalogue: {err.filename} is missing") from None
    except (json.JSONDecodeError, ValueError) as err:
        raise CatalogueError(f"{folder} holds a damaged catalogue: {err}") from None
    if manifest.get("format") != FORMAT:
        raise CatalogueError(
            f"{folder}: catalogue format {manifest.get('format')!r}, this florilege reads {FORMAT}"
        )
    try:
        ids = [str(m["id"]) for m in manifest["motifs"]]
        descriptor = str(manifest["descriptor"])
    except (KeyError, TypeError) as err:
        raise CatalogueError(f"{folder}: {MANIFEST} lacks {err}") from None
    if views.ndim != 3 or len(views) != len(ids):
        raise CatalogueError(f"{folder}: {VIEWS} does not hold one view set per motif")
    return KnownMotifs(descriptor=descriptor, ids=ids, views=views)


def assign(
    findings: list[PageFindings],
    known: KnownMotifs | None,
    describer: Describer,
    params: BaselineParams | None = None,
) -> Discovery:
    """Group the instances of pages already analysed (``discover(...).findings``) into motifs,
    the ``known`` ones first, as ``discover`` does: its last step alone, for a collection
    catalogue, where a book's pages are analysed once and matched again whenever another book
    changed the catalogue meanwhile."""
    check_descriptor(known, describer)
    return assemble(findings, params or BaselineParams(), describer, known)


def new_motif_views(discovery: Discovery) -> dict[str, np.ndarray]:
    """The eight views of each motif ``discovery`` found that its known motifs did not hold,
    by id: what a catalogue keeps of a motif to recognise it in later books."""
    clustering = discovery.clustering
    return {
        motif_id: clustering.views[k]
        for k, motif_id in discovery.motif_ids.items()
        if clustering.known[k] < 0
    }


def _members(discovery: Discovery) -> dict[int, list[dict[str, Any]]]:
    """Per kept motif, its instances: where they are and their aligned detail crop."""
    members: dict[int, list[dict[str, Any]]] = {k: [] for k in discovery.motif_ids}
    start = 0
    for found, page in zip(discovery.findings, discovery.decomposition.pages, strict=True):
        details = found.details if found.details is not None else np.zeros((0, 1, 1), np.uint8)
        kept = np.flatnonzero(discovery.kept[start : start + len(found.boxes)])
        for position, offset in enumerate(kept):
            i = start + offset
            label = int(discovery.clustering.labels[i])
            upright = orient(details[offset], inverse(discovery.clustering.orientations[i]))
            members[label].append(
                {"page": page.image, "instance": position, "crop": upright / 255.0}
            )
        start += len(found.boxes)
    return members


def _write_motif(folder: Path, motif_id: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    """Prototype PNG and difference maps of one motif; returns their catalogue entries."""
    prototype = np.mean([m["crop"] for m in members], axis=0)
    Image.fromarray(_gray(prototype)).save(folder / "prototypes" / f"{motif_id}.png")
    (folder / "differences" / motif_id).mkdir(parents=True, exist_ok=True)
    differences = []
    for n, member in enumerate(members):
        name = f"differences/{motif_id}/{n:05d}.png"
        Image.fromarray(difference_map(prototype, member["crop"])).save(folder / name)
        differences.append(
            {
                "page": member["page"],
                "instance": member["instance"],
                "file": name,
                "difference": round(float(np.abs(member["crop"] - prototype).mean()), 4),
            }
        )
    return {"prototype": f"prototypes/{motif_id}.png", "differences": differences}


def _motif_entry(discovery: Discovery, motif_id: str) -> dict[str, Any]:
    motif = next(m for m in discovery.decomposition.motifs if m.id == motif_id)
    return {
        "id": motif.id,
        "width": motif.width,
        "height": motif.height,
        "instances": motif.instances,
        "parent": motif.parent,
    }


def _groups(motifs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The hierarchy's upper level: parent group → its motifs."""
    groups: dict[str, list[str]] = {}
    for motif in motifs:
        groups.setdefault(motif["parent"], []).append(motif["id"])
    return groups


def _gray(ink: np.ndarray) -> np.ndarray:
    return (255 * (1 - np.clip(ink, 0, 1))).astype(np.uint8)


def difference_map(prototype: np.ndarray, impression: np.ndarray) -> np.ndarray:
    """RGB map: grey where both have ink, red where ink is missing, blue where ink is extra."""
    common = np.minimum(prototype, impression)
    missing, extra = prototype - common, impression - common
    white = np.ones((*prototype.shape, 3))
    rgb = (
        white
        - common[..., None] * 0.8
        - missing[..., None] * [0, 1, 1]
        - extra[..., None] * [1, 1, 0]
    )
    return (255 * np.clip(rgb, 0, 1)).astype(np.uint8)
