"""A IIIF manifest per motif: one canvas per instance, cropped from its page by the Image API.

This lets a cataloguer page through every impression of one block in any IIIF viewer.
Instances whose page image has no Image API service cannot be cropped by region requests and
are left out (the motif JSON still lists them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import iiif_prezi3 as prezi

from service.iiif.annotations import describe
from service.iiif.canvas import image_service, painted_canvas
from service.iiif.image import region_url
from service.iiif.placement import Placement


def motif_manifest(
    manifest_url: str, motif_id: str, placements: Sequence[Placement], labels: dict[str, str]
) -> dict[str, Any]:
    """``labels`` maps canvas keys to the label of the page each instance comes from."""
    cropped = [(p, p.service) for p in placements if p.service is not None]
    canvases = []
    for index, (placement, service) in enumerate(cropped):
        page = labels.get(placement.canvas_key, placement.canvas_key)
        _, _, width, height = placement.region
        canvases.append(
            painted_canvas(
                f"{manifest_url}/canvas/{index}",
                {"none": [f"{page} — {describe(placement)}"]},
                region_url(service, placement.region),
                (width, height),
                image_service(service.id, service.version),
            )
        )
    manifest = prezi.Manifest(
        id=manifest_url,
        label={"en": [f"Motif {motif_id}: {len(canvases)} instances"]},
        summary={"en": ["Every instance of one printer's ornament motif, found by Florilege."]},
        items=canvases,
    )
    return json.loads(manifest.json())
