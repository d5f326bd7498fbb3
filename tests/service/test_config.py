"""Configuration: defaults, then FLORILEGE_* environment, then the mapping given to create_app."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import ConfigError, gunicorn_settings, load_config


def test_defaults() -> None:
    config = load_config(environ={})
    assert config["DATA"] == Path("~/.local/share/florilege").expanduser()
    assert config["DB"] == f"sqlite:///{config['DATA'] / 'florilege.sqlite3'}"
    assert config["PROVIDERS"] == ("CPUExecutionProvider",)
    assert config["ALLOW_HOSTS"] == () and config["API_TOKEN"] is None


def test_environment_then_overrides() -> None:
    environ = {
        "FLORILEGE_ALLOW_HOSTS": "127.0.0.1, localhost",
        "FLORILEGE_DATA": "/srv/fl",
        "FLORILEGE_PROVIDERS": "CUDAExecutionProvider,CPUExecutionProvider",
        "FLORILEGE_ANALYSIS_WIDTH": "800",
        "FLORILEGE_API_TOKEN": "t",
    }
    config = load_config({"ANALYSIS_WIDTH": 640, "TESTING": True}, environ=environ)
    assert config["ALLOW_HOSTS"] == ("127.0.0.1", "localhost")
    assert config["PROVIDERS"] == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert config["DB"] == "sqlite:////srv/fl/florilege.sqlite3"
    assert config["ANALYSIS_WIDTH"] == 640 and config["API_TOKEN"] == "t"
    assert config["TESTING"] is True
    url = "postgresql://florilege@db/florilege"
    assert load_config(environ={"FLORILEGE_DB": url})["DB"] == url


@pytest.mark.parametrize(
    ("overrides", "environ"),
    [
        ({"ALLOW_HOST": "x"}, {}),
        ({}, {"FLORILEGE_ANALYSIS_WIDTH": "wide"}),
        ({"FETCH_TIMEOUT": -1}, {}),
    ],
)
def test_mistakes_are_errors(overrides: dict[str, object], environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_config(overrides, environ=environ)


def test_gunicorn_settings() -> None:
    settings = gunicorn_settings({"FLORILEGE_BIND": "0.0.0.0:9000", "FLORILEGE_WORKERS": "3"})
    assert settings["bind"] == "0.0.0.0:9000" and settings["workers"] == 3
