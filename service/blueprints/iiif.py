"""IIIF out: per-canvas annotations (v3 AnnotationPage, v2 AnnotationList) and the original
manifest augmented with references to them, ready for Mirador."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, url_for

from service.blueprints.common import ApiError, base_url, query_url, services
from service.iiif.annotations import (
    V2_MEDIA_TYPE,
    V3_MEDIA_TYPE,
    annotation_list_v2,
    annotation_page_v3,
    augment_manifest,
)
from service.iiif.manifest import canvas_key, parse_manifest, presentation_version
from service.store import CanvasRecord

bp = Blueprint("iiif", __name__, url_prefix="/iiif")

# Presentation version -> the endpoint serving a canvas's annotations, and what writes them.
_WRITERS = {
    3: ("iiif.annotations_v3", annotation_page_v3),
    2: ("iiif.annotations_v2", annotation_list_v2),
}


def iiif_response(doc: dict[str, Any], version: int) -> Response:
    media_type = V3_MEDIA_TYPE if version == 3 else V2_MEDIA_TYPE
    return Response(json.dumps(doc), mimetype=None, content_type=media_type)


def _canvas_or_404(key: str) -> CanvasRecord:
    canvas = services().store.canvas(key)
    if canvas is None:
        raise ApiError(404, "unknown_canvas", f"no annotated canvas {key!r}")
    return canvas


def _motif_link(motif_id: str) -> str:
    return base_url() + url_for("motifs.motif", motif_id=motif_id)


@bp.get("/manifest")
def manifest() -> Response:
    url = query_url("url")
    stored = services().store.manifest(url)
    if stored is not None:
        version, doc = stored
    else:
        fetcher = services().fetcher
        fetcher.check_url(url)
        doc = fetcher.get_json(url)
        version = presentation_version(doc)
    parse_manifest(doc)  # refuse (422) what we could not annotate
    endpoint = _WRITERS[version][0]

    def page_url(canvas_id: str) -> str:
        return base_url() + url_for(endpoint, key=canvas_key(canvas_id))

    return iiif_response(augment_manifest(doc, version, page_url), version)


def _annotations(key: str, version: int) -> Response:
    canvas = _canvas_or_404(key)
    endpoint, write = _WRITERS[version]
    url = base_url() + url_for(endpoint, key=key)
    placements = services().store.placements(canvas_key=key)
    return iiif_response(write(url, canvas.canvas_id, placements, _motif_link, base_url()), version)


@bp.get("/v3/annotations/<key>")
def annotations_v3(key: str) -> Response:
    """The canvas's AnnotationPage (Presentation 3)."""
    return _annotations(key, 3)


@bp.get("/v2/annotations/<key>")
def annotations_v2(key: str) -> Response:
    """The canvas's sc:AnnotationList (Presentation 2)."""
    return _annotations(key, 2)
