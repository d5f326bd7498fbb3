"""What every blueprint shares: JSON errors, the API token check, CORS and request helpers."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from service.decomposition import DecompositionError
from service.iiif.fetch import FetchError
from service.iiif.manifest import InvalidManifest
from service.jobs import InvalidUpload

if TYPE_CHECKING:
    from service.app import Services

F = TypeVar("F", bound=Callable[..., Any])


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def services() -> Services:
    return current_app.extensions["florilege"]


def base_url() -> str:
    """The public root URL that ids in IIIF documents start with."""
    configured = services().config["PUBLIC_URL"]
    return (configured or request.host_url).rstrip("/")


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return body


def query_url(name: str) -> str:
    value = request.args.get(name, "")
    if not value:
        raise ApiError(400, "missing_parameter", f"the {name!r} query parameter is required")
    return value


def require_token(view: F) -> F:
    """Write endpoints need ``Authorization: Bearer <FLORILEGE_API_TOKEN>`` when one is set."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        token = services().config["API_TOKEN"]
        if token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise ApiError(401, "unauthorized", "a valid bearer token is required")
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def register_errors(app: Flask) -> None:
    """Every failure leaves as ``{"error": {"code", "message"}}`` with a fitting status."""

    @app.errorhandler(ApiError)
    def _api(err: ApiError) -> tuple[Response, int]:
        return error_response(err.status, err.code, err.message)

    @app.errorhandler(FetchError)
    def _fetch(err: FetchError) -> tuple[Response, int]:
        return error_response(err.status, err.code, str(err))

    @app.errorhandler(InvalidManifest)
    @app.errorhandler(InvalidUpload)
    def _invalid(err: InvalidManifest | InvalidUpload) -> tuple[Response, int]:
        return error_response(err.status, err.code, str(err))

    @app.errorhandler(DecompositionError)
    def _decomposition(err: DecompositionError) -> tuple[Response, int]:
        return error_response(500, "invalid_decomposition", str(err))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> tuple[Response, int]:
        code = (err.name or "error").lower().replace(" ", "_")
        return error_response(err.code or 500, code, err.description or code)

    @app.errorhandler(Exception)
    def _internal(err: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "an internal error occurred")


def add_cors(response: Response) -> Response:
    """Reads are public: any web viewer may load our manifests and annotations."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
    return response
