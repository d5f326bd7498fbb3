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
from service.iiif.image import region_url
from service.iiif.placement import Placement


def _service(placement: Placement) -> prezi.ServiceV2 | prezi.ServiceV3:
    assert placement.service is not None
    if placement.service.version == 3:
        return prezi.ServiceV3(id=placement.service.id, type="ImageService3", profile="level1")
    return prezi.ServiceV2(
        id=placement.service.id,
        type="ImageService2",
        profile="http://iiif.io/api/image/2/level1.json",
    )


def motif_manifest(
    manifest_url: str, motif_id: str, placements: Sequence[Placement], labels: dict[str, str]
) -> dict[str, Any]:
    """``labels`` maps canvas keys to the label of the page each instance comes from."""
    canvases = []
    for index, placement in enumerate(p for p in placements if p.service is not None):
        canvas_id = f"{manifest_url}/canvas/{index}"
        _, _, width, height = placement.region
        body = prezi.Resource(
            id=region_url(placement.service, placement.region),  # type: ignore[arg-type]
            type="Image",
            format="image/jpeg",
            width=width,
            height=height,
            service=[_service(placement)],
        )
        painting = prezi.Annotation(
            id=f"{canvas_id}/painting", motivation="painting", body=body, target=canvas_id
        )
        page = labels.get(placement.canvas_key, placement.canvas_key)
        canvases.append(
            prezi.Canvas(
                id=canvas_id,
                label={"none": [f"{page} — {describe(placement)}"]},
                width=width,
                height=height,
                items=[prezi.AnnotationPage(id=f"{canvas_id}/page", items=[painting])],
            )
        )
    manifest = prezi.Manifest(
        id=manifest_url,
        label={"en": [f"Motif {motif_id}: {len(canvases)} instances"]},
        summary={"en": ["Every instance of one printer's ornament motif, found by Florilege."]},
        items=canvases,
    )
    return json.loads(manifest.json())
