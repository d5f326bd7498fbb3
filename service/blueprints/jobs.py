"""Jobs API: start, follow and cancel the analysis of a manifest or collection; decompose one
uploaded image.

A collection is harvested (``service/harvest/``): one resumable harvest, a manifest job per
book, followed here under the harvest's id as if it were one job.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from service.blueprints.common import ApiError, json_body, require_token, services
from service.harvest import driver
from service.jobs import decompose_upload
from service.results import corpus_key

bp = Blueprint("jobs", __name__)


def _job_or_404(job_id: str) -> dict[str, Any]:
    """The job, or the harvest of a collection, with this id."""
    job = services().store.job(job_id)
    if job is None and services().harvests.harvest(job_id) is not None:
        job = driver.harvest_json(services().harvests, job_id)
    if job is None:
        raise ApiError(404, "unknown_job", f"no job {job_id!r}")
    return job


@bp.post("/api/jobs")
@require_token
def create_job() -> tuple[Response, int, dict[str, str]]:
    body = json_body()
    given = [k for k in ("manifest", "collection") if k in body]
    if len(given) != 1 or not isinstance(body[given[0]], str):
        raise ApiError(
            400,
            "invalid_request",
            'give exactly one of "manifest" or "collection", as a URL string',
        )
    kind = given[0]
    if kind == "collection":
        # Checked and queued only: the collection is read when a harvest thread takes it.
        harvest_id = driver.submit(services().store, services().fetcher, body[kind], kind)
        job = driver.harvest_json(services().harvests, harvest_id)
    else:
        services().fetcher.check_url(body[kind])
        job = services().store.create_job(kind, body[kind])
    location = url_for("jobs.get_job", job_id=job["id"])
    return jsonify(job), 202, {"Location": location}


@bp.get("/api/jobs")
def list_jobs() -> Response:
    return jsonify({"jobs": services().store.list_jobs()})


@bp.get("/api/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    return jsonify(_job_or_404(job_id))


@bp.get("/api/jobs/<job_id>/decomposition")
def job_decomposition(job_id: str) -> Response:
    """The decomposition JSON of the job's source, as its latest successful run stored it."""
    job = _job_or_404(job_id)
    url = job.get("manifest") or job.get("collection") or ""
    doc = services().store.decomposition(corpus_key(url))
    if doc is None:
        raise ApiError(404, "no_result", f"nothing stored yet for {url}")
    return jsonify(doc)


@bp.delete("/api/jobs/<job_id>")
@require_token
def cancel_job(job_id: str) -> Response:
    """Cancel a queued or running job; cancelling twice is harmless, a finished job is a 409."""
    services().store.cancel_job(job_id)  # changes only a queued or running job
    driver.cancel(services().store, job_id)  # or an active harvest
    job = _job_or_404(job_id)
    if job["status"] != "cancelled":
        raise ApiError(409, "job_finished", f"job {job_id!r} is {job['status']}: nothing to cancel")
    return jsonify(job)


@bp.post("/api/decompose")
@require_token
def decompose() -> Response:
    upload = request.files.get("image")
    data = upload.read() if upload is not None else request.get_data()
    if not data:
        raise ApiError(400, "missing_image", 'send an image as the body or as form field "image"')
    name = (upload.filename if upload is not None else None) or "upload"
    return jsonify(decompose_upload(data, name, services().config))
