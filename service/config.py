"""The service configuration: the one module that reads the environment (STYLE.md rule 2).

Order of precedence: the defaults below, then ``FLORILEGE_*`` environment variables, then the
mapping given to ``create_app``. Values are parsed to their type here, so that a typo in a
deployment fails at start-up with a message rather than deep inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask

PREFIX = "FLORILEGE_"


class ConfigError(ValueError):
    """A configuration value that cannot be used."""


def _csv(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(str(part) for part in value)


def _optional_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def _positive_float(value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


# name -> (parser, default). Defaults that depend on other values are filled in `load_config`.
_KEYS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "DATA": (lambda v: Path(v).expanduser(), "~/.local/share/florilege"),
    "DB": (_optional_str, None),
    "BUNDLE": (_optional_str, None),
    "PROVIDERS": (_csv, ("CPUExecutionProvider",)),
    "ALLOW_HOSTS": (_csv, ()),
    "API_TOKEN": (_optional_str, None),
    # Width in pixels of the page images handed to the decomposition: never fetch more.
    "ANALYSIS_WIDTH": (_positive_int, 1200),
    "FETCH_TIMEOUT": (_positive_float, 20.0),
    "FETCH_RETRIES": (int, 3),
    "FETCH_MAX_BYTES": (_positive_int, 50 * 1024 * 1024),
    "FETCH_PER_HOST": (_positive_int, 4),
    "RETRY_AFTER_MAX": (_positive_float, 30.0),
    # A folder where fetched responses are kept (off when unset): see service/iiif/cache.py.
    "HTTP_CACHE": (_optional_str, None),
    # redis://HOST:PORT/DB: harvests send their manifest jobs to Celery workers (unset: they run
    # embedded). See service/harvest/engine.py.
    "CELERY_BROKER": (_optional_str, None),
    "MAX_IMAGE_PIXELS": (_positive_int, 100_000_000),
    "MAX_UPLOAD_BYTES": (_positive_int, 30 * 1024 * 1024),
    "MAX_CANVASES": (_positive_int, 2000),
    "JOB_WORKERS": (int, 1),
    "JOB_POLL_SECONDS": (_positive_float, 1.0),
    # A running job whose worker has not been heard of for this long is taken over by another.
    "JOB_STALE_SECONDS": (_positive_float, 120.0),
    "PUBLIC_URL": (_optional_str, None),
    "USER_AGENT": (str, "florilege/0.1 (+IIIF ornament finder)"),
}


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the parsed configuration; unknown override keys are an error, not ignored."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = sorted(k for k in overrides if k not in _KEYS and k not in Flask.default_config)
    if unknown:
        raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
    config: dict[str, Any] = {}
    for name, (parse, default) in _KEYS.items():
        raw = overrides.get(name, environ.get(PREFIX + name, default))
        try:
            config[name] = parse(raw) if raw is not None else None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{PREFIX}{name}={raw!r}: {err}") from err
    if config["DB"] is None:
        config["DB"] = f"sqlite:///{config['DATA'] / 'florilege.sqlite3'}"
    # Flask's own keys (TESTING, SECRET_KEY, ...) pass through untouched.
    config.update({k: v for k, v in overrides.items() if k not in _KEYS})
    return config


def gunicorn_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Bind address and worker count for gunicorn, from ``FLORILEGE_BIND``/``FLORILEGE_WORKERS``."""
    environ = os.environ if environ is None else environ
    return {
        "bind": environ.get(PREFIX + "BIND", "127.0.0.1:8000"),
        "workers": _positive_int(environ.get(PREFIX + "WORKERS", 2)),
        "threads": _positive_int(environ.get(PREFIX + "THREADS", 4)),
        "timeout": _positive_int(environ.get(PREFIX + "TIMEOUT", 120)),
    }
