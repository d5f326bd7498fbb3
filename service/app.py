"""The Flask application factory.

Served by ``gunicorn -c service/gunicorn.conf.py 'service.app:create_app()'``.

Each gunicorn worker calls ``create_app`` after the fork (no ``preload_app``), so the database
engine, the HTTP session, the job threads and, on first use, the decomposition's model sessions
all belong to the worker process that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from service.blueprints import iiif, jobs, motifs, ops, viewer
from service.blueprints.common import add_cors, register_errors
from service.config import load_config
from service.harvest.background import HarvestLoop
from service.harvest.state import HarvestState
from service.iiif.fetch import Fetcher, FetchPolicy
from service.jobs import JobRunner
from service.store import Store


@dataclass
class Services:
    """The long-lived objects of one app, shared by its requests and its job threads."""

    config: dict[str, Any]
    store: Store
    fetcher: Fetcher
    runner: JobRunner
    harvests: HarvestState
    harvest_loop: HarvestLoop


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    config = load_config(test_config)
    app = Flask(__name__, static_folder=None)
    app.config.update(config)
    app.config["MAX_CONTENT_LENGTH"] = config["MAX_UPLOAD_BYTES"]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = Store.from_config(config)
    fetcher = Fetcher(FetchPolicy.from_config(config))
    runner = JobRunner(store, fetcher, config)
    loop = HarvestLoop(config)
    services = Services(config, store, fetcher, runner, HarvestState(store.engine), loop)
    app.extensions["florilege"] = services
    for blueprint in (jobs.bp, iiif.bp, motifs.bp, viewer.bp, ops.bp):
        app.register_blueprint(blueprint)
    register_errors(app)
    app.after_request(add_cors)
    if config["JOB_WORKERS"] > 0:
        runner.start(config["JOB_WORKERS"])
        loop.start()
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, debug: bool = False) -> None:
    """The development server (``florilege serve``); gunicorn runs the same factory."""
    create_app().run(host=host, port=port, debug=debug, threaded=True, use_reloader=False)
