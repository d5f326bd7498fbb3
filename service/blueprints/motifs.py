"""Motif catalogue: list, detail, prototype image and a IIIF manifest of each motif's instances."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from service.blueprints.common import ApiError, base_url, services
from service.blueprints.iiif import iiif_response
from service.iiif.image import region_url
from service.iiif.motif_manifest import motif_manifest
from service.store import MotifRecord

bp = Blueprint("motifs", __name__, url_prefix="/motifs")


def _motif_or_404(motif_id: str) -> MotifRecord:
    motif = services().store.motif(motif_id)
    if motif is None:
        raise ApiError(404, "unknown_motif", f"no motif {motif_id!r}")
    return motif


def _summary(motif: MotifRecord) -> dict[str, Any]:
    root = base_url()
    links = {
        "self": root + url_for("motifs.motif", motif_id=motif.id),
        "manifest": root + url_for("motifs.manifest", motif_id=motif.id),
    }
    if motif.has_prototype:
        links["prototype"] = root + url_for("motifs.prototype", motif_id=motif.id)
    return {
        "id": motif.id,
        "corpus": motif.corpus,
        "width": motif.width,
        "height": motif.height,
        "parent": motif.parent,
        "instances": motif.instances,
        "links": links,
    }


@bp.get("")
def motifs() -> Response:
    return jsonify({"motifs": [_summary(m) for m in services().store.motifs()]})


@bp.get("/<motif_id>")
def motif(motif_id: str) -> Response:
    found = _motif_or_404(motif_id)
    store = services().store
    placements = store.placements(motif=motif_id)
    canvases = {key: store.canvas(key) for key in {p.canvas_key for p in placements}}
    instances = []
    for p in placements:
        canvas = canvases[p.canvas_key]
        instances.append(
            {
                "canvas": canvas.canvas_id if canvas else None,
                "manifest": canvas.manifest_url if canvas else None,
                "bbox": list(p.box),
                "score": p.score,
                "rotation": p.rotation,
                "mirror": p.mirror,
                "ornament": p.ornament,
                "image": p.image_url,
                "region": region_url(p.service, p.region) if p.service else None,
            }
        )
    return jsonify({**_summary(found), "instance_list": instances})


@bp.get("/<motif_id>/manifest")
def manifest(motif_id: str) -> Response:
    _motif_or_404(motif_id)
    store = services().store
    placements = store.placements(motif=motif_id)
    labels = store.canvas_labels(p.canvas_key for p in placements)
    url = base_url() + url_for("motifs.manifest", motif_id=motif_id)
    return iiif_response(motif_manifest(url, motif_id, placements, labels), 3)


@bp.get("/<motif_id>/prototype.png")
def prototype(motif_id: str) -> Response:
    _motif_or_404(motif_id)
    png = services().store.prototype(motif_id)
    if png is None:
        raise ApiError(404, "no_prototype", f"motif {motif_id!r} has no prototype image")
    return Response(png, mimetype="image/png")
