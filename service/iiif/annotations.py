"""Write what the decomposition found as IIIF annotations a viewer can show.

v3 is built with iiif-prezi3 (typed and validated); v2 (``sc:AnnotationList``) has no typed
library, so it is a small dict in the Open Annotation shape Mirador reads. Both carry the same
facts: a ``commenting`` body naming the motif with a link to it, a ``tagging`` body with the motif
id, a plain-text line with score, rotation and mirror, and a software generator so that nobody
takes machine output for a cataloguer's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

import iiif_prezi3 as prezi

from service import __version__
from service.iiif.placement import Placement

V3_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
V2_CONTEXT = "http://iiif.io/api/presentation/2/context.json"
V3_MEDIA_TYPE = f'application/ld+json;profile="{V3_CONTEXT}"'
V2_MEDIA_TYPE = "application/ld+json"

MotifLink = Callable[[str], str]


def software(base_url: str) -> dict[str, str]:
    return {"id": f"{base_url}/", "type": "Software", "name": f"Florilege {__version__}"}


def describe(placement: Placement) -> str:
    mirrored = "true" if placement.mirror else "false"
    return f"score={placement.score:.3f}; rotation={placement.rotation}; mirror={mirrored}"


def _comment(placement: Placement, motif_url: str) -> str:
    turn = f", rotated {placement.rotation}°" if placement.rotation else ""
    flip = ", mirrored" if placement.mirror else ""
    return (
        f'<p>Motif <a href="{escape(motif_url)}">{escape(placement.motif)}</a> '
        f"(score {placement.score:.2f}{turn}{flip}), found by Florilege</p>"
    )


def target(canvas_id: str, placement: Placement) -> str:
    return f"{canvas_id}#xywh={','.join(str(v) for v in placement.box)}"


def annotation_page_v3(
    page_url: str,
    canvas_id: str,
    placements: Sequence[Placement],
    motif_link: MotifLink,
    base_url: str,
) -> dict[str, Any]:
    """The AnnotationPage of one canvas (Presentation 3)."""
    agent = prezi.Agent(**software(base_url))
    items = [
        prezi.Annotation(
            id=f"{page_url}/a{index}",
            motivation="commenting",
            target=target(canvas_id, placement),
            creator=agent,
            generator=agent,
            body=[
                prezi.TextualBody(
                    value=_comment(placement, motif_link(placement.motif)),
                    format="text/html",
                    language="en",
                    purpose="commenting",
                ),
                prezi.TextualBody(value=placement.motif, purpose="tagging"),
                prezi.TextualBody(
                    value=describe(placement), format="text/plain", purpose="describing"
                ),
            ],
        )
        for index, placement in enumerate(placements)
    ]
    page = prezi.AnnotationPage(id=page_url, items=items)
    return json.loads(page.json())


def annotation_list_v2(
    list_url: str,
    canvas_id: str,
    placements: Sequence[Placement],
    motif_link: MotifLink,
    base_url: str,
) -> dict[str, Any]:
    """The sc:AnnotationList of one canvas (Presentation 2.1, Open Annotation)."""
    agent = {
        "@id": f"{base_url}/",
        "@type": "prov:SoftwareAgent",
        "label": f"Florilege {__version__}",
    }
    resources = [
        {
            "@id": f"{list_url}/a{index}",
            "@type": "oa:Annotation",
            "motivation": "oa:commenting",
            "on": target(canvas_id, placement),
            "annotatedBy": agent,
            "serializedBy": agent,
            "resource": [
                {
                    "@type": "dctypes:Text",
                    "format": "text/html",
                    "chars": _comment(placement, motif_link(placement.motif)),
                },
                {"@type": "oa:Tag", "chars": placement.motif},
                {"@type": "dctypes:Text", "format": "text/plain", "chars": describe(placement)},
            ],
        }
        for index, placement in enumerate(placements)
    ]
    return {
        "@context": V2_CONTEXT,
        "@id": list_url,
        "@type": "sc:AnnotationList",
        "resources": resources,
    }


def augment_manifest(
    doc: dict[str, Any], version: int, page_url: Callable[[str], str]
) -> dict[str, Any]:
    """A copy of ``doc`` whose canvases reference our annotations (for Mirador).

    v3 canvases get an ``annotations`` AnnotationPage reference; v2 canvases an ``otherContent``
    AnnotationList reference. Existing references are kept.
    """
    out = copy.deepcopy(doc)
    if version == 3:
        for canvas in out.get("items") or []:
            refs = list(canvas.get("annotations") or [])
            refs.append({"id": page_url(canvas["id"]), "type": "AnnotationPage"})
            canvas["annotations"] = refs
    else:
        for sequence in out.get("sequences") or []:
            for canvas in sequence.get("canvases") or []:
                refs = list(canvas.get("otherContent") or [])
                refs.append({"@id": page_url(canvas["@id"]), "@type": "sc:AnnotationList"})
                canvas["otherContent"] = refs
    return out
