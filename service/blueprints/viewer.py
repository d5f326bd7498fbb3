"""The viewer: Mirador, served from this service (no CDN), opening an augmented manifest."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template, url_for

from service.blueprints.common import ApiError, base_url, query_url, services

VIEWER_DIR = Path(__file__).resolve().parent.parent / "viewer"
BUNDLE = VIEWER_DIR / "static" / "mirador.min.js"

bp = Blueprint(
    "viewer",
    __name__,
    static_folder=str(VIEWER_DIR / "static"),
    static_url_path="/viewer/static",
    template_folder=str(VIEWER_DIR / "templates"),
)


@bp.get("/viewer")
def viewer() -> str:
    manifest = query_url("manifest")
    services().fetcher.check_url(manifest)  # the same refusals as /iiif/manifest, as JSON errors
    if not BUNDLE.is_file():
        raise ApiError(
            503, "viewer_not_built", "the Mirador bundle is missing: run service/viewer/build.sh"
        )
    augmented = base_url() + url_for("iiif.manifest", url=manifest)
    return render_template("viewer.html", manifest=augmented)
