"""One canvas painted by one image, the shape of every v3 manifest Florilege writes.

Motif manifests are built from it, and so are the sample manifests (``manifests/build.py``) and
the test manifests (``tests/conftest.py``), so that all three stay the same shape.
"""

from __future__ import annotations

import iiif_prezi3 as prezi

Size = tuple[int, int]


def image_service(service_id: str, version: int) -> prezi.ServiceV2 | prezi.ServiceV3:
    """A level 1 Image API service reference, in the form Presentation 3 gives each version."""
    if version == 3:
        return prezi.ServiceV3(id=service_id, type="ImageService3", profile="level1")
    return prezi.ServiceV2(
        id=service_id, type="ImageService2", profile="http://iiif.io/api/image/2/level1.json"
    )


def painted_canvas(
    canvas_id: str,
    label: dict[str, list[str]],
    image_id: str,
    image_size: Size,
    service: prezi.ServiceV2 | prezi.ServiceV3,
    canvas_size: Size | None = None,
) -> prezi.Canvas:
    """A canvas (``image_size`` unless ``canvas_size`` is given) painted all over by one JPEG."""
    width, height = canvas_size or image_size
    body = prezi.Resource(
        id=image_id,
        type="Image",
        format="image/jpeg",
        width=image_size[0],
        height=image_size[1],
        service=[service],
    )
    painting = prezi.Annotation(
        id=f"{canvas_id}/painting", motivation="painting", body=body, target=canvas_id
    )
    return prezi.Canvas(
        id=canvas_id,
        label=label,
        width=width,
        height=height,
        items=[prezi.AnnotationPage(id=f"{canvas_id}/page", items=[painting])],
    )
