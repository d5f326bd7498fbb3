"""Operations: a health check for load balancers and Prometheus metrics."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from service import __version__
from service.blueprints.common import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        services().store.job_counts()
    except sa.exc.SQLAlchemyError as err:
        body = {"status": "error", "version": __version__, "database": str(err)}
        return jsonify(body), 503
    return jsonify({"status": "ok", "version": __version__, "database": "ok"}), 200


@bp.get("/metrics")
def metrics() -> Response:
    store = services().store
    lines = [
        "# HELP florilege_jobs Jobs in the store, by status.",
        "# TYPE florilege_jobs gauge",
    ]
    lines += [f'florilege_jobs{{status="{s}"}} {n}' for s, n in sorted(store.job_counts().items())]
    for name, count in store.counts().items():
        lines += [f"# TYPE florilege_{name} gauge", f"florilege_{name} {count}"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
